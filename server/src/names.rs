//! Name rules for apps, teams and email addresses. An app name becomes a DNS label
//! (`APP.BASE_DOMAIN`), so both follow DNS label rules.

use crate::error::{AppError, AppResult};

pub const MAX_LEN: usize = 30;

/// Names the product uses itself or that would confuse users.
pub const RESERVED: &[&str] = &[
    "admin",
    "api",
    "app",
    "apps",
    "dashboard",
    "git",
    "help",
    "login",
    "logout",
    "new",
    "paas",
    "router",
    "static",
    "status",
    "www",
];

/// Check a name against the DNS label rules; `what` is "app" or "team".
pub fn validate(name: &str, what: &str) -> Result<(), AppError> {
    let fail = |rule: &str| AppError::validation("name", format!("invalid {what} name {name:?}: {rule}"));
    if name.is_empty() {
        return Err(fail("must not be empty"));
    }
    if name.len() > MAX_LEN {
        return Err(fail(&format!("must be at most {MAX_LEN} characters")));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(fail("may contain only lowercase letters, digits and hyphens"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(fail("must start with a letter"));
    }
    if name.ends_with('-') {
        return Err(fail("must not end with a hyphen"));
    }
    if name.contains("--") {
        return Err(fail("must not contain two hyphens in a row"));
    }
    if RESERVED.contains(&name) {
        return Err(fail("is reserved"));
    }
    Ok(())
}

/// Lower-case and sanity-check an email address.
pub fn email(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(AppError::validation("email", format!("{email:?} is not an email address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass() {
        for name in ["a", "hello", "my-app-2", "x1234567890123456789012345678z"] {
            assert!(validate(name, "app").is_ok(), "{name}");
        }
    }

    #[test]
    fn bad_names_name_the_rule() {
        let cases = [
            ("", "empty"),
            ("Hello", "lowercase"),
            ("1app", "start with a letter"),
            ("-app", "start with a letter"),
            ("app-", "end with a hyphen"),
            ("a--b", "two hyphens"),
            ("app_1", "lowercase letters, digits and hyphens"),
            ("a.b", "lowercase letters, digits and hyphens"),
            ("abcdefghijabcdefghijabcdefghijk", "at most 30"),
            ("api", "reserved"),
        ];
        for (name, rule) in cases {
            let err = validate(name, "app").expect_err(name).to_string();
            assert!(err.contains(rule), "{name}: {err}");
        }
    }
}
