#!/usr/bin/env bash
# The unit, IOC-level and integration tests with memory checking, in a separate
# copy of the tree so the developer's build is untouched.
#
#   tools/sanitize.sh [asan]     build everything with -fsanitize=address,undefined in
#                                $IOCMGR_CACHE/asan-build and run: the unit and IOC-level
#                                tests, make -C tests/k8s asan + integration-asan, and the
#                                IOC integration tests (pytest) with the sanitized IOC
#   tools/sanitize.sh valgrind   plain build in $IOCMGR_CACHE/valgrind-build whose
#                                bin/<arch>/iocmgr runs the real IOC under valgrind
#                                memcheck; the unit/IOC-level tests under valgrind,
#                                make -C tests/k8s valgrind, the standalone test and a
#                                subset of the cluster tests (IOCMGR_VALGRIND_TESTS)
#
# Any sanitizer report or valgrind error (leaks: definite and indirect) counts as a
# failure, also from an IOC that a pytest test started and stopped: every report
# goes to a file under the copy's tests/results/memcheck/, read at the end.
# The last line is "sanitize: N passed, N failed, N skipped" (tools/testreport.py reads
# each suite's TAP or junit XML); exit status 1 on any failure.
#
# Cluster: when IOCMGR_CLUSTER_DIR names a running local cluster (tests/cluster/up.sh
# + demo.sh, with its IOCMGR_*_PORT variables), it is used and left running; else one
# is started in $IOCMGR_CACHE/cluster-sanitize on ports of its own and stopped at the
# end. IOCMGR_SANITIZE_NO_CLUSTER=1 runs only what needs no cluster.
set -u

mode=${1:-asan}
case $mode in asan|valgrind) ;; *) echo "usage: $0 [asan|valgrind]" >&2; exit 2 ;; esac

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
dest=${IOCMGR_SANITIZE_DIR:-$IOCMGR_CACHE/$mode-build}   # the copy (another run's own: IOCMGR_SANITIZE_DIR)
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

say() { echo "sanitize: $*"; }
die() { echo "sanitize: error: $*" >&2; echo "not ok 1 - $*"; echo "sanitize: 0 passed, 1 failed, 0 skipped"; exit 1; }

[ -f "$top/configure/RELEASE.deps" ] || [ -f "$top/configure/RELEASE.local" ] ||
    die "no EPICS Base configured: run 'make deps' (or make) in $top first"
[ "$mode" = valgrind ] && ! command -v valgrind >/dev/null && die "valgrind not found: apt-get install valgrind"

# ---------------------------------------------------------------- the copy
# The work tree's files as git sees them (tracked and untracked, minus .gitignore'd
# build products), plus the Base selection. mtimes are kept, so make rebuilds only
# what changed since the last run.
sync_tree() {
    local list have
    list=$(mktemp) have=$(mktemp)
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$top" && git ls-files -co --exclude-standard | while IFS= read -r f; do
            [ -f "$f" ] && printf '%s\n' "$f"; done) > "$list"
    else
        (cd "$top" && find . \( -name 'O.*' -o -path ./bin -o -path ./lib -o -path ./db -o -path ./dbd \
            -o -path ./include -o -path ./tests/k8s/build -o -path ./tests/results -o -name __pycache__ \
            -o -name envPaths -o -name '*.local' \) -prune -o -type f -print | sed 's|^\./||') > "$list"
    fi
    for f in configure/RELEASE.deps configure/RELEASE.local; do
        [ -f "$top/$f" ] && echo "$f" >> "$list"
    done
    sort -u -o "$list" "$list"
    mkdir -p "$dest"
    tar -C "$top" -cf - -T "$list" | tar -C "$dest" -xpf - || die "cannot copy the tree to $dest"
    # files the work tree no longer has (build products are not in either list)
    (cd "$dest" && find . \( -name 'O.*' -o -path ./bin -o -path ./lib -o -path ./db -o -path ./dbd -o -path ./cfg -o -path ./html -o -path ./templates \
        -o -path ./include -o -path ./tests/k8s/build -o -path ./tests/results -o -name __pycache__ \
        -o -name envPaths -o -name '*.local' -o -path ./configure/RELEASE.deps \) -prune -o -type f -print |
        sed 's|^\./||' | sort) > "$have"
    local gone
    gone=$(comm -23 "$have" "$list")
    if [ -n "$gone" ]; then
        (cd "$dest" && printf '%s\n' "$gone" | xargs -r -d '\n' rm -f --)
        # The build's dependency files (O.*/*.d) still name what was removed or renamed,
        # and EPICS' make then rebuilds the dbd and its registrar for ever (seen: a run
        # stuck 25 min after iocmgrTable.dbd was renamed). A clean build instead.
        say "files removed since the last copy ($(printf '%s\n' "$gone" | wc -l)): building from clean"
        find "$dest" -name 'O.*' -type d -prune -exec rm -rf {} +
        rm -rf "$dest/bin" "$dest/lib" "$dest/db" "$dest/dbd" "$dest/include" "$dest/tests/k8s/build"
    fi
    rm -f "$list" "$have"
    # the developer's own CONFIG_SITE.local (if any), then ours
    {
        [ -f "$top/configure/CONFIG_SITE.local" ] && cat "$top/configure/CONFIG_SITE.local"
        echo "# written by tools/sanitize.sh $mode: this copy only"
        if [ "$mode" = asan ]; then
            echo "USR_CFLAGS += $SAN"
            echo "USR_CXXFLAGS += $SAN"
            echo "USR_LDFLAGS += -fsanitize=address,undefined"
        else
            echo "OPT_CFLAGS_YES = -O1 -g"
            echo "OPT_CXXFLAGS_YES = -O1 -g"
        fi
    } > "$dest/configure/CONFIG_SITE.local.new"
    cmp -s "$dest/configure/CONFIG_SITE.local.new" "$dest/configure/CONFIG_SITE.local" 2>/dev/null &&
        rm -f "$dest/configure/CONFIG_SITE.local.new" ||
        mv -f "$dest/configure/CONFIG_SITE.local.new" "$dest/configure/CONFIG_SITE.local"
}

