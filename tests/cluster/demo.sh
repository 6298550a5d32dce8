#!/usr/bin/env bash
# Load the demo beamline into the local cluster (after up.sh): the namespace
# (bl46p-iocs, or $IOCMGR_NAMESPACE), iocmgr's ServiceAccount/Role/RoleBinding, the
# beamline volumes and the IOC instances in tests/cluster/demo/*.yaml, plus console
# logs for their pods (kwok Logs objects pointing at CRI-format files in the run dir).
# Waits until the running instances are Ready, the unschedulable one is Pending with
# the scheduler's message and the crash-looping one is in CrashLoopBackOff.
# Harmless to run again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUN=$IOCMGR_CLUSTER_DIR
NS=$IOCMGR_NAMESPACE
TIMEOUT=${IOCMGR_DEMO_TIMEOUT:-90}
[ -f "$RUN/kubeconfig" ] && kc get --raw /readyz >/dev/null 2>&1 ||
  die "no cluster running (state dir $RUN): run tests/cluster/up.sh first"
# the demo's pods are kwok's (images that are on no node, fake crash loop, canned logs);
# beside a real node they would land on it (docs/node.md: moving the demo there is to come)
[ ! -f "$RUN/node.env" ] ||
  die "this cluster has a real node (IOCMGR_REAL_NODE=1): the demo beamline still needs kwok's fake node only; start the cluster without IOCMGR_REAL_NODE"
t0=$SECONDS

