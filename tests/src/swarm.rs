//! A two-node Docker Swarm on this machine for the tests (`tests/lab/swarm.sh`):
//! two engines in network namespaces of their own, the first the manager.
//! Its names and addresses are fixed, so one lab runs at a time: a test
//! holds a machine-wide lock while its lab is up. Everything the lab started
//! is stopped, by PID, when it is dropped.

use std::path::PathBuf;
use std::process::Command;

pub struct SwarmLab {
    dir: tempfile::TempDir,
    /// `DOCKER_HOST` of the manager's engine.
    pub manager: String,
    _lock: std::fs::File,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/swarm.sh")
}

impl SwarmLab {
    pub fn start() -> Self {
        let lock = std::fs::File::create(std::env::temp_dir().join("paas-swarm-lab.lock")).expect("the lab's lock");
        lock.lock().expect("taking the lab's lock");
        let dir = tempfile::Builder::new().prefix("paas-swarm-").tempdir().expect("temp dir");
        // A lab a killed test left behind goes first.
        let _ = Command::new("sh").arg(script()).args(["down", "/nonexistent"]).output();
        let out = Command::new("sh").arg(script()).arg("up").arg(dir.path()).output().expect("running the lab script");
        let manager = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let lab = Self { dir, manager, _lock: lock };
        assert!(
            out.status.success() && lab.manager.starts_with("unix://"),
            "the swarm lab did not come up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }
}

impl SwarmLab {
    /// Copy an image of the machine's engine into the manager's (the lab's
    /// engines start empty, and nothing is pulled).
    pub fn load(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("docker save");
        let load = Command::new("docker")
            .args(["load", "-q"])
            .env("DOCKER_HOST", &self.manager)
            .stdin(save.stdout.take().unwrap())
            .output()
            .expect("docker load");
        assert!(save.wait().unwrap().success() && load.status.success(), "loading {image} into the lab failed");
    }

    /// The machine `node` (`n2`) dies: its engine and every process on it.
    pub fn kill(&self, node: &str) {
        let out = Command::new("sh").arg(script()).arg("kill").arg(self.dir.path()).arg(node).output().unwrap();
        assert!(out.status.success(), "killing {node}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `DOCKER_HOST` of node `node`'s own engine (`n2`).
    pub fn engine(&self, node: &str) -> String {
        format!("unix://{}/{node}/docker.sock", self.dir.path().display())
    }

    /// `docker ARGS` on the manager's engine; its output.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker").args(args).env("DOCKER_HOST", &self.manager).output().expect("docker");
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for SwarmLab {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg(script()).arg("down").arg(self.dir.path()).output();
    }
}
