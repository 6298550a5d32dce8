#!/usr/bin/env bash
# Runs every iocmgr test suite and ends with a report of each suite (its count and
# state: ran / skipped with the reason / off by its switch / not run / no results)
# and the line a harness reads:
#   iocmgr: N passed, N failed, N skipped
# N passed and N skipped count distinct behaviour tests once each; N failed counts
# every failure, also of a fuzz corpus input, of the sanitizer pass and of a suite
# that did not run or gave no results. The fuzz corpus replay and the sanitizer
# pass are reported on lines of their own. Results are read by tools/testreport.py
# from pytest's junit XML and the suites' TAP streams (plans checked, `# SKIP`
# counted), never from a summary line a suite prints.
#
# Order: the unit and IOC-level suites, then, against a local Kubernetes control
# plane on loopback (tests/cluster) with the demo beamline, the cluster suites, and
# last the same suites again built with ASan+UBSan (tools/sanitize.sh asan).
#
# Switches: IOCMGR_TEST_<SWITCH>=0 leaves a suite out (each suite line below names
# its switch; IOCMGR_TEST_<SWITCH>_WHY=... adds your reason to the report);
# IOCMGR_TEST_UNIT_ONLY=1 leaves out every suite that needs the cluster (make
# test-unit). CI=true: a suite that did not run (skipped, not switched off) fails.
#
# Ports (defaults are the CI run's; every one can be moved, e.g. to run beside
# another run on the same machine): IOCMGR_TEST_APISERVER_PORT 16543,
# IOCMGR_TEST_ETCD_CLIENT_PORT 12479, IOCMGR_TEST_ETCD_PEER_PORT 12480,
# IOCMGR_TEST_CM_PORT 16357, IOCMGR_TEST_SCHEDULER_PORT 16359, IOCMGR_TEST_KWOK_PORT
# 16350, IOCMGR_TEST_PHOEBUS_CA_PORT 16620 (and +1..+3), IOCMGR_TEST_PHOEBUS_DISPLAY
# :66, IOCMGR_TEST_ALARM_KAFKA_PORT 16640 (+1), IOCMGR_TEST_ALARM_CA_PORT 16642
# (+1, +2), IOCMGR_TEST_ARGOCD_PORT 16600 (+1..+3), IOCMGR_TEST_EC_CA_PORTS
# 16680-16699, IOCMGR_TEST_PVA_PORTS 16800-16829 (PVA servers' TCP/UDP ports),
# IOCMGR_TEST_PHOEBUS_TABLE_DISPLAY :125, IOCMGR_TEST_CA_REPEATER_PORT (a free one);
# the cluster's state directory IOCMGR_TEST_CLUSTER_DIR ($IOCMGR_CACHE/cluster-test).
# The real node's bed (suite node) has its own: IOCMGR_TEST_NODE_PORT 16743 (+0..+37)
# and IOCMGR_TEST_NODE_MACHINE_PORTS "16710 16720", state in
# $IOCMGR_CACHE/cluster-test-node. A demo cluster started by `make demo` keeps
# running untouched.
#
# Adding a suite is one `suite` line (below, in run order); docs/building.md says how.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
export IOCMGR_CACHE=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
results=$top/tests/results
report=$results/report
rm -rf "$results"
mkdir -p "$report"

base=$(sed -n 's/^EPICS_BASE *= *//p' configure/RELEASE.deps configure/RELEASE.local 2>/dev/null | tail -1)
arch=$(perl "$base/lib/perl/EpicsHostArch.pl")

# ---------------------------------------------------------------- the suite runner

