#!/usr/bin/env bash
# RESTART on a real node (docs/performance.md, "RESTART on a real node"): caput RESTART,
# `ec restart` and `kubectl delete pod` -> the new IOC process answering its UPTIME over CA,
# p50/p99 over BENCH_NODE_SAMPLES (20) each, and iocmgr's share (the put -> the pod's
# deletion at the apiserver). tests/bench/restart_node.py does the measuring.
#
#   tests/bench/restart-node.sh
#
# The bed: IOCMGR_CLUSTER_DIR when a real node runs there (IOCMGR_REAL_NODE=1
# tests/cluster/up.sh), left running; else one of its own ($IOCMGR_CACHE/cluster-bench-node,
# ports 17843/17879/17880/17857/17859/17850, kubelet 17851/17848), stopped after.
# Results: BENCH_OUT (default tests/bench/results/node-restart-<date-time>): samples.json,
# summary.txt, the watch, iocmgr's log. Prints figures; nothing passes or fails on time.
# Needs root (the node), the tree built (make), PyPI once for ec (tests/ec/venv.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
export BENCH_OUT=${BENCH_OUT:-$HERE/results/node-restart-$(date +%Y%m%d-%H%M%S)}
say() { echo "bench-node: $*" >&2; }

make -s -C "$HERE" all
BENCH_EC=$("$TOP/tests/ec/venv.sh"); BENCH_HELM=$("$TOP/tests/helm/build.sh")
export BENCH_EC BENCH_HELM

read -r EPICS_CA_REPEATER_PORT repeater_pid < <(python3 "$TOP/tests/integration/iocmgrtest.py" ca-repeater \
    ${BENCH_CA_REPEATER_PORT:-})
export EPICS_CA_REPEATER_PORT
started=0
cleanup() {
    [ -z "${repeater_pid:-}" ] || kill "$repeater_pid" 2>/dev/null || true
    [ "$started" = 0 ] || "$TOP/tests/cluster/down.sh" || true
}
trap cleanup EXIT

if [ -n "${IOCMGR_CLUSTER_DIR:-}" ] && [ -f "$IOCMGR_CLUSTER_DIR/node.env" ] &&
       grep -q IOCMGR_NODE_IP "$IOCMGR_CLUSTER_DIR/node.env"; then
    say "the bed in $IOCMGR_CLUSTER_DIR (left running)"
else
    export IOCMGR_CLUSTER_DIR=$IOCMGR_CACHE/cluster-bench-node IOCMGR_REAL_NODE=1
    export IOCMGR_APISERVER_PORT=${IOCMGR_APISERVER_PORT:-17843} IOCMGR_ETCD_CLIENT_PORT=${IOCMGR_ETCD_CLIENT_PORT:-17879}
    export IOCMGR_ETCD_PEER_PORT=${IOCMGR_ETCD_PEER_PORT:-17880} IOCMGR_CM_PORT=${IOCMGR_CM_PORT:-17857}
    export IOCMGR_SCHEDULER_PORT=${IOCMGR_SCHEDULER_PORT:-17859} IOCMGR_KWOK_PORT=${IOCMGR_KWOK_PORT:-17850}
    export IOCMGR_KUBELET_PORT=${IOCMGR_KUBELET_PORT:-17851} IOCMGR_KUBELET_HEALTHZ_PORT=${IOCMGR_KUBELET_HEALTHZ_PORT:-17848}
    started=1
    "$TOP/tests/cluster/up.sh"
fi
# kubectl and the node's settings
. "$IOCMGR_CLUSTER_DIR/env"
mkdir -p "$BENCH_OUT"
say "results in $BENCH_OUT; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$HERE/restart_node.py" "$BENCH_OUT"
