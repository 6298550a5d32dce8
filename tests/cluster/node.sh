#!/usr/bin/env bash
# A real Kubernetes node beside the local control plane (docs/node.md): containerd and
# runc from Debian, the kubelet built with the control plane, real pods from images
# built by tests/images/build.sh. up.sh runs `node.sh up` when IOCMGR_REAL_NODE=1, and
# down.sh always runs `node.sh down`.
#
#   node.sh up                 start the node, import the images, wait until it is Ready
#   node.sh down               stop it and undo everything it did on the machine
#   node.sh status             what runs, and the node's settings
#   node.sh import [NAME...]   (re)build images (pause ioc iocmgr) and import them
#   node.sh tag IMAGE REF...   give an imported image (pause ioc iocmgr) more names
#   node.sh exec CMD...        run CMD inside the node (its network and mount namespaces)
#
# The node is a host of its own on this machine: a network namespace (a veth pair to the
# machine, addresses in a private /24, no default route), a mount namespace (its own
# /run, /var/lib and /var/log on tmpfs; the kernel settings the kubelet would change are
# files there), and a cgroup subtree /iocmgr-<id> in every hierarchy holding every one of
# its processes. <id> comes from IOCMGR_CLUSTER_DIR, so two beds run side by side, and a
# bed killed half-way is found and cleaned up by the next `up` or `down`.
# Environment: IOCMGR_REAL_NODE_NAME (bl46p-node-0), IOCMGR_KUBELET_PORT (16252),
# IOCMGR_KUBELET_HEALTHZ_PORT (16248), IOCMGR_NODE_NET (the /24's first three octets,
# default 10.213.<from id>), IOCMGR_NODE_POD_NET (10.214.<same>), IOCMGR_NODE_IMAGES
# ("pause ioc iocmgr"), IOCMGR_NODE_TIMEOUT (90 s to Ready).
# Beside kwok's fake node (a bed that needs both: tools/run-tests.sh's main bed) the node
# also carries the taint iocmgr.test/node=real:NoSchedule, so that only pods that ask for
# it (the demo beamline's) run here and every other pod stays on the fake node as before.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOP=$(cd "$CLUSTER_SRC/../.." && pwd)
NODE_DIR=$RUN/node
NODE_NAME=${IOCMGR_REAL_NODE_NAME:-bl46p-node-0}
KUBELET_PORT=${IOCMGR_KUBELET_PORT:-16252}
KUBELET_HEALTHZ_PORT=${IOCMGR_KUBELET_HEALTHZ_PORT:-16248}
TIMEOUT=${IOCMGR_NODE_TIMEOUT:-90}
# this bed's name on the machine: the cgroup subtree and the veth pair
NODE_ID=$(printf '%s' "$(realpath -m "$IOCMGR_CLUSTER_DIR")" | sha256sum | cut -c1-8)
NODE_CG=iocmgr-$NODE_ID
VETH_HOST=im${NODE_ID}h      # IFNAMSIZ: 15 characters at most
VETH_NODE=im${NODE_ID}n      # renamed eth0 inside the node
CONTAINERD_SOCK=$NODE_DIR/containerd.sock
# what the kubelet would set (kubelet/cm setupKernelTunables); inside the node these are
# files, so the machine keeps its values
TUNABLES="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"

nsay() { echo "node: $*" >&2; }
ndie() { echo "node: error: $*" >&2; exit 1; }

# ------------------------------------------------------------ cgroups
# mount points of every cgroup hierarchy (v1 controllers, named ones, the v2 one)
cg_mounts() { awk '{ split($0, p, " - "); split(p[2], f, " ") } f[1] == "cgroup" || f[1] == "cgroup2" { split(p[1], g, " "); print g[5] }' /proc/self/mountinfo; }

cg_create() {
    local m d
    for m in $(cg_mounts); do
        for d in "$m/$NODE_CG" "$m/$NODE_CG/runtime"; do
            mkdir -p "$d"
            # a new cpuset group has no CPUs or memory nodes: take the parent's
            if [ -f "$d/cpuset.cpus" ] && [ -z "$(cat "$d/cpuset.cpus")" ]; then
                cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"
                cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"
            fi
        done
    done
}

