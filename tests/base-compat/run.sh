#!/usr/bin/env bash
# Build iocmgr's IOC support and its IOC-level test (tests/testIocmgrIoc.c) against a
# newer EPICS Base from a registry, and run the test: the only registry that carries
# EPICS Base is PyPI's epicscorelibs (headers, libCom/ca/dbCore/dbRecStd, dbd files;
# not Base's make system), so this compiles with plain gcc and borrows the dbd tools
# (dbdExpand.pl, registerRecordDeviceDriver.pl) of the Base `make deps` built.
#
#   tests/base-compat/run.sh [VERSION]     default 7.0.10.99.0.2 (Base 7.0.10.1-DEV)
#                                           7.0.7.99.1.2 is Base 7.0.7.1-DEV
#
# PyPI has no epicscorelibs for Base 7.0.8.x: the versions either side of it bracket
# 7.0.8.1 (docs/building.md). Scratch tree: $IOCMGR_CACHE/base-compat/<VERSION>/.
# With IOCMGR_CLUSTER_DIR naming a running local cluster (tests/cluster), the IOC itself
# is built too (CA only: epicscorelibs has no QSRV to link) into a scratch copy of the
# tree, and the live-binding suite (tests/integration/test_cluster_liveset.py, its CA
# cases) runs against it: aliases created at run time on that Base.
# Ends with "base-compat: N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ver=${1:-7.0.10.99.0.2}
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}/base-compat/$ver
say() { echo "base-compat: $*"; }
fail() { say "error: $*"; echo "base-compat: 0 passed, 1 failed"; exit 1; }

base=$(sed -n 's/^[[:space:]]*EPICS_BASE[[:space:]]*=[[:space:]]*//p' "$top"/configure/RELEASE.local \
       "$top"/configure/RELEASE.deps 2>/dev/null | tail -n 1)
[ -n "$base" ] || fail "no EPICS Base configured: make deps first (its dbd tools are used)"
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")
[ -d "$top/db" ] || fail "build the tree first (make): the test loads db/*.template"

if [ ! -f "$cache/venv/.complete" ]; then
    say "installing epicscorelibs==$ver into $cache/venv"
    rm -rf "$cache/venv"; mkdir -p "$cache"
    /usr/bin/python3 -m venv "$cache/venv" || fail "python3 -m venv failed"
    "$cache/venv/bin/pip" install -q --disable-pip-version-check --no-input "epicscorelibs==$ver" ||
        { rm -rf "$cache/venv"; fail "pip install epicscorelibs==$ver failed"; }
    touch "$cache/venv/.complete"
fi
E=$("$cache/venv/bin/python" -c 'import epicscorelibs.path as p; print(p.base_path)')
[ -f "$E/include/epicsVersion.h" ] || fail "$E has no include/epicsVersion.h"
version=$(sed -n 's/^#define EPICS_VERSION_SHORT *"\(.*\)"/\1/p;s/^#define EPICS_VERSION_FULL *"\(.*\)"/\1/p' \
          "$E/include/epicsVersion.h" | tail -1)
say "EPICS Base $version from epicscorelibs $ver ($E)"

out=$cache/build
rm -rf "$out"; mkdir -p "$out/obj" "$out/dbd"
src=$top/iocmgrApp/src
inc="-I$src -I$E/include -I$E/include/os/Linux -I$E/include/compiler/gcc"
flags="-O1 -g -fPIC -Wall -Wno-unused-parameter -DUSE_TYPED_DSET -DUSE_TYPED_RSET -DTOP_DIR=\"$top\""
# the support library's sources (iocmgrApp/src/Makefile), the CA-only IOC: epicscorelibs
# has no QSRV to link
k8s=$(sed -n -e 's/^K8S_SRCS = //p' -e '/^ \+k8s.*\.c/p' "$src/k8sSources.mk" | tr -d '\\')
support=$(sed -n 's/^iocmgrSupport_SRCS += //p' "$src/Makefile")
objs=()
for f in $k8s $support; do
    o=$out/obj/${f%.c}.o
    gcc $flags $inc -c "$src/$f" -o "$o" 2>>"$out/build.log" || { cat "$out/build.log"; fail "$f does not compile"; }
    objs+=("$o")
done
say "compiled ${#objs[@]} sources"
perl "$base/bin/$arch/dbdExpand.pl" -I "$E/dbd" -I "$src" -o "$out/dbd/testIocmgrIoc.dbd" \
    base.dbd iocmgrSupport.dbd iocmgrBeamlineTable.dbd iocmgrCaOnly.dbd >>"$out/build.log" 2>&1 ||
    fail "dbdExpand failed (log $out/build.log)"
