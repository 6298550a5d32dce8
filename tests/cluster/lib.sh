# shellcheck shell=bash
# Shared settings for tests/cluster/*.sh (sourced, not executed).
# Versions are pinned by the wrapper modules in tests/cluster/gomod/*/go.mod; this file
# only reads them, so go.mod/go.sum stay the single source of truth.

CLUSTER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GOMOD_DIR=$CLUSTER_SRC/gomod

die() { echo "cluster: error: $*" >&2; exit 1; }
say() { echo "cluster: $*" >&2; }

# version of module $2 required in wrapper go.mod $1
_req_version() {
  awk -v m="$2" '($1==m && $2 ~ /^v/){print $2; exit} ($1=="require" && $2==m){print $3; exit}' "$1"
}

K8S_VERSION=$(_req_version "$GOMOD_DIR/kubernetes/go.mod" k8s.io/kubernetes)
ETCD_VERSION=$(_req_version "$GOMOD_DIR/etcd/go.mod" go.etcd.io/etcd/server/v3)
KWOK_VERSION=$(_req_version "$GOMOD_DIR/kwok/go.mod" sigs.k8s.io/kwok)
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] && [ -n "$KWOK_VERSION" ] ||
  die "cannot read pinned versions from $GOMOD_DIR/*/go.mod"

IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
CLUSTER_KEY="k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
CLUSTER_BIN=$IOCMGR_CACHE/k8s/$CLUSTER_KEY/bin
IOCMGR_CLUSTER_DIR=${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}

# Ports: all on 127.0.0.1, all off their upstream defaults so a real cluster or a
# kind/minikube on the same host never clashes.
IOCMGR_APISERVER_PORT=${IOCMGR_APISERVER_PORT:-16443}
IOCMGR_ETCD_CLIENT_PORT=${IOCMGR_ETCD_CLIENT_PORT:-12379}
IOCMGR_ETCD_PEER_PORT=${IOCMGR_ETCD_PEER_PORT:-12380}
IOCMGR_CM_PORT=${IOCMGR_CM_PORT:-16257}          # kube-controller-manager (default 10257)
IOCMGR_SCHEDULER_PORT=${IOCMGR_SCHEDULER_PORT:-16259}  # kube-scheduler (default 10259)
IOCMGR_KWOK_PORT=${IOCMGR_KWOK_PORT:-16250}      # kwok's fake kubelet API (logs), default 10250
IOCMGR_NAMESPACE=${IOCMGR_NAMESPACE:-bl46p-iocs}
IOCMGR_NODE_NAME=${IOCMGR_NODE_NAME:-kwok-node-0}

# kubectl against the local cluster (admin)
kc() { "$CLUSTER_BIN/kubectl" --kubeconfig "$IOCMGR_CLUSTER_DIR/kubeconfig" "$@"; }

# etcd's GET /health without needing curl (a subshell: a failed exec must not end the caller)
etcd_ok() (
  exec 3<>"/dev/tcp/127.0.0.1/$IOCMGR_ETCD_CLIENT_PORT" || exit 1
  printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  timeout 5 cat <&3 | grep -q '"health":"true"'
)

# wait_apiserver_ready WHAT: /readyz within IOCMGR_APISERVER_TIMEOUT (60 s) after WHAT,
# else the tail of the apiserver's log and die
wait_apiserver_ready() {
  wait_for "${IOCMGR_APISERVER_TIMEOUT:-60}" kc get --raw /readyz ||
    { tail -n 20 "$RUN/logs/kube-apiserver.log" >&2; die "kube-apiserver not ready after $1"; }
}

# run "$@" until it succeeds or $1 seconds pass; returns 1 on timeout
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

# ------------------------------------------------------------ processes
# Every process up.sh starts is recorded as pids/NAME.pid + pids/NAME.exe (the binary
# /proc showed for it), so that only that process is ever signalled, never a reused pid.
RUN=$IOCMGR_CLUSTER_DIR
# shellcheck disable=SC2034  # used by the scripts that source this file
MARK=.iocmgr-cluster

# proc_pid NAME: pid of our live NAME process on stdout, or fail
proc_pid() {
  local pid exe
  pid=$(cat "$RUN/pids/$1.pid" 2>/dev/null) || return 1
  exe=$(cat "$RUN/pids/$1.exe" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -n "$exe" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] || return 1
  echo "$pid"
}
proc_alive() { proc_pid "$1" >/dev/null; }

# proc_start NAME ARGS...: run $CLUSTER_BIN/NAME detached (own session, stdio to
# logs/NAME.log), arguments kept in pids/NAME.args for a restart
proc_start() {
  local name=$1; shift
  local pidf=$RUN/pids/$name.pid want; want=$(readlink -f "$CLUSTER_BIN/$name")
  printf '%s\n' "$@" > "$RUN/pids/$name.args"
  echo "$want" > "$RUN/pids/$name.exe"
  rm -f "$pidf"
  # the inner shell writes its own pid, then execs the binary in place: the pid file is
  # right whether or not setsid had to fork
  setsid bash -c 'echo $$ > "$0.tmp" && mv -f "$0.tmp" "$0" && shift && exec "$@"' \
    "$pidf" "$name" "$CLUSTER_BIN/$name" "$@" </dev/null >>"$RUN/logs/$name.log" 2>&1 &
  local _; for _ in $(seq 1 100); do
    [ -s "$pidf" ] && [ "$(readlink "/proc/$(cat "$pidf")/exe" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.05
  done
  say "$name did not start (log: $RUN/logs/$name.log)"   # the caller's checks report it
}
# proc_restart_saved NAME: start NAME again with the arguments it had
proc_restart_saved() {
  local args=(); mapfile -t args < "$RUN/pids/$1.args"
  proc_start "$1" "${args[@]}"
}

# proc_stop NAME [TIMEOUT]: SIGTERM our NAME process, SIGKILL after TIMEOUT s (10)
proc_stop() {
  local c=$1 timeout=${2:-${IOCMGR_STOP_TIMEOUT:-10}} pid deadline
  pid=$(proc_pid "$c") || return 1
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + timeout))
  while proc_alive "$c" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if proc_alive "$c"; then
    say "$c (pid $pid) ignored SIGTERM for ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while proc_alive "$c" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  fi
  return 0
}

# ------------------------------------------------------------ the real node for a beamline
# beamline_node: the cluster's real node (tests/cluster/node.sh), started when the cluster
# has none (root, or sudo), with the generic test IOC image under every name of
# demo/images.txt; its settings (node.env) sourced. demo.sh and tests/argocd/up.sh
# put their beamlines' IOCs there.
beamline_node() {
  if [ ! -f "$RUN/node.env" ]; then
    say "the beamline's IOCs run on a real node and this cluster has none: starting it (tests/cluster/node.sh up)"
    "$CLUSTER_SRC/node.sh" up || die "the real node did not come up (see above); the beamline's IOCs need it"
  fi
  # shellcheck disable=SC1091
  . "$RUN/node.env"
  local images=()
  mapfile -t images < <(grep -vE '^\s*(#|$)' "$CLUSTER_SRC/demo/images.txt")
  "$CLUSTER_SRC/node.sh" tag ioc "${images[@]}" || die "cannot name the generic IOC image on the node"
}