# suite NAME SWITCH NEEDS KIND WHY COMMAND...
#   NAME    the suite's name in the report; its output goes to tests/results/NAME.log
#   SWITCH  IOCMGR_TEST_<SWITCH>=0 leaves it out, and the report says so with WHY
#   NEEDS   "-" or a comma list of: cluster (the local control plane with the demo),
#           bed (a control plane the suite starts itself, e.g. the real node's: nothing
#           to set up, but like cluster it is left out by make test-unit),
#           helm (IOCMGR_HELM), ibek (IOCMGR_IBEK); each is set up once, on first need
#   KIND    tap     COMMAND prints TAP (ok / not ok / # SKIP, plans are checked)
#           pytest  COMMAND is pytest's arguments; results from its junit XML
#           junit   COMMAND writes junit XML to $IOCMGR_TEST_JUNIT (a pytest wrapper)
#           corpus  COMMAND is a fuzz corpus replay (tests/fuzz/fuzz.sh regress)
#           nested  COMMAND is a run of suites that records them in $IOCMGR_TEST_REPORT
#                   (tools/sanitize.sh): reported as the sanitizer pass
#   WHY     what the suite covers and why one would leave it out: the report's words
#           when it is switched off
# A COMMAND that cannot run here exits 77 after printing "# SKIP <reason>".
suite() {
    local name=$1 switch=IOCMGR_TEST_$2 needs=$3 kind=$4 why=$5; shift 5
    local group=tests log=$results/$name.log xml=$results/$name.xml rc t0 need why_var=${switch}_WHY
    local why_off=${!why_var:-}
    case $kind in corpus) group=corpus ;; nested) group=sanitizer ;; esac
    if [ "${!switch:-1}" = 0 ]; then
        record "$name" --group "$group" --switch "$switch" --state off \
            --why "${why_off:+$why_off; }$why"
        return
    fi
    for need in ${needs//,/ }; do
        [ "$need" = - ] && continue
        case $need in cluster|bed) ;; *) continue ;; esac
        [ -n "${IOCMGR_TEST_UNIT_ONLY:-}" ] || continue
        record "$name" --group "$group" --switch "$switch" --offby IOCMGR_TEST_UNIT_ONLY=1 --state off \
            --why "make test-unit: the suites that need the cluster are left out"
        return
    done
    for need in ${needs//,/ }; do
        case $need in -|bed) continue ;; esac
        if ! provide "$need"; then
            record "$name" --group "$group" --switch "$switch" --state "not run" \
                --why "${provided[$need]} (tests/results/setup-$need.log)"
            return
        fi
    done
    echo "=== $name"
    t0=$SECONDS
    case $kind in
        pytest) python3 -m pytest -p no:cacheprovider -v -rA --junitxml="$xml" "$@" >"$log" 2>&1 ;;
        nested) IOCMGR_TEST_REPORT=$results/$name.report "$@" >"$log" 2>&1 ;;
        *) IOCMGR_TEST_JUNIT=$xml "$@" >"$log" 2>&1 ;;
    esac
    rc=$?
    cat "$log"
    record "$name" --group "$group" --switch "$switch" --why "$why" --rc "$rc" --seconds "$((SECONDS - t0))" \
        --log "$log" --kind "${kind/pytest/junit}" --xml "$xml" --nested "$results/$name.report"
}
record() {
    python3 "$top/tools/testreport.py" suite "$report" "$@"
}

# ---------------------------------------------------------------- what suites need
declare -A provided=()
provide() {  # NAME: set it up once; 0 when ready. provided[NAME] = "ok" or why not
    local need=$1 log=$results/setup-$1.log rc
    if [ -z "${provided[$need]:-}" ]; then
        echo "=== setup: $need"
        case $need in
            cluster) setup_cluster >"$log" 2>&1 ;;
            helm) setup_helm >"$log" 2>&1 ;;
            ibek) setup_ibek >"$log" 2>&1 ;;
            *) echo "unknown need $need" >"$log"; false ;;
        esac
        rc=$?
        cat "$log"
        case $rc in
            0) provided[$need]=ok ;;
            *) provided[$need]=$(tail -1 "$log") ;;
        esac
        # a failed setup is a failure of its own (counted once), and every suite that
        # needs it is reported "not run"
        if [ "$rc" -eq 0 ]; then printf 'ok 1 - %s\n' "$need"; else printf 'not ok 1 - %s\n' "$need"; fi \
            >"$results/setup-$need.tap"
        record "setup-$need" --group setup --rc 0 --log "$results/setup-$need.tap"
    fi
    [ "${provided[$need]}" = ok ]
}

