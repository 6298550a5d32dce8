#!/usr/bin/env bash
# Restart one component of the local cluster with the arguments up.sh gave it (SIGTERM,
# SIGKILL after IOCMGR_STOP_TIMEOUT s), e.g. after a fault that left its caches wrong:
#   restart.sh [--if-dead] kube-scheduler|kube-controller-manager|kwok
# --if-dead: only start it when it is not running. kube-scheduler exits by design when
# it finds its cache corrupted (klog.FlushAndExit, seen after etcd compactions and
# apiserver restarts make every informer relist) and expects a supervisor (the kubelet
# of a static pod) to start it again; up.sh has none.
# (kube-apiserver: tests/cluster/apiserver.sh; etcd: tests/faults/etcd.sh.)
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
if_dead=""
[ "${1:-}" = --if-dead ] && { if_dead=1; shift; }
name=${1:-}
case $name in
  kube-scheduler|kube-controller-manager|kwok) ;;
  *) die "usage: $0 [--if-dead] kube-scheduler|kube-controller-manager|kwok" ;;
esac
[ -f "$RUN/$MARK" ] && [ -f "$RUN/pids/$name.args" ] || die "no cluster running: run tests/cluster/up.sh first"
if [ -n "$if_dead" ]; then
  proc_alive "$name" && exit 0
  say "$name is not running (last log line: $(tail -n 1 "$RUN/logs/$name.log" | cut -c1-200)): starting it"
else
  proc_stop "$name" "${IOCMGR_STOP_TIMEOUT:-10}" || say "$name was not running"
fi
proc_restart_saved "$name"
sleep 1
proc_alive "$name" || { tail -n 20 "$RUN/logs/$name.log" >&2; die "$name exited after the restart"; }
say "$name restarted"
