#!/usr/bin/env bash
# Build the test node's container images with no registry and no container engine: a root
# file system assembled here, written as an OCI image archive (tests/images/oci.py) that
# tests/cluster/node.sh imports into the node's containerd (docs/node.md).
#
#   tests/images/build.sh [NAME...]     NAME: pause, ioc, iocmgr, nginx (default: pause ioc)
#
# For each image one line on stdout: NAME REF ARCHIVE. Archives are cached by content in
# $IOCMGR_CACHE/images/NAME/<manifest digest>.tar: the same inputs give the same digest,
# and an archive already there is not written again. The tag is that digest's first 12
# hex digits; NAME:latest names the same image. The newest 4 archives of each image are kept.
#   pause   the pod sandbox (containerd's sandbox_image): pause.c, static
#   ioc     the generic test IOC: Base's softIoc, caget & co., bash, busybox, start.sh
#           with its behaviours (tests/images/ioc/start.sh), iocStatsUptime.db
#   iocmgr  iocmgr itself, by its one recipe tools/image-rootfs.sh (the Dockerfile's too);
#           needs the tree built (make)
#   nginx   the beamline's OPI server: Debian's nginx (package `nginx`, which holds
#           nginx-light's build in Debian 12) serving /usr/share/nginx/html
#           (tests/images/nginx/nginx.conf); its .debs come from Debian's archive with
#           `apt-get download`, cached in $IOCMGR_CACHE/images/debs, never installed
# Needs: gcc (static glibc), python3, busybox-static, a built EPICS Base (make deps).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=../../tools/image-rootfs.sh
. "$top/tools/image-rootfs.sh"
IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
cache=$IOCMGR_CACHE/images
REPO=${IOCMGR_IMAGE_REPO:-localhost/iocmgr}

