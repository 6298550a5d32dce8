#!/usr/bin/env bash
# Build the top-level Dockerfile with no container engine: its instructions, as written,
# run in a Debian 12 root made by debootstrap from Debian's archive (FROM debian:12), and
# the final stage (FROM scratch + COPY --from=build) becomes an OCI archive like
# tests/images/build.sh's. It shows that the Dockerfile's recipe builds on a clean Debian
# and gives the image the test node runs (docs/node.md); it is not part of `make test`
# (a cold build downloads ~300 MB of packages and builds EPICS Base: ~10-15 min).
#
#   tests/images/dockerfile.sh          prints: iocmgr REF ARCHIVE (as build.sh does)
#
# Understands the instructions the Dockerfile uses: FROM debian:12 AS NAME, FROM scratch,
# ENV, WORKDIR, COPY SRC... DST, COPY --from=NAME SRC DST, RUN, CMD; anything else is
# refused. The build context is the committed tree (git archive HEAD: no build products).
# Needs root, debootstrap, git. Work directory: $IOCMGR_CACHE/images/dockerfile (the
# debootstrap root is kept as a tarball there; the build root is made fresh each time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
work=$IOCMGR_CACHE/images/dockerfile
REPO=${IOCMGR_IMAGE_REPO:-localhost/iocmgr}
MIRROR=${IOCMGR_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "dockerfile: $*" >&2; }
die() { say "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"

# the rest runs in a mount namespace of its own: the build root's /proc vanishes with it
if [ "${_IOCMGR_DOCKERFILE_NS:-}" != 1 ]; then
    exec env _IOCMGR_DOCKERFILE_NS=1 unshare --mount --propagation private -- "$0" "$@"
fi

mkdir -p "$work"
base_tar=$work/debian-12-minbase.tar
if [ ! -f "$base_tar" ]; then
    say "debootstrap bookworm (minbase) from $MIRROR"
    rm -rf "$work/base"
    debootstrap --variant=minbase bookworm "$work/base" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
        { tail -5 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
    tar -C "$work/base" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
    rm -rf "$work/base"
fi

ctx=$work/context
# remove the stage roots: their /proc first, and nothing while anything is mounted below
clean_stages() {
    local d
    for d in "$work"/stage-*/proc; do umount "$d" 2>/dev/null || true; done
    if awk -v w="$work/" 'index($5, w) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        die "something is still mounted below $work: not removing it"
    fi
    rm -rf "$ctx" "$work"/stage-*
}
clean_stages
rm -f "$work/build.log"
mkdir -p "$ctx"
git -C "$top" archive HEAD | tar -C "$ctx" -x

declare -A stage_root
root=""; cwd=/; envs=(); final_cmd=""; final_workdir=/
run_in() {  # the build root's shell, with the stage's environment
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root "${envs[@]}" /bin/sh -c "cd '$cwd' && $1"
}
# logical lines: continuations joined, comments and blank lines dropped
mapfile -t lines < <(sed -e 's/\r$//' "$top/Dockerfile" | awk '
    /^[[:space:]]*#/ { next }
    { line = line $0 }
    /\\$/ { sub(/\\$/, "", line); next }
    { if (line ~ /[^[:space:]]/) print line; line = "" }')
t0=$SECONDS
for line in "${lines[@]}"; do
    read -r word rest <<<"$line"
    case $word in
        FROM)
            read -r image _ name <<<"$rest"
            envs=(); cwd=/
            if [ "$image" = scratch ]; then
                root=$work/stage-final; mkdir -p "$root"
            elif [ "$image" = debian:12 ]; then
                root=$work/stage-${name:-build}; mkdir -p "$root"
                tar -C "$root" -xf "$base_tar"
                cp /etc/resolv.conf "$root/etc/resolv.conf"
                mount -t proc proc "$root/proc"     # (debootstrap made /dev's nodes)
            else
                die "FROM $image: only debian:12 and scratch are understood"
            fi
            [ -z "${name:-}" ] || stage_root[$name]=$root
            say "FROM $image${name:+ AS $name}" ;;
        ENV)
            # KEY=VALUE pairs (the Dockerfile's values have no spaces)
            for kv in $rest; do
                kv=${kv//\$PATH/\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin}
                envs+=("$kv")
            done ;;
        WORKDIR) cwd=$rest; final_workdir=$rest; mkdir -p "$root$cwd" ;;
        COPY)
            read -r -a args <<<"$rest"
            from=$ctx
            if [[ ${args[0]} == --from=* ]]; then from=${stage_root[${args[0]#--from=}]}; args=("${args[@]:1}"); fi
            dst=${args[-1]}; [[ $dst == /* ]] || dst=$cwd/$dst
            for src in "${args[@]:0:${#args[@]}-1}"; do
                mkdir -p "$root$dst"
                if [[ $src == */ ]]; then     # a directory's contents
                    cp -a "$from/${src#/}." "$root$dst/"
                else
                    cp -a "$from/${src#/}" "$root$dst/"
                fi
            done
            say "COPY ${args[*]}" ;;
        RUN)
            say "RUN ${rest:0:100}"
            run_in "$rest" >>"$work/build.log" 2>&1 ||
                { tail -20 "$work/build.log" >&2; die "RUN failed (log: $work/build.log)"; } ;;
        CMD) final_cmd=$(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])))' "$rest") ;;
        *) die "Dockerfile instruction $word is not understood here" ;;
    esac
done
[ "$root" = "$work/stage-final" ] || die "the Dockerfile's last stage is not FROM scratch"
{
    for kv in "${envs[@]}"; do echo "ENV=$kv"; done
    echo "WORKDIR=$final_workdir"
    echo "CMD=$final_cmd"
} | python3 -c '
import json, sys
c = {}
for line in sys.stdin.read().splitlines():
    k, _, v = line.partition("=")
    if k == "ENV": c.setdefault("Env", []).append(v)
    elif k == "WORKDIR": c["WorkingDir"] = v
    elif k == "CMD": c["Cmd"] = v.split()
json.dump(c, open(sys.argv[1], "w"))' "$work/config.json"
read -r ref archive bytes < <(python3 "$here/oci.py" "$root" "$IOCMGR_CACHE/images/iocmgr-dockerfile" \
    --name "$REPO/iocmgr" --config "$work/config.json")
# the build root (~1 GB) is not kept; the debootstrap tarball is
clean_stages
say "built in $((SECONDS - t0))s: $ref ($((bytes / 1048576)) MiB); build log $work/build.log"
echo "iocmgr $ref $archive"
