//! Which buildpacks build an app: a pure function over a read-only view of
//! the pushed source, so it can be tested against every fixture app.

/// What detection may look at.
pub trait SourceView {
    fn includes_file(&self, path: &str) -> bool;
    fn read_file(&self, path: &str) -> Option<String>;
}

pub struct Shipped {
    pub name: &'static str,
    /// The files whose presence selects it, for messages.
    pub looks_for: &'static [&'static str],
}

/// In detection order.
pub const SHIPPED: &[Shipped] = &[
    Shipped { name: "python", looks_for: &["requirements.txt", "setup.py", "Pipfile"] },
    Shipped { name: "nodejs", looks_for: &["package.json"] },
    Shipped { name: "go", looks_for: &["go.mod"] },
    Shipped { name: "static", looks_for: &["index.html"] },
    Shipped { name: "generic", looks_for: &["Procfile"] },
];

pub fn is_shipped(name: &str) -> bool {
    SHIPPED.iter().any(|b| b.name == name)
}

/// The buildpacks to run, in order: `forced` (the BUILDPACK_URL config var)
/// wins, then a `.buildpacks` file, then the first shipped one that detects.
pub fn detect(source: &dyn SourceView, forced: Option<&str>) -> Result<Vec<String>, String> {
    if let Some(forced) = forced.map(str::trim).filter(|f| !f.is_empty()) {
        return one_named(forced, "BUILDPACK_URL").map(|n| vec![n]);
    }
    if let Some(list) = source.read_file(".buildpacks") {
        let names: Vec<String> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| one_named(l, ".buildpacks"))
            .collect::<Result<_, _>>()?;
        if names.is_empty() {
            return Err(".buildpacks lists no buildpack".into());
        }
        return Ok(names);
    }
    for buildpack in SHIPPED {
        if buildpack.looks_for.iter().any(|f| source.includes_file(f)) {
            return Ok(vec![buildpack.name.to_string()]);
        }
    }
    let looked: Vec<String> = SHIPPED.iter().map(|b| format!("{} ({})", b.looks_for.join(", "), b.name)).collect();
    Err(format!(
        "no buildpack detects this app. Looked for a Dockerfile, then {}. Add one of those, or choose a \
         buildpack with `paas config:set BUILDPACK_URL=NAME` or a .buildpacks file",
        looked.join("; ")
    ))
}

fn one_named(name: &str, from: &str) -> Result<String, String> {
    if is_shipped(name) || is_git_url(name) {
        return Ok(name.to_string());
    }
    if let Some((scheme, _)) = name.split_once("://") {
        return Err(format!(
            "{from}: {scheme}:// buildpack URLs are refused; give an https:// git URL (with #ref for a branch or \
             tag) or one of the shipped buildpacks: {}",
            names()
        ));
    }
    Err(format!(
        "{from}: there is no buildpack named {name:?}; the shipped ones are {}, or give an https:// git URL",
        names()
    ))
}

/// A buildpack given as a git repository (`https://URL` or `https://URL#ref`):
/// fetched inside the build container, over https only.
pub fn is_git_url(name: &str) -> bool {
    name.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
    })
}

fn names() -> String {
    SHIPPED.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// A fixture app on disk, seen only through `SourceView`.
    struct Dir(PathBuf);

    impl SourceView for Dir {
        fn includes_file(&self, path: &str) -> bool {
            self.0.join(path).is_file()
        }
        fn read_file(&self, path: &str) -> Option<String> {
            std::fs::read_to_string(self.0.join(path)).ok()
        }
    }

    fn fixture(name: &str) -> Dir {
        Dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/apps").join(name))
    }

    #[test]
    fn every_fixture_detects_as_expected() {
        assert_eq!(detect(&fixture("python"), None).unwrap(), ["python"]);
        assert_eq!(detect(&fixture("nodejs"), None).unwrap(), ["nodejs"]);
        assert_eq!(detect(&fixture("go"), None).unwrap(), ["go"]);
        assert_eq!(detect(&fixture("static"), None).unwrap(), ["static"]);
        assert_eq!(detect(&fixture("generic"), None).unwrap(), ["generic"]);
        // Dockerfile apps never reach detection; nothing in them detects.
        let err = detect(&fixture("unhealthy"), None).unwrap_err();
        assert!(
            err.contains("requirements.txt") && err.contains("index.html") && err.contains("BUILDPACK_URL"),
            "{err}"
        );
    }

    #[test]
    fn forcing_and_lists() {
        assert_eq!(detect(&fixture("python"), Some("static")).unwrap(), ["static"]);
        assert_eq!(
            detect(&fixture("python"), Some("https://example.com/bp.git#v2")).unwrap(),
            ["https://example.com/bp.git#v2"]
        );
        assert!(detect(&fixture("python"), Some("ruby")).unwrap_err().contains("no buildpack named"));
        for refused in ["file:///var/lib/paas/repos/other.git", "http://example.com/bp.git", "git://x/y", "ssh://x/y"] {
            let err = detect(&fixture("python"), Some(refused)).unwrap_err();
            assert!(err.contains("buildpack URLs are refused") && err.contains("https://"), "{refused}: {err}");
        }
        assert!(detect(&fixture("python"), Some("https://example.com/a b")).is_err(), "no spaces in a URL");
        struct Listed;
        impl SourceView for Listed {
            fn includes_file(&self, _: &str) -> bool {
                false
            }
            fn read_file(&self, path: &str) -> Option<String> {
                (path == ".buildpacks").then(|| "# first python, then static\npython\nstatic\n".to_string())
            }
        }
        assert_eq!(detect(&Listed, None).unwrap(), ["python", "static"]);
    }
}
