#!/bin/bash
# /epics/ioc/liveness.sh of the generic test IOC image: the ioc-instance chart's liveness
# check, as epics-containers' generic IOCs make it. Reads the IOC's iocStats UPTIME with
# caget; on failure tells the IOC's console (so it is in the pod's log) and fails.
#   K8S_IOC_PV       the PV (default ${IOC_PREFIX^^}:UPTIME)
#   K8S_IOC_ADDRESS  where to search for it (EPICS_CA_ADDR_LIST; empty: this host's
#                    broadcast addresses)
#   K8S_IOC_PORT     the IOC's CA server port (5064)
#   K8S_IOC_LIVENESS_ENABLED  false: always succeed
[ "${K8S_IOC_LIVENESS_ENABLED:-true}" = false ] && exit 0
pv=${K8S_IOC_PV:-${IOC_PREFIX^^}:UPTIME}
export EPICS_CA_SERVER_PORT=${K8S_IOC_PORT:-5064}
[ -z "${K8S_IOC_ADDRESS:-}" ] || export EPICS_CA_ADDR_LIST=$K8S_IOC_ADDRESS
if caget -w 1 "$pv" >/dev/null 2>&1; then
    exit 0
fi
echo "Liveness check failed for ${IOC_NAME:-ioc}: no answer from $pv (address list: ${EPICS_CA_ADDR_LIST:-auto}, port $EPICS_CA_SERVER_PORT)" >/proc/1/fd/1
exit 1
