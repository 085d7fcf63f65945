#!/bin/sh
# A two-node Docker Swarm for the tests, on this machine: two dockerd in
# network namespaces of their own (paas-lab-n1 = 10.210.0.1, the manager;
# paas-lab-n2 = 10.210.0.2), joined through a bridge that sits in a third
# namespace (in the root one, Docker's FORWARD policy would drop bridged
# traffic). The host reaches both through a veth at 10.210.0.254. An image
# registry (Debian's docker-registry, no auth) serves both engines from the
# bridge's namespace at 10.210.0.253:5000. The machine's own engine is never
# touched. One lab at a time per machine.
#
#   swarm.sh up DIR     start it; prints the manager's socket
#   swarm.sh down DIR   stop every process it started and remove it all
#   swarm.sh kill DIR n2  the machine n2 dies: its engine and every process
#                         in its namespace are killed (its address stays,
#                         so connections to it are refused)
set -eu
cmd=$1
dir=$2
hub=paas-lab-hub

node_up() {
    n=$1 addr=$2
    ns=paas-lab-$n
    mkdir -p "$dir/$n"
    ip netns add "$ns"
    ip link add "$ns-h" type veth peer name eth0 netns "$ns"
    ip link set "$ns-h" netns "$hub"
    ip -n "$hub" link set "$ns-h" master labbr0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via 10.210.0.254
    cat > "$dir/$n/daemon.json" <<JSON
{"data-root": "$dir/$n/data", "exec-root": "$dir/$n/exec", "pidfile": "$dir/$n/docker.pid",
 "hosts": ["unix://$dir/$n/docker.sock"], "insecure-registries": ["10.210.0.253:5000"],
 "cgroup-parent": "$ns", "iptables": true, "bridge": "", "bip": "10.211.${addr##*.}.1/24"}
JSON
    # `ip netns exec` remounts /sys, which hides the cgroup hierarchies:
    # mount them again inside, as the host has them.
    grep -E ' cgroup2? ' /proc/self/mounts > "$dir/$n/cgroups"
    cat > "$dir/$n/start.sh" <<SH
set -e
hostname $ns
if [ "\$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
    mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup 2>/dev/null || true
fi
while read -r _ mnt type opts _; do
    mkdir -p "\$mnt"
    mountpoint -q "\$mnt" || mount -t "\$type" -o "\$opts" "\$type" "\$mnt"
done < "$dir/$n/cgroups"
exec dockerd --config-file "$dir/$n/daemon.json"
SH
    ip netns exec "$ns" unshare --uts --mount sh "$dir/$n/start.sh" > "$dir/$n/dockerd.log" 2>&1 &
}

wait_engine() {
    i=0
    until DOCKER_HOST="unix://$dir/$1/docker.sock" docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 150 ]; then
            echo "the lab's engine $1 did not start:" >&2
            tail -n 20 "$dir/$1/dockerd.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

case $cmd in
up)
    mkdir -p "$dir"
    ip netns add "$hub"
    ip -n "$hub" link add labbr0 type bridge
    ip -n "$hub" link set labbr0 up
    ip link add paas-lab-h type veth peer name host0 netns "$hub"
    ip -n "$hub" link set host0 master labbr0 up
    ip addr add 10.210.0.254/24 dev paas-lab-h
    ip link set paas-lab-h up
    ip -n "$hub" addr add 10.210.0.253/24 dev labbr0
    ip -n "$hub" link set lo up
    cat > "$dir/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/registry
http:
  addr: 10.210.0.253:5000
YML
    ip netns exec "$hub" docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
    node_up n1 10.210.0.1
    node_up n2 10.210.0.2
    wait_engine n1
    wait_engine n2
    i=0
    until curl -sf http://10.210.0.253:5000/v2/ >/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 100 ]; then
            echo "the lab's registry did not start:" >&2
            cat "$dir/registry.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    m="unix://$dir/n1/docker.sock"
    DOCKER_HOST=$m docker swarm init --advertise-addr 10.210.0.1 --default-addr-pool 10.212.0.0/16 \
        --dispatcher-heartbeat 1s >/dev/null
    token=$(DOCKER_HOST=$m docker swarm join-token -q worker)
    DOCKER_HOST="unix://$dir/n2/docker.sock" docker swarm join --token "$token" 10.210.0.1:2377 >/dev/null
    echo "$m"
    ;;
kill)
    ns=paas-lab-$3
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    for c in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
        [ -d "$c" ] || continue
        for pid in $(cat "$c"/*/cgroup.procs "$c"/cgroup.procs 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
    ;;
down)
    for n in n1 n2; do
        ns=paas-lab-$n
        if [ -f "$dir/$n/docker.pid" ]; then
            kill "$(cat "$dir/$n/docker.pid")" 2>/dev/null || true
        fi
    done
    sleep 1
    for n in n1 n2; do
        ns=paas-lab-$n
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        for c in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
            [ -d "$c" ] || continue
            for pid in $(cat "$c"/*/cgroup.procs "$c"/cgroup.procs 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        done
        ip netns del "$ns" 2>/dev/null || true
    done
    for pid in $(ip netns pids "$hub" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip link del paas-lab-h 2>/dev/null || true
    ip netns del "$hub" 2>/dev/null || true
    sleep 0.5
    for n in n1 n2; do
        for c in /sys/fs/cgroup/*/paas-lab-$n /sys/fs/cgroup/paas-lab-$n; do
            [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        done
        # Mounts the engines left (overlay, shm) go with their namespaces.
    done
    rm -rf "$dir"
    ;;
esac
