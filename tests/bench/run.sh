#!/usr/bin/env bash
# iocmgr performance benchmark (docs/performance.md): against the local control plane
# (tests/cluster, kwok makes pods cheap), N = 100, 1000, 5000 IOC instances in one namespace.
#
#   tests/bench/run.sh [N ...]          default: 100 1000 5000 (ascending; instances are added)
#
# Prints figures; nothing passes or fails on time. Bounded: every step has a timeout and
# the whole run stops after BENCH_TIMEOUT seconds. On exit it deletes its StatefulSets and,
# when it started the cluster itself, stops it (tests/cluster/down.sh).
#
# Environment (all optional):
#   BENCH_ROUNDS (3)          measurement rounds per N (a fresh IOC each); the report quotes medians
#   BENCH_HOST_ROUND (1)      one extra round per N with the IOC as started here (root: SCHED_FIFO
#                             threads and mlockall), besides the container-like rounds
#   BENCH_MAX_LOAD (1.5)      wait (at most BENCH_LOAD_WAIT s, 600) for the 1-min load average
#                             to drop below this before each round; the load is recorded anyway
#   BENCH_TIMEOUT (10800)     the whole run, seconds
#   BENCH_OUT                 results directory (default tests/bench/results/<date-time>)
#   BENCH_IOC_TOP             a built iocmgr tree to measure instead of this one
#   BENCH_IDLE_SECONDS (60), BENCH_QUIET_SECONDS (15), BENCH_LATENCY_CHANGES (200), BENCH_LATENCY_RATE (3/s),
#   BENCH_COMMANDS (100), BENCH_PS_REPEAT (10), BENCH_CREATE_TIMEOUT (3600)   see bench.py
#   BENCH_PHASES (all)        all | boot | ps (boot, then only the 'ps' comparison)
#   BENCH_CA_PORTS            LO-HI: the IOC's CA port from this range (default: any free one)
#   BENCH_EC (1)              the real `ec` CLI (tests/ec/venv.sh, K8S backend, helm from
#                             tests/helm/build.sh) in the 'ps' comparison and the API-load phase;
#                             0 leaves it out
#   BENCH_APIRATE (1)         after the rounds of each N: requests/s at the apiserver with nothing,
#                             iocmgr, `ec monitor` watching the namespace, idle and with pods
#                             changing (BENCH_APIRATE_SECONDS, 60, per window; ~8 min per N); 0: no
#   IOCMGR_CLUSTER_DIR and the IOCMGR_*_PORT variables: the cluster (default: a bench cluster
#   of its own in $IOCMGR_CACHE/cluster-bench on ports 17743/17779/17780/17757/17759/17750)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
export IOCMGR_CLUSTER_DIR=${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-bench}
export IOCMGR_APISERVER_PORT=${IOCMGR_APISERVER_PORT:-17743}
export IOCMGR_ETCD_CLIENT_PORT=${IOCMGR_ETCD_CLIENT_PORT:-17779}
export IOCMGR_ETCD_PEER_PORT=${IOCMGR_ETCD_PEER_PORT:-17780}
export IOCMGR_CM_PORT=${IOCMGR_CM_PORT:-17757}
export IOCMGR_SCHEDULER_PORT=${IOCMGR_SCHEDULER_PORT:-17759}
export IOCMGR_KWOK_PORT=${IOCMGR_KWOK_PORT:-17750}
export BENCH_NAMESPACE=${BENCH_NAMESPACE:-bench-iocs}
export IOCMGR_NAMESPACE=$BENCH_NAMESPACE          # up.sh makes it and iocmgr's Role in it
export BENCH_OUT=${BENCH_OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
ROUNDS=${BENCH_ROUNDS:-3}
HOST_ROUND=${BENCH_HOST_ROUND:-1}
MAX_LOAD=${BENCH_MAX_LOAD:-1.5}
LOAD_WAIT=${BENCH_LOAD_WAIT:-600}
DEADLINE=$((SECONDS + ${BENCH_TIMEOUT:-10800}))

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 5000)
mapfile -t sizes < <(printf '%s\n' "${sizes[@]}" | sort -n -u)
for n in "${sizes[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N ...]  (positive integers)" >&2; exit 2; }
done

say() { echo "bench: $*" >&2; }
left() { local l=$((DEADLINE - SECONDS)); [ "$l" -gt 0 ] || { say "BENCH_TIMEOUT reached: stopping"; exit 1; }; echo "$l"; }
bounded() { local t; t=$(left); [ "$t" -lt "$1" ] || t=$1; shift; timeout --kill-after=30 "$t" "$@"; }

mkdir -p "$BENCH_OUT"
say "results in $BENCH_OUT"

# ---------------------------------------------------------------- build and cluster
make -s -C "$HERE" all
[ -x "${BENCH_IOC_TOP:-$TOP}/bin/linux-x86_64/iocmgr" ] || { say "iocmgr is not built: run make first"; exit 1; }

