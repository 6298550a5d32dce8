#!/usr/bin/env bash
# Start the real Argo CD (application controller + repo server + redis) against the
# local control plane (tests/cluster/up.sh first), on 127.0.0.1 and ports of its own,
# and deploy the bl46p beamline through it: a root app-of-apps Application
# ($IOCMGR_ARGOCD_ROOT, default bl46p) in $IOCMGR_ARGOCD_NAMESPACE (default bl46p-argo)
# from a deployment repo, one child Application per instance from a services repo
# (repos.sh; bare git repos on file://), iocmgr's own child Application beside them. Waits until every Application is Synced and
# Healthy. State in $IOCMGR_ARGOCD_DIR (default $IOCMGR_CLUSTER_DIR-argocd); env file
# $BED/env for tests. Harmless to run twice. See docs/argocd.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t0=$SECONDS
TIMEOUT=${IOCMGR_ARGOCD_TIMEOUT:-180}

[ -f "$IOCMGR_CLUSTER_DIR/kubeconfig" ] && kc get --raw /readyz >/dev/null 2>&1 ||
  argocd_die "no cluster running (state dir $IOCMGR_CLUSTER_DIR): run tests/cluster/up.sh first"
command -v redis-server >/dev/null || argocd_die "redis-server not found: install redis-server (tools/deps.sh does)"
command -v git >/dev/null || argocd_die "git not found: install git (tools/deps.sh does)"
bindir=$("$ARGOCD_SRC/build.sh")
helm=$("$ARGOCD_TOP/tests/helm/build.sh")
moddir=$(argocd_moddir)

if [ -f "$BED/$BED_MARK" ]; then
  n=0; for p in $ARGOCD_PROCS; do bed_proc proc_alive "$p" && n=$((n + 1)); done
  if [ "$n" = 3 ]; then argocd_say "already running (state in $BED)"; exit 0; fi
  argocd_say "found a partial bed in $BED ($n of 3 processes alive): stopping it first"
  "$ARGOCD_SRC/down.sh"
elif [ -e "$BED" ]; then
  argocd_die "$BED exists and was not made by up.sh (no $BED_MARK): refusing to use it; set IOCMGR_ARGOCD_DIR"
fi
for p in "$IOCMGR_ARGOCD_REDIS_PORT" "$IOCMGR_ARGOCD_REPO_PORT" "$IOCMGR_ARGOCD_REPO_METRICS_PORT" \
         "$IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT"; do
  ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null ||
    argocd_die "127.0.0.1:$p is already in use; set the IOCMGR_ARGOCD_*_PORT variables (docs/argocd.md)"
done

mkdir -p "$BED"/{pids,logs,bin,path,tmp,home,redis,git}
touch "$BED/$BED_MARK"
# what the servers run: the two names of the Argo CD binary, redis; on their PATH
# helm, git and the git-verify-wrapper.sh the repo server calls for every revision
ln -sfn "$bindir/argocd-application-controller" "$BED/bin/argocd-application-controller"
ln -sfn "$bindir/argocd-repo-server" "$BED/bin/argocd-repo-server"
ln -sfn "$(command -v redis-server)" "$BED/bin/redis-server"
ln -sfn "$helm" "$BED/path/helm"
# (a copy: files in Go's module cache are read-only and not executable)
install -m 755 "$moddir/hack/git-verify-wrapper.sh" "$BED/path/git-verify-wrapper.sh"

# ---------------------------------------------------------------- the real node
# the beamline's IOCs run on the cluster's real node (the chart's nodeSelector), from
# the generic test IOC image under the names the services repo gives (repos.sh)
beamline_node
# ---------------------------------------------------------------- git
"$ARGOCD_SRC/repos.sh" "$BED/git" "$ARGOCD_NS"

# ---------------------------------------------------------------- cluster objects
for crd in application-crd appproject-crd; do
  # server-side: the Application CRD is too large for the last-applied annotation
  kc apply --server-side --force-conflicts -f "$moddir/manifests/crds/$crd.yaml" >/dev/null ||
    argocd_die "kubectl apply of $crd.yaml failed"
done
kc wait --for condition=established --timeout=60s crd/applications.argoproj.io crd/appprojects.argoproj.io >/dev/null ||
  argocd_die "the Argo CD CRDs were not established within 60 s"
