//! Percent-encoding of one URL path segment or query value (emails contain
//! `@` and `+`), for the CLI's API paths and the dashboard's redirects.

pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_what_is_not_plain() {
        assert_eq!(super::encode("a+b@c.d/e f"), "a%2Bb@c.d%2Fe%20f");
    }
}
