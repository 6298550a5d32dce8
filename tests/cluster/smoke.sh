#!/usr/bin/env bash
# Smoke test of the local cluster with kubectl (built from the same module as the
# server): the Kubernetes behaviours iocmgr relies on. Needs up.sh and demo.sh first.
# Works in its own namespace (iocmgr-smoke) so the demo is not disturbed; reads (and
# dry-runs against) the demo namespace. Output: TAP. Exit status: non-zero on failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

RUN=$IOCMGR_CLUSTER_DIR
NS=$IOCMGR_NAMESPACE
SNS=${IOCMGR_SMOKE_NAMESPACE:-iocmgr-smoke}
T=${IOCMGR_SMOKE_TIMEOUT:-60}   # per check
[ -f "$RUN/kubeconfig" ] || die "no cluster running (state dir $RUN): run tests/cluster/up.sh first"
K="$CLUSTER_BIN/kubectl --request-timeout=20s"
k()   { timeout "$((T + 10))" $K --kubeconfig "$RUN/kubeconfig" "$@"; }
kl()  { timeout "$((T + 10))" $K --kubeconfig "$RUN/limited.kubeconfig" "$@"; }
kt()  { timeout "$((T + 10))" $K --kubeconfig "$RUN/token.kubeconfig" "$@"; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"; jobs -p | xargs -r kill 2>/dev/null' EXIT

n=0; failed=0
PLAN=30
echo "1..$PLAN"
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -s "$TMP/err" ] && sed 's/^/# /' "$TMP/err" | tail -n 15; return 0; }
# check DESCRIPTION COMMAND...: ok when the command succeeds (its output in $TMP/out)
check() { local d=$1; shift; if "$@" >"$TMP/out" 2>"$TMP/err"; then ok "$d"; else not_ok "$d"; fi; }
# refused DESCRIPTION COMMAND...: ok when the command fails with Forbidden
refused() {
  local d=$1; shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then echo "command succeeded" >>"$TMP/err"; not_ok "$d"
  elif grep -qi forbidden "$TMP/err"; then ok "$d"; else not_ok "$d"; fi
}
poll() { wait_for "$T" "$@"; }   # bounded retry loop (lib.sh)
jp() { k "$@" 2>/dev/null; }
# resourceVersion of a list (the first one in the JSON is the list's own)
list_rv() { k get --raw "$1?limit=1" | grep -o '"resourceVersion":"[0-9]*"' | sed -n 1p | tr -dc 0-9; }
# raw watch, bounded: raw_watch QUERY OUTFILE [kubeconfig]
raw_watch() { timeout "$((T + 5))" $K --kubeconfig "${3:-$RUN/kubeconfig}" get --raw "$1" >"$2" 2>"$2.err"; }

