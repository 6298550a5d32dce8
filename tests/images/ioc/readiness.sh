#!/bin/bash
# /epics/ioc/readiness.sh of the generic test IOC image: ready once the IOC answers its
# UPTIME over CA (the same PV and settings as liveness.sh); quiet, as not ready is normal
# while an IOC boots.
pv=${K8S_IOC_PV:-${IOC_PREFIX^^}:UPTIME}
export EPICS_CA_SERVER_PORT=${K8S_IOC_PORT:-5064}
[ -z "${K8S_IOC_ADDRESS:-}" ] || export EPICS_CA_ADDR_LIST=$K8S_IOC_ADDRESS
caget -w 1 "$pv" >/dev/null 2>&1
