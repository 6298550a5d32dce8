#!/usr/bin/env bash
# Runs iocmgr. With no cluster given (neither IOCMGR_KUBECONFIG nor KUBECONFIG
# set) it first brings up the local control plane on loopback with the demo
# beamline (tests/cluster), then starts the IOC against it, serving Channel
# Access on loopback only.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
base=$(sed -n 's/^EPICS_BASE *= *//p' "$top/configure/RELEASE.deps" "$top/configure/RELEASE.local" 2>/dev/null | tail -1)
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")
ioc=$top/bin/$arch/iocmgr
[ -x "$ioc" ] || { echo "iocmgr: $ioc is not built; run 'make demo' from $top" >&2; exit 1; }

if [ -z "${IOCMGR_KUBECONFIG:-}" ] && [ -z "${KUBECONFIG:-}" ]; then
    "$top/tests/cluster/up.sh"
    "$top/tests/cluster/demo.sh"
    # shellcheck disable=SC1091
    . "${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env"
    export IOCMGR_NAMESPACE=${IOCMGR_NAMESPACE:-bl46p-iocs}
    cluster_note="The local control plane keeps running: stop it with tests/cluster/down.sh
kubectl for it: . ${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env; kubectl -n $IOCMGR_NAMESPACE get sts,pods"
else
    cluster_note="Cluster: ${IOCMGR_KUBECONFIG:-$KUBECONFIG}"
fi

export IOCMGR_PREFIX=${IOCMGR_PREFIX:-BL46P-CS-IOCMGR-01:}
export IOCMGR_USERS=${IOCMGR_USERS:-$(id -un)}
export IOCMGR_HOSTS=${IOCMGR_HOSTS:-$(hostname),localhost}
# Channel Access on loopback only.
export EPICS_CAS_INTF_ADDR_LIST=${EPICS_CAS_INTF_ADDR_LIST:-127.0.0.1}
export EPICS_CA_ADDR_LIST=${EPICS_CA_ADDR_LIST:-127.0.0.1}
export EPICS_CA_AUTO_ADDR_LIST=${EPICS_CA_AUTO_ADDR_LIST:-NO}
export EPICS_CA_MAX_ARRAY_BYTES=${EPICS_CA_MAX_ARRAY_BYTES:-1000000}

P=$IOCMGR_PREFIX
cat <<MSG

iocmgr $P is starting. In another shell, try:
  export PATH=$base/bin/$arch:\$PATH EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_MAX_ARRAY_BYTES=1000000
  caget ${P}CONNECTED ${P}NAMESPACE ${P}COUNT ${P}RUNNING_COUNT ${P}FAULT_COUNT
  caget ${P}NAMES
  camonitor ${P}BL46P-EA-IOC-01:STATUS
  caput -c ${P}BL46P-EA-IOC-01:RESTART 1
  caget -S ${P}BL46P-EA-IOC-03:MESSAGE
  caput ${P}BL46P-EA-IOC-01:LOG_FETCH 1; caget -S ${P}BL46P-EA-IOC-01:LOG
Phoebus screens: $top/opi
$cluster_note

MSG
cd "$top/iocBoot/iociocmgr"
exec "$ioc" st.cmd