# --------------------------------------------------------------- the cluster
check "kube-apiserver is ready (/readyz)" k get --raw /readyz
server_version() { k version -o json | grep -A8 '"serverVersion"' | grep "\"gitVersion\": \"$K8S_VERSION\"" >/dev/null; }
check "server and kubectl are both $K8S_VERSION" server_version
node_ready() { [ "$(jp get node "$IOCMGR_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
check "fake node $IOCMGR_NODE_NAME is Ready" node_ready
check "bearer token from the apiserver token file is accepted" kt get namespaces

# --------------------------------------------------------------- a StatefulSet of our own
k delete namespace "$SNS" --ignore-not-found --timeout="${T}s" >/dev/null 2>&1
k create namespace "$SNS" >/dev/null 2>&1
smoke_sts() {
  k -n "$SNS" apply -f - <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: smoke-ioc
  labels: {app: smoke-ioc, ioc: "true", enabled: "true"}
spec:
  replicas: 1
  serviceName: smoke-ioc
  selector: {matchLabels: {app: smoke-ioc}}
  template:
    metadata:
      labels: {app: smoke-ioc, ioc: "true"}
    spec:
      hostNetwork: true
      terminationGracePeriodSeconds: 1
      tolerations: [{key: beamline, operator: Equal, value: bl46p, effect: NoSchedule}]
      containers:
      - name: ioc
        image: ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1
        command: [bash, -c, /epics/ioc/start.sh]
YAML
}
wait_sa() { k -n "$SNS" get serviceaccount default; }
poll wait_sa
check "create a StatefulSet (replicas 1) in $SNS" smoke_sts
pod_exists() { k -n "$SNS" get pod smoke-ioc-0; }
ready() { poll pod_exists && k -n "$SNS" wait --for=condition=Ready pod/smoke-ioc-0 --timeout="${T}s"; }
check "StatefulSet replicas=1 gives a Running, Ready pod" ready
uid() { jp -n "$SNS" get pod smoke-ioc-0 -o jsonpath='{.metadata.uid}'; }
phase_running() { [ "$(jp -n "$SNS" get pod smoke-ioc-0 -o jsonpath='{.status.phase}')" = Running ]; }
check "pod phase is Running" phase_running

# watch: a raw watch (what iocmgr does) must stream the pod's DELETED and ADDED events
rv=$(list_rv "/api/v1/namespaces/$SNS/pods")
raw_watch "/api/v1/namespaces/$SNS/pods?watch=1&allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=$T" "$TMP/watch" &
watch_pid=$!
old_uid=$(uid)
sleep 1
recreated() { local u; u=$(uid) && [ -n "$u" ] && [ "$u" != "$old_uid" ] && k -n "$SNS" wait --for=condition=Ready pod/smoke-ioc-0 --timeout=5s; }
if k -n "$SNS" delete pod smoke-ioc-0 --wait=false >"$TMP/out" 2>"$TMP/err" && poll recreated; then
  ok "pod delete: the StatefulSet recreates it with a new uid, Ready again"
else not_ok "pod delete: the StatefulSet recreates it with a new uid, Ready again"; fi
watched() { grep -q '"type":"DELETED"' "$TMP/watch" && grep -q '"type":"ADDED"' "$TMP/watch"; }
if poll watched; then ok "watch (resourceVersion=$rv) streams MODIFIED/DELETED/ADDED events"
else cp "$TMP/watch.err" "$TMP/err"; not_ok "watch (resourceVersion=$rv) streams MODIFIED/DELETED/ADDED events"; fi
kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null

# bookmarks: a watch with allowWatchBookmarks gets BOOKMARK events (sent before it times out).
# The apiserver sends one only when the pods' resourceVersion has moved on since the
# watch began: a change to a pod elsewhere (ours) during the watch. (kwok's crash loop
# changed a demo pod every few seconds; the real kubelet's back-off leaves minutes between.)
bookmark() {
  ( sleep 3; k -n "$SNS" annotate pod smoke-ioc-0 smoke/bookmark="$(date +%s%N)" --overwrite >/dev/null 2>&1 ) &
  raw_watch "/api/v1/namespaces/$NS/pods?watch=1&allowWatchBookmarks=true&resourceVersion=$(list_rv /api/v1/namespaces/$NS/pods)&timeoutSeconds=10" "$TMP/bm"
  wait $!; grep -q '"type":"BOOKMARK"' "$TMP/bm"
}
check "watch with allowWatchBookmarks=true receives a BOOKMARK" bookmark
# streaming list (sendInitialEvents): ADDED for every pod, then the initial-events-end bookmark
initial_events() {
  raw_watch "/api/v1/namespaces/$NS/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5" "$TMP/ie"
  grep -q '"type":"ADDED"' "$TMP/ie" && grep -q 'k8s.io/initial-events-end' "$TMP/ie"
}
check "watch with sendInitialEvents=true streams the list and the initial-events-end bookmark" initial_events

# image patch rolls the pod
NEWIMG=ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.5.1
old_uid=$(uid)
rolled() {
  [ "$(jp -n "$SNS" get pod smoke-ioc-0 -o jsonpath='{.spec.containers[0].image} {.status.containerStatuses[0].ready}')" = "$NEWIMG true" ] &&
    [ "$(uid)" != "$old_uid" ]
}
if k -n "$SNS" patch statefulset smoke-ioc --type=strategic \
     -p "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"ioc\",\"image\":\"$NEWIMG\"}]}}}}" >"$TMP/out" 2>"$TMP/err" &&
   poll rolled && k -n "$SNS" rollout status statefulset/smoke-ioc --timeout="${T}s" >"$TMP/out" 2>"$TMP/err"; then
  ok "image patch rolls the pod to the new image"
else not_ok "image patch rolls the pod to the new image"; fi

# logs (kwok serves them through the kubelet API, proxied by the apiserver)
check "pod log of our own pod is readable (kwok default ClusterLogs)" k -n "$SNS" logs smoke-ioc-0

# scale to 0 and back, through the scale subresource
no_pod() { ! k -n "$SNS" get pod smoke-ioc-0 >/dev/null 2>&1; }
if k -n "$SNS" scale statefulset smoke-ioc --replicas=0 >"$TMP/out" 2>"$TMP/err" && poll no_pod; then
  ok "scale to 0: the pod goes away"
else not_ok "scale to 0: the pod goes away"; fi
if k -n "$SNS" scale statefulset smoke-ioc --replicas=1 >"$TMP/out" 2>"$TMP/err" && ready >>"$TMP/out" 2>>"$TMP/err"; then
  ok "scale to 1: a Ready pod again"
else not_ok "scale to 1: a Ready pod again"; fi

# --------------------------------------------------------------- the demo beamline
iocs() { [ "$(jp -n "$NS" get statefulsets -l 'ioc=true' -o name | wc -l)" -ge 4 ] && [ "$(jp -n "$NS" get statefulsets -l 'is_ioc=true' -o name | wc -l)" -ge 1 ]; }
check "demo: StatefulSets listed by ioc=true and is_ioc=true" iocs
console_log() { k -n "$NS" logs bl46p-ea-ioc-01-0 -c ioc --tail=20 | grep 'BL46P-EA-IOC-01:UPTIME' >/dev/null &&
                k -n "$NS" logs bl46p-ea-ioc-01-0 | grep 'iocRun: All initialization complete' >/dev/null; }
check "demo: IOC console log readable (iocRun ... complete, dbl output)" poll console_log
# the console of the IOC's previous boot, which ended with exit status 1 (the real node's
# kubelet keeps the last dead container: while the newest has just ended and is not yet
# waiting, "previous" is gone for a moment; poll)
prev_log() { k -n "$NS" logs bl46p-ea-ioc-04-0 --previous | grep 'start.sh: the IOC exited with status 1' >/dev/null; }
check "demo: previous=true log of the crash-looping IOC" poll prev_log
pending_msg() {
  jp -n "$NS" get pod bl46p-ea-ioc-03-0 -o jsonpath='{.status.phase}|{.status.conditions[?(@.type=="PodScheduled")].reason}|{.status.conditions[?(@.type=="PodScheduled")].message}' |
    grep -Eq "^Pending\|Unschedulable\|0/[0-9]+ nodes are available: .*node affinity"
}
check "demo: bl46p-ea-ioc-03 Pending with the scheduler's Unschedulable message" pending_msg
# the kubelet's back-off after the Nth restart: 10 s doubled N-1 times, at most 5 min,
# in its message as Go writes a duration (10s 20s 40s 1m20s 2m40s 5m0s)
backing_off() {
  local s d
  s=$(jp -n "$NS" get pod bl46p-ea-ioc-04-0 -o jsonpath='{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode} {.status.containerStatuses[0].state.waiting.message}')
  set -- $s; [ "${1:-}" = CrashLoopBackOff ] && [ "${2:-0}" -ge 1 ] && [ "${3:-}" = 1 ] || return 1
  d=$(( $2 > 6 ? 300 : 10 << ($2 - 1) )); [ "$d" -le 300 ] || d=300
  [ "$d" -lt 60 ] && d=${d}s || d=$((d / 60))m$((d % 60))s
  [[ $s == *"back-off $d restarting failed container=ioc "* ]]
}
check "demo: bl46p-ea-ioc-04 in CrashLoopBackOff after exit 1, with the kubelet's back-off for its restart count" poll backing_off
stopped() { [ "$(jp -n "$NS" get statefulset bl46p-ea-ioc-02 -o jsonpath='{.spec.replicas}')" = 0 ] && [ -z "$(jp -n "$NS" get pods -l app=bl46p-ea-ioc-02 -o name)" ]; }
check "demo: bl46p-ea-ioc-02 stopped (replicas 0, no pod)" stopped

# --------------------------------------------------------------- least privilege
allowed() {
  kl -n "$NS" get statefulsets -l ioc=true -o name >/dev/null &&
  kl -n "$NS" get pods -o name >/dev/null &&
  kl -n "$NS" get events -o name >/dev/null &&
  kl -n "$NS" get deployments -o name >/dev/null &&
  kl -n "$NS" logs bl46p-ea-ioc-01-0 --tail=1 >/dev/null &&
  kl -n "$NS" scale statefulset bl46p-ea-ioc-02 --replicas=1 --dry-run=server >/dev/null &&
  kl -n "$NS" patch statefulset bl46p-ea-ioc-02 --dry-run=server -p '{"metadata":{"labels":{"smoke":"x"}}}' >/dev/null &&
  kl -n "$NS" delete pod bl46p-ea-ioc-01-0 --dry-run=server >/dev/null
}
check "limited ServiceAccount may list/watch/scale/patch/delete-pod/read logs in $NS (server dry-run)" allowed
refused "limited ServiceAccount is refused: reading secrets" kl -n "$NS" get secrets
refused "limited ServiceAccount is refused: deleting a StatefulSet" kl -n "$NS" delete statefulset bl46p-ea-ioc-01 --dry-run=server
refused "limited ServiceAccount is refused: creating pods" \
  kl -n "$NS" run smoke-forbidden --image=ghcr.io/epics-containers/ioc-generic-runtime:2023.6.2 --restart=Never --dry-run=server
elsewhere() { local a b; a=$(kl -n "$SNS" get pods 2>&1); b=$(kl get nodes 2>&1); case $a in *orbidden*) ;; *) return 1 ;; esac; case $b in *orbidden*) ;; *) return 1 ;; esac; }
check "limited ServiceAccount is refused: other namespaces, nodes" elsewhere

