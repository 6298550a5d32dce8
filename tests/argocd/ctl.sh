#!/usr/bin/env bash
# Stop or start one server of the running bed, by its recorded pid and binary, with the
# arguments and environment up.sh gave it: what the tests use to show iocmgr with Argo
# CD not running.   Usage: ctl.sh stop|start|status argocd-application-controller|argocd-repo-server|redis-server
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
action=${1:-} name=${2:-}
[[ " $ARGOCD_PROCS " == *" $name "* ]] || argocd_die "usage: $0 stop|start|status {${ARGOCD_PROCS// /|}}"
[ -f "$BED/$BED_MARK" ] || argocd_die "no bed in $BED (tests/argocd/up.sh)"
case "$action" in
  stop) bed_proc proc_stop "$name" || argocd_say "$name was not running" ;;
  start)
    bed_proc proc_alive "$name" && { argocd_say "$name already running"; exit 0; }
    bed_env
    bed_proc proc_restart_saved "$name"
    bed_proc proc_alive "$name" || argocd_die "$name did not start (log: $BED/logs/$name.log)" ;;
  status) bed_proc proc_alive "$name" && echo running || echo stopped ;;
  *) argocd_die "usage: $0 stop|start|status NAME" ;;
esac
