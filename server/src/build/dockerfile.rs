//! What images a Dockerfile builds on: every `FROM` and `COPY --from` that
//! names an image (not an earlier stage), with `ARG` defaults substituted.
//! A build may use its own app's images and base images, never another
//! app's: `check` refuses that before the engine sees the Dockerfile.

use std::collections::HashMap;

use crate::runtime::ImageInfo;

/// The image references a Dockerfile uses, in order.
pub fn images(dockerfile: &str) -> Vec<String> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for line in logical_lines(dockerfile) {
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        match instruction.to_ascii_uppercase().as_str() {
            // An ARG before the first FROM (or anywhere: its default is what
            // a build without --build-arg sees).
            "ARG" => {
                for arg in rest {
                    let (name, default) = arg.split_once('=').unwrap_or((arg, ""));
                    args.insert(name.to_string(), unquote(default).to_string());
                }
            }
            "FROM" => {
                let mut operands = rest.iter().filter(|w| !w.starts_with("--"));
                if let Some(image) = operands.next() {
                    let image = substitute(image, &args);
                    if !stages.iter().any(|s| s.eq_ignore_ascii_case(&image)) {
                        images.push(image);
                    }
                }
                if let (Some(as_word), Some(name)) = (operands.next(), operands.next()) {
                    if as_word.eq_ignore_ascii_case("as") {
                        stages.push(name.to_string());
                    }
                }
            }
            "COPY" | "ADD" => {
                for flag in rest.iter().filter_map(|w| w.strip_prefix("--from=")) {
                    let source = substitute(flag, &args);
                    let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&source))
                        || source.parse::<usize>().is_ok_and(|n| n < stages.len().max(1));
                    if !is_stage {
                        images.push(source);
                    }
                }
            }
            _ => {}
        }
    }
    images
}

/// Lines with `\` continuations joined, comments and blank lines dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        lines.push(current);
    }
    lines
}

fn unquote(text: &str) -> &str {
    text.trim_matches(|c| c == '"' || c == '\'')
}

/// `$NAME`, `${NAME}` and `${NAME:-default}` from the ARG defaults.
fn substitute(text: &str, args: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' || (braced && n != '}') {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if braced {
            chars.next();
        }
        let (name, fallback) = match name.split_once(":-") {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (name, None),
        };
        match args.get(&name).filter(|v| !v.is_empty()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&fallback.unwrap_or_default()),
        }
    }
    unquote(&out).to_string()
}

/// Refuse an image that belongs to another app: by the name the Dockerfile
/// gives (`paas/OTHER`), or, for an image the engine has, by any of its
/// names or the app label it carries (buildpack images keep it). An image
/// named by its id must have a name: an untagged one is a step of some
/// build, maybe another app's.
pub fn check(app: &str, image: &str, info: Option<&ImageInfo>) -> Result<(), String> {
    let other = |reference: &str| {
        let name = reference.split(['@', ':']).next().unwrap_or(reference).trim_start_matches("docker.io/");
        name.strip_prefix("paas/").is_some_and(|owner| owner != app && !owner.starts_with("stack-"))
    };
    let refused = other(image)
        || info.is_some_and(|info| {
            info.tags.iter().any(|tag| other(tag))
                || info.labels.get(crate::runtime::LABEL_APP).is_some_and(|owner| owner != app)
        });
    if refused {
        return Err(format!(
            "the Dockerfile builds on {image}, which is another app's image; a build may use its own app's images \
             and base images only"
        ));
    }
    if by_id(image) && info.is_some_and(|info| info.tags.is_empty()) {
        return Err(format!(
            "the Dockerfile builds on {image}, an image with no name (a step of some build); name a base image \
             or one of this app's images"
        ));
    }
    Ok(())
}

/// `sha256:…` or a bare hex id (12 to 64 digits).
fn by_id(image: &str) -> bool {
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    (12..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_image_a_dockerfile_uses() {
        let dockerfile = "# a comment\nARG BASE=paas/other:abc\nFROM ${BASE} AS build\nRUN make\n\
                          FROM --platform=linux/amd64 debian:bookworm\nCOPY --from=build /out /out\n\
                          COPY --from=paas/third:1 /x /x\nFROM \\\n  busybox\n";
        assert_eq!(images(dockerfile), vec!["paas/other:abc", "debian:bookworm", "paas/third:1", "busybox"]);
        assert_eq!(images("FROM ${MISSING:-alpine:3}\n"), vec!["alpine:3"]);
        assert_eq!(images("from scratch\ncopy --from=0 /a /b\n"), vec!["scratch"]);
    }

    #[test]
    fn another_apps_images_are_refused() {
        assert!(check("shop", "paas/other:abc", None).unwrap_err().contains("another app's image"));
        assert!(check("shop", "paas/shop:abc", None).is_ok());
        assert!(check("shop", "paas/stack-run:1234", None).is_ok());
        assert!(check("shop", "debian:bookworm", None).is_ok());
        let labelled = ImageInfo {
            labels: HashMap::from([(crate::runtime::LABEL_APP.to_string(), "other".to_string())]),
            tags: vec!["anything:1".into()],
        };
        assert!(check("shop", "sha256:0123abcd0123", Some(&labelled)).is_err(), "by id, the label tells");
        let named = ImageInfo { tags: vec!["paas/other:abc".into()], ..ImageInfo::default() };
        assert!(check("shop", "0123abcd0123", Some(&named)).is_err(), "by id, the name tells");
        assert!(check("shop", "docker.io/paas/other", None).is_err());
        let own = ImageInfo { tags: vec!["paas/shop:abc".into()], ..ImageInfo::default() };
        assert!(check("shop", "sha256:0123abcd0123", Some(&own)).is_ok());
        let step = ImageInfo::default();
        let err = check("shop", "sha256:0123abcd0123", Some(&step)).unwrap_err();
        assert!(err.contains("an image with no name"), "{err}");
        assert!(check("shop", "busybox", Some(&step)).is_ok(), "a name is not an id");
    }
}
