#!/bin/sh
# Runs cmocka test programs with TAP output and closes with one
# "N passed, N failed" line; exits non-zero when any test or program fails.
# $1: a wrapper command (e.g. valgrind ...) or "", then the programs.
wrap=$1; shift
pass=0; fail=0; rc=0
for t in "$@"; do
    out=$(CMOCKA_MESSAGE_OUTPUT=TAP $wrap "$t" 2>&1); st=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^not ok ')
    pass=$((pass + p)); fail=$((fail + f))
    if [ $st -ne 0 ]; then
        rc=1
        [ "$f" -eq 0 ] && { echo "# $t exited with status $st"; fail=$((fail + 1)); }
    fi
done
echo "k8s: $pass passed, $fail failed"
exit $rc
