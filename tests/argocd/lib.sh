# shellcheck shell=bash
# Shared settings for tests/argocd/*.sh (sourced). The Argo CD version is read from
# the wrapper module (gomod/go.mod), the single source of truth.
ARGOCD_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARGOCD_TOP=$(cd "$ARGOCD_SRC/../.." && pwd)

argocd_die() { echo "argocd-bed: error: $*" >&2; exit 1; }
argocd_say() { echo "argocd-bed: $*" >&2; }

ARGOCD_VERSION=$(awk '($1=="github.com/argoproj/argo-cd/v3" && $2 ~ /^v/){print $2; exit} ($1=="require" && $2=="github.com/argoproj/argo-cd/v3"){print $3; exit}' "$ARGOCD_SRC/gomod/go.mod")
[ -n "$ARGOCD_VERSION" ] || argocd_die "cannot read argo-cd's version from $ARGOCD_SRC/gomod/go.mod"
# the go command the pinned module needs (go.mod says go 1.27.0); the proxy serves it
export GOTOOLCHAIN=${GOTOOLCHAIN_ARGOCD:-go1.27.3}

IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
# one directory per version AND build inputs (gomod/, build.sh): a build from other
# inputs (another checkout sharing the cache) never replaces the binary a running bed
# was started from (its pid checks compare /proc/PID/exe with that file)
ARGOCD_STAMP=$(cat "$ARGOCD_SRC"/gomod/go.mod "$ARGOCD_SRC"/gomod/go.sum "$ARGOCD_SRC"/gomod/main.go \
  "$ARGOCD_SRC"/build.sh | sha256sum | cut -c1-16)
ARGOCD_BIN=$IOCMGR_CACHE/argocd/$ARGOCD_VERSION/$ARGOCD_STAMP/bin
# the module's own files (CRDs, hack/git-verify-wrapper.sh), from Go's module cache
# (go list -m prints an empty Dir for a module not yet in the module cache, as on a
# fresh machine: download it first)
argocd_moddir() {
  (cd "$ARGOCD_SRC/gomod" && go mod download github.com/argoproj/argo-cd/v3 &&
   go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3) | grep .
}

# ------------------------------------------------------------ the running bed
# The cluster's settings, process helpers (proc_start/proc_stop keep pid + binary
# per process, so only our own processes are ever signalled) and kubectl (kc).
# shellcheck source=../cluster/lib.sh
. "$ARGOCD_TOP/tests/cluster/lib.sh"
# state of the bed: pids, logs, git repos, redis, temp dirs; beside the cluster's run
# dir, not in it (tests/cluster/down.sh removes that)
BED=${IOCMGR_ARGOCD_DIR:-$IOCMGR_CLUSTER_DIR-argocd}
BED_MARK=.iocmgr-argocd-bed
# the Argo CD beamline: Applications and IOC instances in one namespace
ARGOCD_NS=${IOCMGR_ARGOCD_NAMESPACE:-bl46p-argo}
ARGOCD_ROOT=${IOCMGR_ARGOCD_ROOT:-bl46p}
# iocmgr itself, a child Application beside the IOC instances: the services-repo
# example of deploy/services (its directory name is the release and Application name)
ARGOCD_SELF_SRC=$ARGOCD_TOP/deploy/services/bl46p-cs-iocmgr-01
ARGOCD_SELF=${ARGOCD_SELF_SRC##*/}
# loopback ports of the bed's servers (CI: 16600-16619)
IOCMGR_ARGOCD_REDIS_PORT=${IOCMGR_ARGOCD_REDIS_PORT:-16600}
IOCMGR_ARGOCD_REPO_PORT=${IOCMGR_ARGOCD_REPO_PORT:-16601}
IOCMGR_ARGOCD_REPO_METRICS_PORT=${IOCMGR_ARGOCD_REPO_METRICS_PORT:-16602}
IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT=${IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT:-16603}
ARGOCD_PROCS="redis-server argocd-repo-server argocd-application-controller"
# the cluster helpers with the bed's run dir and binaries (symlinks in $BED/bin)
bed_proc() { local f=$1; shift; CLUSTER_BIN=$BED/bin RUN=$BED "$f" "$@"; }
# the environment the Argo CD servers run in: in-cluster destination = the cluster's
# kubeconfig (ARGOCD_FAKE_IN_CLUSTER reads $KUBECONFIG, not --kubeconfig); no GPG; its
# askpass socket, temp dirs (git clones, helm) and HOME in the bed; helm, git and
# git-verify-wrapper.sh on PATH
bed_env() {
  export ARGOCD_FAKE_IN_CLUSTER=true ARGOCD_GPG_ENABLED=false KUBECONFIG=$IOCMGR_CLUSTER_DIR/kubeconfig
  export ARGOCD_ASK_PASS_SOCK=$BED/askpass.sock TMPDIR=$BED/tmp HOME=$BED/home
  export PATH=$BED/path:$PATH
}
