#!/usr/bin/env bash
# Installs what iocmgr needs on a Debian machine and provides EPICS Base.
#
# Base: a site that has one sets EPICS_BASE (environment) or writes it into
# configure/RELEASE.local, and nothing is built. Otherwise Base 7.0.3.1 is taken
# from Debian's epics-base source package (Debian ships only libca/libCom as
# binaries) and built once into a cache outside the work tree, keyed by version.
# The chosen Base is written to configure/RELEASE.deps for the EPICS build.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base_version=7.0.3.1
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
base_cache=$cache/epics-base-$base_version

say() { echo "iocmgr deps: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# what building iocmgr and its image needs (IOCMGR_DEPS=build: only these; the
# Dockerfile's build stage)
build_packages=(build-essential perl libreadline-dev libcurl4-openssl-dev libcjson-dev
          libyaml-dev libcmocka-dev dpkg-dev openssl ca-certificates
          busybox-static)    # the images' /bin/sh (tools/image-rootfs.sh)
packages=("${build_packages[@]}" python3
          python3-pytest python3-venv procps valgrind curl util-linux
          clang libclang-rt-14-dev
          git redis-server     # the Argo CD test bed (tests/argocd): git repos on file://, redis
          # the Phoebus suites (tests/phoebus, tests/alarm): Java, Maven, an X
          # server without a screen, the pointer, the fonts the screens name, and
          # what JavaFX's GTK glass loads
          openjdk-17-jdk-headless maven xvfb x11-utils xdotool fonts-liberation
          libgtk-3-0 libxtst6 libgl1
          # the real test node (tests/cluster/node.sh, docs/node.md): the container
          # runtime and its CNI plugins (iptables comes with them), the node's relay to
          # the apiserver
          containerd runc containernetworking-plugins socat)
[ "${IOCMGR_DEPS:-}" != build ] || packages=("${build_packages[@]}")

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run '$*': run this as root or install sudo"
    fi
}

install_packages() {
    command -v apt-get >/dev/null ||
        die "apt-get not found: iocmgr's dependency step supports Debian and its derivatives. Install by hand: ${packages[*]} and set EPICS_BASE to a built EPICS Base 7.0.x"
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # pytest may come from pip instead of Debian; either is fine.
    if [[ " ${missing[*]} " == *" python3-pytest "* ]] && python3 -m pytest --version >/dev/null 2>&1; then
        missing=("${missing[@]/python3-pytest/}")
    fi
    missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq || die "apt-get update failed; check the machine's apt sources and network"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed (see apt's message above)"
}

# deb-src entries are derived from the machine's own Debian sources, so the
# project never names a mirror.
ensure_deb_src() {
    if apt-cache showsrc epics-base 2>/dev/null | grep "^Version: $base_version" >/dev/null; then return 0; fi
    local codename out=/etc/apt/sources.list.d/iocmgr-deb-src
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot tell the Debian release from /etc/os-release"
    local tmp; tmp=$(mktemp)
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v RS= -v ORS='\n\n' -v cn="$codename" '
            /(^|\n)Types:[^\n]*deb($|[ \n])/ && $0 ~ ("Suites:[^\n]*" cn "($|[ \n])") {
                sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >>"$tmp"
    done
    if [ -s "$tmp" ]; then
        as_root install -m 644 "$tmp" "$out.sources"
    elif [ -f /etc/apt/sources.list ] && grep -q "^deb .* $codename " /etc/apt/sources.list; then
        grep "^deb .* $codename " /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$tmp"
        as_root install -m 644 "$tmp" "$out.list"
    else
        rm -f "$tmp"; die "no Debian '$codename' entry found in /etc/apt/sources.list or sources.list.d/*.sources to derive a deb-src entry from"
    fi
    rm -f "$tmp"
    say "added deb-src entries derived from the machine's apt sources"
    as_root apt-get update -qq || die "apt-get update failed after adding deb-src entries"
    apt-cache showsrc epics-base 2>/dev/null | grep "^Version: $base_version" >/dev/null ||
        die "Debian does not serve epics-base $base_version as source here ($(apt-cache showsrc epics-base 2>/dev/null | sed -n 's/^Version: //p' | head -1)); set EPICS_BASE to a built Base 7.0.x instead"
}

check_base() { # $1: path, $2: where it came from
    local b=$1 arch
    [ -f "$b/configure/CONFIG" ] ||
        die "EPICS_BASE=$b (from $2) has no configure/CONFIG: it is not an EPICS Base tree. Fix it, or unset it to let iocmgr build Base $base_version into $base_cache"
    arch=$(perl "$b/lib/perl/EpicsHostArch.pl" 2>/dev/null || perl "$b/src/tools/EpicsHostArch.pl")
    [ -x "$b/bin/$arch/caget" ] && [ -x "$b/bin/$arch/softIoc" ] ||
        die "EPICS_BASE=$b (from $2) is not built for $arch (no bin/$arch/caget or softIoc). Run 'make' in it, or unset it to let iocmgr build Base $base_version"
}

# What the cached Base holds; a cache built with other contents is rebuilt.
base_contents="libcom ca database pvData pvAccess normativeTypes pva2pva"

build_base() {
    [ "$(cat "$base_cache/.iocmgr-built" 2>/dev/null)" = "$base_contents" ] && return 0
    ensure_deb_src
    say "building EPICS Base $base_version ($base_contents) into $base_cache; this takes a few minutes once"
    mkdir -p "$cache"
    rm -rf "$base_cache" "$cache/src"
    mkdir -p "$cache/src"
    local deb_version
    deb_version=$(apt-cache showsrc epics-base | sed -n 's/^Version: //p' | grep "^$base_version-" | sed -n 1p)
    (cd "$cache/src" && apt-get source -qq "epics-base=$deb_version" >/dev/null 2>"$cache/src/apt-source.log") ||
        die "apt-get source epics-base failed: $(tail -3 "$cache/src/apt-source.log")"
    mv "$cache/src/epics-base-$base_version" "$base_cache"
    rm -rf "$cache/src"
    # The pvAccess family (pvData, pvAccess, normativeTypes, pva2pva = QSRV) stays in:
    # iocmgr serves its records over PVA too (docs/pva.md).
    local log=$cache/epics-base-build.log
    if ! make -C "$base_cache" -j"$(nproc)" >"$log" 2>&1; then
        tail -20 "$log" >&2
        die "building EPICS Base failed; full log in $log. Fix the cause (often a missing compiler or perl) and run again, or set EPICS_BASE to a Base you have"
    fi
    echo "$base_contents" >"$base_cache/.iocmgr-built"
    say "EPICS Base built in $base_cache"
}

choose_base() {
    local local_base=""
    if [ -f "$top/configure/RELEASE.local" ]; then
        local_base=$(sed -n 's/^[[:space:]]*EPICS_BASE[[:space:]]*=[[:space:]]*//p' "$top/configure/RELEASE.local" | tail -1)
    fi
    if [ -n "${EPICS_BASE:-}" ]; then
        check_base "$EPICS_BASE" "the environment"
        echo "EPICS_BASE = $EPICS_BASE" >"$top/configure/RELEASE.deps"
    elif [ -n "$local_base" ]; then
        check_base "$local_base" "configure/RELEASE.local"
        rm -f "$top/configure/RELEASE.deps"
    else
        build_base
        check_base "$base_cache" "the iocmgr cache"
        echo "EPICS_BASE = $base_cache" >"$top/configure/RELEASE.deps"
    fi
}

install_packages
choose_base
