#!/bin/sh
# Runs the fuzzers built by the Makefile (run from tests/fuzz).
#   fuzz.sh run SECONDS JOBS TARGET...   fuzz each TARGET for SECONDS, JOBS at a time, at nice 19
#   fuzz.sh merge TARGET...              add grown inputs that reach new coverage to corpus/TARGET
#   fuzz.sh regress TARGET...            each TARGET once over its corpus and regressions
#   fuzz.sh coverage TARGET...           line coverage of the sources by each TARGET's inputs
#   fuzz.sh one SECONDS TARGET           (used by run) one fuzzing session
cd "$(dirname "$0")" || exit 2

# The harnesses' input files go here (see fuzzFile.h); a crashed harness
# cannot clean up after itself, so this script does.
if [ -z "$FUZZ_TMPDIR" ]; then
    base=/dev/shm
    [ -w "$base" ] || base=${TMPDIR:-/tmp}
    FUZZ_TMPDIR=$(mktemp -d "$base/iocmgr-fuzz-run.XXXXXX") || exit 2
    export FUZZ_TMPDIR
    trap 'rm -rf "$FUZZ_TMPDIR"' EXIT
    trap 'exit 130' INT TERM
fi

# Largest input worth generating: a kubeconfig of three merged files; a watch
# response of a few real (3-9 KB) objects; a reference well past 255 + 128 +
# a digest; an instances file of some dozens of names.
maxlen() {
    case $1 in
    kubeconfig) echo 8192 ;;
    watch) echo 32768 ;;
    imageref) echo 1024 ;;
    expected) echo 4096 ;;
    argo) echo 16384 ;;
    esac
}

# The sources each target is about (for the coverage report).
sources() {
    case $1 in
    kubeconfig) echo ../../iocmgrApp/src/k8sConfig.c ;;
    watch) echo ../../iocmgrApp/src/k8sLineBuffer.c ../../iocmgrApp/src/k8sObject.c \
                ../../iocmgrApp/src/k8sCache.c ../../iocmgrApp/src/k8sWatch.c ;;
    imageref) echo ../../iocmgrApp/src/k8sImageRef.c ;;
    expected) echo ../../iocmgrApp/src/iocmgrExpected.c ;;
    argo) echo ../../iocmgrApp/src/k8sArgo.c ;;
    esac
}

# Merged inputs are cut to this size: a watch input grown to 26 KB mostly
# repeats seed objects, and cut to 8 KB it keeps nearly all its features while
# the corpus stays under 1 MB instead of over 2 MB.
mergelen() {
    case $1 in
    watch) echo 8192 ;;
    argo) echo 4096 ;;
    *) maxlen "$1" ;;
    esac
}

dirs() {
    d="corpus/$1"
    [ -d "regressions/$1" ] && d="$d regressions/$1"
    echo "$d"
}

count() {
    n=0
    for d in "$@"; do
        n=$((n + $(find "$d" -type f | wc -l)))
    done
    echo "$n"
}

case $1 in
one)
    secs=$2; t=$3
    mkdir -p "build/grown/$t" "build/artifacts/$t" build/logs
    # stdin from /dev/null: a fuzzed kubeconfig naming /dev/stdin as a file must not wait on a terminal;
    # timeout: a second bound on top of -max_total_time
    timeout $((secs + 300)) nice -n 19 "build/fuzz_$t" -max_total_time="$secs" -max_len="$(maxlen "$t")" \
        -timeout=10 -rss_limit_mb=2048 -dict="dict/$t.dict" -artifact_prefix="build/artifacts/$t/" \
        -print_final_stats=1 "build/grown/$t" $(dirs "$t") </dev/null >"build/logs/$t.log" 2>&1
    st=$?
    echo "$t: exit $st; $(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "build/logs/$t.log" | tail -1)"
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "build/logs/$t.log" | tr '\n' ' '
    echo
    ls "build/artifacts/$t" | sed "s|^|  $t artifact: build/artifacts/$t/|"
    exit $st
    ;;
run)
    secs=$2; jobs=$3; shift 3
    printf '%s\n' "$@" | xargs -P "$jobs" -I{} ./fuzz.sh one "$secs" {}
    ;;
merge)
    shift
    for t in "$@"; do
        [ -d "build/grown/$t" ] || continue
        before=$(count "corpus/$t")
        nice -n 19 "build/fuzz_$t" -merge=1 -max_len="$(mergelen "$t")" -rss_limit_mb=2048 -timeout=10 \
            "corpus/$t" "build/grown/$t" </dev/null >"build/logs/$t.merge.log" 2>&1 || {
            echo "$t: merge failed, see build/logs/$t.merge.log"; exit 1; }
        echo "$t: corpus $before -> $(count "corpus/$t") inputs, $(du -sh "corpus/$t" | cut -f1)"
    done
    ;;
regress)
    shift
    pass=0; fail=0
    for t in "$@"; do
        n=$(count $(dirs "$t") 2>/dev/null)
        # a corpus folder gone or emptied must not pass as a target with nothing to replay
        if [ ! -d "corpus/$t" ] || [ "$n" -eq 0 ]; then
            echo "not ok - $t: no input to replay (corpus/$t missing or empty)"
            fail=$((fail + 1))
            continue
        fi
        if "build/fuzz_$t" -runs=0 -rss_limit_mb=2048 -timeout=25 -artifact_prefix=build/ $(dirs "$t") </dev/null \
            >"build/$t.regress.log" 2>&1; then
            echo "ok - $t: $n inputs"
            pass=$((pass + n))
        else
            # find which inputs fail, one process each (only on failure, so CI stays fast)
            before=$fail
            for f in $(find $(dirs "$t") -type f | sort); do
                if "build/fuzz_$t" -rss_limit_mb=2048 -timeout=25 -artifact_prefix=build/ "$f" </dev/null >"build/$t.one.log" 2>&1; then
                    pass=$((pass + 1))
                else
                    fail=$((fail + 1))
                    echo "not ok - $t: $f"
                    grep -E 'ERROR|runtime error|accepted, but|attempted to run| in [A-Za-z_]+ [^ ]*(tests/fuzz|iocmgrApp/src)/' \
                        "build/$t.one.log" | grep -v 'fuzzer::' | head -4 | sed 's/^/#   /'
                fi
            done
            if [ "$fail" -eq "$before" ]; then
                echo "not ok - $t: the replay failed, but no single input does (build/$t.regress.log)"
                fail=$((fail + 1))
            fi
        fi
    done
    echo "fuzz-regress: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    ;;
coverage)
    # each target over its inputs with the coverage build, then one report per target
    shift
    for t in "$@"; do
        rm -f "build/cov/$t".*.profraw
        LLVM_PROFILE_FILE="build/cov/$t.%p.profraw" "build/cov/fuzz_$t" -runs=0 -rss_limit_mb=2048 \
            -artifact_prefix=build/ $(dirs "$t") </dev/null >"build/cov/$t.log" 2>&1 || {
            echo "$t: coverage run failed, see build/cov/$t.log"; exit 1; }
        llvm-profdata merge -sparse -o "build/cov/$t.profdata" "build/cov/$t".*.profraw
        echo "== $t"
        llvm-cov report "build/cov/fuzz_$t" -instr-profile="build/cov/$t.profdata" |
            grep -E "^Filename|$(sources "$t" | sed 's/ /|/g')"
    done
    ;;
*)
    echo "usage: fuzz.sh run SECONDS JOBS TARGET... | merge TARGET... | regress TARGET..." >&2
    exit 2
    ;;
esac
