#!/usr/bin/env bash
# Stop exactly the processes tests/argocd/up.sh started (by pid and binary) and remove
# the bed's state dir. The cluster objects go with the cluster (tests/cluster/down.sh);
# with the cluster still running, IOCMGR_ARGOCD_DELETE=1 also deletes the beamline's
# namespace and the argocd namespace.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -e "$BED" ] || exit 0
[ -f "$BED/$BED_MARK" ] || argocd_die "$BED was not made by up.sh (no $BED_MARK): not touching it"
for p in argocd-application-controller argocd-repo-server redis-server; do
  bed_proc proc_stop "$p" || true
done
if [ "${IOCMGR_ARGOCD_DELETE:-0}" = 1 ] && kc get --raw /readyz >/dev/null 2>&1; then
  kc delete namespace "$ARGOCD_NS" argocd --ignore-not-found --wait=false >/dev/null || true
fi
[ -z "${IOCMGR_KEEP_LOGS:-}" ] || { mkdir -p "$IOCMGR_KEEP_LOGS" && cp "$BED"/logs/*.log "$IOCMGR_KEEP_LOGS"/ 2>/dev/null || true; }
rm -rf "$BED"
argocd_say "stopped (state dir $BED removed)"
