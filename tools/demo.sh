#!/usr/bin/env bash
# Runs iocmgr. With no cluster given (neither IOCMGR_KUBECONFIG nor KUBECONFIG
# set) it first brings up the local control plane on loopback with the demo
# beamline (tests/cluster), then starts the IOC against it, serving Channel
# Access on loopback only.
# IOCMGR_DEMO_ARGOCD=1: the beamline deployed by the real Argo CD (tests/argocd).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
# RELEASE.local, when it exists, wins over what tools/deps.sh wrote.
base=$({ sed -n 's/^EPICS_BASE *= *//p' "$top/configure/RELEASE.deps" "$top/configure/RELEASE.local" 2>/dev/null || true; } | tail -1)
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")
ioc=$top/bin/$arch/iocmgr
[ -x "$ioc" ] || { echo "iocmgr: $ioc is not built; run 'make demo' from $top" >&2; exit 1; }

local_cluster=
if [ -z "${IOCMGR_KUBECONFIG:-}" ] && [ -z "${KUBECONFIG:-}" ]; then
    local_cluster=1
    "$top/tests/cluster/up.sh"
    "$top/tests/cluster/demo.sh"
    # shellcheck disable=SC1091
    . "${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env"
    export IOCMGR_NAMESPACE=${IOCMGR_NAMESPACE:-bl46p-iocs}
    cluster_note="The local control plane keeps running: stop it with tests/cluster/down.sh
kubectl for it: . ${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env; kubectl -n $IOCMGR_NAMESPACE get sts,pods"
    # IOCMGR_DEMO_ARGOCD=1: the bl46p beamline deployed by the real Argo CD instead
    # (tests/argocd, docs/argocd.md), in its own namespace; iocmgr manages that one.
    if [ "${IOCMGR_DEMO_ARGOCD:-0}" = 1 ]; then
        "$top/tests/argocd/up.sh"
        # shellcheck disable=SC1091
        . "${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}-argocd/env"
        export IOCMGR_NAMESPACE=$IOCMGR_ARGOCD_NAMESPACE
        cluster_note="The local control plane and Argo CD keep running: stop them with
  tests/argocd/down.sh; tests/cluster/down.sh
kubectl: . ${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env; kubectl -n $IOCMGR_NAMESPACE get applications,sts,pods"
    fi
else
    cluster_note="Cluster: ${IOCMGR_KUBECONFIG:-$KUBECONFIG}"
fi

# Screens and alarm configuration are written at boot for the instances found;
# the overview embeds the static screens by relative path, so they sit beside it.
demo_dir=$IOCMGR_CACHE/demo
mkdir -p "$demo_dir/opi"
cp "$top"/opi/iocmgr-manager.bob "$top"/opi/iocmgr-row.bob "$top"/opi/iocmgr-instance.bob "$demo_dir/opi/"
export IOCMGR_OPI_DIR=${IOCMGR_OPI_DIR:-$demo_dir/opi}
export IOCMGR_ALARM_CONFIG=${IOCMGR_ALARM_CONFIG:-$demo_dir/iocmgr-alarms.xml}

export IOCMGR_PREFIX=${IOCMGR_PREFIX:-BL46P-CS-IOCMGR-01:}
export IOCMGR_USERS=${IOCMGR_USERS:-$(id -un)}
export IOCMGR_HOSTS=${IOCMGR_HOSTS:-$(hostname),localhost}
# Channel Access on loopback only.
export EPICS_CAS_INTF_ADDR_LIST=${EPICS_CAS_INTF_ADDR_LIST:-127.0.0.1}
export EPICS_CA_ADDR_LIST=${EPICS_CA_ADDR_LIST:-127.0.0.1}
export EPICS_CA_AUTO_ADDR_LIST=${EPICS_CA_AUTO_ADDR_LIST:-NO}
export EPICS_CA_MAX_ARRAY_BYTES=${EPICS_CA_MAX_ARRAY_BYTES:-1000000}
# pvAccess on loopback only too (docs/pva.md), on its default ports 5075/5076.
export EPICS_PVAS_INTF_ADDR_LIST=${EPICS_PVAS_INTF_ADDR_LIST:-127.0.0.1}
export EPICS_PVA_ADDR_LIST=${EPICS_PVA_ADDR_LIST:-127.0.0.1}
export EPICS_PVA_AUTO_ADDR_LIST=${EPICS_PVA_AUTO_ADDR_LIST:-NO}
export PATH=$base/bin/$arch:$PATH

# kwok's pods run no container, so on the local control plane a softIoc stands
# in for the running demo IOCs and serves their <I>:UPTIME (what ALIVE reads).
# It has a port of its own, added to iocmgr's CA address list.
standin_pid=
if [ -n "$local_cluster" ]; then
    standin_port=${IOCMGR_DEMO_STANDIN_PORT:-5069}     # not 5075 (PVA server) nor 5065 (CA repeater)
    for name in bl46p-ea-ioc-01 bl46p-mo-ioc-01 bl46p-di-dcam-01 bl46p-va-ioc-01; do
        printf 'record(calc, "%s:UPTIME") { field(SCAN, "1 second") field(CALC, "VAL+1") }\n' "${name^^}"
    done >"$demo_dir/standin.db"
    EPICS_CA_SERVER_PORT=$standin_port "$base/bin/$arch/softIoc" -S -d "$demo_dir/standin.db" \
        </dev/null >"$demo_dir/standin.log" 2>&1 &
    standin_pid=$!
    export EPICS_CA_ADDR_LIST="$EPICS_CA_ADDR_LIST 127.0.0.1:$standin_port"
fi
# softIoc -S ends its main thread, and the rest ignores SIGTERM: SIGKILL it.
trap '[ -z "$standin_pid" ] || kill -KILL "$standin_pid" 2>/dev/null' EXIT

P=$IOCMGR_PREFIX
cat <<MSG

iocmgr $P is starting. In another shell, try:
  export PATH=$base/bin/$arch:\$PATH EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_MAX_ARRAY_BYTES=1000000
  caget ${P}CONNECTED ${P}NAMESPACE ${P}COUNT ${P}RUNNING_COUNT ${P}FAULT_COUNT
  caget ${P}NAMES
  camonitor ${P}BL46P-EA-IOC-01:STATUS
  caput -c ${P}BL46P-EA-IOC-01:RESTART 1
  caget -S '${P}BL46P-EA-IOC-03:MESSAGE.VAL$'
  caput ${P}BL46P-EA-IOC-01:LOG_FETCH 1; caget -S ${P}BL46P-EA-IOC-01:LOG
Phoebus screens: $IOCMGR_OPI_DIR/iocmgr-overview.bob (open in Phoebus)
Alarm server configuration: $IOCMGR_ALARM_CONFIG
$cluster_note

MSG
cd "$top/iocBoot/iociocmgr"
"$ioc" st.cmd