# cg_pids [SUBTREE]: every process in our subtree (or its SUBTREE), once
cg_pids() {
    local m
    for m in $(cg_mounts); do
        [ -d "$m/$NODE_CG/${1:-}" ] && find "$m/$NODE_CG/${1:-}" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -un
}

# cg_signal SIG [SUBTREE]: signal every process in the subtree (default all of ours)
cg_signal() {
    local p
    for p in $(cg_pids "${2:-}"); do kill "-$1" "$p" 2>/dev/null || true; done
}

cg_empty() { [ -z "$(cg_pids "${1:-}")" ]; }

# remove the subtree: thaw, kill what is left, wait, remove the groups leaf first
cg_remove() {
    local m f
    for m in $(cg_mounts); do
        [ -d "$m/$NODE_CG" ] || continue
        for f in $(find "$m/$NODE_CG" -name freezer.state 2>/dev/null); do echo THAWED >"$f" 2>/dev/null || true; done
    done
    cg_signal KILL
    wait_for 15 cg_empty || nsay "processes left in /$NODE_CG after SIGKILL: $(cg_pids | tr '\n' ' ')"
    for m in $(cg_mounts); do
        [ -d "$m/$NODE_CG" ] || continue
        find "$m/$NODE_CG" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ ! -d "$m/$NODE_CG" ] || nsay "cannot remove $m/$NODE_CG"
    done
}