test_cluster=""
# The demo beamline's IOCs (and the Argo CD bed's) run on a real node (docs/node.md:
# kubelet, containerd; root, or a user with sudo); kwok's fake node stays beside it for
# the pods that need what only kwok shows (the alarm suite's instances, the suites' own
# pods): the real node then takes only pods that tolerate iocmgr.test/node
# (docs/node.md "Where each instance runs"). ~15 s more than kwok alone.
setup_cluster() {
    test_cluster=1
    IOCMGR_REAL_NODE=1 IOCMGR_KWOK_NODE=1 tests/cluster/up.sh && tests/cluster/demo.sh ||
        { echo "the local control plane and its real node did not come up (tests/cluster/up.sh, demo.sh)"; return 1; }
}
setup_helm() {   # the chart renders the ServiceAccount and Role the cluster suites run as
    IOCMGR_HELM=$(tests/helm/build.sh) || { echo "tests/helm/build.sh failed"; return 1; }
    export IOCMGR_HELM
    echo "IOCMGR_HELM=$IOCMGR_HELM"
}
setup_ibek() {   # exit 2: no Python >= 3.13 here; the ibek tests then say they are skipped
    IOCMGR_IBEK=$(ibek/venv.sh)
    case $? in
        0) export IOCMGR_IBEK; echo "IOCMGR_IBEK=$IOCMGR_IBEK" ;;
        2) echo "no Python >= 3.13 for ibek (see above): the ibek tests report skipped" ;;
        *) echo "ibek/venv.sh failed"; return 1 ;;
    esac
}

# the real node (tests/cluster/node.sh, docs/node.md) around a suite: a bed of its own
# with a kubelet, containerd and real IOC pods from the project's images, up for COMMAND
# and down after. Needs root (namespaces, cgroups, mounts). A run killed here leaves the
# bed to the next run's up.sh, which cleans it up.
in_node_bed() {
    if [ "$(id -u)" != 0 ]; then
        echo "# SKIP the real node needs root (namespaces, cgroups, mounts)"
        return 77
    fi
    local np=${IOCMGR_TEST_NODE_PORT:-16743}
    local -x IOCMGR_CLUSTER_DIR=$IOCMGR_CACHE/cluster-test-node IOCMGR_REAL_NODE=1
    local -x IOCMGR_APISERVER_PORT=$np IOCMGR_ETCD_CLIENT_PORT=$((np + 36)) IOCMGR_ETCD_PEER_PORT=$((np + 37))
    local -x IOCMGR_CM_PORT=$((np + 14)) IOCMGR_SCHEDULER_PORT=$((np + 16)) IOCMGR_KWOK_PORT=$((np + 7))
    local -x IOCMGR_KUBELET_PORT=$((np + 8)) IOCMGR_KUBELET_HEALTHZ_PORT=$((np + 5))
    local -x IOCMGR_TEST_NODE_MACHINE_PORTS=${IOCMGR_TEST_NODE_MACHINE_PORTS:-16710 16720}
    node_bed=1
    tests/cluster/up.sh || { echo "not ok - the real node's bed did not come up (tests/cluster/up.sh)"; tests/cluster/down.sh; node_bed=""; return 1; }
    "$@"
    local rc=$?
    tests/cluster/down.sh
    node_bed=""
    return $rc
}
# tests/node with real CA clients. IOCMGR_TEST_NODE_SERVICES=0 leaves out phase B's
# (issue 20): iocmgr as a pod by helm install with the beamline's volumes, its OPI
# server (nginx) and Phoebus opening the overview from it (test_node_services.py, display
# IOCMGR_TEST_NODE_PHOEBUS_DISPLAY :67), and the real ec beside iocmgr (test_node_ec.py);
# ~2.5 min of the suite's time
node_suite() {
    local skip=()
    [ "${IOCMGR_TEST_NODE_SERVICES:-1}" != 0 ] ||
        skip=(--ignore=tests/node/test_node_services.py --ignore=tests/node/test_node_ec.py)
    in_node_bed python3 -m pytest -p no:cacheprovider -v -rA --junitxml="$IOCMGR_TEST_JUNIT" tests/node "${skip[@]}"
}

