"""Instances deployed after the manager booted get their PVs live (issue 16): spare slots
loaded at boot, bound to a new instance by aliases created at run time. Against the local
control plane, with real clients: Base's caget/caput/camonitor (libca), pyepics (the libca
its wheel ships), caproto (pure Python, no libca) and p4p over pvAccess.

Every StatefulSet made here is deleted at the end; the manager's prefix is TST-LIVE-*."""
import json
import subprocess
import time

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, chart_identity, run_ioc, timed_monitor, wait_until
from test_cluster_argo_ioc import STS
from test_pva import P4P_PYTHON, pva_ioc

NEW, OTHER = "bl46p-ea-ioc-61", "bl46p-ea-ioc-62"


_ca_python = []


def CA_PYTHON():
    if not _ca_python:
        r = subprocess.run([str(TOP / "tests/integration/ca-clients-venv.sh")], capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            pytest.fail(f"tests/integration/ca-clients-venv.sh (pyepics, caproto from PyPI) failed: {r.stderr}")
        _ca_python.append(r.stdout.strip().splitlines()[-1])
    return _ca_python[0]


def python_ca(ioc, client, *pvs):
    r = subprocess.run([CA_PYTHON(), str(TOP / "tests/integration/caclients.py"), client, *pvs],
                       env=ioc.ca.env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def deploy(cluster, name, ns=NAMESPACE, labels="", annotations=""):
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input=STS.format(name=name, ns=ns, labels=labels, annotations=annotations),
                       text=True, env=cluster.env, capture_output=True)
    assert r.returncode == 0, r.stderr


def delete(cluster, *names, ns=NAMESPACE, wait=False):
    cluster.kubectl("-n", ns, "delete", "statefulset", *names, "--ignore-not-found", f"--wait={str(wait).lower()}")


@pytest.fixture
def cleanup(cluster):
    yield
    delete(cluster, NEW, OTHER)


def env_for(kubeconfig, slots, **extra):
    """iocmgr as the chart's ServiceAccount (conftest.shipped_kubeconfig), with a pool."""
    return {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
            "IOCMGR_SPARE_SLOTS": str(slots), **extra}


def pod_uid(cluster, name):
    return cluster.kubectl("-n", NAMESPACE, "get", "pod", f"{name}-0", "-o", "jsonpath={.metadata.uid}",
                           check=False)


def counts_follow(ioc):
    """RUNNING_COUNT and FAULT_COUNT agree with the instances' own STATUS (Running; MAJOR).
    The demo's other instances change state on their own (a real crash loop runs for a
    while between crashes), so a count taken before the deploy is no baseline."""
    names = ioc.get("NAMES", string=True).split()
    states = [(ioc.ca.get(ioc.pv("STATUS", n)), ioc.ca.get(ioc.pv("STATUS", n) + ".SEVR")) for n in names]
    return (ioc.get("RUNNING_COUNT") == str(sum(v == "Running" for v, _ in states))
            and ioc.get("FAULT_COUNT") == str(sum(s == "MAJOR" for _, s in states)))


def test_a_statefulset_created_after_boot_is_live(cluster, shipped_kubeconfig, tmp_path, cleanup):
    """caget of the new names, a camonitor that searched before the deploy, commands,
    counts, lists and the table, deletion -> Absent, the same name back in the same slot."""
    delete(cluster, NEW, wait=True)
    with run_ioc(tmp_path, env_for(shipped_kubeconfig, 2), prefix="TST-LIVE-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        count = int(ioc.get("COUNT"))
        assert ioc.get("SPARE_FREE") == "2" and ioc.get("SPARE_SLOTS") == "2"
        # a free slot: Free and Silent without alarm, no name, not counted, no row
        for field, value in (("STATUS", "Free"), ("ALIVE", "Silent")):
            assert ioc.get(field, "SPARE_001") == value
            assert ioc.ca.get(ioc.pv(field, "SPARE_001") + ".SEVR") == "NO_ALARM"
        assert ioc.get("NAME", "SPARE_001", string=True) == ""
        assert NEW not in ioc.get("NAMES", string=True).split()
        # before: the contract name is not served
        assert ioc.ca.try_get(ioc.pv("STATUS", NEW)) is None

        with timed_monitor(ioc.ca, ioc.pv("STATUS", NEW)) as early:
            time.sleep(3)           # it searches, and backs off, before the instance exists
            t_deploy = time.monotonic()
            deploy(cluster, NEW)
            # a fresh caget answers, with the right state
            wait_until(lambda: ioc.ca.try_get(ioc.pv("STATUS", NEW)) in ("Running", "Starting", "Pending"),
                       30, what="a fresh caget of the new STATUS")
            ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Running", timeout=30)
            t_connect = early.wait_after(lambda v, s: v != "", t_deploy, 60)
            print(f"\ncamonitor searching for 3 s before the deploy connected {t_connect - t_deploy:.2f} s "
                  "after kubectl apply")

        assert ioc.get("NAME", NEW, string=True) == NEW
        assert ioc.get("NAME", "SPARE_001", string=True) == NEW
        # the names are aliases of the slot's records: .NAME gives the record's own name
        assert ioc.ca.get(ioc.pv("STATUS", NEW) + ".NAME") == ioc.pv("STATUS", "SPARE_001")
        assert ioc.get("READY", NEW) == "Yes" and ioc.get("ENABLED", NEW) == "Enabled"
        assert ioc.get("POD", NEW, string=True) == f"{NEW}-0"
        assert ioc.ca.get(ioc.pv("ALIVE", "SPARE_001") + ".INP") == f"{NEW.upper()}:UPTIME CA NMS"
        wait_until(lambda: ioc.get("COUNT") == str(count + 1), 10, what="COUNT + 1")
        # the new instance is counted: Running, not a fault (a steady state of the counts
        # that agrees with every STATUS, the new one's included)
        wait_until(lambda: counts_follow(ioc), 20, what="RUNNING_COUNT and FAULT_COUNT follow the STATUS PVs")
        assert ioc.get("SPARE_FREE") == "1"
        names = ioc.get("NAMES", string=True).split()
        assert NEW in names and names == sorted(names)
        wait_until(lambda: NEW in ioc.ca.get(ioc.pv("TABLE_NAME")).split(), 10, what="a TABLE_NAME row")
        assert "SPARE_001" not in ioc.ca.get(ioc.pv("TABLE_NAME"))

        # other clients see the new names: pyepics (libca), caproto (no libca)
        for client in ("pyepics", "caproto"):
            got = python_ca(ioc, client, ioc.pv("STATUS", NEW), ioc.pv("NAME", NEW), ioc.pv("RESTARTS", NEW))
            assert [str(g.get("value")) for g in got] == ["Running", NEW, "0"], (client, got)
            assert got[0]["severity"] == 0, (client, got)

        # commands act on it
        assert ioc.ca.put(ioc.pv("STOP", NEW), 1).returncode == 0
        ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Stopped", timeout=30)
        assert cluster.jsonpath("sts", NEW, "{.spec.replicas}") == "0"
        assert ioc.get("CMD_MSG", NEW, string=True) == "stop requested: scaled to 0 replicas"
        assert ioc.ca.put(ioc.pv("START", NEW), 1).returncode == 0
        ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Running", timeout=30)
        uid = pod_uid(cluster, NEW)
        assert ioc.ca.put(ioc.pv("RESTART", NEW), 1).returncode == 0
        wait_until(lambda: pod_uid(cluster, NEW) not in ("", uid), 30, what="a new pod after RESTART")
        ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Running", timeout=30)
        assert f"RESTART {NEW} requested by root@" in ioc.logtext()

        # deleted: Absent, the slot stays bound to the name
        delete(cluster, NEW)
        value, sevr = ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Absent", timeout=30)
        assert sevr == "MAJOR"
        wait_until(lambda: counts_follow(ioc), 20, what="FAULT_COUNT counts the Absent instance")
        assert ioc.get("COUNT") == str(count + 1)
        assert ioc.get("SPARE_FREE") == "1" and ioc.get("NAME", "SPARE_001", string=True) == NEW
        # back: the same slot, no second one taken
        deploy(cluster, NEW)
        ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Running", timeout=30)
        assert ioc.get("SPARE_FREE") == "1"
        assert ioc.ca.get(ioc.pv("STATUS", NEW) + ".NAME") == ioc.pv("STATUS", "SPARE_001")
        assert ioc.logtext().count(f"bound to spare slot") == 1


def test_over_pvaccess_and_the_table(cluster, shipped_kubeconfig, tmp_path, cleanup):
    """p4p (pvxs, its own EPICS libraries) finds the new names through QSRV, and $(P)TABLE
    gets the row."""
    delete(cluster, NEW, wait=True)
    with pva_ioc(tmp_path, env_for(shipped_kubeconfig, 2), prefix="TST-LIVE-02:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        rc, out, err = ioc.pva.p4p("get", ioc.pv("STATUS", NEW), timeout=60)
        assert rc != 0 or not out, f"{NEW} served before it exists: {out}"
        deploy(cluster, NEW)
        ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Running", timeout=30)
        status, name = ioc.pva.p4p_get(ioc.pv("STATUS", NEW), ioc.pv("NAME", NEW) + ".VAL$")
        assert status["choice"] == "Running" and status["severity"] == 0
        table = ioc.pva.p4p_get(ioc.pv("TABLE"))
        names = table["columns"]["name"]
        assert NEW in names and names == sorted(names)
        assert table["columns"]["status"][names.index(NEW)] == "Running"


def test_pool_full_keeps_unmanaged_and_reboot(cluster, shipped_kubeconfig, tmp_path, cleanup):
    """With the pool full the next instance is UNMANAGED, LAST_ERROR names the settings,
    REBOOT still works; after a reboot both have records of their own."""
    delete(cluster, NEW, OTHER, wait=True)
    with run_ioc(tmp_path, env_for(shipped_kubeconfig, 1), prefix="TST-LIVE-03:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        deploy(cluster, NEW)
        ioc.ca.wait_value(ioc.pv("STATUS", NEW), "Running", timeout=30)
        assert ioc.get("SPARE_FREE") == "0"
        deploy(cluster, OTHER)
        ioc.ca.wait_value(ioc.pv("UNMANAGED"), lambda v, s: OTHER in v.split(), timeout=30, string=True)
        err = ioc.get("LAST_ERROR", string=True)
        assert "spare pool full (1 of 1 slots bound)" in err and OTHER in err, err
        assert "IOCMGR_SPARE_SLOTS" in err and "spareSlots" in err, err
        assert ioc.ca.try_get(ioc.pv("STATUS", OTHER)) is None
        assert OTHER not in ioc.get("NAMES", string=True).split()
        assert ioc.ca.put(ioc.pv("REBOOT"), 1, wait=False).returncode == 0
        assert ioc.proc.wait(20) == 0
    # Kubernetes would restart it: the next boot lists both, each with records of its own
    with run_ioc(tmp_path, env_for(shipped_kubeconfig, 1), prefix="TST-LIVE-03:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        for name in (NEW, OTHER):
            ioc.ca.wait_value(ioc.pv("STATUS", name), "Running", timeout=30)
            assert ioc.ca.get(ioc.pv("STATUS", name) + ".NAME") == ioc.pv("STATUS", name)
        assert ioc.get("SPARE_FREE") == "1" and ioc.get("UNMANAGED_TEXT", string=True) == ""


def test_no_pool_is_the_old_path(cluster, shipped_kubeconfig, tmp_path, cleanup):
    """IOCMGR_SPARE_SLOTS=0: no slot, a new instance is UNMANAGED at once."""
    with run_ioc(tmp_path, env_for(shipped_kubeconfig, 0), prefix="TST-LIVE-04:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        assert ioc.get("SPARE_SLOTS") == "0" and ioc.ca.try_get(ioc.pv("STATUS", "SPARE_001")) is None
        deploy(cluster, OTHER)
        ioc.ca.wait_value(ioc.pv("UNMANAGED"), lambda v, s: OTHER in v.split(), timeout=30, string=True)
        assert "spare pool full (0 of 0 slots bound)" in ioc.get("LAST_ERROR", string=True)


def test_a_child_application_added_later(cluster, tmp_path):
    """On an Argo CD beamline (the Application CRD, no Argo CD running, as in
    test_cluster_argo_ioc.py): an instance deployed after boot, then its child
    Application, is found through the slot, and commands go through the root."""
    from test_cluster_argo_ioc import APP, application_crd, apply, tracking
    apps, iocs, root, name = "livea-beamline", "livea-iocs", "livea", "livea-ea-ioc-01"
    missing = application_crd(cluster)
    if missing:
        pytest.fail(missing)
    for ns in (apps, iocs):
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
        cluster.kubectl("create", "namespace", ns)
    try:
        apply(cluster, APP.format(name=root, ns=apps, iocs=apps, annotations="", repo="deploy", path="apps",
                                  rev="main", params="[]"))
        # as the chart's ServiceAccount in Argo CD mode, as test_cluster_argo_ioc.py runs it
        kubeconfig = chart_identity(cluster, tmp_path, iocs, values=["argocd.enabled=true",
                                                                     f"argocd.appNamespace={apps}"])
        env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": iocs, "EC_TARGET": f"{apps}/{root}",
               "IOCMGR_SPARE_SLOTS": "2"}
        with run_ioc(tmp_path, env, prefix="TST-LIVE-05:") as ioc:
            ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
            apply(cluster, STS.format(name=name, ns=iocs, labels="",
                                      annotations=tracking(f"{apps}_{name}:apps/StatefulSet:{iocs}/{name}")))
            ioc.ca.wait_value(ioc.pv("STATUS", name), "Running", timeout=30)
            assert ioc.get("ARGO_APP", name) == ""          # its Application does not exist yet
            apply(cluster, APP.format(name=name, ns=apps, iocs=iocs, repo="services", path=f"services/{name}",
                                      rev="2024.4.1", params='[{name: global.enabled, value: "true"}]',
                                      annotations=tracking(f"{apps}_{root}:argoproj.io/Application:{apps}/{name}")))
            ioc.ca.wait_value(ioc.pv("ARGO_APP", name), f"{apps}/{name}", timeout=20)
            assert ioc.get("SYNC", name) == "Synced" and ioc.get("REVISION", name) == "2024.4.1"
            assert ioc.ca.put(ioc.pv("STOP", name), 1).returncode == 0
            assert ioc.get("CMD_MSG", name, string=True) == \
                f"stop requested: services.{name}.enabled=false on Application {apps}/{root}"
            params = json.loads(cluster.kubectl("-n", apps, "get", "application", root, "-o",
                                                "jsonpath={.spec.source.helm.parameters}"))
            assert {"name": f"services.{name}.enabled", "value": "false"} in params, params
            assert cluster.kubectl("-n", iocs, "get", "sts", name, "-o", "jsonpath={.spec.replicas}") == "1"
    finally:
        for ns in (apps, iocs):
            cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
