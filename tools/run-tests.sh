#!/usr/bin/env bash
# Runs every iocmgr test and ends with one line a harness reads:
#   iocmgr: N passed, N failed
# Unit and IOC-level tests first; then, against a local Kubernetes control
# plane on loopback (tests/cluster) with the demo beamline, the cluster smoke
# test, the Kubernetes layer's integration tests and the IOC's integration
# tests with real CA clients, the fault-injection tests, iocmgr against the real
# Argo CD (tests/argocd), and the whole suite once
# more built with AddressSanitizer and UBSan (tools/sanitize.sh asan).
# IOCMGR_TEST_UNIT_ONLY=1 stops after the first part.
#
# The test cluster has its own state directory and ports, so a demo cluster
# started by `make demo` keeps running untouched.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
export IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
results=$top/tests/results
rm -rf "$results"
mkdir -p "$results"

passed=0
failed=0
skipped=0
failures=()

base=$(sed -n 's/^EPICS_BASE *= *//p' configure/RELEASE.deps configure/RELEASE.local 2>/dev/null | tail -1)
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")

# A CA client that finds no caRepeater on its port spawns one, which keeps the
# client's stdout and stderr open: a test reading a caget's output through a pipe
# would then wait for ever. One repeater for the run, on a free port of its own
# (IOCMGR_TEST_CA_REPEATER_PORT to choose it), with /dev/null for its output;
# stopped at the end (tests/integration/iocmgrtest.py start_ca_repeater).
read -r EPICS_CA_REPEATER_PORT repeater_pid < <(python3 tests/integration/iocmgrtest.py ca-repeater \
    ${IOCMGR_TEST_CA_REPEATER_PORT:-})
export EPICS_CA_REPEATER_PORT
if [ -z "${repeater_pid:-}" ]; then
    echo "run-tests: caRepeater did not start (tests/integration/iocmgrtest.py ca-repeater)" >&2
    echo "iocmgr: 0 passed, 1 failed"
    exit 1
fi
test_cluster=""
argocd_bed=""
cleanup() {
    kill "$repeater_pid" 2>/dev/null
    [ -z "$argocd_bed" ] || tests/argocd/down.sh >/dev/null 2>&1
    [ -z "$test_cluster" ] || tests/cluster/down.sh >/dev/null 2>&1
}
trap cleanup EXIT

# Count a suite's results: its own closing "N passed, N failed" line when it
# prints one, else its TAP ok / not ok lines. A suite that exits non-zero
# without a failure counted (crash, plan mismatch) counts as one failure.
run_tap() {
    local name=$1; shift
    local log=$results/$name.log rc ok notok summary
    echo "=== $name"
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    summary=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -n "$summary" ]; then
        ok=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
        notok=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    else
        ok=$(grep -c -E '^ok ' "$log")
        notok=$(grep -c -E '^not ok ' "$log")
    fi
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        notok=1
        echo "# $name exited with status $rc"
    fi
    passed=$((passed + ok))
    failed=$((failed + notok))
    [ "$notok" -eq 0 ] || failures+=("$name")
}

run_pytest() {
    local name=$1; shift
    local log=$results/$name.log rc p f e
    echo "=== $name"
    python3 -m pytest -p no:cacheprovider -v "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(tail -1 "$log" | grep -o -E '[0-9]+ passed' | grep -o -E '[0-9]+' || echo 0)
    f=$(tail -1 "$log" | grep -o -E '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
    skipped=$((skipped + $(tail -1 "$log" | grep -o -E '[0-9]+ skipped' | grep -o -E '[0-9]+' || echo 0)))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "# $name exited with status $rc"; fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("$name")
}

# ---- unit and IOC-level ----
for t in tests/O.$arch/test*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    case "$t" in *.t|*.tap) continue ;; esac
    run_tap "$(basename "$t")" bash -c "cd tests/O.$arch && ./$(basename "$t")"
done
run_tap k8s-unit make -s -C tests/k8s test
run_tap fuzz-regress make -s -C tests/fuzz regress
run_pytest ioc-standalone tests/integration/test_standalone.py

