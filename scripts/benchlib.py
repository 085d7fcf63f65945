"""Shared by the benchmark scripts: run a release-built `paas serve` on its
own data dir and embedded PostgreSQL, talk to it, and clean up only what it
made. Traffic goes only to 127.0.0.1 and containers the scripts start."""
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "paas-test/busybox:latest"
PAAS = os.path.join(ROOT, "target/release/paas")


def sh(*args, **kw):
    done = subprocess.run(args, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        sys.exit(f"{args[0]} {args[1] if len(args) > 1 else ''} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def build_release():
    """Always through cargo: a stale binary would measure old code."""
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "paas"], cwd=ROOT, check=True)


def ensure_base_image():
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode == 0:
        return
    with tempfile.TemporaryDirectory() as d:
        shutil.copy("/bin/busybox", d)
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write('FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
        sh("docker", "build", "-q", "-t", BASE, d)


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, method=method, headers=headers or {})
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


class Server:
    """`paas serve` on `work/d`; `start()` again reuses its addresses."""

    def __init__(self, work, env=None):
        self.work, self.proc, self.control, self.router, self.instance, self.starts = work, None, None, None, None, 0
        self.env = env or {}

    def spawn(self):
        env = dict(os.environ, PAAS_ADMIN_PASSWORD="bench-password", PAAS_ADMIN_EMAIL="bench@example.com", PAAS_LOG="info",
                   **self.env)
        for var, image in [("PAAS_STACK_BASE", "paas-test/debian:bookworm"),
                           ("PAAS_TRIXIE_STACK_BASE", "paas-test/debian:trixie")]:
            if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0:
                env[var] = image
        env.pop("DATABASE_URL", None)
        self.starts += 1
        self.log = os.path.join(self.work, f"server-{self.starts}.log")
        self.proc = subprocess.Popen(
            [PAAS, "serve", "--data-dir", os.path.join(self.work, "d"), "--log-format", "json",
             "--listen", self.control or "127.0.0.1:0", "--router-listen", self.router or "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))

    def wait_listening(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            for line in open(self.log):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("message") == "listening":
                    self.control, self.router, self.instance = event["control"], event["router"], event["instance"]
                    return
            if self.proc.poll() is not None:
                sys.exit("paas serve exited:\n" + open(self.log).read())
            time.sleep(0.05)
        sys.exit("paas serve did not start")

    def start(self):
        self.spawn()
        self.wait_listening()

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def token(self):
        import base64
        auth = base64.b64encode(b"bench@example.com:bench-password").decode()
        return http("POST", f"http://{self.control}/api/v1/tokens", {"name": "bench"}, {"Authorization": f"Basic {auth}"})["token"]

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.stop()
        if self.instance:
            ids = sh("docker", "ps", "-aq", "--filter", f"label=paas.instance={self.instance}").split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
            # App images are named paas/APP; the apps are the repositories.
            repos = os.path.join(self.work, "d", "repos")
            for app in [r[:-4] for r in (os.listdir(repos) if os.path.isdir(repos) else []) if r.endswith(".git")]:
                ids = sh("docker", "images", "--filter", f"reference=paas/{app}", "--format",
                         "{{.Repository}}:{{.Tag}}").split()  # by name: same content, same id
                if ids:
                    subprocess.run(["docker", "rmi", "-f", *ids], capture_output=True)
            networks = sh("docker", "network", "ls", "-q", "--filter", f"label=paas.instance={self.instance}").split()
            if networks:
                subprocess.run(["docker", "network", "rm", *networks], capture_output=True)
            volumes = sh("docker", "volume", "ls", "-q", "--filter", f"name={self.instance}-").split()
            if volumes:
                subprocess.run(["docker", "volume", "rm", "-f", *volumes], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


def new_work_dir():
    work = tempfile.mkdtemp(prefix="paas-bench-")
    os.chmod(work, 0o755)  # the embedded PostgreSQL's user must reach the data dir
    return work


def status_of(url, host=None, timeout=2):
    """The HTTP status of a GET, or 0 when it fails."""
    try:
        req = urllib.request.Request(url, headers={"Host": host} if host else {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return 0


def wait_200(url, host=None, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if status_of(url, host) == 200:
            return
        time.sleep(0.01)
    sys.exit(f"no 200 from {url}")


def push_fixture(server, token, app, fixture, work):
    """Create `app` and push a copy of `fixture` to it; the repo's path."""
    repo = os.path.join(work, app)
    shutil.copytree(os.path.join(ROOT, "tests/fixtures/apps", fixture), repo)
    return push_tree(server, token, app, repo)


def push_tree(server, token, app, repo, work=None):
    """Create `app` and push the directory `repo` (made a git repo) to it."""
    http("POST", f"http://{server.control}/api/v1/apps", {"name": app}, {"Authorization": f"Bearer {token}"})
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "bench", cwd=repo)
    sh("git", "push", "-q", f"http://git:{token}@{server.control}/git/{app}.git", "main", cwd=repo)
    return repo
