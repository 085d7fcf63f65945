//! Fixture apps, git pushes and looking at the Docker engine from tests.
//! The engine is reached with the `docker` CLI here: this is the test's view
//! from outside the product, not product code.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The base image fixture apps build on: `FROM scratch` + Debian's static
/// busybox. Built locally, so nothing is pulled from a registry.
pub const BASE_IMAGE: &str = "paas-test/busybox:latest";

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps")
}

/// Build the base image once per test process, if the engine lacks it.
pub fn ensure_base_image() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let present = Command::new("docker").args(["image", "inspect", BASE_IMAGE]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if matches!(present, Ok(s) if s.success()) {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy("/bin/busybox", dir.path().join("busybox")).expect("/bin/busybox (Debian's busybox-static) is needed");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/sh\"]\n",
        )
        .unwrap();
        let out = Command::new("docker").args(["build", "-q", "-t", BASE_IMAGE]).arg(dir.path()).output().expect("docker build");
        assert!(out.status.success(), "building the base image failed: {}", String::from_utf8_lossy(&out.stderr));
    });
}

/// The bases the buildpack stacks build on in tests: Debian made with
/// debootstrap (minbase) and imported, since no registry is reachable.
/// Made once per machine; a file lock keeps parallel tests from racing.
pub const DEBIAN_BASE: &str = "paas-test/debian:bookworm";
pub const DEBIAN_TRIXIE_BASE: &str = "paas-test/debian:trixie";

/// The bases of both stacks: trixie (the default) and bookworm.
pub fn ensure_debian_base() {
    ensure_debian_suite("trixie");
    ensure_debian_suite("bookworm");
}

/// The base of a Debian suite, `paas-test/debian:SUITE`.
pub fn ensure_debian_suite(suite: &str) {
    let image = format!("paas-test/debian:{suite}");
    let present = || {
        Command::new("docker")
            .args(["image", "inspect", &image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() {
        return;
    }
    let lock = std::fs::File::create(std::env::temp_dir().join("paas-test-debian-base.lock")).unwrap();
    lock.lock().unwrap();
    if present() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", suite])
        .arg(root.path())
        .arg("http://deb.debian.org/debian")
        .output()
        .expect("debootstrap (Debian's package of that name) is needed");
    assert!(out.status.success(), "debootstrap {suite} failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut tar =
        Command::new("tar").arg("-C").arg(root.path()).args(["-c", "."]).stdout(Stdio::piped()).spawn().unwrap();
    let import =
        Command::new("docker").args(["import", "-", &image]).stdin(tar.stdout.take().unwrap()).output().unwrap();
    assert!(tar.wait().unwrap().success(), "packing the Debian root failed");
    assert!(import.status.success(), "docker import failed: {}", String::from_utf8_lossy(&import.stderr));
}

/// Held while a test's first buildpack push builds the stack images, so
/// that parallel tests build each once rather than side by side.
pub fn stacks_lock() -> std::fs::File {
    let lock = std::fs::File::create(std::env::temp_dir().join("paas-test-stacks.lock")).unwrap();
    lock.lock().unwrap();
    lock
}

/// A git work tree holding a copy of a fixture app, committed on `main`.
pub struct AppRepo {
    pub dir: tempfile::TempDir,
}

impl AppRepo {
    pub fn from_fixture(name: &str) -> Self {
        ensure_base_image();
        let dir = tempfile::Builder::new().prefix("paas-app-").tempdir().unwrap();
        copy_dir(&fixtures_dir().join(name), dir.path());
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("initial");
        repo
    }

    /// An app that keeps connections alive, as most real servers do (busybox
    /// httpd closes each one): the tests' `keepalive-backend` binary
    /// (`env!("CARGO_BIN_EXE_keepalive-backend")` in a test), copied with the
    /// libraries it links onto the busybox base, answering
    /// `hello from keep-alive` on `$PORT`.
    pub fn keep_alive_backend(binary: &Path) -> Self {
        ensure_base_image();
        let dir = tempfile::Builder::new().prefix("paas-app-").tempdir().unwrap();
        let root = dir.path().join("rootfs");
        let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
        let linked = String::from_utf8_lossy(&ldd.stdout).into_owned();
        let libraries = linked.split_whitespace().filter(|w| w.starts_with('/') && w.contains(".so"));
        for library in libraries.map(Path::new) {
            let target = root.join(library.strip_prefix("/").unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(std::fs::canonicalize(library).unwrap(), target).unwrap();
        }
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy(binary, root.join("bin/keepalive-backend")).unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {BASE_IMAGE}\nCOPY rootfs/ /\nCMD [\"/bin/keepalive-backend\"]\n"),
        )
        .unwrap();
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("initial");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, file: &str, content: &str) {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ]);
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(self.path()).output().expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `git push URL main`; returns whether it succeeded and everything git printed.
    pub fn push(&self, url: &str) -> (bool, String) {
        let out = self.push_command(url, "main").output().expect("git push");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `git push URL REFSPEC` as a command, to run in the background.
    pub fn push_command(&self, url: &str, refspec: &str) -> Command {
        let mut cmd = Command::new("git");
        cmd.args(["push", url, refspec])
            .current_dir(self.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .stdin(Stdio::null());
        cmd
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("fixture {}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `name release running` of every container of an app, from the engine.
pub fn containers(app: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label=paas.app={app}")])
        .args(["--format", "{{.Names}} {{.Label \"paas.release\"}} {{.State}}"])
        .output()
        .expect("docker ps");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    names.sort();
    names
}

/// Remove every container, network, volume and app image (`paas/APP`, for
/// its `apps`) an installation made (the shared buildpack stack images stay,
/// as they would on a real machine).
pub fn remove_instance(instance: &str, apps: &[String]) {
    let label = format!("label=paas.instance={instance}");
    let ids = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output();
    if let Ok(out) = ids {
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    let volumes =
        Command::new("docker").args(["volume", "ls", "-q", "--filter", &format!("name={instance}-")]).output();
    if let Ok(out) = volumes {
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
        if !names.is_empty() {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f"])
                .args(&names)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    let networks = Command::new("docker").args(["network", "ls", "-q", "--filter", &label]).output();
    if let Ok(out) = networks {
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["network", "rm"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    let references: Vec<String> = apps.iter().map(|app| format!("reference=paas/{app}")).collect();
    for reference in references {
        // By name: an image of the same content another app built has the same id.
        let listing = Command::new("docker")
            .args(["images", "--filter", &reference, "--format", "{{.Repository}}:{{.Tag}}"])
            .output();
        let Ok(out) = listing else { continue };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rmi", "-f"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