if [ -z "${IOCMGR_TEST_UNIT_ONLY:-}" ]; then
    # ---- against the local control plane ----
    export IOCMGR_CLUSTER_DIR=$IOCMGR_CACHE/cluster-test
    test_cluster=1
    export IOCMGR_APISERVER_PORT=${IOCMGR_TEST_APISERVER_PORT:-16543}
    export IOCMGR_ETCD_CLIENT_PORT=12479 IOCMGR_ETCD_PEER_PORT=12480
    export IOCMGR_CM_PORT=16357 IOCMGR_SCHEDULER_PORT=16359 IOCMGR_KWOK_PORT=16350
    # the demo beamline's IOCs (and the Argo CD bed's) run on a real node (docs/node.md:
    # kubelet, containerd; root, or sudo); kwok's fake node stays beside it for the pods
    # that need what only kwok shows (the alarm suite's instances, pods of the suites'
    # own): the real node then takes only pods that tolerate iocmgr.test/node. About
    # 10 s more than a bed without the node (docs/node.md "Where each instance runs").
    echo "=== local control plane and its real node (tests/cluster/up.sh, demo.sh)"
    if IOCMGR_REAL_NODE=1 IOCMGR_KWOK_NODE=1 tests/cluster/up.sh && tests/cluster/demo.sh; then
        run_tap cluster-smoke tests/cluster/smoke.sh
        run_tap k8s-integration make -s -C tests/k8s integration
        deploy_suites=(tests/integration/test_cluster_deploy.py tests/integration/test_cluster_ibek.py)
        suites=()
        for f in tests/integration/test_cluster_*.py; do
            case " tests/integration/test_cluster_faults.py ${deploy_suites[*]} " in
                *" $f "*) ;;
                *) suites+=("$f") ;;
            esac
        done
        run_pytest ioc-cluster "${suites[@]}"
        # the Helm chart (lint, server dry run, helm install/upgrade, in-cluster
        # connect) and the ibek boot (st.cmd + ioc.subst -> msi -> ioc): helm from
        # the Go module proxy (tests/helm/build.sh, cold ~3 min) and ibek 4.8.2 in
        # a venv (ibek/venv.sh, cold ~1 min), both cached; ~1 min warm.
        # IOCMGR_TEST_DEPLOY=0 provides neither: those tests then report skipped.
        if [ "${IOCMGR_TEST_DEPLOY:-1}" != 0 ]; then
            if IOCMGR_HELM=$(tests/helm/build.sh); then
                export IOCMGR_HELM
            else
                echo "not ok - tests/helm/build.sh failed; see above"
                failed=$((failed + 1)); failures+=("helm-build")
            fi
            IOCMGR_IBEK=$(ibek/venv.sh)
            case $? in
                0) export IOCMGR_IBEK ;;
                2) echo "# no Python >= 3.13 for ibek (ibek/venv.sh above): the ibek tests are skipped" ;;
                *) echo "not ok - ibek/venv.sh failed; see above"
                   failed=$((failed + 1)); failures+=("ibek-venv") ;;
            esac
        fi
        run_pytest deploy "${deploy_suites[@]}"
        # the real `ec` CLI (edge-containers-cli 5.5.2, K8S backend) beside iocmgr
        # (docs/ec.md): ec stop/start/restart followed on iocmgr's PVs, iocmgr's commands
        # seen by `ec ps`; IOC CA ports 16680-16699; transcript in
        # tests/results/ec-interop-transcript.txt. ~2.5 min warm; cold adds the ec venv from
        # PyPI (tests/ec/venv.sh, ~25 s) and helm (tests/helm/build.sh). IOCMGR_TEST_EC=0
        # leaves it out.
        [ "${IOCMGR_TEST_EC:-1}" = 0 ] ||
            run_pytest ec-interop tests/integration/test_ec_interop.py
        # the screens in the real Phoebus 5.0.5 display runtime and an operator's
        # clicks in it (tests/phoebus, docs/screens.md): ~2 min. Skipped, counted
        # as skipped, without Phoebus (PHOEBUS_REPO, or shared/phoebus/m2 beside the
        # repository). IOCMGR_TEST_PHOEBUS=0 leaves it out.
        [ "${IOCMGR_TEST_PHOEBUS:-1}" = 0 ] ||
            IOCMGR_PHOEBUS_CA_PORT=${IOCMGR_TEST_PHOEBUS_CA_PORT:-16620} \
            IOCMGR_PHOEBUS_DISPLAY=${IOCMGR_TEST_PHOEBUS_DISPLAY:-:66} \
            run_pytest phoebus tests/phoebus/test_phoebus_screens.py
        # pvAccess (tests/integration/test_pva.py, docs/pva.md): QSRV and $(P)TABLE
        # read with Base's pvget/pvput and p4p (PyPI, tests/pva/venv.sh, cached),
        # commands over PVA under CA's access security and audit, the CA-only build
        # against a Base without the pvAccess modules (tests/pva/ca-only.sh), and the
        # table overview (opi/iocmgr-table.bob) in the real Phoebus on Xvfb :125 (skipped
        # without Phoebus' jars, as the phoebus suite). PVA ports 25064-25089
        # (IOCMGR_TEST_PVA_PORTS). ~1 min warm. IOCMGR_TEST_PVA=0 leaves it out.
        if [ "${IOCMGR_TEST_PVA:-1}" != 0 ]; then
            run_pytest pva tests/integration/test_pva.py
            run_pytest pva-phoebus tests/phoebus/test_phoebus_table.py
        fi
        # faults of the control plane (apiserver killed, etcd restarted and
        # compacted, token revoked, a cut, slow or black-holed API): ~3 min.
        # IOCMGR_TEST_FAULTS=0 leaves them out.
        [ "${IOCMGR_TEST_FAULTS:-1}" = 0 ] ||
            run_pytest ioc-faults tests/integration/test_cluster_faults.py
        # the real Argo CD (tests/argocd: application controller and repo server
        # built from the Go module proxy, cached by version; redis) on 127.0.0.1:16600-16619,
        # deploying the bl46p beamline in its own namespace, and iocmgr's Argo CD tests
        # with real CA clients against it (docs/argocd.md: times). IOCMGR_TEST_ARGOCD=0
        # leaves it out.
        if [ "${IOCMGR_TEST_ARGOCD:-1}" != 0 ]; then
            export IOCMGR_ARGOCD_DIR=$IOCMGR_CLUSTER_DIR-argocd IOCMGR_ARGOCD_REDIS_PORT=16600
            export IOCMGR_ARGOCD_REPO_PORT=16601 IOCMGR_ARGOCD_REPO_METRICS_PORT=16602
            export IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT=16603
            echo "=== Argo CD test bed (tests/argocd/up.sh)"
            argocd_bed=1
            if tests/argocd/up.sh; then
                run_pytest argocd tests/integration/test_argocd_*.py
            else
                echo "not ok - the Argo CD test bed did not come up; see above"
                failed=$((failed + 1))
                failures+=("argocd-up")
            fi
            # its beamline's pods go too: on the real node they would answer the demo's PVs
            IOCMGR_ARGOCD_DELETE=1 tests/argocd/down.sh
            argocd_bed=""
        fi
        # the real Phoebus alarm server (Kafka, service-alarm-server) reading what
        # iocmgr publishes: its configuration checked and imported, a crash loop,
        # Pending, Stopped, an apiserver outage (tests/alarm, docs/alarms.md).
        # Skipped, with what to set, where no Phoebus repository is found.
        # Ports 16640-16644. IOCMGR_TEST_ALARM=0 leaves it out.
        [ "${IOCMGR_TEST_ALARM:-1}" = 0 ] ||
            IOCMGR_ALARM_KAFKA_PORT=16640 IOCMGR_ALARM_CA_PORT=16642 run_tap alarm-server tests/alarm/run.sh
        # everything again, built with ASan+UBSan, against the same cluster; any
        # sanitizer report fails it (tools/sanitize.sh). IOCMGR_TEST_SANITIZE=0
        # leaves it out.
        [ "${IOCMGR_TEST_SANITIZE:-1}" = 0 ] || run_tap sanitize-asan tools/sanitize.sh asan
    else
        echo "not ok - the local control plane did not come up; see above"
        failed=$((failed + 1))
        failures+=("cluster-up")
    fi

    # ---- the real node (tests/cluster/node.sh, docs/node.md): a bed of its own with a
    # kubelet, containerd and real IOC pods from the project's images, and tests/node
    # with real CA clients (ALIVE, crash-loop back-off, OOMKilled, logs, the iocmgr image
    # as a pod, the machine left as found). Needs root. Its bed: ports 16743-16780 and
    # $IOCMGR_CACHE/cluster-test-node; the machine test's two beds: 16710-16727. ~8 min.
    # A run killed here leaves the bed to the next run's up.sh, which cleans it up.
    # IOCMGR_TEST_NODE=0 leaves it out.
    run_node_suite() {
        local -x IOCMGR_CLUSTER_DIR=$IOCMGR_CACHE/cluster-test-node IOCMGR_REAL_NODE=1
        local -x IOCMGR_APISERVER_PORT=16743 IOCMGR_ETCD_CLIENT_PORT=16779 IOCMGR_ETCD_PEER_PORT=16780
        local -x IOCMGR_CM_PORT=16757 IOCMGR_SCHEDULER_PORT=16759 IOCMGR_KWOK_PORT=16750
        local -x IOCMGR_KUBELET_PORT=16751 IOCMGR_KUBELET_HEALTHZ_PORT=16748
        local -x IOCMGR_TEST_NODE_MACHINE_PORTS="16710 16720"
        echo "=== real node (IOCMGR_REAL_NODE=1 tests/cluster/up.sh)"
        if tests/cluster/up.sh; then
            run_pytest node tests/node
        else
            echo "not ok - the real node's bed did not come up; see above"
            failed=$((failed + 1)); failures+=("node-up")
        fi
        tests/cluster/down.sh
    }
    if [ "${IOCMGR_TEST_NODE:-1}" != 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            run_node_suite
        else
            echo "# the real node needs root (namespaces, cgroups, mounts): tests/node skipped"
            skipped=$((skipped + 1))
        fi
    fi
fi

echo
[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
# skipped cases (a component missing, each says what to set) are neither passed nor failed
[ "$skipped" -eq 0 ] || echo "skipped: $skipped (see the suites' logs for what to set)"
echo "iocmgr: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
