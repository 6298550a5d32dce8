#!/usr/bin/env bash
# SIGKILL one component of the local cluster (a crash, not a shutdown: no graceful
# close of its connections), by the pid up.sh recorded, and wait until it is gone.
#   kill.sh kube-apiserver|etcd|kube-controller-manager|kube-scheduler|kwok
# Bring it back with tests/cluster/apiserver.sh start or tests/faults/etcd.sh start
# (they reuse the saved arguments).
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
name=${1:-}
case $name in
  kube-apiserver|etcd|kube-controller-manager|kube-scheduler|kwok) ;;
  *) die "usage: $0 kube-apiserver|etcd|kube-controller-manager|kube-scheduler|kwok" ;;
esac
[ -f "$RUN/$MARK" ] || die "no cluster running: run tests/cluster/up.sh first"
pid=$(proc_pid "$name") || die "$name is not running"
kill -KILL "$pid"
# gone once /proc no longer shows our binary for that pid (a zombie has no exe link)
deadline=$((SECONDS + 10))
while proc_alive "$name"; do
  [ "$SECONDS" -lt "$deadline" ] || die "$name (pid $pid) survived SIGKILL for 10 s"
  sleep 0.05
done
say "$name (pid $pid) killed with SIGKILL"