# ------------------------------------------------------------ addresses
# the node's /24 (link to the machine) and its pods' /24, from the bed's id unless given;
# one already on the machine is skipped
net_in_use() { ip -4 -o addr show | grep -q " $1\." || ip -4 route show | grep -q "^$1\."; }
choose_nets() {
    if [ -n "${IOCMGR_NODE_NET:-}" ]; then
        NODE_NET=$IOCMGR_NODE_NET
        net_in_use "$NODE_NET" && ndie "IOCMGR_NODE_NET=$NODE_NET: that /24 is in use on this machine"
    else
        local x=$(( 0x${NODE_ID:0:4} % 250 + 1 )) i
        for i in $(seq 0 249); do
            NODE_NET=10.213.$(( (x + i - 1) % 250 + 1 ))
            net_in_use "$NODE_NET" || net_in_use "10.214.${NODE_NET##*.}" || break
        done
    fi
    POD_NET=${IOCMGR_NODE_POD_NET:-10.214.${NODE_NET##*.}}
    NODE_IP=$NODE_NET.2
    HOST_IP=$NODE_NET.1
}

# ------------------------------------------------------------ processes
init_pid() { proc_pid node-init; }

# node_start [--exe EXE] NAME host|node PROGRAM ARGS...: run PROGRAM detached in our
# cgroup, on the machine or inside the node, pid in pids/NAME.pid (lib.sh's proc_* stop
# it); EXE: the program the process ends up as, when PROGRAM execs another
node_start() {
    local exe=
    if [ "$1" = --exe ]; then exe=$2; shift 2; fi
    local name=$1 where=$2 prog; shift 2
    prog=$(command -v "$1") || ndie "$1 not found (tools/deps.sh installs it)"
    local pidf=$RUN/pids/$name.pid enter=()
    readlink -f "${exe:-$prog}" >"$RUN/pids/$name.exe"
    rm -f "$pidf"
    [ "$where" = node ] && enter=(nsenter -t "$(init_pid)" -n -m -u --)
    # the new process joins our runtime group in every hierarchy, then writes its pid
    local procs="" m
    for m in $(cg_mounts); do procs+="$m/$NODE_CG/runtime/cgroup.procs "; done
    # shellcheck disable=SC2016  # expanded by the inner shell
    setsid "${enter[@]}" bash -c 'for f in $1; do echo $$ >"$f"; done
        echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && shift && exec "$@"' \
        "$pidf" "$procs" "$prog" "${@:2}" </dev/null >>"$RUN/logs/$name.log" 2>&1 &
    local _; for _ in $(seq 1 100); do
        proc_alive "$name" && return 0
        sleep 0.05
    done
    tail -n 20 "$RUN/logs/$name.log" >&2
    ndie "$name did not start (log: $RUN/logs/$name.log)"
}

# node_exec CMD...: CMD inside the node
node_exec() {
    local pid; pid=$(init_pid) || ndie "the node is not running ($RUN)"
    nsenter -t "$pid" -n -m -u -- "$@"
}

# ------------------------------------------------------------ the node's init
# Runs as the node's first process in its new namespaces: the node's host name, its own
# /run, /var/lib, /var/log; the kernel settings the kubelet changes as files; then holds
# the namespaces.
node_init_script() {
    cat <<'SH'
set -e
dir=$1 name=$2; shift 2
echo "$name" >/proc/sys/kernel/hostname     # the node's own UTS namespace
mount -t tmpfs -o mode=755,size=64m iocmgr-node-run /run
mount -t tmpfs -o mode=755,size=64m iocmgr-node-varlib /var/lib
mount -t tmpfs -o mode=755,size=64m iocmgr-node-varlog /var/log
mkdir -p "$dir/sysctl"
for t in "$@"; do
    f=$dir/sysctl/$(echo "$t" | tr / .)
    cat "/proc/sys/$t" >"$f"
    mount --bind "$f" "/proc/sys/$t"
done
echo ready >"$dir/init.ready"
exec sleep infinity
SH
}

# ------------------------------------------------------------ configuration
write_pki() {
    local pki=$NODE_DIR/pki
    mkdir -p "$pki"; chmod 700 "$pki"
    # name SUBJECT EXT
    ncert() {
        openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2" 2>/dev/null &&
        printf '%s\n' "$3" >"$pki/$1.ext" &&
        openssl x509 -req -in "$pki/$1.csr" -CA "$RUN/pki/ca.crt" -CAkey "$RUN/pki/ca.key" -CAcreateserial \
            -out "$pki/$1.crt" -days 3650 -extfile "$pki/$1.ext" 2>/dev/null || ndie "openssl: cannot make $1"
        rm -f "$pki/$1.csr" "$pki/$1.ext"
    }
    # the kubelet's client identity (Node authorizer) and its serving certificate (the
    # apiserver checks it against the cluster CA: --kubelet-certificate-authority)
    ncert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    ncert kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
    chmod 600 "$pki"/*.key
}

write_config() {
    local api_port=$IOCMGR_APISERVER_PORT
    mkdir -p "$NODE_DIR"/{cni/net.d,cni/ipam,kubelet,pod-logs,containerd,runc}
    cat >"$NODE_DIR/containerd.toml" <<TOML
# containerd of the test node (tests/cluster/node.sh): its own root, state and socket
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$NODE_DIR/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_REF"
    # this machine's bounding set lacks CAP_SYS_RESOURCE: no negative oom_score_adj
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "$NODE_DIR/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$NODE_DIR/cni/net.d"
      max_conf_num = 1
TOML
    # pods without hostNetwork: a bridge in the node, addresses from the pods' /24, no
    # masquerade; routes to the node's /24 (the machine's end of the veth) and to the
    # kubernetes Service address (the relay in the node), nothing else
    cat >"$NODE_DIR/cni/net.d/10-iocmgr-node.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "iocmgr-node",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
              "ranges": [[{"subnet": "$POD_NET.0/24"}]],
              "routes": [{"dst": "$NODE_NET.0/24"}, {"dst": "$svc_ip/32"}]}},
    {"type": "loopback"}
  ]
}
JSON
    # no name server: a pod's lookups must not leave the node
    printf '# the test node has no DNS (tests/cluster/node.sh)\noptions ndots:1\n' >"$NODE_DIR/resolv.conf"
    cat >"$NODE_DIR/kubelet.yaml" <<YAML
# kubelet of the test node (tests/cluster/node.sh; settings from REAL-NODE.md)
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $NODE_DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $NODE_DIR/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $RUN/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CG
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
oomScoreAdj: 0
podLogsDir: $NODE_DIR/pod-logs
volumePluginDir: $NODE_DIR/kubelet/volume-plugins
resolvConf: $NODE_DIR/resolv.conf
registerNode: true
registerWithTaints:
- {key: beamline, value: bl46p, effect: NoSchedule}
$reserved_taint
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
serializeImagePulls: false
YAML
    cat >"$NODE_DIR/kubelet.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: iocmgr-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $RUN/pki/ca.crt
users:
- name: kubelet
  user:
    client-certificate: $NODE_DIR/pki/kubelet-client.crt
    client-key: $NODE_DIR/pki/kubelet-client.key
contexts:
- name: iocmgr-local
  context: {cluster: iocmgr-local, user: kubelet}
current-context: iocmgr-local
KC
    chmod 600 "$NODE_DIR/kubelet.kubeconfig"
}

# ------------------------------------------------------------ images
# build_images [NAME...]: build (cached by content: seconds when nothing changed); sets
# BUILT ("NAME REF ARCHIVE" lines) and PAUSE_REF, and writes images.env
build_images() {
    local want=("$@") n ref archive build=() arch base
    [ ${#want[@]} -gt 0 ] || read -r -a want <<<"${IOCMGR_NODE_IMAGES:-pause ioc iocmgr}"
    base=$({ sed -n 's/^EPICS_BASE *= *//p' "$TOP/configure/RELEASE.deps" "$TOP/configure/RELEASE.local" 2>/dev/null || true; } | tail -1)
    arch=$(perl "$base/lib/perl/EpicsHostArch.pl" 2>/dev/null || echo linux-x86_64)
    for n in "${want[@]}"; do
        if [ "$n" = iocmgr ] && [ ! -x "$TOP/bin/$arch/iocmgr" ]; then
            nsay "iocmgr is not built (make): its image is left out"
            continue
        fi
        build+=("$n")
    done
    BUILT=$("$TOP/tests/images/build.sh" "${build[@]}") || ndie "tests/images/build.sh ${build[*]} failed"
    touch "$NODE_DIR/images.env"
    while read -r n ref archive; do
        [ -n "$n" ] || continue
        n=$(echo "$n" | tr '[:lower:]' '[:upper:]')
        { grep -v "^export IOCMGR_IMAGE_$n=" "$NODE_DIR/images.env" || true; echo "export IOCMGR_IMAGE_$n='$ref'"; } \
            >"$NODE_DIR/images.env.tmp"
        mv "$NODE_DIR/images.env.tmp" "$NODE_DIR/images.env"
        [ "$n" = PAUSE ] && PAUSE_REF=$ref
    done <<<"$BUILT"
    return 0
}

# import_images: what build_images built, into the node's containerd (k8s.io namespace)
import_images() {
    local n ref archive
    while read -r n ref archive; do
        [ -n "$n" ] || continue
        node_exec ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$archive" >/dev/null ||
            ndie "ctr images import $archive failed"
    done <<<"$BUILT"
}

# tag_image IMAGE REF...: more names for an imported image (e.g. the generic test IOC
# under the epics-containers names a beamline's instances use; pods take them with
# imagePullPolicy: Never, so a name is only a name: nothing is pulled)
tag_image() {
    local n=$1 src ref; shift
    proc_alive containerd || ndie "the node is not running ($RUN)"
    src=$(sed -n "s/^export IOCMGR_IMAGE_$(echo "$n" | tr '[:lower:]' '[:upper:]')='\(.*\)'$/\1/p" "$NODE_DIR/images.env" 2>/dev/null)
    [ -n "$src" ] || ndie "no image $n on the node (node.sh import $n)"
    for ref in "$@"; do
        node_exec ctr --address "$CONTAINERD_SOCK" -n k8s.io images tag --force "$src" "$ref" >/dev/null ||
            ndie "ctr images tag $src $ref failed"
    done
}

# ------------------------------------------------------------ up / down
node_ready() {
    local out
    out=$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}' 2>/dev/null) || return 1
    case $out in True*) ;; *) return 1 ;; esac
    case $out in *node.kubernetes.io/not-ready*|*node.kubernetes.io/unreachable*) return 1 ;; esac
}