# ------------------------------------------------------------ objects
for f in "$CLUSTER_SRC"/demo/*.yaml; do
  sed "s/bl46p-iocs/$NS/g" "$f" | kc apply -f - >/dev/null || die "kubectl apply failed for $f"
done

# ------------------------------------------------------------ console logs
# CRI log format, one line per console line: <RFC3339Nano> stdout F <text>
LOGDIR=$RUN/pod-logs/$NS
mkdir -p "$LOGDIR"
cri() {  # start-epoch-seconds < text  -> CRI lines, 10 ms apart
  awk -v t="$1" '{ s = t + int((NR - 1) / 100); ns = ((NR - 1) % 100) * 10000000;
    printf "%s.%09dZ stdout F %s\n", strftime("%Y-%m-%dT%H:%M:%S", s, 1), ns, $0 }'
}
console() {  # name image [crash]
  local name=$1 image=$2 crash=${3:-} prefix; prefix=$(echo "$1" | tr '[:lower:]' '[:upper:]')
  cat <<TXT
Starting IOC $name from image $image
+ cd /epics/ioc
+ ibek runtime generate /epics/ioc/config/ioc.yaml /epics/ibek-defs/*.ibek.support.yaml
+ ibek runtime generate2 /epics/ioc/config
+ exec /epics/ioc/bin/linux-x86_64/ioc /epics/runtime/st.cmd
#!../../bin/linux-x86_64/ioc
cd "/epics/ioc"
epicsEnvSet "IOC_NAME" "$name"
epicsEnvSet "IOC_PREFIX" "$prefix"
epicsEnvSet "EPICS_CA_MAX_ARRAY_BYTES" "6000000"
epicsEnvSet "EPICS_CA_SERVER_PORT" "5064"
dbLoadDatabase dbd/ioc.dbd
ioc_registerRecordDeviceDriver pdbbase
devIocStatsAddCommand("$prefix")
dbLoadRecords("/epics/support/iocStats/db/iocAdminSoft.db", "IOC=$prefix")
dbLoadRecords("/epics/support/iocStats/db/iocAdminScanMon.db", "IOC=$prefix")
dbLoadRecords /epics/runtime/ioc.db
TXT
  if [ -n "$crash" ]; then
    cat <<TXT
drvAsynIPPortConfigure("DET.DRV", "bl46p-ea-det-04:8888", 0, 0, 0)
bl46p-ea-det-04:8888: unknown host: Name or service not known
ADSimDetectorConfig: cannot connect to port DET.DRV
iocInit
Starting iocInit
############################################################################
## EPICS R7.0.8.1
## Rev. R7.0.8.1
## Rev. Date Git: 2024-02-29 09:51:08 -0600
############################################################################
asynPortDriver: port DET.DRV not found
Thread _main_ (0x7f3a5c0c6740) can't proceed, suspending.
Segmentation fault (core dumped)
TXT
    return
  fi
  cat <<TXT
iocInit
Starting iocInit
############################################################################
## EPICS R7.0.8.1
## Rev. R7.0.8.1
## Rev. Date Git: 2024-02-29 09:51:08 -0600
############################################################################
cas WARNING: Configured TCP port was unavailable.
cas WARNING: Using dynamically assigned TCP port 39421,
cas WARNING: but now two or more servers share the same UDP port.
cas WARNING: Depending on your IP kernel this server may not be
cas WARNING: reachable with UDP unicast (a host's IP in EPICS_CA_ADDR_LIST)
iocRun: All initialization complete
dbl
$prefix:ACCESS
$prefix:APP_DIR1
$prefix:CA_CLNT_CNT
$prefix:CA_CONN_CNT
$prefix:CPU_CNT
$prefix:HEARTBEAT
$prefix:IOC_CPU_LOAD
$prefix:MEM_USED
$prefix:START_CNT
$prefix:STARTTOD
$prefix:SYSRESET
$prefix:UPTIME
epics> 
TXT
}
logs_obj() {  # pod current-file [previous-file]
  cat <<YAML
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata:
  name: $1
  namespace: $NS
spec:
  logs:
  - containers: [ioc]
    logsFile: $2
    follow: true
YAML
  [ -n "${3:-}" ] && echo "    previousLogsFile: $3"
  return 0
}
start=$(( $(date +%s) - 600 ))
objs=""
for i in bl46p-ea-ioc-01:ioc-adsimdetector-runtime:2024.4.1 bl46p-mo-ioc-01:ioc-pmac-runtime:2024.4.1 \
         bl46p-di-dcam-01:ioc-adaravis-runtime:2023.11.1 bl46p-ea-ioc-02:ioc-adsimdetector-runtime:2024.4.1 \
         bl46p-ea-ioc-03:ioc-adsimdetector-runtime:2024.4.1; do
  name=${i%%:*}; image=ghcr.io/epics-containers/${i#*:}
  console "$name" "$image" | cri "$start" > "$LOGDIR/$name-0.log"
  objs+=$(logs_obj "$name-0" "$LOGDIR/$name-0.log")$'\n'
done
# the crash-looping IOC: the same failure now and in the previous container
name=bl46p-ea-ioc-04; image=ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1
console "$name" "$image" crash | cri "$((start + 300))" > "$LOGDIR/$name-0.log"
console "$name" "$image" crash | cri "$start" > "$LOGDIR/$name-0-previous.log"
objs+=$(logs_obj "$name-0" "$LOGDIR/$name-0.log" "$LOGDIR/$name-0-previous.log")$'\n'
# any other pod in the namespace (e.g. the Deployment's, whose name is random)
console "$NS-ioc" "ghcr.io/epics-containers/ioc-generic-runtime:2023.6.2" | cri "$start" > "$LOGDIR/console.log"
objs+="---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: $NS-console
spec:
  selector:
    matchNamespaces: [$NS]
  logs:
  - logsFile: $LOGDIR/console.log
    follow: true
"
printf '%s' "$objs" | kc apply -f - >/dev/null || die "cannot create the kwok Logs objects"

# ------------------------------------------------------------ wait
deadline=$((SECONDS + TIMEOUT))
left() { local l=$((deadline - SECONDS)); [ "$l" -gt 0 ] && echo "${l}s" || echo 1s; }
for p in bl46p-ea-ioc-01-0 bl46p-mo-ioc-01-0 bl46p-di-dcam-01-0; do
  wait_for "$((deadline - SECONDS))" kc -n "$NS" get pod "$p" || die "pod $p was not created within ${TIMEOUT}s"
  kc -n "$NS" wait --for=condition=Ready "pod/$p" --timeout="$(left)" >/dev/null ||
    die "pod $p not Ready within ${TIMEOUT}s"
done
kc -n "$NS" rollout status deployment/bl46p-va-ioc-01 --timeout="$(left)" >/dev/null ||
  die "deployment bl46p-va-ioc-01 not available within ${TIMEOUT}s"
unschedulable() {
  kc -n "$NS" get pod bl46p-ea-ioc-03-0 \
    -o jsonpath='{.status.phase} {.status.conditions[?(@.type=="PodScheduled")].reason}' | grep -x 'Pending Unschedulable' >/dev/null
}
wait_for "$((deadline - SECONDS))" unschedulable || die "bl46p-ea-ioc-03-0 is not Pending/Unschedulable"
crashing() {
  kc -n "$NS" get pod bl46p-ea-ioc-04-0 \
    -o jsonpath='{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].restartCount}' |
    grep -Eq '^CrashLoopBackOff [1-9]'
}
wait_for "$((deadline - SECONDS))" crashing || die "bl46p-ea-ioc-04-0 did not reach CrashLoopBackOff"
[ -z "$(kc -n "$NS" get pods -l app=bl46p-ea-ioc-02 -o name)" ] || die "stopped instance bl46p-ea-ioc-02 has pods"
# kwok takes up the per-pod Logs objects asynchronously; until then it serves the
# namespace's generic console log. Wait until each pod's own log is served.
own_log() {
  local out
  out=$(kc -n "$NS" logs "$1-0" 2>/dev/null) && [[ $out == *"${1^^}:UPTIME"* ]]
}
for p in bl46p-ea-ioc-01 bl46p-mo-ioc-01 bl46p-di-dcam-01; do
  wait_for "$((deadline - SECONDS))" own_log "$p" || die "pod $p-0 does not serve its own console log"
done

say "demo beamline loaded in namespace $NS in $((SECONDS - t0))s"
kc -n "$NS" get statefulsets,deployments,pods -o wide >&2
msg=$(kc -n "$NS" get pod bl46p-ea-ioc-03-0 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')
say "bl46p-ea-ioc-03-0 Pending: $msg"