t0=$SECONDS
say "copying $top to $dest"
sync_tree
say "building ($mode) in $dest"
blog=$dest/build.log
if ! make -C "$dest" -j"$(nproc)" >"$blog" 2>&1; then
    tail -n 40 "$blog"
    die "the $mode build failed (log: $blog)"
fi
say "built in $((SECONDS - t0)) s"

arch=$(perl "$(sed -n 's/^EPICS_BASE *= *//p' "$dest"/configure/RELEASE.deps "$dest"/configure/RELEASE.local 2>/dev/null | tail -1)/lib/perl/EpicsHostArch.pl")
results=$dest/tests/results
memdir=$results/memcheck
rm -rf "$results"
mkdir -p "$memdir"

# ---------------------------------------------------------------- checking options
supp=$top/tests/faults/lsan.supp
if [ "$mode" = asan ]; then
    # full stacks through EPICS Base (built without frame pointers): slower, but a leak
    # report must name its allocation site to be fixed or suppressed precisely
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$memdir/asan:fast_unwind_on_malloc=0:malloc_context_size=30"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$memdir/ubsan"
    export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
    wrap=""
else
    vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
    vg="$vg --show-leak-kinds=definite,indirect --num-callers=30"
    vg="$vg --suppressions=$top/tests/faults/valgrind.supp --log-file=$memdir/valgrind.%p"
    wrap=$vg
    # the IOC the pytest helpers start (TOP/bin/<arch>/iocmgr) becomes valgrind + the IOC;
    # SIGTERM reaches the IOC itself (exec), which exits cleanly and valgrind reports
    bin=$dest/bin/$arch
    if ! head -c 2 "$bin/iocmgr" | grep -q '#!'; then
        mv -f "$bin/iocmgr" "$bin/iocmgr.bin"
    fi
    cat > "$bin/iocmgr" <<EOF
#!/bin/sh
# tools/sanitize.sh valgrind: the IOC under memcheck (this copy only)
exec $vg "\$(dirname "\$0")/iocmgr.bin" "\$@"
EOF
    chmod +x "$bin/iocmgr"
fi

# Each suite's results are read by tools/testreport.py (TAP with plans checked,
# pytest's junit XML) into $report: tools/run-tests.sh passes IOCMGR_TEST_REPORT and
# shows them as the sanitizer pass; alone, the summary below reads them.
report=${IOCMGR_TEST_REPORT:-$results/report}
rm -rf "$report"
mkdir -p "$report"
record() { python3 "$top/tools/testreport.py" suite "$report" "$@"; }
run_tap() {
    local name=$1; shift
    local log=$results/$name.log rc t0=$SECONDS
    echo "=== $name"
    "$@" >"$log" 2>&1; rc=$?
    cat "$log"
    record "$name" --kind tap --rc "$rc" --log "$log" --seconds "$((SECONDS - t0))"
}
run_pytest() {
    local name=$1; shift
    local log=$results/$name.log xml=$results/$name.xml rc t0=$SECONDS
    echo "=== $name"
    (cd "$dest" && timeout "${IOCMGR_SANITIZE_PYTEST_TIMEOUT:-3600}" python3 -m pytest -p no:cacheprovider -v -rA \
        --junitxml="$xml" "$@") >"$log" 2>&1
    rc=$?
    cat "$log"
    record "$name" --kind junit --rc "$rc" --log "$log" --xml "$xml" --seconds "$((SECONDS - t0))"
}

