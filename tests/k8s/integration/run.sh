#!/bin/sh
# Integration tests against a running local control plane with the demo
# loaded (tests/cluster/up.sh && tests/cluster/demo.sh, or
# tests/cluster/with-cluster.sh make -C tests/k8s integration).
# $1: build directory holding it_k8s and iocmgr-k8s. Bounded: 10 minutes.
# IOCMGR_VALGRIND=1 runs the C test under valgrind.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$here/${1:-build}" && pwd)
dir=${IOCMGR_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr/cluster-run}
if [ ! -f "$dir/env" ]; then
    echo "# no cluster env at $dir/env: start one with tests/cluster/up.sh && tests/cluster/demo.sh" >&2
    echo "k8s integration: 0 passed, 1 failed"
    exit 1
fi
. "$dir/env"
cd "$here"   # it_k8s calls ../cluster/apiserver.sh
wrap=""
[ "${IOCMGR_VALGRIND:-0}" = 1 ] && wrap="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"

pass=0; fail=0
tap() { printf '%s\n' "$1"; case $1 in "ok "*) pass=$((pass + 1));; "not ok "*) fail=$((fail + 1));; esac; }

# the CLI, as a person diagnosing access would use it
n=0
check() {  # description, command...
    d=$1; shift
    n=$((n + 1))
    if out=$("$@" 2>&1); then tap "ok $n - cli: $d"; else tap "not ok $n - cli: $d"; printf '%s\n' "$out" | sed 's/^/# /'; fi
}
echo "1..5"
check "config" "$build/iocmgr-k8s" config
check "get in the demo namespace" sh -c "'$build/iocmgr-k8s' -n bl46p-iocs get | grep -q 'instance bl46p-ea-ioc-01 kind=StatefulSet'"
check "limited ServiceAccount: 403 message" sh -c "'$build/iocmgr-k8s' --kubeconfig '$dir/limited.kubeconfig' -n default scale x 1 2>&1 | grep -q 'is forbidden: User \"system:serviceaccount:bl46p-iocs:iocmgr\"'"
check "logs" sh -c "'$build/iocmgr-k8s' -n bl46p-iocs logs bl46p-ea-ioc-01-0 --tail 3 | grep -q 'log of pod'"
check "owner of a Helm-only instance" sh -c "'$build/iocmgr-k8s' -n bl46p-iocs owner bl46p-ea-ioc-01 | grep -q 'no Argo CD Application owns it'"

# Argo CD's own Application CRD (argo-crd.sh), for the Argo CD tests; skipped without it.
# test_argo_not_installed starts a client on a cluster without it and installs it while the
# client runs: the CRD is removed first, unless Applications of other namespaces live in it
# (then only that test is skipped, and says why). The tests install it (it_k8s.c installCrd).
if crd=$(./integration/argo-crd.sh); then
    export IOCMGR_ARGO_CRD=$crd
    others=$(kubectl get applications.argoproj.io -A --no-headers -o custom-columns=NS:.metadata.namespace 2>/dev/null |
             grep -vx iocmgr-k8s-test | sort -u | tr '\n' ' ')
    if [ -n "$others" ]; then
        export IOCMGR_ARGO_CRD_KEPT="the Application CRD holds Applications in namespaces $others: not removed, so test_argo_not_installed cannot start without it"
    else
        kubectl delete crd applications.argoproj.io --ignore-not-found --wait=true --timeout=60s >/dev/null
    fi
else
    echo "# the Argo CD tests are skipped: no Application CRD (argo-crd.sh needs go and the Go module proxy once)"
fi

out=$(CMOCKA_MESSAGE_OUTPUT=TAP timeout 600 $wrap "$build/it_k8s" 2>&1); st=$?
printf '%s\n' "$out"
# a skipped test (cmocka prints "not ok N # SKIP") is neither a pass nor a failure; the reason is above
p=$(printf '%s\n' "$out" | grep -c '^ok '); f=$(printf '%s\n' "$out" | grep '^not ok ' | grep -vc '# SKIP')
pass=$((pass + p)); fail=$((fail + f))
[ $st -ne 0 ] && [ "$f" -eq 0 ] && { echo "# it_k8s exited with status $st"; fail=$((fail + 1)); }
echo "k8s integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