record_machine() {  # the kernel settings the kubelet would change, as they were
    local t
    for t in $TUNABLES; do printf '%s %s\n' "$t" "$(cat "/proc/sys/$t")"; done >"$NODE_DIR/sysctl.before"
}

# the machine's kernel settings as before: they are files inside the node, so this only
# acts if something else went wrong; a value is put back only where it is the kubelet's
check_machine() {
    [ -f "$NODE_DIR/sysctl.before" ] || return 0
    local t was now
    declare -A kubelet_sets=([vm/overcommit_memory]=1 [vm/panic_on_oom]=0 [kernel/panic]=10
        [kernel/panic_on_oops]=1 [kernel/keys/root_maxkeys]=1000000 [kernel/keys/root_maxbytes]=25000000)
    while read -r t was; do
        now=$(cat "/proc/sys/$t")
        if [ "$now" != "$was" ] && [ "$now" = "${kubelet_sets[$t]:-}" ]; then
            nsay "restoring $t: $now -> $was (the kubelet's value reached the machine)"
            echo "$was" >"/proc/sys/$t"
        fi
    done <"$NODE_DIR/sysctl.before"
}

# clean [MSG]: whatever a node of this bed left on the machine (MSG says so when given)
clean() {
    local stale=0
    [ -n "$(cg_pids)" ] && stale=1
    for m in $(cg_mounts); do [ -d "$m/$NODE_CG" ] && stale=1; done
    ip link show "$VETH_HOST" >/dev/null 2>&1 && stale=1
    [ "$stale" = 1 ] || return 0
    [ -z "${1:-}" ] || nsay "$1 (/$NODE_CG, $VETH_HOST)"
    cg_remove
    ip link del "$VETH_HOST" 2>/dev/null || true
    # the veth pair goes with the network namespace, once its last process is gone
    wait_for 10 bash -c "! ip link show '$VETH_HOST'" || nsay "$VETH_HOST still exists"
}