# One caRepeater with /dev/null for its output on a free port of the run's own: one
# spawned by a CA client would keep that client's pipes open
# (tests/integration/iocmgrtest.py, start_ca_repeater).
read -r EPICS_CA_REPEATER_PORT repeater_pid < <(python3 "$TOP/tests/integration/iocmgrtest.py" ca-repeater \
    ${BENCH_CA_REPEATER_PORT:-})
export EPICS_CA_REPEATER_PORT
[ -n "$repeater_pid" ] || { say "caRepeater did not start"; exit 1; }

started_cluster=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  kill "$repeater_pid" 2>/dev/null || true
  if [ -f "$IOCMGR_CLUSTER_DIR/env" ]; then
    timeout 300 python3 "$HERE/bench.py" cleanup || true
  fi
  if [ "$started_cluster" = 1 ]; then
    "$TOP/tests/cluster/down.sh" || true
  fi
  say "results in $BENCH_OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -f "$IOCMGR_CLUSTER_DIR/env" ] && (. "$IOCMGR_CLUSTER_DIR/env" && kubectl get --raw /readyz) >/dev/null 2>&1; then
  say "using the running cluster in $IOCMGR_CLUSTER_DIR (left running)"
  if ! grep -q "namespace: $BENCH_NAMESPACE\$" "$IOCMGR_CLUSTER_DIR/limited.kubeconfig" 2>/dev/null; then
    say "its limited ServiceAccount is not in $BENCH_NAMESPACE: the IOC uses the admin kubeconfig"
    export BENCH_KUBECONFIG=$IOCMGR_CLUSTER_DIR/kubeconfig
  fi
else
  started_cluster=1
  bounded 900 "$TOP/tests/cluster/up.sh"
fi

# ---------------------------------------------------------------- the real ec CLI
# bench.py reads BENCH_EC / BENCH_HELM (paths); without them it measures without ec and says so
if [ "${BENCH_EC:-1}" = 1 ]; then
  if BENCH_EC=$(bounded 900 "$TOP/tests/ec/venv.sh") && BENCH_HELM=$(bounded 900 "$TOP/tests/helm/build.sh"); then
    export BENCH_EC BENCH_HELM
  else
    say "no ec or helm (tests/ec/venv.sh, tests/helm/build.sh failed): measuring without ec"
    unset BENCH_EC BENCH_HELM
  fi
else
  unset BENCH_EC BENCH_HELM
fi

# ---------------------------------------------------------------- the machine
{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
  echo "ram: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "epics_base: $(sed -n 's/^EPICS_BASE *= *//p' "$TOP/configure/RELEASE.deps" "$TOP/configure/RELEASE.local" 2>/dev/null | tail -n1)"
  . "$IOCMGR_CLUSTER_DIR/env"
  echo "kubernetes: $(kubectl version -o json 2>/dev/null | python3 -c 'import json,sys; v=json.load(sys.stdin); print("client", v["clientVersion"]["gitVersion"], "server", v["serverVersion"]["gitVersion"])')"
  echo "kwok/etcd: $(basename "$(dirname "$IOCMGR_CLUSTER_BIN")")"
  echo "iocmgr: $(sed -n 's/.*IOCMGR_VERSION *"\(.*\)".*/\1/p' "$TOP/iocmgrApp/src/iocmgrVersion.h"), git $(git -C "$TOP" describe --always --dirty 2>/dev/null)${BENCH_IOC_TOP:+, measured tree $BENCH_IOC_TOP}"
  echo "python: $(python3 --version 2>&1)"
  echo "ec: ${BENCH_EC:+$("$BENCH_EC" --version 2>&1) ($BENCH_EC), helm $("$BENCH_HELM" version --short 2>&1)}"
  echo "load_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$BENCH_OUT/machine.txt"
cat "$BENCH_OUT/machine.txt" >&2

wait_load() {
  local t0=$SECONDS
  while awk -v m="$MAX_LOAD" '{exit !($1 >= m)}' /proc/loadavg; do
    if [ $((SECONDS - t0)) -ge "$LOAD_WAIT" ]; then
      say "load average still $(cut -d' ' -f1 /proc/loadavg) after ${LOAD_WAIT}s: measuring anyway (recorded)"
      return 0
    fi
    sleep 10
  done
  say "load average $(cut -d' ' -f1 /proc/loadavg)"
}

# ---------------------------------------------------------------- the sizes
for n in "${sizes[@]}"; do
  say "==== N=$n: making the instances"
  bounded "${BENCH_CREATE_TIMEOUT:-3600}" python3 "$HERE/bench.py" create "$n"
  for r in $(seq 1 "$ROUNDS"); do
    wait_load
    bounded 1800 python3 "$HERE/bench.py" run "$n" "$r"
  done
  if [ "$HOST_ROUND" = 1 ]; then
    wait_load
    BENCH_IOC_MODE=host bounded 1800 python3 "$HERE/bench.py" run "$n" 1
  fi
  if [ "${BENCH_APIRATE:-1}" = 1 ]; then
    wait_load
    bounded 1800 python3 "$HERE/bench.py" apirate "$n"
  fi
  python3 "$HERE/bench.py" report | tee "$BENCH_OUT/summary.txt"
done
