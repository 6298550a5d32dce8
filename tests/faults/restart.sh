#!/usr/bin/env bash
# Restart one component of the local cluster with the arguments up.sh gave it (SIGTERM,
# SIGKILL after IOCMGR_STOP_TIMEOUT s), e.g. after a fault that left its caches wrong:
#   restart.sh kube-scheduler|kube-controller-manager|kwok
# (kube-apiserver: tests/cluster/apiserver.sh; etcd: tests/faults/etcd.sh.)
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
name=${1:-}
case $name in
  kube-scheduler|kube-controller-manager|kwok) ;;
  *) die "usage: $0 kube-scheduler|kube-controller-manager|kwok" ;;
esac
[ -f "$RUN/$MARK" ] && [ -f "$RUN/pids/$name.args" ] || die "no cluster running: run tests/cluster/up.sh first"
proc_stop "$name" "${IOCMGR_STOP_TIMEOUT:-10}" || say "$name was not running"
proc_restart_saved "$name"
sleep 1
proc_alive "$name" || { tail -n 20 "$RUN/logs/$name.log" >&2; die "$name exited after the restart"; }
say "$name restarted"