# ---------------------------------------------------------------- unit and IOC-level
for t in "$dest"/tests/O."$arch"/test*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    case $t in *.t|*.tap) continue ;; esac
    run_tap "$(basename "$t")" bash -c "cd '$dest/tests/O.$arch' && $wrap ./$(basename "$t")"
done
if [ "$mode" = asan ]; then
    run_tap k8s-unit-asan make -s -C "$dest/tests/k8s" asan
else
    run_tap k8s-unit-valgrind make -s -C "$dest/tests/k8s" valgrind
fi
run_pytest ioc-standalone tests/integration/test_standalone.py

# ---------------------------------------------------------------- against a cluster
if [ -z "${IOCMGR_SANITIZE_NO_CLUSTER:-}" ]; then
    own=""
    if [ -z "${IOCMGR_CLUSTER_DIR:-}" ] || [ ! -f "$IOCMGR_CLUSTER_DIR/env" ]; then
        own=1
        export IOCMGR_CLUSTER_DIR=$IOCMGR_CACHE/cluster-sanitize
        export IOCMGR_APISERVER_PORT=${IOCMGR_SANITIZE_APISERVER_PORT:-16643}
        export IOCMGR_ETCD_CLIENT_PORT=12579 IOCMGR_ETCD_PEER_PORT=12580
        export IOCMGR_CM_PORT=16457 IOCMGR_SCHEDULER_PORT=16459 IOCMGR_KWOK_PORT=16450
        trap '"$top"/tests/cluster/down.sh >/dev/null 2>&1' EXIT
        echo "=== local control plane ($IOCMGR_CLUSTER_DIR)"
        # the demo beamline on the real node, kwok's fake node beside it (as tools/run-tests.sh)
        if ! { IOCMGR_REAL_NODE=1 IOCMGR_KWOK_NODE=1 "$top"/tests/cluster/up.sh && "$top"/tests/cluster/demo.sh; } \
                >"$results/cluster-up.log" 2>&1; then
            cat "$results/cluster-up.log"
            own=fail
        fi
    fi
    if [ "$own" = fail ]; then
        for name in k8s-integration-$mode ioc-cluster-$mode; do
            record "$name" --state "not run" --why "the local control plane did not come up ($results/cluster-up.log)"
        done
    else
        if [ "$mode" = asan ]; then
            run_tap k8s-integration-asan make -s -C "$dest/tests/k8s" integration-asan
            run_pytest ioc-cluster-asan tests/integration/test_cluster_*.py
            # pvAccess (docs/pva.md): QSRV, the audit in front of it, TABLE; the CA-only
            # build is a build, not a memory check
            run_pytest pva-asan tests/integration/test_pva.py -k "not ca_only"
        else
            run_tap k8s-integration-valgrind make -s -C "$dest/tests/k8s" integration-valgrind
            # shellcheck disable=SC2086  # a list of test files / -k expressions
            run_pytest ioc-cluster-valgrind ${IOCMGR_VALGRIND_TESTS:-tests/integration/test_cluster_ioc.py \
                tests/integration/test_cluster_outage.py tests/integration/test_cluster_faults.py \
                -k "not black_hole and not slow_api"}
        fi
    fi
fi

# ---------------------------------------------------------------- reports
echo "=== memory reports ($memdir)"
reports=0
{
    for f in "$memdir"/*; do
        [ -f "$f" ] || continue
        if [ "$mode" = valgrind ]; then
            # one file per process; empty with -q when clean. A process that was killed
            # before valgrind finished leaves no ERROR SUMMARY: shown, not counted.
            [ -s "$f" ] || { rm -f "$f"; continue; }
            grep -q -E 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]|Invalid (read|write|free)|uninitialised' "$f" || {
                echo "# $(basename "$f"): notes only"; sed 's/^/#   /' "$f" | head -20; continue; }
        fi
        reports=$((reports + 1))
        echo "not ok $reports - $(basename "$f")"
        sed 's/^/#   /' "$f" | head -80
    done
    [ "$reports" -eq 0 ] && echo "ok 1 - no sanitizer or memcheck report"
} > "$results/memory-reports.log"
cat "$results/memory-reports.log"
record memory-reports --kind tap --rc 0 --log "$results/memory-reports.log"

echo
say "$mode run took $((SECONDS - t0)) s; logs in $results"
python3 "$top/tools/testreport.py" summary "$report" --label sanitize
