#!/usr/bin/env bash
# Write the bed's two git repositories as bare repos on file:// (no git daemon):
#   services.git    services/<name>/ per instance: a chart with the ioc-instance chart
#                   vendored in charts/ (nothing is fetched) and the instance's image;
#                   one commit per release, tagged 2024.4.1 and 2024.5.1 (the images'
#                   tags follow the git tag: a REVISION change rolls the image)
#   deployment.git  apps/: the root app-of-apps chart, values.yaml listing every service
#                   at targetRevision 2024.4.1; plain/: a root without Helm (tests)
# Usage: repos.sh DIR NAMESPACE   (DIR/services.git, DIR/deployment.git; replaced)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir=$1 ns=$2
releases=(2024.4.1 2024.5.1)
first=${releases[0]}

services=()
while read -r name image enabled desc; do
  case "$name" in ''|'#'*) continue ;; esac
  services+=("$name $image $enabled $desc")
done < "$ARGOCD_SRC/bl46p-services.txt"

rm -rf "$dir/services.git" "$dir/deployment.git" "$dir/work"
mkdir -p "$dir/work"
g() { git -C "$1" -c user.name=iocmgr-bed -c user.email=bed@iocmgr.invalid -c commit.gpgsign=false "${@:2}"; }

# iocmgr as the beamline's services repo holds it: the example's Chart.yaml without
# its dependency line (the chart is vendored, nothing to fetch, as for the IOCs) and
# its values with Argo CD mode on for this bed's root. Not labelled ioc/is_ioc (the
# chart refuses those labels), so the iocmgr it runs never lists or stops itself.
# Two changes to the example for this cluster: the bed has no opis volume (the
# instances mount none either), and the ServiceAccount gets a name of its own, as
# up.sh already makes the account `iocmgr` of tests/cluster/demo/01-rbac.yaml here
# (two owners of one object: Argo CD would prune the one the other tests use).
self_service() {
  local d=$1
  mkdir -p "$d/charts"
  rm -rf "$d/charts/iocmgr"
  cp -r "$ARGOCD_TOP/deploy/helm/iocmgr" "$d/charts/"
  sed '/^dependencies:/,$d' "$ARGOCD_SELF_SRC/Chart.yaml" > "$d/Chart.yaml"
  sed -e '/^  argocd:/,/^  [a-z]/{s/^\(    enabled:\) false$/\1 true/;s/^\(    appNamespace:\) .*/\1 '"$ns"'/;s/^\(    root:\) .*/\1 '"$ARGOCD_ROOT"'/}' \
    "$ARGOCD_SELF_SRC/values.yaml" > "$d/values.yaml"
  grep -qx "    enabled: true" "$d/values.yaml" && grep -qx "    appNamespace: $ns" "$d/values.yaml" &&
    grep -qx "    root: $ARGOCD_ROOT" "$d/values.yaml" ||
    argocd_die "$ARGOCD_SELF_SRC/values.yaml has no iocmgr.argocd.enabled/appNamespace/root to set"
  cat >> "$d/values.yaml" <<Y
  # the bed: no opis volume; a ServiceAccount of its own (tests/argocd/repos.sh)
  opi:
    enabled: false
  serviceAccount:
    name: $ARGOCD_SELF
Y
}

# ---- services repo
w=$dir/work/services
git init -q -b main "$w"
for rel in "${releases[@]}"; do
  for s in "${services[@]}"; do
    read -r name image _ desc <<<"$s"
    d=$w/services/$name
    mkdir -p "$d/charts"
    rm -rf "$d/charts/ioc-instance"
    cp -r "$ARGOCD_SRC/charts/ioc-instance" "$d/charts/"
    cat > "$d/Chart.yaml" <<Y
apiVersion: v2
name: $name
description: IOC instance $name
type: application
version: 0.1.0
Y
    cat > "$d/values.yaml" <<Y
ioc-instance:
  image: ghcr.io/epics-containers/$image:$rel
  description: $desc
Y
  done
  self_service "$w/services/$ARGOCD_SELF"
  g "$w" add -A
  g "$w" commit -q -m "services $rel"
  g "$w" tag "$rel"
done
git clone -q --bare "$w" "$dir/services.git"

# ---- deployment repo
w=$dir/work/deployment
git init -q -b main "$w"
mkdir -p "$w/apps"
cp -r "$ARGOCD_SRC/charts/beamline-apps/templates" "$w/apps/"
sed 's/^name: beamline-apps/name: bl46p/' "$ARGOCD_SRC/charts/beamline-apps/Chart.yaml" > "$w/apps/Chart.yaml"
{
  echo "project: bl46p"
  echo "source:"
  echo "  repoURL: file://$dir/services.git"
  echo "  targetRevision: main"
  echo "destination:"
  echo "  name: in-cluster"
  echo "  namespace: $ns"
  echo "services:"
  for s in "${services[@]}"; do
    read -r name _ enabled desc <<<"$s"
    printf '  %s:\n    enabled: %s\n    targetRevision: "%s"\n    labels:\n      description: %s\n' \
      "$name" "$enabled" "$first" "$desc"
  done
  printf '  %s:\n    enabled: true\n    targetRevision: "%s"\n    labels:\n      description: %s\n' \
    "$ARGOCD_SELF" "$first" "IOC-manager"
} > "$w/apps/values.yaml"
# plain/: a root of plain manifests (no Helm) with one child, for the refusal test
# "root without a Helm source" (test_argocd_refusals.py creates the root that reads it)
mkdir -p "$w/plain"
cat > "$w/plain/bl46p-plain-01.yaml" <<Y
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: bl46p-plain-01
  namespace: $ns
spec:
  project: bl46p
  source:
    repoURL: file://$dir/services.git
    targetRevision: "$first"
    path: services/${services[0]%% *}
    helm:
      parameters:
      - {name: global.enabled, value: "true"}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
Y
g "$w" add -A
g "$w" commit -q -m "bl46p deployment"
git clone -q --bare "$w" "$dir/deployment.git"
rm -rf "$dir/work"
