#!/usr/bin/env bash
# Stop the local control plane started by up.sh: exactly the pids it recorded (SIGTERM,
# then SIGKILL after IOCMGR_STOP_TIMEOUT seconds, default 10), then remove the run dir.
# Harmless when nothing runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

timeout=${IOCMGR_STOP_TIMEOUT:-10}

if [ ! -e "$RUN" ]; then
  "$CLUSTER_SRC/node.sh" down   # a node of this bed killed half-way leaves cgroups, a veth
  say "nothing to stop ($RUN does not exist)"; exit 0
fi
[ -f "$RUN/$MARK" ] || die "$RUN was not made by up.sh (no $MARK): not touching it"

# the real node first (tests/cluster/node.sh): also cleans up after a node of this bed
# that was killed, whether or not the node was asked for this time
"$CLUSTER_SRC/node.sh" down || say "node.sh down failed; see above"

stopped=0
# reverse start order: the fake kubelet first, etcd last
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  proc_stop "$c" "$timeout" && stopped=$((stopped + 1))
done
# keep the logs of a failed run when asked (CI artefacts)
if [ -n "${IOCMGR_KEEP_LOGS:-}" ] && [ -d "$RUN/logs" ]; then
  mkdir -p "$IOCMGR_KEEP_LOGS" && cp -r "$RUN/logs/." "$IOCMGR_KEEP_LOGS/" || true
fi
rm -rf -- "$RUN"
say "stopped $stopped process(es), removed $RUN"