up() {
    local t0=$SECONDS
    [ -f "$RUN/$MARK" ] && kc get --raw /readyz >/dev/null 2>&1 || ndie "no control plane in $RUN: tests/cluster/up.sh first"
    if proc_alive kubelet && node_ready; then nsay "already running ($NODE_NAME)"; return 0; fi
    local c
    for c in containerd runc socat nsenter unshare ip ctr; do
        command -v "$c" >/dev/null || ndie "$c not found: tools/deps.sh installs containerd, runc, containernetworking-plugins and socat"
    done
    [ -x /usr/lib/cni/bridge ] || ndie "/usr/lib/cni/bridge not found: apt-get install containernetworking-plugins"
    [ -x "$CLUSTER_BIN/kubelet" ] || ndie "$CLUSTER_BIN/kubelet not built: tests/cluster/build.sh"
    [ ! -d "$RUN/pids" ] || down_processes 2>/dev/null || true
    clean "cleaning up what a previous node of this bed left"
    rm -rf "$NODE_DIR"; mkdir -p "$NODE_DIR" "$RUN/pids" "$RUN/logs"
    choose_nets
    record_machine
    cg_create

    # the images first: containerd names its pause image at start
    PAUSE_REF=
    build_images
    [ -n "$PAUSE_REF" ] || ndie "no pause image was built"

    # the node's namespaces, held by its first process
    node_init_script >"$NODE_DIR/init.sh"
    node_start --exe "$(command -v sleep)" node-init host unshare --net --mount --uts --propagation slave -- \
        bash "$NODE_DIR/init.sh" "$NODE_DIR" "$NODE_NAME" $TUNABLES
    wait_for 10 test -f "$NODE_DIR/init.ready" || { tail "$RUN/logs/node-init.log" >&2; ndie "the node's namespaces were not made"; }
    local ipid; ipid=$(init_pid)

    # network: veth pair, the node's end is its eth0; no default route in the node
    ip link add "$VETH_HOST" type veth peer name "$VETH_NODE" netns "$ipid"
    ip addr add "$HOST_IP/24" brd + dev "$VETH_HOST"
    ip link set "$VETH_HOST" up
    node_exec ip link set "$VETH_NODE" name eth0
    node_exec ip addr add "$NODE_IP/24" brd + dev eth0
    node_exec ip link set eth0 up
    node_exec ip link set lo up
    # the machine reaches pods (not hostNetwork) through the node; nothing else is routed
    ip route add "$POD_NET.0/24" via "$NODE_IP" dev "$VETH_HOST"
    # the apiserver for the node: 127.0.0.1:<port> inside the node, and the kubernetes
    # Service address for pods (in-cluster config), relayed over a unix socket to the
    # apiserver on the machine's loopback
    svc_ip=$(kc -n default get service kubernetes -o jsonpath='{.spec.clusterIP}') || ndie "no kubernetes Service"
    node_exec ip addr add "$svc_ip/32" dev lo
    node_start node-relay-host host socat "UNIX-LISTEN:$NODE_DIR/apiserver.sock,fork,unlink-early,mode=600" \
        "TCP:127.0.0.1:$IOCMGR_APISERVER_PORT"
    node_start node-relay node socat "TCP-LISTEN:$IOCMGR_APISERVER_PORT,bind=127.0.0.1,fork,reuseaddr" \
        "UNIX-CONNECT:$NODE_DIR/apiserver.sock"
    node_start node-relay-svc node socat "TCP-LISTEN:443,bind=$svc_ip,fork,reuseaddr" \
        "UNIX-CONNECT:$NODE_DIR/apiserver.sock"

    # beside kwok's fake node, pods come here only when they tolerate this (docs/node.md)
    reserved_taint=
    [ -z "$(kc get nodes -l type=kwok -o name 2>/dev/null)" ] ||
        reserved_taint="- {key: iocmgr.test/node, value: real, effect: NoSchedule}"
    write_pki
    write_config
    node_start containerd node containerd --config "$NODE_DIR/containerd.toml"
    wait_for 30 node_exec ctr --address "$CONTAINERD_SOCK" version ||
        { tail -n 20 "$RUN/logs/containerd.log" >&2; ndie "containerd did not answer on $CONTAINERD_SOCK"; }
    import_images

    local t_kubelet=$SECONDS
    node_start kubelet node "$CLUSTER_BIN/kubelet" --config="$NODE_DIR/kubelet.yaml" \
        --kubeconfig="$NODE_DIR/kubelet.kubeconfig" --hostname-override="$NODE_NAME" \
        --node-ip="$NODE_IP" --node-labels="beamline=bl46p,iocmgr.test/node=real" \
        --root-dir="$NODE_DIR/kubelet" --cert-dir="$NODE_DIR/kubelet/pki" --v=1
    if ! wait_for "$TIMEOUT" node_ready; then
        tail -n 30 "$RUN/logs/kubelet.log" >&2
        ndie "node $NODE_NAME not Ready after ${TIMEOUT}s (logs: $RUN/logs/kubelet.log, containerd.log)"
    fi
    local ready=$((SECONDS - t_kubelet))
    cat >"$RUN/node.env" <<ENV
# the test node (tests/cluster/node.sh): sourced by $RUN/env
export IOCMGR_REAL_NODE_NAME='$NODE_NAME'
export IOCMGR_NODE_IP='$NODE_IP'
export IOCMGR_NODE_HOST_IP='$HOST_IP'
# Channel Access to the node's IOCs: its broadcast address reaches every hostNetwork IOC
# (they share port 5064, as on a beamline's IOC server)
export IOCMGR_NODE_CA_ADDR_LIST='$NODE_NET.255'
export IOCMGR_NODE_POD_NET='$POD_NET.0/24'
export IOCMGR_NODE_CONTAINERD='$CONTAINERD_SOCK'
export IOCMGR_NODE_ID='$NODE_ID'
ENV
    cat "$NODE_DIR/images.env" >>"$RUN/node.env"
    echo "$ready" >"$NODE_DIR/ready-seconds"
    nsay "$NODE_NAME Ready in ${ready}s after the kubelet started, $((SECONDS - t0))s in all; address $NODE_IP, CA $NODE_NET.255"
}