sed -e "s|@NS@|$ARGOCD_NS|g" -e "s|@ROOT@|$ARGOCD_ROOT|g" -e "s|@DEPLOYMENT@|file://$BED/git/deployment.git|g" \
    -e "s|@SECRETKEY@|$(openssl rand -hex 24)|g" "$ARGOCD_SRC/objects.yaml" | kc apply -f - >/dev/null ||
  argocd_die "kubectl apply of objects.yaml failed"
# iocmgr's least-privilege identity (ServiceAccount, Role, RoleBinding) in this namespace too
sed "s/bl46p-iocs/$ARGOCD_NS/g" "$ARGOCD_TOP/tests/cluster/demo/01-rbac.yaml" | kc apply -f - >/dev/null ||
  argocd_die "kubectl apply of tests/cluster/demo/01-rbac.yaml in $ARGOCD_NS failed"

# ---------------------------------------------------------------- processes
bed_env
bed_proc proc_start redis-server --bind 127.0.0.1 --port "$IOCMGR_ARGOCD_REDIS_PORT" --save "" \
  --appendonly no --dir "$BED/redis" --protected-mode yes
redis=127.0.0.1:$IOCMGR_ARGOCD_REDIS_PORT
bed_proc proc_start argocd-repo-server --address 127.0.0.1 --port "$IOCMGR_ARGOCD_REPO_PORT" \
  --metrics-address 127.0.0.1 --metrics-port "$IOCMGR_ARGOCD_REPO_METRICS_PORT" \
  --disable-tls --client-ca-path "" --redis "$redis" --parallelismlimit 2 --loglevel info
bed_proc proc_start argocd-application-controller --namespace argocd \
  --kubeconfig "$IOCMGR_CLUSTER_DIR/kubeconfig" --redis "$redis" \
  --repo-server "127.0.0.1:$IOCMGR_ARGOCD_REPO_PORT" --repo-server-plaintext \
  --metrics-port "$IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT" --application-namespaces "$ARGOCD_NS" \
  --status-processors 4 --operation-processors 4 --loglevel info

cat > "$BED/env" <<ENV
# the Argo CD test bed (tests/argocd/up.sh): source after the cluster's env
export IOCMGR_ARGOCD_DIR=$BED IOCMGR_ARGOCD_NAMESPACE=$ARGOCD_NS IOCMGR_ARGOCD_ROOT=$ARGOCD_ROOT
export IOCMGR_ARGOCD_REDIS_PORT=$IOCMGR_ARGOCD_REDIS_PORT IOCMGR_ARGOCD_REPO_PORT=$IOCMGR_ARGOCD_REPO_PORT
export IOCMGR_ARGOCD_REPO_METRICS_PORT=$IOCMGR_ARGOCD_REPO_METRICS_PORT IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT=$IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT
export IOCMGR_ARGOCD_DEPLOYMENT_REPO=$BED/git/deployment.git IOCMGR_ARGOCD_SERVICES_REPO=$BED/git/services.git
ENV

# ---------------------------------------------------------------- wait
apps_ready() {  # every Application Synced + Healthy: one per instance, iocmgr's, the root
  local want; want=$(( $(grep -cvE '^(#|$)' "$ARGOCD_SRC/bl46p-services.txt") + 2 ))
  local got; got=$(kc -n "$ARGOCD_NS" get applications.argoproj.io \
    -o jsonpath='{range .items[*]}{.status.sync.status}/{.status.health.status}{"\n"}{end}')
  [ "$(grep -c '^Synced/Healthy$' <<<"$got")" = "$want" ]
}
alive() { local p; for p in $ARGOCD_PROCS; do bed_proc proc_alive "$p" || { argocd_say "$p died (log: $BED/logs/$p.log)"; tail -n 20 "$BED/logs/$p.log" >&2; return 1; }; done; }
deadline=$((SECONDS + TIMEOUT))
until apps_ready; do
  alive || argocd_die "a server of the bed died during start-up"
  if [ "$SECONDS" -ge "$deadline" ]; then
    kc -n "$ARGOCD_NS" get applications.argoproj.io >&2 || true
    argocd_die "the Applications were not all Synced and Healthy within ${TIMEOUT}s (logs: $BED/logs)"
  fi
  sleep 1
done
argocd_say "Argo CD $ARGOCD_VERSION up in $((SECONDS - t0))s: root $ARGOCD_NS/$ARGOCD_ROOT, $(kc -n "$ARGOCD_NS" get sts --no-headers | wc -l) StatefulSets (state in $BED; . $BED/env)"