# the Argo CD bed around its suite: up, the tests, down
argocd_suite() {
    tests/argocd/up.sh || { echo "not ok - the Argo CD test bed did not come up (tests/argocd/up.sh)"; return 1; }
    argocd_bed=1
    python3 -m pytest -p no:cacheprovider -v -rA --junitxml="$IOCMGR_TEST_JUNIT" tests/integration/test_argocd_*.py
    local rc=$?
    # its beamline goes too: on the real node its IOCs would answer the demo's PV names
    IOCMGR_ARGOCD_DELETE=1 tests/argocd/down.sh
    argocd_bed=""
    return $rc
}

# ---------------------------------------------------------------- the run's environment
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
    echo "iocmgr: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
argocd_bed=""
node_bed=""
cleanup() {
    kill "$repeater_pid" 2>/dev/null
    [ -z "$argocd_bed" ] || tests/argocd/down.sh >/dev/null 2>&1
    [ -z "$node_bed" ] || IOCMGR_CLUSTER_DIR=$IOCMGR_CACHE/cluster-test-node tests/cluster/down.sh >/dev/null 2>&1
    [ -z "$test_cluster" ] || tests/cluster/down.sh >/dev/null 2>&1
}
trap cleanup EXIT

export IOCMGR_CLUSTER_DIR=${IOCMGR_TEST_CLUSTER_DIR:-$IOCMGR_CACHE/cluster-test}
export IOCMGR_APISERVER_PORT=${IOCMGR_TEST_APISERVER_PORT:-16543}
export IOCMGR_ETCD_CLIENT_PORT=${IOCMGR_TEST_ETCD_CLIENT_PORT:-12479}
export IOCMGR_ETCD_PEER_PORT=${IOCMGR_TEST_ETCD_PEER_PORT:-12480}
export IOCMGR_CM_PORT=${IOCMGR_TEST_CM_PORT:-16357}
export IOCMGR_SCHEDULER_PORT=${IOCMGR_TEST_SCHEDULER_PORT:-16359}
export IOCMGR_KWOK_PORT=${IOCMGR_TEST_KWOK_PORT:-16350}
export IOCMGR_TEST_EC_CA_PORTS=${IOCMGR_TEST_EC_CA_PORTS:-16680-16699}
export IOCMGR_PHOEBUS_CA_PORT=${IOCMGR_TEST_PHOEBUS_CA_PORT:-16620}
export IOCMGR_PHOEBUS_DISPLAY=${IOCMGR_TEST_PHOEBUS_DISPLAY:-:66}
export IOCMGR_ALARM_KAFKA_PORT=${IOCMGR_TEST_ALARM_KAFKA_PORT:-16640}
export IOCMGR_ALARM_CA_PORT=${IOCMGR_TEST_ALARM_CA_PORT:-16642}
export IOCMGR_TEST_PVA_PORTS=${IOCMGR_TEST_PVA_PORTS:-16800-16829}
export IOCMGR_PHOEBUS_TABLE_DISPLAY=${IOCMGR_TEST_PHOEBUS_TABLE_DISPLAY:-:125}
argocd_port=${IOCMGR_TEST_ARGOCD_PORT:-16600}
export IOCMGR_ARGOCD_DIR=$IOCMGR_CLUSTER_DIR-argocd IOCMGR_ARGOCD_REDIS_PORT=$argocd_port
export IOCMGR_ARGOCD_REPO_PORT=$((argocd_port + 1)) IOCMGR_ARGOCD_REPO_METRICS_PORT=$((argocd_port + 2))
export IOCMGR_ARGOCD_CONTROLLER_METRICS_PORT=$((argocd_port + 3))

# ---------------------------------------------------------------- the suites, in run order
#     NAME            SWITCH          NEEDS               KIND    WHY (shown when switched off)    COMMAND
suite report-tools    REPORT          -                   pytest  "the report's own parsers and the benchmark's schedule (no cluster)" \
    tests/report tests/bench/test_bench_schedule.py
for t in $(sed -n 's/^TESTS *+= *//p' tests/Makefile); do
suite "$t"            UNIT            -                   tap     "unit and IOC-level tests (cmocka, EPICS test harness)" \
    bash -c "cd tests/O.$arch && exec ./$t"
done
suite k8s-unit        K8S_UNIT        -                   tap     "cmocka tests of the Kubernetes layer" \
    make -s -C tests/k8s test
