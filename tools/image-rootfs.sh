#!/usr/bin/env bash
# iocmgr's container image, as a root file system assembled from a built tree: the ONE
# recipe of the image. The Dockerfile runs it in its build stage and copies the result
# into an empty image; tests/images/build.sh runs it on this machine's built tree and
# writes an OCI archive for the test node's containerd (docs/node.md). Nothing of the
# build (compiler, headers, test packages) goes in: only what iocmgr runs with.
#
#   tools/image-rootfs.sh ROOT      assemble iocmgr's image into the empty directory ROOT
#   tools/image-rootfs.sh --config  print the image's run settings (the Dockerfile's
#                                   ENV/WORKDIR/CMD say the same; a test compares them)
#
# Needs: the tree built (`make deps && make`), ldd, and busybox-static (/bin/busybox:
# the image's /bin/sh, cp for the chart's init container, the liveness probe's shell).
#
# Sourced, it provides the staging helpers the test images use as well:
#   image_skeleton ROOT                   usr-merged directories, /etc basics, busybox
#   stage_elf ROOT FILE [DEST]            an executable or library + every library it links
#   stage_licences ROOT                   the Debian copyright file of each package staged from
set -euo pipefail

IMAGE_ARCH_LIBDIR=usr/lib/x86_64-linux-gnu   # the loader's system search path (no ld.so.cache)
IMAGE_BASE=/epics/epics-base                  # where Base's tools are in the images
IMAGE_TOP=/epics/iocmgr                       # the application, as the chart expects it

_img_die() { echo "image-rootfs: error: $*" >&2; exit 1; }

# Files staged from the build machine, for stage_licences
_img_staged=()

# usr-merged layout as in Debian 12, /etc basics, busybox for /bin/sh and the usual tools
image_skeleton() {
    local root=$1 bb
    mkdir -p "$root"/{usr/bin,usr/sbin,"$IMAGE_ARCH_LIBDIR",usr/lib64,etc,tmp,root,proc,sys,dev,run,var/tmp}
    ln -sfn usr/bin "$root/bin"; ln -sfn usr/sbin "$root/sbin"
    ln -sfn usr/lib "$root/lib"; ln -sfn usr/lib64 "$root/lib64"
    chmod 1777 "$root/tmp" "$root/var/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    bb=$(command -v busybox || true)
    [ -n "$bb" ] && file_is_static "$bb" || _img_die "busybox-static is needed (apt-get install busybox-static): the image's /bin/sh"
    cp "$bb" "$root/usr/bin/busybox"
    _img_staged+=("$bb")
    local applet
    for applet in $("$bb" --list); do
        [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
    done
}

file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

# stage_elf ROOT FILE [DEST]: FILE to DEST (default: the same path) and its libraries into
# the loader's search path; the loader itself where the binaries' PT_INTERP names it
stage_elf() {
    local root=$1 file=$2 dest=${3:-$2} line lib
    [ -f "$file" ] || _img_die "$file does not exist (is the tree built?)"
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$file" "$root$dest"
    _img_staged+=("$file")
    while read -r line; do
        case $line in
            *"=> not found"*) _img_die "$file needs ${line%% *}, which is not found here" ;;
            *"=>"*" ("*) lib=${line#*=> }; lib=${lib% (*} ;;
            /*" ("*) lib=${line%% (*} ;;            # the loader
            *) continue ;;
        esac
        if [[ $lib == */ld-linux* ]]; then
            [ -e "$root/$IMAGE_ARCH_LIBDIR/$(basename "$lib")" ] ||
                cp -L "$lib" "$root/$IMAGE_ARCH_LIBDIR/$(basename "$lib")"
            ln -sfn "/$IMAGE_ARCH_LIBDIR/$(basename "$lib")" "$root/usr/lib64/$(basename "$lib")"
        elif [ ! -e "$root/$IMAGE_ARCH_LIBDIR/$(basename "$lib")" ]; then
            cp -L "$lib" "$root/$IMAGE_ARCH_LIBDIR/$(basename "$lib")"
        fi
        _img_staged+=("$(readlink -f "$lib")")
    done < <(ldd "$file")
}

