#!/usr/bin/env bash
# Build Argo CD's application controller and repo server (github.com/argoproj/argo-cd/v3
# at the version pinned in gomod/go.mod) from the Go module proxy into
# $IOCMGR_CACHE/argocd/<version>/<stamp of the build inputs>/bin: one binary, argocd-bed, and the two names it
# answers to as symlinks. Also builds helm (tests/helm/build.sh), which the repo
# server runs. Idempotent: nothing is rebuilt while gomod/ and this script are
# unchanged. Prints the bin directory on stdout.
#
# Environment: IOCMGR_CACHE, IOCMGR_BUILD_JOBS (go build -p, default: nproc).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null 2>&1 || argocd_die "go not found: install golang (go >= 1.26; the go command fetches $GOTOOLCHAIN itself)"
"$ARGOCD_TOP/tests/helm/build.sh" >/dev/null

stamp=$ARGOCD_STAMP
built() {
  [ "$(cat "$ARGOCD_BIN/.stamp" 2>/dev/null)" = "$stamp" ] &&
    [ -x "$ARGOCD_BIN/argocd-application-controller" ] && [ -x "$ARGOCD_BIN/argocd-repo-server" ]
}
if built; then echo "$ARGOCD_BIN"; exit 0; fi

mkdir -p "$ARGOCD_BIN"
exec 9>"$ARGOCD_BIN/../.build.lock"
flock -w 3600 9 || argocd_die "another build holds $ARGOCD_BIN/../.build.lock"
if built; then echo "$ARGOCD_BIN"; exit 0; fi

jobs=${IOCMGR_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
t0=$SECONDS
argocd_say "building argo-cd $ARGOCD_VERSION application-controller + repo-server (go build -p $jobs, $GOTOOLCHAIN)"
tmp=$(mktemp -d "$ARGOCD_BIN/.tmp.XXXXXX")
# The application controller serves its metrics on 0.0.0.0 with no flag to change
# it (controller/appcontroller.go); the bed listens on loopback only. So the build
# uses a copy of the module from Go's module cache, in our cache, with that one
# literal changed, through a replace in a go.mod made here (-modfile); nothing of
# argo-cd is kept in this repository. (A go build -overlay cannot replace files
# of the module cache.)
moddir=$(argocd_moddir) || argocd_die "go list cannot find github.com/argoproj/argo-cd/v3 (module download failed?)"
src=$ARGOCD_BIN/../src
rm -rf "$src"
cp -r "$moddir" "$src"
chmod -R u+w "$src"
[ "$(grep -c '"0.0.0.0:%d", metricsPort' "$src/controller/appcontroller.go")" = 1 ] ||
  argocd_die "$moddir/controller/appcontroller.go no longer binds its metrics to \"0.0.0.0:%d\" in one place: check $0"
sed -i 's/"0.0.0.0:%d", metricsPort/"127.0.0.1:%d", metricsPort/' "$src/controller/appcontroller.go"
cp "$ARGOCD_SRC/gomod/go.sum" "$tmp/go.sum"
{ cat "$ARGOCD_SRC/gomod/go.mod"; echo "replace github.com/argoproj/argo-cd/v3 => $src"; } > "$tmp/go.mod"
# Argo CD reports its version from these variables (its Makefile sets them too)
ld="-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}"
ld+=" -X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean"
if ! (cd "$ARGOCD_SRC/gomod" && CGO_ENABLED=0 go build -p "$jobs" -trimpath -buildvcs=false -modfile "$tmp/go.mod" \
        -ldflags "$ld" -o "$tmp/argocd-bed" . >&2); then
  rm -rf "$tmp" "$src"
  argocd_die "go build of argo-cd $ARGOCD_VERSION failed (see the go command's message above)"
fi
mv -f "$tmp/argocd-bed" "$ARGOCD_BIN/argocd-bed"
rm -rf "$tmp" "$src"
ln -sfn argocd-bed "$ARGOCD_BIN/argocd-application-controller"
ln -sfn argocd-bed "$ARGOCD_BIN/argocd-repo-server"
# each name must reach its own command (--help prints its flags, starts nothing)
"$ARGOCD_BIN/argocd-repo-server" --help 2>&1 | grep -q -- --disable-tls ||
  argocd_die "$ARGOCD_BIN/argocd-repo-server --help does not show the repo server's flags"
"$ARGOCD_BIN/argocd-application-controller" --help 2>&1 | grep -q -- --application-namespaces ||
  argocd_die "$ARGOCD_BIN/argocd-application-controller --help does not show the controller's flags"
echo "$stamp" > "$ARGOCD_BIN/.stamp"
argocd_say "argo-cd $ARGOCD_VERSION built in $((SECONDS - t0))s"
echo "$ARGOCD_BIN"
