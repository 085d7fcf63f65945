//! Percent-encoding of one URL path segment or query value (emails contain
//! `@` and `+`), for the CLI's API paths and the dashboard's redirects; and
//! decoding, to see what a URL or a form really carries.

pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The bytes `%XX` escapes stand for (`+` as a space, as forms and query
/// strings write it); a malformed escape stays as it is.
pub fn decode(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'%' if i + 2 < text.len() => match (hex(text[i + 1]), hex(text[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_what_is_not_plain() {
        assert_eq!(super::encode("a+b@c.d/e f"), "a%2Bb@c.d%2Fe%20f");
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(super::decode(b"a%00b+c%2F%zz%"), b"a\0b c/%zz%");
    }
}
