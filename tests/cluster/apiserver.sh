#!/usr/bin/env bash
# Take the local cluster's kube-apiserver away and bring it back, for tests of what a
# client does when the API is unreachable and after it returns (reconnect, relist).
#   apiserver.sh stop      stop kube-apiserver (etcd, controllers and kwok keep running)
#   apiserver.sh start     start it again with the same flags; waits for /readyz
#   apiserver.sh restart   both. A restarted apiserver rebuilds its watch cache, so a
#                          watch from a resourceVersion older than the restart gets
#                          410 Gone ("too old resource version"), as after a real upgrade.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -f "$RUN/$MARK" ] && [ -f "$RUN/pids/kube-apiserver.args" ] || die "no cluster running: run tests/cluster/up.sh first"
# the apiserver waits for its clients' long-running watches when stopping: give it 3 s
stop() { proc_stop kube-apiserver "${IOCMGR_APISERVER_STOP_TIMEOUT:-3}" || say "kube-apiserver was not running"; }
start() {
  if proc_alive kube-apiserver; then say "kube-apiserver already running"; return 0; fi
  proc_restart_saved kube-apiserver
  wait_apiserver_ready restart
  say "kube-apiserver ready"
}
case ${1:-} in
  stop) stop ;;
  start) start ;;
  restart) stop; start ;;
  *) die "usage: $0 stop|start|restart" ;;
esac
