#!/bin/sh
# Prints the path of Argo CD's own Application CRD (argo-cd v3.6.1,
# manifests/crds/application-crd.yaml), fetched once through the Go module
# proxy and kept in $IOCMGR_CACHE/argocd-crd/<version>/. Needs `go`; exits 1
# with the reason on stderr when it cannot get it.
set -eu
version=v3.6.1
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}/argocd-crd/$version
crd=$cache/application-crd.yaml
if [ ! -s "$crd" ]; then
    command -v go >/dev/null || { echo "argo-crd.sh: go not found: needed once to fetch argo-cd $version" >&2; exit 1; }
    dir=$(cd /tmp && GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} GOFLAGS=-mod=mod \
          go mod download -json "github.com/argoproj/argo-cd/v3@$version" |
          sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -s "$dir/manifests/crds/application-crd.yaml" ] ||
        { echo "argo-crd.sh: no manifests/crds/application-crd.yaml in '$dir'" >&2; exit 1; }
    mkdir -p "$cache"
    cp "$dir/manifests/crds/application-crd.yaml" "$crd.tmp" && mv "$crd.tmp" "$crd"
fi
echo "$crd"