# stop by pid: the kubelet, the containers (SIGTERM, then what is left), containerd, relays
down_processes() {
    local c
    proc_stop kubelet 10 || true
    cg_signal TERM kubepods
    wait_for 10 cg_empty kubepods || true
    for c in containerd node-relay-svc node-relay node-relay-host node-init; do proc_stop "$c" 5 || true; done
}

down() {
    if [ -f "$RUN/$MARK" ] && [ -f "$RUN/kubeconfig" ] && proc_alive kubelet && kc get --raw /readyz >/dev/null 2>&1; then
        kc delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
    fi
    local killed=""
    proc_alive node-init || killed="removing what a node of this bed left when it was killed"
    [ -d "$RUN/pids" ] && down_processes
    clean "$killed"
    check_machine
    rm -f "$RUN/node.env"
    # the node's files (containerd's content, pod logs) go with the run dir; keep the logs
    rm -rf "$NODE_DIR"
}

status() {
    local c
    for c in node-init node-relay-host node-relay node-relay-svc containerd kubelet; do
        printf '%-16s %s\n' "$c" "$(proc_pid "$c" 2>/dev/null || echo -)"
    done
    echo "cgroup /$NODE_CG: $(cg_pids | wc -l) processes; veth $VETH_HOST: $(ip -br link show "$VETH_HOST" 2>/dev/null | awk '{print $2}' || echo none)"
    # resident memory by program: the node itself (runtime) and its pods (kubepods)
    local sub p
    for sub in runtime kubepods; do
        for p in $(cg_pids "$sub"); do
            printf '%s %s\n' "$(cat "/proc/$p/comm" 2>/dev/null)" "$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)"
        done | awk -v grp="$sub" 'NF == 2 { kb[$1] += $2; n[$1]++; all += $2 }
            END { printf "memory (%s): %.0f MiB:", grp, all / 1024
                  for (c in kb) printf " %s %.1f (%d)", c, kb[c] / 1024, n[c]; print "" }'
    done
    [ -f "$RUN/node.env" ] && cat "$RUN/node.env"
    return 0
}

