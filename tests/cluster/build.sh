#!/usr/bin/env bash
# Build the local control plane's binaries from the Go module proxy:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kwok
# into $IOCMGR_CACHE/k8s/<key>/bin (key = pinned versions). Idempotent: a component
# whose inputs (wrapper go.mod/go.sum/main.go and this script) have not changed is not
# rebuilt. Go's module and build caches stay in Go's default places.
#
# Environment: IOCMGR_CACHE, IOCMGR_BUILD_JOBS (go build -p, default: nproc),
#              GOTOOLCHAIN (the go command's own; see docs/cluster.md), GOFLAGS.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v go >/dev/null 2>&1 || die "go not found: install golang (go >= 1.26, e.g. apt-get install golang-go or from go.dev)"

# Every wrapper module states the Go it needs; say so plainly instead of letting the
# go command fail deep inside the build.
need_go=$(awk '$1=="go"{print $2}' "$GOMOD_DIR"/*/go.mod | sort -V | tail -1)
have_go=$(go env GOVERSION); have_go=${have_go#go}
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ] &&
   [ "${GOTOOLCHAIN:-$(go env GOTOOLCHAIN)}" = local ]; then
  die "go $have_go is too old: the pinned modules need go >= $need_go; install it, or export GOTOOLCHAIN=go$need_go (or newer) so the go command fetches that toolchain from the module proxy"
fi

jobs=${IOCMGR_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$CLUSTER_BIN"
exec 9>"$CLUSTER_BIN/../.build.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 3600 9 || die "another build.sh holds $CLUSTER_BIN/../.build.lock"
fi

# inputs of a component -> stamp
stamp_of() {
  local f
  for f in "$GOMOD_DIR/$1"/go.mod "$GOMOD_DIR/$1"/go.sum "$GOMOD_DIR/$1"/*.go "$CLUSTER_SRC/build.sh"; do
    [ -f "$f" ] && cat "$f"
  done | sha256sum | cut -c1-16
}
up_to_date() {  # component binaries...
  local c=$1; shift
  [ "$(cat "$CLUSTER_BIN/.stamp-$c" 2>/dev/null)" = "$(stamp_of "$c")" ] || return 1
  local b; for b in "$@"; do [ -x "$CLUSTER_BIN/$b" ] || return 1; done
}

# go build wrapper: builds into a temp dir, then moves the binaries into place
gobuild() {  # component ldflags binaries -- packages...
  local c=$1 ldflags=$2; shift 2
  local bins=() pkgs=()
  while [ "$1" != -- ]; do bins+=("$1"); shift; done; shift; pkgs=("$@")
  if up_to_date "$c" "${bins[@]}"; then say "$c: up to date"; return 0; fi
  local tmp; tmp=$(mktemp -d "$CLUSTER_BIN/.tmp-$c.XXXXXX")
  local t0=$SECONDS
  say "$c: building ${bins[*]} (go build -p $jobs)"
  if ! (cd "$GOMOD_DIR/$c" && CGO_ENABLED=0 go build -p "$jobs" -trimpath -buildvcs=false -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"); then
    rm -rf "$tmp"
    die "$c: go build failed (see the go command's message above; if it names a module the proxy refused, that version is not served: see docs/cluster.md on choosing versions)"
  fi
  local b; for b in "${bins[@]}"; do mv -f "$tmp/$b" "$CLUSTER_BIN/$b"; done
  rm -rf "$tmp"
  stamp_of "$c" > "$CLUSTER_BIN/.stamp-$c"
  say "$c: built in $((SECONDS - t0))s"
}

# release time of a module version, from the proxy's .info (used as buildDate)
mod_time() { (cd "$GOMOD_DIR/$1" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$2"); }

t_start=$SECONDS

# --- kubernetes -------------------------------------------------------------------
if ! up_to_date kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet; then
  kv=${K8S_VERSION#v}; kmaj=${kv%%.*}; kmin=${kv#*.}; kmin=${kmin%%.*}
  kdate=$(mod_time kubernetes k8s.io/kubernetes) || die "module proxy refused k8s.io/kubernetes@$K8S_VERSION"
  kld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$kmaj -X $p.gitMinor=$kmin"
    kld+=" -X $p.gitTreeState=clean -X $p.buildDate=${kdate:-1970-01-01T00:00:00Z}"
  done
fi
# kubelet: the real node of tests/cluster/node.sh (REAL-NODE.md), same version as the control plane
gobuild kubernetes "${kld:-}" kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet -- \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet

# --- etcd ---------------------------------------------------------------------------
gobuild etcd "-s -w" etcd -- .   # binary named after the wrapper module: etcd
# --- kwok ---------------------------------------------------------------------------
gobuild kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}" \
  kwok -- sigs.k8s.io/kwok/cmd/kwok

# --- check --------------------------------------------------------------------------
got=$("$CLUSTER_BIN/kube-apiserver" --version 2>&1) || die "kube-apiserver --version failed: $got"
[ "$got" = "Kubernetes $K8S_VERSION" ] || die "kube-apiserver --version says '$got', expected 'Kubernetes $K8S_VERSION'"
# captured first: grep -q in a pipefail pipeline exits at the first line and etcd,
# still writing the next ones, dies of SIGPIPE (seen once: a false "does not say")
got=$("$CLUSTER_BIN/etcd" --version 2>/dev/null) || die "etcd --version failed: $got"
[[ $got == *"etcd Version: ${ETCD_VERSION#v}"* ]] || die "etcd --version does not say ${ETCD_VERSION#v}: $got"
say "binaries ($CLUSTER_KEY) ready in $CLUSTER_BIN ($((SECONDS - t_start))s)"
