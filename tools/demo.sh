#!/usr/bin/env bash
# Runs iocmgr. With no cluster given (neither IOCMGR_KUBECONFIG nor KUBECONFIG
# set) it first brings up the local control plane on loopback and a real node
# (tests/cluster, docs/node.md: kubelet, containerd, real IOC containers) with the
# demo beamline, then starts the IOC against it, serving Channel Access on loopback
# only and reaching the beamline's IOCs at the node's address for ALIVE.
# The node needs root: run as root, or as a user with sudo (node.sh asks through it).
# IOCMGR_DEMO_ARGOCD=1: the beamline deployed by the real Argo CD (tests/argocd),
# on the same real node.
# Honours IOCMGR_CLUSTER_DIR and the IOCMGR_*_PORT variables (tests/cluster/README.md),
# EPICS_CA_SERVER_PORT, EPICS_CA_REPEATER_PORT and the EPICS_PVA* ports, so a demo
# runs beside another bed (make test's) on ports of its own.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# without a cluster given, the beamline's IOCs run in real containers on a real node
# started here: that needs root (or sudo, which tests/cluster/node.sh uses)
if [ -z "${IOCMGR_KUBECONFIG:-}" ] && [ -z "${KUBECONFIG:-}" ] && [ "$(id -u)" != 0 ] &&
        ! command -v sudo >/dev/null; then
    echo "iocmgr: the demo runs its IOCs in real containers on a real Kubernetes node (kubelet," >&2
    echo "  containerd, network and mount namespaces of its own: docs/node.md), which needs root." >&2
    echo "  Run 'make demo' as root, or as a user who may use sudo; or give iocmgr a cluster of" >&2
    echo "  your own with KUBECONFIG (it then starts nothing). Nothing was started." >&2
    exit 1
fi
export IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
# RELEASE.local, when it exists, wins over what tools/deps.sh wrote.
base=$({ sed -n 's/^EPICS_BASE *= *//p' "$top/configure/RELEASE.deps" "$top/configure/RELEASE.local" 2>/dev/null || true; } | tail -1)
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")
ioc=$top/bin/$arch/iocmgr
[ -x "$ioc" ] || { echo "iocmgr: $ioc is not built; run 'make demo' from $top" >&2; exit 1; }

local_cluster=
if [ -z "${IOCMGR_KUBECONFIG:-}" ] && [ -z "${KUBECONFIG:-}" ]; then
    local_cluster=1
    # kwok's fake node too for the Argo CD bed: the pod of iocmgr's own Application
    # runs there (this demo runs iocmgr on the machine), its IOC instances on the real node
    IOCMGR_REAL_NODE=1 IOCMGR_KWOK_NODE=${IOCMGR_KWOK_NODE:-${IOCMGR_DEMO_ARGOCD:-0}} "$top/tests/cluster/up.sh"
    # the Argo CD bed deploys the beamline itself (below): the demo's instances, which
    # have the same names, would answer the same PVs on the node
    [ "${IOCMGR_DEMO_ARGOCD:-0}" = 1 ] || "$top/tests/cluster/demo.sh"
    # shellcheck disable=SC1091
    . "${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env"
    export IOCMGR_NAMESPACE=${IOCMGR_NAMESPACE:-bl46p-iocs}
    cluster_note="The local control plane and its node keep running: stop them with tests/cluster/down.sh
kubectl for it: . ${IOCMGR_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-run}/env; kubectl -n $IOCMGR_NAMESPACE get sts,pods"
    # IOCMGR_DEMO_ARGOCD=1: the bl46p beamline deployed by the real Argo CD instead
    # (tests/argocd, docs/argocd.md), in its own namespace; iocmgr manages that one.
    if [ "${IOCMGR_DEMO_ARGOCD:-0}" = 1 ]; then
        # a cluster already running from a plain `make demo` has no kwok node for it
        kubectl get node kwok-node-0 >/dev/null 2>&1 || {
            echo "iocmgr: this cluster runs without kwok's node, where the Argo CD bed puts the pod of" >&2
            echo "  iocmgr's own Application: stop it (tests/cluster/down.sh) and run this again" >&2
            exit 1; }
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

# iocmgr's ALIVE reads each IOC's own UPTIME over CA: the beamline's IOCs run with
# hostNetwork on the node and answer at its broadcast address, on their port 5064
# (named: iocmgr's own EPICS_CA_SERVER_PORT may be another).
if [ -n "$local_cluster" ]; then
    export EPICS_CA_ADDR_LIST="$EPICS_CA_ADDR_LIST $IOCMGR_NODE_CA_ADDR_LIST:5064"
fi

P=$IOCMGR_PREFIX
ioc_note=
if [ -n "$local_cluster" ]; then
    ioc_note="The IOCs themselves (softIoc processes in the node's containers) answer at the node:
  EPICS_CA_ADDR_LIST=$IOCMGR_NODE_CA_ADDR_LIST${EPICS_CA_SERVER_PORT:+ EPICS_CA_SERVER_PORT=5064} caget BL46P-EA-IOC-01:UPTIME
"
fi
faults=
# the demo beamline's faults, each as the kubelet or the scheduler reports it
[ -z "$local_cluster" ] || [ "${IOCMGR_DEMO_ARGOCD:-0}" = 1 ] || faults="  caget ${P}BL46P-EA-IOC-04:STATUS ${P}BL46P-EA-IOC-05:LAST_REASON ${P}BL46P-EA-IOC-02:ALIVE
  caget -S '${P}BL46P-MO-IOC-02:MESSAGE.VAL\$'
"
cat <<MSG

iocmgr $P is starting. In another shell, try:
  export PATH=$base/bin/$arch:\$PATH EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_MAX_ARRAY_BYTES=1000000${EPICS_CA_SERVER_PORT:+ EPICS_CA_SERVER_PORT=$EPICS_CA_SERVER_PORT}
  caget ${P}CONNECTED ${P}NAMESPACE ${P}COUNT ${P}RUNNING_COUNT ${P}FAULT_COUNT
  caget ${P}NAMES
  camonitor ${P}BL46P-EA-IOC-01:STATUS ${P}BL46P-EA-IOC-01:ALIVE
  caput -c ${P}BL46P-EA-IOC-01:RESTART 1
  caget -S '${P}BL46P-EA-IOC-03:MESSAGE.VAL\$'
  caput ${P}BL46P-EA-IOC-01:LOG_FETCH 1; caget -S ${P}BL46P-EA-IOC-01:LOG
$faults${ioc_note}Phoebus screens: $IOCMGR_OPI_DIR/iocmgr-overview.bob (open in Phoebus)
Alarm server configuration: $IOCMGR_ALARM_CONFIG
$cluster_note

MSG
cd "$top/iocBoot/iociocmgr"
"$ioc" st.cmd
