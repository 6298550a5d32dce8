#!/bin/bash
# tests/pva/ca-only.sh - build iocmgr against an EPICS Base without the pvAccess
# modules, to prove that a site Base built with SUBMODULES= (libcom, ca, database
# only) still builds a working, CA-only IOC (docs/pva.md).
#
# The Base is a copy of the one configure/RELEASE.deps names, with every file the
# pvAccess family installed removed (pvData, pvAccess, normativeTypes, pva2pva =
# QSRV, pvDatabase, pvaClient: libraries, headers, dbd, tools, cfg); the tree is a
# copy of this work tree's files (tracked and new, not ignored ones) with
# configure/RELEASE.local pointing at that Base. Both live in OUT (default
# $IOCMGR_CACHE/pva-ca-only-<hash of the work tree's path>); the tree is copied afresh and built from clean each
# run (a kept build mixed objects of another work tree with this one's sources, and
# dependency files naming removed files make EPICS' make loop). Prints the top of the
# built tree on its last line.
#
# Usage: tests/pva/ca-only.sh [OUT]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
# one per work tree: two trees (a CI clone and a developer's) must not share the copy
out=${1:-$cache/pva-ca-only-$(printf '%s' "$top" | sha256sum | cut -c1-8)}
jobs=${IOCMGR_BUILD_JOBS:-2}

say() { echo "ca-only: $*" >&2; }
die() { echo "ca-only: $*" >&2; exit 1; }

# RELEASE.local wins over RELEASE.deps, as in configure/RELEASE
base=$(cat "$top/configure/RELEASE.deps" "$top/configure/RELEASE.local" 2>/dev/null \
       | sed -n 's/^[[:space:]]*EPICS_BASE[[:space:]]*=[[:space:]]*//p' | tail -1 || true)
[ -n "$base" ] && [ -f "$base/configure/CONFIG" ] || die "no built EPICS Base in configure/RELEASE.deps: run 'make deps' first"
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")

# ---- the Base without the pvAccess family --------------------------------
cabase=$out/base
stamp="$base $(cat "$base/.iocmgr-built" 2>/dev/null) $(stat -c %Y "$base/lib/$arch/libCom.so" 2>/dev/null)"
if [ "$(cat "$cabase/.ca-only-from" 2>/dev/null)" != "$stamp" ]; then
    say "copying $base without its pvAccess modules to $cabase"
    rm -rf "$cabase"
    mkdir -p "$cabase"
    for d in bin lib include dbd db cfg configure startup templates; do
        [ -e "$base/$d" ] && cp -a "$base/$d" "$cabase/"
    done
    rm -rf "$cabase/include/pv" "$cabase/include/pva"
    rm -f "$cabase"/lib/"$arch"/lib{pvData,pvAccess,pvAccessCA,pvAccessIOC,nt,qsrv,pvDatabase,pvaClient}.*
    rm -f "$cabase"/bin/"$arch"/{pvget,pvput,pvmonitor,pvinfo,pvlist,pvcall,p2p,softIocPVA}
    rm -f "$cabase"/dbd/{PVA*,qsrv,softIocPVA,pvDatabaseRecord,pvdbcr*,pvaClient*}.dbd
    rm -f "$cabase"/cfg/CONFIG_{PVDATA,PVACCESS,NTYPES,QSRV,PVDATABASE,PVACLIENT}_*
    # nothing of the family may be left, or this would prove nothing
    left=$(find "$cabase" \( -name 'libpv*' -o -name 'libqsrv*' -o -name 'libnt.*' -o -name 'qsrv*.dbd' \
                             -o -name 'PVA*.dbd' -o -name 'pvAccess.h' -o -name 'CONFIG_QSRV*' \) -print)
    [ -z "$left" ] || die "pvAccess files left in the copy: $left"
    echo "$stamp" >"$cabase/.ca-only-from"
fi

# ---- the tree, pointed at it ---------------------------------------------
tree=$out/top
rm -rf "$tree"
mkdir -p "$tree"
(cd "$top" && git ls-files -co --exclude-standard -z) | (cd "$top" && xargs -0 cp --parents -t "$tree")
echo "EPICS_BASE = $cabase" >"$tree/configure/RELEASE.local"
rm -f "$tree/configure/RELEASE.deps"

say "building $tree against $cabase"
log=$out/build.log
if ! make -C "$tree" -j"$jobs" configure.install iocmgrApp.install iocBoot.install >"$log" 2>&1; then
    tail -20 "$log" >&2
    die "the CA-only build failed; full log in $log"
fi
echo "$tree"
