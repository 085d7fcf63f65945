//! Procfile: `name: command` per line; `#` comments and blank lines allowed.

use crate::db::releases::ProcessTypes;

pub fn parse(text: &str) -> Result<ProcessTypes, String> {
    let mut types = ProcessTypes::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lineno = n + 1;
        let Some((name, command)) = line.split_once(':') else {
            return Err(format!("line {lineno}: expected `name: command`, got {line:?}"));
        };
        let (name, command) = (name.trim(), command.trim());
        let valid = !name.is_empty()
            && name.len() <= 30
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            return Err(format!("line {lineno}: invalid process type {name:?} (lowercase letters, digits, - and _)"));
        }
        if command.is_empty() {
            return Err(format!("line {lineno}: process type {name} has no command"));
        }
        if types.insert(name.to_string(), Some(command.to_string())).is_some() {
            return Err(format!("line {lineno}: process type {name} is declared twice"));
        }
    }
    if types.is_empty() {
        return Err("declares no process types".into());
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_types_and_reports_bad_lines_by_number() {
        let types = parse("# app\nweb: httpd -f -p $PORT\n\nworker: sh -c 'sleep 1'\n").unwrap();
        assert_eq!(types["web"].as_deref(), Some("httpd -f -p $PORT"));
        assert_eq!(types.len(), 2);
        assert!(parse("web: ok\nthis line is wrong\n").unwrap_err().starts_with("line 2:"));
        assert!(parse("Web: x").unwrap_err().contains("invalid process type"));
        assert!(parse("web:\n").unwrap_err().contains("no command"));
        assert!(parse("web: a\nweb: b\n").unwrap_err().contains("twice"));
    }
}
