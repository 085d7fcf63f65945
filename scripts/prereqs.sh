# Shared by scripts/serve and scripts/test: install what paas needs on a
# Debian or Ubuntu machine, from the OS packages, only where it is missing.
# Sourced, not run.

PAAS_PACKAGES="docker.io nftables postgresql git busybox-static build-essential pkg-config ca-certificates"
# Only the tests need these: the dashboard is tested in a real headless Chromium,
# the buildpack stacks build on a Debian base made with debootstrap, metrics are
# scraped by a real Prometheus and certificates issued by pebble, an ACME server.
PAAS_TEST_PACKAGES="chromium chromium-driver debootstrap python3-venv iproute2 prometheus pebble dnsmasq-base openssl curl docker-registry"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_prereqs() {
    missing=""
    for pkg in $PAAS_PACKAGES ${PAAS_EXTRA_PACKAGES:-}; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        echo "==> installing:$missing"
        as_root apt-get update -q
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q $missing
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "paas is built with Rust, and cargo was not found." >&2
        echo "Install a current toolchain with rustup (see the Rust project's install page), then re-run." >&2
        exit 1
    fi
}

# Start the Docker engine unless it already answers.
start_docker() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    echo "==> starting the Docker engine"
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
        as_root systemctl start docker
    else
        as_root sh -c 'nohup dockerd >/var/log/paas-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "the Docker engine did not start; see /var/log/paas-dockerd.log" >&2
    exit 1
}