# --------------------------------------------------------------- API outage and 410 Gone
# A restarted apiserver rebuilds its watch cache: a watch from a resourceVersion older
# than that must end in 410 Gone (Expired), and the client has to relist.
old_rv=$(list_rv "/api/v1/namespaces/$NS/pods")
k -n "$SNS" annotate pod smoke-ioc-0 smoke/touch="$(date +%s%N)" --overwrite >/dev/null 2>&1
"$CLUSTER_SRC/apiserver.sh" stop >/dev/null 2>&1
down_now() { ! k get --raw /readyz >/dev/null 2>&1; }
check "apiserver.sh stop: the API is unreachable" down_now
if "$CLUSTER_SRC/apiserver.sh" start >"$TMP/out" 2>"$TMP/err" && poll k get --raw /readyz; then
  ok "apiserver.sh start: the API is back, same data"
else not_ok "apiserver.sh start: the API is back, same data"; fi
gone() {
  raw_watch "/api/v1/namespaces/$NS/pods?watch=1&allowWatchBookmarks=true&resourceVersion=$old_rv&timeoutSeconds=5" "$TMP/gone"
  grep -q '"code":410' "$TMP/gone" && grep -q 'Expired' "$TMP/gone"
}
if gone; then ok "watch from a resourceVersion older than the restart: 410 Expired (too old resource version)"
else cp "$TMP/gone" "$TMP/err"; not_ok "watch from a resourceVersion older than the restart: 410 Expired (too old resource version)"; fi
demo_back() { k -n "$NS" wait --for=condition=Ready pod/bl46p-ea-ioc-01-0 --timeout=5s; }
check "after the outage the demo pods are still there and Ready" poll demo_back

k delete namespace "$SNS" --wait=false >/dev/null 2>&1
[ "$n" -eq "$PLAN" ] || { echo "# planned $PLAN checks, ran $n"; failed=$((failed + 1)); }
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