# the copyright file of every Debian package something was staged from (the image
# redistributes those files); files not from a package (EPICS, iocmgr) have their own
stage_licences() {
    local root=$1 f pkg
    command -v dpkg >/dev/null || return 0
    # dpkg knows a library by the path its package ships (/lib/... or /usr/lib/... on a
    # usr-merged Debian 12): ask for both, in one call
    for pkg in $(for f in "${_img_staged[@]}"; do echo "$f"; [[ $f == /usr/* ]] && echo "${f#/usr}"; done |
                 sort -u | xargs -r dpkg -S 2>/dev/null | cut -d: -f1 | tr ', ' '\n\n' | sort -u); do
        if [ -f "/usr/share/doc/$pkg/copyright" ]; then
            mkdir -p "$root/usr/share/doc/$pkg"
            cp "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/"
        fi
    done
}

# EPICS Base's CA command-line tools (the liveness probe's caget) into IMAGE_BASE
stage_base_tools() {
    local root=$1 base=$2 arch=$3; shift 3
    local t
    for t in "$@"; do
        stage_elf "$root" "$base/bin/$arch/$t" "$IMAGE_BASE/bin/$arch/$t"
    done
    mkdir -p "$root$IMAGE_BASE"
    cp "$base/LICENSE" "$root$IMAGE_BASE/LICENSE"
}

# the built tree's EPICS Base (configure/RELEASE.local wins over RELEASE.deps, as in the build)
tree_base() {
    local top=$1 b
    b=$({ sed -n 's/^[[:space:]]*EPICS_BASE[[:space:]]*=[[:space:]]*//p' \
          "$top/configure/RELEASE.deps" "$top/configure/RELEASE.local" 2>/dev/null || true; } | tail -1)
    [ -n "$b" ] && [ -d "$b" ] || _img_die "no EPICS Base in $top/configure/RELEASE.deps or RELEASE.local: run 'make deps' first"
    echo "$b"
}

# The image's run settings, one per line (KEY=VALUE; ENV lines repeat). The Dockerfile
# spells the same; tests/integration/test_node_images.py checks that they agree.
image_config() {
    cat <<CFG
ENV=PATH=$IMAGE_BASE/bin/linux-x86_64:$IMAGE_TOP/bin/linux-x86_64:/usr/bin:/bin
ENV=EPICS_BASE=$IMAGE_BASE
WORKDIR=$IMAGE_TOP/iocBoot/iociocmgr
CMD=$IMAGE_TOP/bin/linux-x86_64/iocmgr st.cmd
CFG
}

# iocmgr: the IOC binary, its dbd/db, the boot directory, the screens (the chart's init
# container copies them to the opis volume), Base's CA tools, and the libraries
iocmgr_rootfs() {
    local root=$1 top base arch
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    base=$(tree_base "$top")
    arch=$(perl "$base/lib/perl/EpicsHostArch.pl")
    [ -x "$top/bin/$arch/iocmgr" ] || _img_die "$top/bin/$arch/iocmgr is not built: run 'make' first"
    [ -d "$root" ] && [ -z "$(ls -A "$root")" ] || _img_die "$root must be an empty directory"
    image_skeleton "$root"
    stage_elf "$root" "$top/bin/$arch/iocmgr" "$IMAGE_TOP/bin/$arch/iocmgr"
    stage_base_tools "$root" "$base" "$arch" caget caput camonitor cainfo caRepeater
    mkdir -p "$root$IMAGE_TOP"/{dbd,db,opi,iocBoot/iociocmgr}
    cp "$top/dbd/iocmgr.dbd" "$root$IMAGE_TOP/dbd/"
    cp "$top"/db/*.template "$root$IMAGE_TOP/db/"
    cp "$top"/opi/iocmgr-*.bob "$root$IMAGE_TOP/opi/"
    rm -f "$root$IMAGE_TOP/opi/iocmgr-overview-example.bob"
    local f
    for f in "$top"/iocBoot/iociocmgr/*; do
        case $(basename "$f") in Makefile|envPaths) ;; *) cp "$f" "$root$IMAGE_TOP/iocBoot/iociocmgr/" ;; esac
    done
    # envPaths names this tree and this Base; in the image they are elsewhere
    printf 'epicsEnvSet("IOC","iociocmgr")\nepicsEnvSet("TOP","%s")\nepicsEnvSet("EPICS_BASE","%s")\n' \
        "$IMAGE_TOP" "$IMAGE_BASE" >"$root$IMAGE_TOP/iocBoot/iociocmgr/envPaths"
    [ -f "$top/LICENSE" ] && cp "$top/LICENSE" "$root$IMAGE_TOP/" || true
    stage_licences "$root"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case ${1:-} in
        --config) image_config ;;
        ""|-*) echo "usage: $0 ROOT | --config" >&2; exit 2 ;;
        *) mkdir -p "$1"; iocmgr_rootfs "$(cd "$1" && pwd)" ;;
    esac
fi
