#!/usr/bin/env bash
# Take the local cluster's etcd away and bring it back, or compact it, for fault tests
# (modelled on tests/cluster/apiserver.sh; same state dir, ports and pid records).
#   etcd.sh stop      stop etcd (SIGTERM, SIGKILL after IOCMGR_ETCD_STOP_TIMEOUT s, default 5);
#                     the apiserver keeps running and answers 5xx/timeouts for what needs etcd
#   etcd.sh start     start it again with the arguments up.sh gave it; waits for /health
#                     and then for the apiserver's /readyz
#   etcd.sh restart   both
#   etcd.sh compact   compact the key space to the current revision (every older
#                     resourceVersion is gone from etcd); prints the revision
#   etcd.sh revision  print the current revision
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
[ -f "$RUN/$MARK" ] && [ -f "$RUN/pids/etcd.args" ] || die "no cluster running: run tests/cluster/up.sh first"

ETCD=127.0.0.1:$IOCMGR_ETCD_CLIENT_PORT

# POST to etcd's gRPC gateway (plain HTTP on loopback) without needing curl
etcd_post() (
  exec 3<>"/dev/tcp/127.0.0.1/$IOCMGR_ETCD_CLIENT_PORT" || exit 1
  printf 'POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "$ETCD" "${#2}" "$2" >&3
  timeout 10 cat <&3
)
revision() {
  etcd_post /v3/kv/range '{"key":"Lw==","limit":1,"keys_only":true}' | sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p' | sed -n 1p
}
stop() { proc_stop etcd "${IOCMGR_ETCD_STOP_TIMEOUT:-5}" || say "etcd was not running"; }
start() {
  if proc_alive etcd; then say "etcd already running"; return 0; fi
  proc_restart_saved etcd
  wait_for "${IOCMGR_ETCD_TIMEOUT:-30}" etcd_ok || { tail -n 20 "$RUN/logs/etcd.log" >&2; die "etcd not healthy after restart"; }
  wait_apiserver_ready "the etcd restart"
  say "etcd ready"
}
case ${1:-} in
  stop) stop ;;
  start) start ;;
  restart) stop; start ;;
  compact)
    rev=$(revision); [ -n "$rev" ] || die "cannot read etcd's revision on $ETCD"
    etcd_post /v3/kv/compaction "{\"revision\":\"$rev\",\"physical\":true}" | grep -q '"header"' ||
      die "compaction to revision $rev failed"
    echo "$rev" ;;
  revision) r=$(revision); [ -n "$r" ] || die "cannot read etcd's revision"; echo "$r" ;;
  *) die "usage: $0 stop|start|restart|compact|revision" ;;
esac