say() { echo "images: $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
die() { say "error: $*"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iocmgr-images.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# config_json FILE: image_config-style lines (ENV=, WORKDIR=, CMD=, ENTRYPOINT=) on stdin
config_json() {
    python3 -c '
import json, sys
c = {}
for line in sys.stdin.read().splitlines():
    k, _, v = line.partition("=")
    if k == "ENV": c.setdefault("Env", []).append(v)
    elif k == "WORKDIR": c["WorkingDir"] = v
    elif k in ("CMD", "ENTRYPOINT"): c[k.title()] = v.split()   # Cmd, Entrypoint
json.dump(c, open(sys.argv[1], "w"))' "$1"
}

rootfs_pause() {
    local root=$1
    command -v gcc >/dev/null || die "gcc not found (build-essential)"
    mkdir -p "$root"
    gcc -Os -static -s -o "$root/pause" "$here/pause/pause.c" ||
        die "cannot link pause statically (libc6-dev provides the static libc)"
    echo "ENTRYPOINT=/pause"
}

rootfs_ioc() {
    local root=$1 base arch
    base=$(tree_base "$top")
    arch=$(perl "$base/lib/perl/EpicsHostArch.pl")
    mkdir -p "$root"
    image_skeleton "$root"
    stage_base_tools "$root" "$base" "$arch" softIoc caget caput camonitor cainfo caRepeater
    # softIoc finds these beside its bin directory (../../dbd, ../../db)
    mkdir -p "$root$IMAGE_BASE"/{dbd,db}
    cp "$base/dbd/softIoc.dbd" "$root$IMAGE_BASE/dbd/"
    cp "$base/db/softIocExit.db" "$root$IMAGE_BASE/db/"
    stage_elf "$root" "$(command -v bash)" /usr/bin/bash
    mkdir -p "$root"/epics/ioc/{db,config} "$root"/epics/{runtime,opi} "$root"/autosave
    cp "$here"/ioc/start.sh "$here"/ioc/liveness.sh "$here"/ioc/readiness.sh "$here"/ioc/st.cmd "$root/epics/ioc/"
    cp "$here"/ioc/testExit.db "$top"/tests/ioc/iocStatsUptime.db "$root/epics/ioc/db/"
    stage_licences "$root"
    cat <<CFG
ENV=PATH=$IMAGE_BASE/bin/$arch:/usr/bin:/bin
ENV=EPICS_BASE=$IMAGE_BASE
ENV=IOC=/epics/ioc
WORKDIR=/epics/ioc
CMD=bash -c /epics/ioc/start.sh
CFG
}

# Debian's nginx, unpacked from its packages: installing them would start a server on
# port 80 of the machine (nginx-common's init script). Cached by version.
NGINX_PACKAGES="nginx nginx-common"
nginx_debs() {
    local dir=$cache/debs version
    version=$(apt-cache policy nginx 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -n "$version" ] && [ "$version" != "(none)" ]; then
        dir=$dir/nginx-$version
        if [ ! -f "$dir/.complete" ]; then
            say "downloading Debian's nginx $version (apt-get download $NGINX_PACKAGES)"
            rm -rf "$dir"; mkdir -p "$dir"
            # as the _apt user when it can write there (apt's own sandbox), else as we are
            (cd "$dir" && apt-get download -q $NGINX_PACKAGES 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
                die "apt-get download $NGINX_PACKAGES failed: the machine's apt sources must reach Debian's archive"
            touch "$dir/.complete"
        fi
    else   # no apt lists: the newest download there is
        dir=$(ls -1dt "$dir"/nginx-*/ 2>/dev/null | head -1)
        [ -n "$dir" ] && [ -f "$dir/.complete" ] || die "no nginx package known to apt (apt-get update) and none cached"
    fi
    echo "$dir"
}

rootfs_nginx() {
    local root=$1 debs x deb
    debs=$(nginx_debs)
    x=$tmp/nginx-debs
    mkdir -p "$x"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$x"; done
    mkdir -p "$root"
    image_skeleton "$root"
    stage_elf "$root" "$x/usr/sbin/nginx" /usr/sbin/nginx
    mkdir -p "$root"/etc/nginx "$root"/usr/share/nginx/html "$root"/var/lib/nginx "$root"/var/log/nginx
    cp "$x/etc/nginx/mime.types" "$root/etc/nginx/"
    cp "$here/nginx/nginx.conf" "$root/etc/nginx/nginx.conf"
    stage_licences "$root"
    for deb in $NGINX_PACKAGES; do
        mkdir -p "$root/usr/share/doc/$deb"
        cp "$x/usr/share/doc/$deb/copyright" "$root/usr/share/doc/$deb/"
    done
    cat <<CFG
ENV=PATH=/usr/sbin:/usr/bin:/bin
CMD=/usr/sbin/nginx
CFG
}

rootfs_iocmgr() {
    mkdir -p "$1"
    iocmgr_rootfs "$1"
    image_config
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(pause ioc)
for name in "${names[@]}"; do
    declare -F "rootfs_$name" >/dev/null || die "unknown image '$name' (pause, ioc, iocmgr, nginx)"
done
for name in "${names[@]}"; do
    t0=$(now_ms)
    root=$tmp/$name
    _img_staged=()
    "rootfs_$name" "$root" | config_json "$tmp/$name.json"
    read -r ref archive bytes < <(python3 "$here/oci.py" "$root" "$cache/$name" --name "$REPO/$name" \
        --config "$tmp/$name.json") || die "cannot write the OCI archive of $name"
    rm -rf "$root"
    # the cache keeps the newest 4 archives of an image (an older one can be rebuilt)
    { ls -1t "$cache/$name"/*.tar 2>/dev/null | tail -n +5 | grep -vxF "$archive" || true; } | xargs -r rm -f
    t=$(( $(now_ms) - t0 ))
    say "$name: $ref, $((bytes / 1048576)) MiB, $((t / 1000)).$(printf %03d $((t % 1000)))s"
    echo "$name $ref $archive"
done