# as_root ARGS...: the node needs root (namespaces, cgroups, mounts, the veth pair); a
# user who may use sudo runs this script again through it (sudo asks for a password if
# it must), with the bed's settings kept
as_root() {
    [ "$(id -u)" = 0 ] && return 0
    command -v sudo >/dev/null ||
        ndie "the real node needs root (network and mount namespaces, cgroups, mounts): run this as root, or install sudo and give this user ($(id -un)) the right to use it"
    nsay "the real node needs root: running 'node.sh $*' through sudo"
    exec sudo --preserve-env env "PATH=$PATH" "IOCMGR_CACHE=$IOCMGR_CACHE" \
        "IOCMGR_CLUSTER_DIR=$IOCMGR_CLUSTER_DIR" "$0" "$@"
}

# anything of this bed's node on the machine (readable without root)
node_traces() {
    [ -d "$NODE_DIR" ] && return 0
    local m
    for m in $(cg_mounts); do [ -d "$m/$NODE_CG" ] && return 0; done
    ip link show "$VETH_HOST" >/dev/null 2>&1
}

case ${1:-} in
    up) as_root "$@"; up ;;
    # without root, and nothing of a node here, there is nothing to do
    down) if [ "$(id -u)" != 0 ] && ! node_traces; then exit 0; fi
          as_root "$@"; down ;;
    status) status ;;
    import) as_root "$@"; shift; proc_alive containerd || ndie "the node is not running"
            build_images "$@"; import_images; [ ! -f "$RUN/node.env" ] || {
                grep -v '^export IOCMGR_IMAGE_' "$RUN/node.env" >"$RUN/node.env.tmp"
                cat "$NODE_DIR/images.env" >>"$RUN/node.env.tmp"; mv "$RUN/node.env.tmp" "$RUN/node.env"; } ;;
    exec) as_root "$@"; shift; node_exec "$@" ;;
    tag) as_root "$@"; shift; [ $# -ge 2 ] || ndie "usage: node.sh tag IMAGE REF... (IMAGE: pause, ioc or iocmgr)"
         tag_image "$@" ;;
    *) echo "usage: $0 up|down|status|import [NAME...]|tag IMAGE REF...|exec CMD..." >&2; exit 2 ;;
esac