suite fuzz-regress    FUZZ            -                   corpus  "every fuzzer once over its committed corpus and regressions (clang)" \
    make -s -C tests/fuzz regress
suite ioc-standalone  STANDALONE      -                   pytest  "the built IOC with real caget, no cluster" \
    tests/integration/test_standalone.py
suite cluster-smoke   SMOKE           cluster             tap     "the local control plane behaves as iocmgr relies on (kubectl only, no iocmgr code)" \
    tests/cluster/smoke.sh
suite k8s-integration K8S_INTEGRATION cluster             tap     "the Kubernetes layer against the real API server" \
    make -s -C tests/k8s integration
suite ioc-cluster     CLUSTER         cluster,helm        pytest  "the IOC against the cluster with real CA clients, as the chart's ServiceAccount" \
    $(ls tests/integration/test_cluster_*.py | grep -v -e _faults.py -e _deploy.py -e _ibek.py)
suite deploy          DEPLOY          cluster,helm,ibek   pytest  "the Helm chart and the ibek boot (helm and ibek built or fetched once)" \
    tests/integration/test_cluster_deploy.py tests/integration/test_cluster_ibek.py
suite ec-interop      EC              cluster,helm        pytest  "the real ec CLI beside iocmgr (ec venv from PyPI once; ~2.5 min)" \
    tests/integration/test_ec_interop.py
suite phoebus         PHOEBUS         cluster             pytest  "the screens in the real Phoebus (needs PHOEBUS_REPO; ~2 min)" \
    tests/phoebus/test_phoebus_screens.py tests/phoebus/test_phoebus_liveset.py
suite pva             PVA             cluster,helm        pytest  "pvAccess: pvget/pvput and p4p (PyPI once) against iocmgr, TABLE, access security over PVA, the CA-only build (~40 s)" \
    tests/integration/test_pva.py
suite pva-phoebus     PVA             cluster,helm        pytest  "the table overview on pva://\$(P)TABLE in the real Phoebus (needs PHOEBUS_REPO)" \
    tests/phoebus/test_phoebus_table.py
# issue 16: aliases made at run time on newer Base (PyPI's epicscorelibs once, ~3 min)
suite base-compat     BASE_COMPAT     cluster             pytest  "iocmgr built on Base 7.0.7.1 and 7.0.10.1 from PyPI's epicscorelibs, the live-binding suite on each (~3 min)" \
    tests/base-compat/test_base_compat.py
suite ioc-faults      FAULTS          cluster             pytest  "faults of the control plane injected while iocmgr runs (~3 min)" \
    tests/integration/test_cluster_faults.py
suite argocd          ARGOCD          cluster,helm        junit   "the real Argo CD deploying a beamline (the heaviest build: ~36 min cold on a loaded machine)" \
    argocd_suite
suite alarm-server    ALARM           cluster             junit   "the real Phoebus alarm server with Kafka (needs PHOEBUS_REPO; ~3 min)" \
    tests/alarm/run.sh
suite node            NODE            bed,helm            junit   "real IOC pods on a real node (kubelet, containerd) in a bed of its own; needs root (~7 min)" \
    node_suite
# the real alarm server on crash loops of real pods (tests/alarm/test_alarm_node.py: the
# kubelet's back-off, the CRASH_SETTLE rule, docs/alarms.md), in the node's bed, on the
# alarm suite's ports (that suite has ended by then)
suite alarm-node      ALARM_NODE      bed,helm            junit   "the real alarm server on real crash-looping pods in the node's bed (needs root and PHOEBUS_REPO; ~5 min)" \
    in_node_bed env IOCMGR_ALARM_KAFKA_PORT="${IOCMGR_TEST_ALARM_KAFKA_PORT:-16640}" \
        IOCMGR_ALARM_CA_PORT="${IOCMGR_TEST_ALARM_CA_PORT:-16642}" tests/alarm/run.sh node
suite sanitize-asan   SANITIZE        cluster             nested  "the suites again on an ASan+UBSan build (~7 min)" \
    tools/sanitize.sh asan

echo
python3 tools/testreport.py summary "$report"
