#!/usr/bin/env bash
# Load the demo beamline into the local cluster (after up.sh), on its real node
# (tests/cluster/node.sh, docs/node.md; started here if the cluster has none, which needs
# root): the namespace (bl46p-iocs, or $IOCMGR_NAMESPACE), iocmgr's ServiceAccount/Role/
# RoleBinding, the beamline volumes and the IOC instances in tests/cluster/demo/*.yaml,
# each a real container of the generic test IOC image (tests/images), which the node holds
# under the names in demo/images.txt. Each instance's test-behaviour (its ConfigMap) says
# what its IOC does. Waits until the running instances are Ready and their IOCs have booted
# (their consoles say so), the stopped one has no pod, the unschedulable one is Pending
# with the scheduler's message, the crash-looping one is in CrashLoopBackOff, the one that
# runs out of memory was OOMKilled and the one whose image is not on the node waits with
# ErrImageNeverPull. Harmless to run again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUN=$IOCMGR_CLUSTER_DIR
NS=$IOCMGR_NAMESPACE
TIMEOUT=${IOCMGR_DEMO_TIMEOUT:-120}
[ -f "$RUN/kubeconfig" ] && kc get --raw /readyz >/dev/null 2>&1 ||
  die "no cluster running (state dir $RUN): run tests/cluster/up.sh first"
t0=$SECONDS

# ------------------------------------------------------------ the node and its images
beamline_node
# the beamline volumes: directories of the node's, not /exports on the machine
exports=$RUN/node/exports/bl46p
"$CLUSTER_SRC/node.sh" exec mkdir -p "$exports/runtime" "$exports/opi" "$exports/autosave" ||
  die "cannot make the beamline volumes in $exports"

# ------------------------------------------------------------ objects
for f in "$CLUSTER_SRC"/demo/*.yaml; do
  sed -e "s/bl46p-iocs/$NS/g" -e "s#/exports/bl46p#$exports#g" "$f" | kc apply -f - >/dev/null ||
    die "kubectl apply failed for $f"
done

# ------------------------------------------------------------ wait
deadline=$((SECONDS + TIMEOUT))
left() { local l=$((deadline - SECONDS)); [ "$l" -gt 0 ] && echo "$l" || echo 1; }
# the container's status as "<state> <reason> <restarts> <last reason>"
cstate() {
  kc -n "$NS" get pod "$1" -o jsonpath='{range .status.containerStatuses[0].state.*}{.reason}{end} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.reason}' 2>/dev/null
}
# a running IOC has booted when its console (the pod's log) says so
booted() { kc -n "$NS" logs "$1" 2>/dev/null | grep -q 'iocRun: All initialization complete'; }
for p in bl46p-ea-ioc-01-0 bl46p-mo-ioc-01-0 bl46p-di-dcam-01-0; do
  wait_for "$(left)" kc -n "$NS" get pod "$p" || die "pod $p was not created within ${TIMEOUT}s"
  kc -n "$NS" wait --for=condition=Ready "pod/$p" --timeout="$(left)s" >/dev/null ||
    die "pod $p not Ready within ${TIMEOUT}s: $(cstate "$p")"
  wait_for "$(left)" booted "$p" || die "the IOC of $p did not boot within ${TIMEOUT}s (kubectl -n $NS logs $p)"
done
kc -n "$NS" rollout status deployment/bl46p-va-ioc-01 --timeout="$(left)s" >/dev/null ||
  die "deployment bl46p-va-ioc-01 not available within ${TIMEOUT}s"
unschedulable() {
  kc -n "$NS" get pod bl46p-ea-ioc-03-0 \
    -o jsonpath='{.status.phase} {.status.conditions[?(@.type=="PodScheduled")].reason}' | grep -x 'Pending Unschedulable' >/dev/null
}
wait_for "$(left)" unschedulable || die "bl46p-ea-ioc-03-0 is not Pending/Unschedulable"
crashing() { cstate bl46p-ea-ioc-04-0 | grep -Eq '^CrashLoopBackOff [1-9]'; }
wait_for "$(left)" crashing || die "bl46p-ea-ioc-04-0 did not reach CrashLoopBackOff: $(cstate bl46p-ea-ioc-04-0)"
oomkilled() { cstate bl46p-ea-ioc-05-0 | grep -Eq ' [1-9][0-9]* OOMKilled$'; }
wait_for "$(left)" oomkilled || die "bl46p-ea-ioc-05-0 was not OOMKilled: $(cstate bl46p-ea-ioc-05-0)"
never_pull() { cstate bl46p-mo-ioc-02-0 | grep -q '^ErrImageNeverPull '; }
wait_for "$(left)" never_pull || die "bl46p-mo-ioc-02-0 is not waiting with ErrImageNeverPull: $(cstate bl46p-mo-ioc-02-0)"
[ -z "$(kc -n "$NS" get pods -l app=bl46p-ea-ioc-02 -o name)" ] || die "stopped instance bl46p-ea-ioc-02 has pods"

say "demo beamline loaded in namespace $NS on node $IOCMGR_REAL_NODE_NAME in $((SECONDS - t0))s"
kc -n "$NS" get statefulsets,deployments,pods -o wide >&2
msg=$(kc -n "$NS" get pod bl46p-ea-ioc-03-0 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')
say "bl46p-ea-ioc-03-0 Pending: $msg"
msg=$(kc -n "$NS" get pod bl46p-mo-ioc-02-0 -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
say "bl46p-mo-ioc-02-0 waiting: $msg"
say "the IOCs answer Channel Access at $IOCMGR_NODE_CA_ADDR_LIST (EPICS_CA_ADDR_LIST=$IOCMGR_NODE_CA_ADDR_LIST EPICS_CA_AUTO_ADDR_LIST=NO caget BL46P-EA-IOC-01:UPTIME)"
