#!/usr/bin/env bash
# Boot iocmgr from an epics-containers IOC instance's config directory, the way
# a Generic IOC's start.sh does: ibek generates st.cmd and ioc.subst from
# CONFIG_DIR/ioc.yaml and iocmgr.ibek.support.yaml, msi expands ioc.subst into
# ioc.db, and the IOC binary `ioc` runs st.cmd.
#
#   ibek/start.sh CONFIG_DIR             generate, then exec the IOC
#   ibek/start.sh --generate CONFIG_DIR  generate only; prints the st.cmd path
#
# Environment: RUNTIME_DIR (where the generated files go, default
# /epics/runtime), IBEK (the ibek executable; default `ibek` on PATH; the tests
# use ibek/venv.sh's), IOC (iocmgr's top directory, default the one holding
# this script). EPICS Base is the one iocmgr was built against.
set -euo pipefail
die() { echo "iocmgr start: error: $*" >&2; exit 1; }

generate_only=
if [ "${1:-}" = --generate ]; then generate_only=1; shift; fi
[ $# -eq 1 ] || die "usage: $0 [--generate] CONFIG_DIR"
config=$(cd "$1" && pwd) || die "no config directory $1"
[ -f "$config/ioc.yaml" ] || die "$config/ioc.yaml not found"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export IOC=${IOC:-$(cd "$here/.." && pwd)}
export RUNTIME_DIR=${RUNTIME_DIR:-/epics/runtime}
ibek=${IBEK:-$(command -v ibek)} || die "ibek not found: set IBEK or put ibek 4.8.2 on PATH (ibek/venv.sh makes one)"
# RELEASE.local, when there is one, wins (as in the EPICS build)
base=$(for f in "$IOC"/configure/RELEASE.deps "$IOC"/configure/RELEASE.local; do
           [ ! -f "$f" ] || sed -n 's/^EPICS_BASE *= *//p' "$f"
       done | tail -1)
[ -n "$base" ] || die "EPICS_BASE unknown: build iocmgr first (make deps && make)"
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")

mkdir -p "$RUNTIME_DIR"
rm -f "$RUNTIME_DIR/st.cmd" "$RUNTIME_DIR/ioc.subst" "$RUNTIME_DIR/ioc.db"
"$ibek" runtime generate2 "$config" --definitions "$here/iocmgr.ibek.support.yaml" \
    -o "$RUNTIME_DIR" --no-pvi >&2 || die "ibek runtime generate2 $config failed (see above)"
# the subst names the templates by file name; they are in iocmgr's db/
"$base/bin/$arch/msi" -I "$IOC/db" -o "$RUNTIME_DIR/ioc.db" -S "$RUNTIME_DIR/ioc.subst" ||
    die "msi could not expand $RUNTIME_DIR/ioc.subst (see above)"

if [ -n "$generate_only" ]; then
    echo "$RUNTIME_DIR/st.cmd"
    exit 0
fi
cd "$RUNTIME_DIR"
exec "$IOC/bin/$arch/ioc" "$RUNTIME_DIR/st.cmd"
