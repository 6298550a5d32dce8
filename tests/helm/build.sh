#!/usr/bin/env bash
# Build the helm CLI from the Go module proxy at the version pinned in
# tests/helm/gomod/go.mod, into $IOCMGR_CACHE/helm/<version>/bin/helm, and print
# that path on stdout. Idempotent: nothing is rebuilt while the wrapper module and
# this script are unchanged. Used by the Argo CD test bed (repo-server renders
# Helm charts), the Helm chart tests and the `ec` interop tests (ec's K8S backend
# runs `helm list`).
#
# Environment: IOCMGR_CACHE, IOCMGR_BUILD_JOBS (go build -p, default: nproc).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "helm: error: $*" >&2; exit 1; }
say() { echo "helm: $*" >&2; }

command -v go >/dev/null 2>&1 || die "go not found: install golang (go >= 1.26)"
version=$(awk '$1=="require" && $2=="helm.sh/helm/v3"{print $3; exit}' "$here/gomod/go.mod")
[ -n "$version" ] || die "cannot read helm's version from $here/gomod/go.mod"

cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
bin=$cache/helm/$version/bin
stamp=$(cat "$here/gomod/go.mod" "$here/gomod/go.sum" "$here/gomod/tools.go" "$0" | sha256sum | cut -c1-16)
if [ -x "$bin/helm" ] && [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$bin/helm"
  exit 0
fi

mkdir -p "$bin"
exec 9>"$bin/../.build.lock"
flock -w 1800 9 || die "another build holds $bin/../.build.lock"
if [ -x "$bin/helm" ] && [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$bin/helm"
  exit 0
fi
t0=$SECONDS
say "building helm $version (go build -p ${IOCMGR_BUILD_JOBS:-$(nproc)})"
tmp=$(mktemp -d "$bin/.tmp.XXXXXX")
# helm prints its version from these variables (the release build sets them too)
ld="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if ! (cd "$here/gomod" && CGO_ENABLED=0 go build -p "${IOCMGR_BUILD_JOBS:-$(nproc)}" -trimpath -buildvcs=false \
        -ldflags "$ld" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm >&2); then
  rm -rf "$tmp"
  die "go build of helm.sh/helm/v3@$version failed (see the go command's message above)"
fi
mv -f "$tmp/helm" "$bin/helm"
rm -rf "$tmp"
got=$("$bin/helm" version --template '{{.Version}}' 2>&1) || die "helm version failed: $got"
[ "$got" = "$version" ] || die "built helm says '$got', expected '$version'"
echo "$stamp" > "$bin/.stamp"
say "helm $version built in $((SECONDS - t0))s"
echo "$bin/helm"
