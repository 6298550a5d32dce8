"""iocmgr with real Channel Access clients against the real Argo CD (tests/argocd):
on a beamline deployed by Argo CD, STOP/START go through the ROOT Application's Helm
parameters (and stick: the pod stays gone), REVISION_SP moves an instance to another
tag of the services repo, SYNC shows a change made behind Argo CD's back until self-heal
puts it right, IMAGE_SP is refused; the Helm/kubectl beamline is driven as before.

iocmgr runs as the ServiceAccount and Roles the chart ships, Argo CD mode on
(iocmgrtest.chart_identity: deploy/helm/iocmgr's rbac.yaml rendered by helm)."""
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "argocd"))
from bedtest import bed, record  # noqa: E402,F401  (fixtures)
from conftest import NAMESPACE  # noqa: E402
from iocmgrtest import chart_identity, run_ioc, timed_monitor, wait_until  # noqa: E402

# the chart's Roles for this beamline: Argo CD mode, and the oldest charts' Deployments shown
CHART_VALUES = ["argocd.enabled=true", "rbac.deployments=true"]



@pytest.fixture(scope="module")
def argo_ioc(bed, tmp_path_factory):
    bed.restore()
    tmp = tmp_path_factory.mktemp("argo-ioc")
    env = {"IOCMGR_KUBECONFIG": str(chart_identity(bed.cluster, tmp, bed.ns, values=CHART_VALUES)),
           "IOCMGR_NAMESPACE": bed.ns}
    with run_ioc(tmp, env, prefix="TST-ARGO-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        yield ioc
    bed.restore()


@pytest.fixture
def fresh(bed, argo_ioc):
    bed.restore()
    yield argo_ioc
    bed.restore()


def wait_pv(ioc, name, inst, want, timeout=30):
    return ioc.ca.wait_value(ioc.pv(name, inst), want, timeout=timeout)


def test_instances_show_their_application(bed, argo_ioc):
    ioc = argo_ioc
    for name in ("bl46p-ea-ioc-01", "bl46p-mo-ioc-01"):
        wait_pv(ioc, "ARGO_APP", name, f"{bed.ns}/{name}")
        wait_pv(ioc, "SYNC", name, "Synced")
        wait_pv(ioc, "HEALTH", name, "Healthy")
        wait_pv(ioc, "REVISION", name, "2024.4.1")
        assert ioc.get("OVERRIDE", name) == "From git"
    wait_pv(ioc, "ENABLED", "bl46p-ea-ioc-02", "Disabled")
    wait_pv(ioc, "STATUS", "bl46p-ea-ioc-02", "Stopped")


def test_stop_goes_through_the_root_and_sticks(bed, fresh):
    ioc, name = fresh, "bl46p-ea-ioc-01"
    wait_pv(ioc, "STATUS", name, "Running")
    ioc.ca.put(ioc.pv("STOP", name), 1)
    assert bed.root_params().get(f"services.{name}.enabled", "").lower() == "false", bed.root_params()
    took = wait_until(lambda: not bed.pods(name), 60, what="the pod gone")
    wait_pv(ioc, "STATUS", name, "Stopped")
    assert ioc.get("ENABLED", name) == "Disabled"
    assert ioc.get("OVERRIDE", name) == "Overridden"
    # sticks: self-heal had its look (Argo CD's next comparison, Synced) and left it gone;
    # a STOP by scaling would have been put back by it (issue 11)
    proved = bed.stays_gone(name)
    assert ioc.get("STATUS", name) == "Stopped"
    assert bed.sts(name)["spec"]["replicas"] == 0
    record("iocmgr-stop-under-argocd",
           f"STOP -> pod gone in {took:.2f} s, still gone after Argo CD's next comparison ({proved:.1f} s)")

    ioc.ca.put(ioc.pv("START", name), 1)
    assert bed.root_params().get(f"services.{name}.enabled", "").lower() == "true", bed.root_params()
    wait_until(lambda: bed.ready_pod(name), 60, what="the pod back and Ready")
    wait_pv(ioc, "STATUS", name, "Running")
    assert ioc.get("ENABLED", name) == "Enabled"


def test_direct_scale_is_reverted_which_is_why_stop_does_not_scale(bed, fresh):
    """What STOP would do without Argo CD (scale to 0), done by hand: put back by
    self-heal within seconds; iocmgr shows the instance Running again."""
    ioc, name = fresh, "bl46p-mo-ioc-01"
    wait_pv(ioc, "STATUS", name, "Running")
    t0 = time.monotonic()
    bed.kubectl("scale", "statefulset", name, "--replicas=0")
    wait_until(lambda: bed.sts(name)["spec"]["replicas"] == 1 and bed.ready_pod(name), 60,
               what="self-heal putting the replica back")
    record("scale-revert-seen-by-iocmgr-test", f"replicas and a Ready pod back {time.monotonic() - t0:.2f} s after kubectl scale")
    wait_pv(ioc, "STATUS", name, "Running", timeout=60)
    assert ioc.get("ENABLED", name) == "Enabled"


def test_revision_sp_rolls_the_image_from_the_services_repo_tag(bed, fresh):
    ioc, name = fresh, "bl46p-di-dcam-01"
    wait_pv(ioc, "REVISION", name, "2024.4.1")
    ioc.ca.put(ioc.pv("REVISION_SP", name), "2024.5.1")
    assert bed.root_params().get(f"services.{name}.targetRevision") == "2024.5.1", bed.root_params()
    wait_pv(ioc, "REVISION", name, "2024.5.1", timeout=90)
    wait_until(lambda: ioc.get("IMAGE", name, string=True).endswith(":2024.5.1"), 90, step=0.5,
               what="IMAGE of the 2024.5.1 tag")
    assert ioc.get("OVERRIDE", name) == "Overridden"
    wait_pv(ioc, "SYNC", name, "Synced", timeout=60)
    wait_pv(ioc, "STATUS", name, "Running", timeout=60)


def test_change_behind_argos_back_shows_out_of_sync_then_synced(bed, fresh):
    ioc, name = fresh, "bl46p-mo-ioc-01"
    wait_pv(ioc, "SYNC", name, "Synced")
    with timed_monitor(ioc.ca, ioc.pv("SYNC", name)) as mon:
        wait_until(lambda: mon.timeline, 10, what="the SYNC monitor's first update")
        t0 = time.monotonic()
        bed.kubectl("label", "--overwrite", "statefulset", name, "description=changed-by-hand")
        t_out = mon.wait_after(lambda v, s: v == "OutOfSync" and s == "MINOR", t0, 60)
        t_in = mon.wait_after("Synced", t_out, 60)
    record("iocmgr-sync-pv", f"SYNC OutOfSync {t_out - t0:.2f} s after a kubectl label, Synced {t_in - t0:.2f} s")


def test_image_sp_is_refused_with_where_the_image_is_set(bed, fresh):
    ioc, name = fresh, "bl46p-ea-ioc-01"
    before = bed.sts(name)["spec"]["template"]["spec"]["containers"][0]["image"]
    ioc.ca.put(ioc.pv("IMAGE_SP", name), "ghcr.io/epics-containers/ioc-adsimdetector-runtime:9.9.9")
    assert ioc.get("CMD_STAT", name) == "Error"
    msg = ioc.get("CMD_MSG", name, string=True)
    assert "REVISION_SP" in msg or "services repo" in msg or "Argo" in msg, msg
    assert bed.sts(name)["spec"]["template"]["spec"]["containers"][0]["image"] == before
    assert not bed.root_params()


def test_helm_beamline_is_driven_as_before(cluster, tmp_path):
    """The kubectl/Helm demo beamline (no Application) with the same build: no Argo CD
    PV says anything, STOP scales the StatefulSet to 0 and START back to 1."""
    name = "bl46p-ea-ioc-01"
    env = {"IOCMGR_KUBECONFIG": str(chart_identity(cluster, tmp_path, NAMESPACE, values=["rbac.deployments=true"])),
           "IOCMGR_NAMESPACE": NAMESPACE}
    with run_ioc(tmp_path, env, prefix="TST-HELM-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        wait_pv(ioc, "STATUS", name, "Running")
        assert ioc.get("ARGO_APP", name) == ""
        assert ioc.get("SYNC", name) == "n/a" and ioc.get("HEALTH", name) == "n/a"
        ioc.ca.put(ioc.pv("STOP", name), 1)
        wait_until(lambda: cluster.jsonpath("statefulset", name, "{.spec.replicas}") == "0", 30,
                   what="replicas 0")
        wait_pv(ioc, "STATUS", name, "Stopped")
        ioc.ca.put(ioc.pv("START", name), 1)
        wait_until(lambda: cluster.jsonpath("statefulset", name, "{.spec.replicas}") == "1", 30,
                   what="replicas 1")
        wait_pv(ioc, "STATUS", name, "Running", timeout=60)