perl "$base/bin/$arch/registerRecordDeviceDriver.pl" -o "$out/reg.cpp" "$out/dbd/testIocmgrIoc.dbd" \
    testIocmgrIoc_registerRecordDeviceDriver "$out" >>"$out/build.log" 2>&1 ||
    fail "registerRecordDeviceDriver failed (log $out/build.log)"
# the 7.0.3.1 generator writes epicsShareExtern, which newer Base keeps in shareLib.h only
g++ $flags $inc -include shareLib.h -c "$out/reg.cpp" -o "$out/obj/reg.o" 2>>"$out/build.log" || fail "reg.cpp does not compile"
# epicscorelibs leaves out testMain.h (the MAIN() of a test program): the hosted form of it
mkdir -p "$out/shim" && printf '#define MAIN(prog) int main(void)\n' > "$out/shim/testMain.h"
gcc $flags $inc -I"$out/shim" "$top/tests/testIocmgrIoc.c" "${objs[@]}" "$out/obj/reg.o" -o "$out/testIocmgrIoc" \
    -L"$E/lib" -Wl,-rpath,"$E/lib" -ldbRecStd -ldbCore -lca -lCom -lcurl -lyaml -lcjson -lpthread -lstdc++ -lm \
    2>>"$out/build.log" || { tail -20 "$out/build.log"; fail "testIocmgrIoc does not link"; }
say "built testIocmgrIoc against Base $version"
(cd "$out/dbd" && "$out/testIocmgrIoc") > "$out/test.log" 2>&1
rc=$?
ok=$(grep -c '^ok ' "$out/test.log"); notok=$(grep -c '^not ok ' "$out/test.log")
grep -E '^not ok|^# (Looks|Planned)|^1\.\.' "$out/test.log"
[ "$rc" -ne 0 ] && [ "$notok" -eq 0 ] && notok=1 && say "testIocmgrIoc exited with status $rc (log $out/test.log)"

if [ -n "${IOCMGR_CLUSTER_DIR:-}" ] && [ -f "$IOCMGR_CLUSTER_DIR/env" ]; then
    # the IOC: iocmgrMain.c and the registration of dbd/iocmgr.dbd (CA only)
    t=$cache/top
    rm -rf "$t"; mkdir -p "$t/bin/$arch" "$t/dbd" "$t/configure"
    cp -r "$top/db" "$top/iocBoot" "$top/tests" "$top/opi" "$top/deploy" "$t/"
    cp "$top"/configure/RELEASE.* "$t/configure/" 2>/dev/null
    printf 'epicsEnvSet("IOC","iociocmgr")\nepicsEnvSet("TOP","%s")\nepicsEnvSet("EPICS_BASE","%s")\n' "$t" "$base" \
        > "$t/iocBoot/iociocmgr/envPaths"
    perl "$base/bin/$arch/dbdExpand.pl" -I "$E/dbd" -I "$src" -o "$t/dbd/iocmgr.dbd" \
        base.dbd iocmgrSupport.dbd iocmgrBeamlineTable.dbd iocmgrCaOnly.dbd >>"$out/build.log" 2>&1 &&
    perl "$base/bin/$arch/registerRecordDeviceDriver.pl" -o "$out/regioc.cpp" "$t/dbd/iocmgr.dbd" \
        iocmgr_registerRecordDeviceDriver "$t" >>"$out/build.log" 2>&1 &&
    g++ $flags $inc -include shareLib.h -c "$out/regioc.cpp" -o "$out/obj/regioc.o" 2>>"$out/build.log" &&
    gcc $flags $inc "$src/iocmgrMain.c" "${objs[@]}" "$out/obj/regioc.o" -o "$t/bin/$arch/iocmgr" \
        -L"$E/lib" -Wl,-rpath,"$E/lib" -ldbRecStd -ldbCore -lca -lCom -lcurl -lyaml -lcjson -lpthread -lstdc++ -lm \
        2>>"$out/build.log" || { tail -20 "$out/build.log"; notok=$((notok + 1)); say "the IOC does not build"; }
    if [ -x "$t/bin/$arch/iocmgr" ]; then
        say "built the IOC against Base $version; the live-binding suite against it"
        (cd "$t" && timeout 900 python3 -m pytest -p no:cacheprovider -q tests/integration/test_cluster_liveset.py \
            -k "not pvaccess") > "$out/liveset.log" 2>&1
        prc=$?
        tail -3 "$out/liveset.log"
        p=$(tail -1 "$out/liveset.log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
        f=$(tail -1 "$out/liveset.log" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
        [ "$prc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        ok=$((ok + p)); notok=$((notok + f))
    fi
fi
echo "base-compat: $ok passed, $notok failed"
[ "$notok" -eq 0 ]
