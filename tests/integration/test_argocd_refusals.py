"""iocmgr on the real Argo CD bed (tests/argocd), the refused and failing cases: a
command that could not stick is refused with the reason in CMD_MSG and changes
nothing; a 403 on the Application reaches CMD_MSG; with the application controller
stopped, STOP sets the root's parameter and nothing happens until Argo CD runs again.

Set up before the IOC boots (records exist for the instances known at boot): a
StatefulSet whose tracking-id names an Application that does not exist, and a root
without Helm (plain manifests: the deployment repo's plain/) with one child."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "argocd"))
from bedtest import bed, record, sa_kubeconfig  # noqa: E402,F401  (fixtures)
from iocmgrtest import chart_identity, run_ioc, settled, wait_until  # noqa: E402

GHOST = "bl46p-ghost-01"
PLAIN_ROOT, PLAIN = "bl46p-plainroot", "bl46p-plain-01"
TRACKING = "argocd.argoproj.io/tracking-id"


def ghost_sts(ns):
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": GHOST, "namespace": ns,
                     "labels": {"app": GHOST, "ioc": "true", "location": "bl46p", "domain": "bl46p",
                                "enabled": "true"},
                     "annotations": {TRACKING: f"{ns}_{GHOST}:apps/StatefulSet:{ns}/{GHOST}"}},
        "spec": {"replicas": 1, "serviceName": GHOST, "selector": {"matchLabels": {"app": GHOST}},
                 "template": {"metadata": {"labels": {"app": GHOST, "ioc": "true"}},
                              "spec": {"tolerations": [{"key": "beamline", "operator": "Equal", "value": "bl46p",
                                                        "effect": "NoSchedule"}],
                                       "containers": [{"name": "ioc", "image": "ghcr.io/epics-containers/ioc-generic-runtime:2024.4.1"}]}}}})


def plain_root(bed):
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": PLAIN_ROOT, "namespace": bed.ns},
        "spec": {"project": "bl46p",
                 "source": {"repoURL": f"file://{bed.env['IOCMGR_ARGOCD_DEPLOYMENT_REPO']}",
                            "targetRevision": "main", "path": "plain"},
                 "destination": {"name": "in-cluster", "namespace": bed.ns},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}})


def apply(bed, text):
    r = subprocess.run(["kubectl", "--kubeconfig", bed.cluster.kubeconfig, "apply", "-f", "-"], input=text,
                       text=True, capture_output=True, env=bed.cluster.env, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def extras(bed):
    bed.restore()
    try:
        apply(bed, ghost_sts(bed.ns))
        apply(bed, plain_root(bed))
        wait_until(lambda: bed.ready_pod(GHOST) and bed.ready_pod(PLAIN)
                   and bed.status(PLAIN) == ("Synced", "Healthy"), 120, step=0.5,
                   what="the ghost and the plain root's child running")
        yield bed
    finally:
        remove_extras(bed)


def remove_extras(bed):
    # the plain root first (no finalizer: its child stays), then what it made
    bed.kubectl("delete", "applications.argoproj.io", PLAIN_ROOT, PLAIN, "--ignore-not-found", "--wait=true")
    bed.kubectl("delete", "statefulset", GHOST, PLAIN, "--ignore-not-found")
    bed.kubectl("delete", "configmap", f"{PLAIN}-config", "--ignore-not-found")
    bed.restore()


@pytest.fixture(scope="module")
def argo_ioc(extras, tmp_path_factory):
    bed = extras
    tmp = tmp_path_factory.mktemp("argo-refusals")
    kubeconfig = chart_identity(bed.cluster, tmp, bed.ns, values=["argocd.enabled=true", "rbac.deployments=true"])
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": bed.ns}
    with run_ioc(tmp, env, prefix="TST-ARGO-02:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        yield ioc


def refused(ioc, name, *words):
    ioc.ca.put(ioc.pv("STOP", name), 1)
    assert ioc.get("CMD_STAT", name) == "Error"
    msg = ioc.get("CMD_MSG", name, string=True)
    assert any(w.lower() in msg.lower() for w in words), msg
    return msg


def test_root_tracked_by_another_application_is_refused(bed, argo_ioc):
    ioc, name = argo_ioc, "bl46p-ea-ioc-01"
    bed.kubectl("annotate", "applications.argoproj.io", bed.root,
                f"{TRACKING}={bed.ns}_site:argoproj.io/Application:{bed.ns}/{bed.root}")
    try:
        time.sleep(2)   # the IOC's watch sees the annotation
        refused(ioc, name, "tracked", "site")
        assert not bed.root_params()
        assert bed.pods(name)
    finally:
        bed.kubectl("annotate", "applications.argoproj.io", bed.root, f"{TRACKING}-")


def test_application_missing_is_refused(bed, argo_ioc):
    refused(argo_ioc, GHOST, "not found", "missing", "no Application", GHOST)
    assert bed.sts(GHOST)["spec"]["replicas"] == 1, "iocmgr scaled an instance tracked by Argo CD"
    assert not bed.root_params()


def test_root_without_helm_is_refused(bed, argo_ioc):
    refused(argo_ioc, PLAIN, "Helm")
    assert bed.sts(PLAIN)["spec"]["replicas"] == 1
    assert "helm" not in bed.app(PLAIN_ROOT)["spec"]["source"]


def test_forbidden_application_patch_reaches_cmd_msg(bed, extras, tmp_path):
    """A Role with every rule of iocmgr's but `patch` on Applications: the API's 403."""
    role = json.loads(bed.kubectl("get", "role", "iocmgr", "-o", "json"))
    rules = [dict(r, verbs=[v for v in r["verbs"] if v != "patch"]) if "applications" in r["resources"] else r
             for r in role["rules"]]
    apply(bed, json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "iocmgr-noargo", "namespace": bed.ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "iocmgr-noargo", "namespace": bed.ns}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "iocmgr-noargo", "namespace": bed.ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "iocmgr-noargo"},
         "subjects": [{"kind": "ServiceAccount", "name": "iocmgr-noargo", "namespace": bed.ns}]}]}))
    env = {"IOCMGR_KUBECONFIG": str(sa_kubeconfig(bed, tmp_path, "iocmgr-noargo")), "IOCMGR_NAMESPACE": bed.ns}
    name = "bl46p-ea-ioc-01"
    with run_ioc(tmp_path, env, prefix="TST-ARGO-03:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        ioc.ca.wait_value(ioc.pv("ARGO_APP", name), f"{bed.ns}/{name}", timeout=30)
        msg = refused(ioc, name, "forbidden")
        assert "patch" in msg and "iocmgr-noargo" in msg, msg
    assert not bed.root_params()
    assert bed.pods(name)


def test_stop_with_argocd_not_running_sets_the_parameter_and_nothing_syncs(bed, argo_ioc):
    ioc, name = argo_ioc, "bl46p-ea-ioc-01"
    bed.restore()
    bed.ctl("stop", "argocd-application-controller")
    try:
        pods = bed.watch("pods", label=f"app={name}")
        sts = bed.watch("statefulsets", name=name)
        try:
            ioc.ca.put(ioc.pv("STOP", name), 1)
            assert bed.root_params().get(f"services.{name}.enabled", "").lower() == "false", bed.root_params()
            # nothing moves: with no controller only iocmgr scaling by itself (the wrong
            # path) could take the pod, at once; read once both raw watches have settled
            settled(lambda: (len(pods.events), len(sts.events)), 5, 60,
                    what=f"events of {name}'s pods and StatefulSet")
            assert sts.events and all(e[5]["spec"]["replicas"] == 1 for e in sts.events), \
                [(e[1], e[5]["spec"]["replicas"]) for e in sts.events]
        finally:
            pods.close()
            sts.close()
        assert bed.pods(name), "the pod went with no application controller running"
        assert bed.app(name)["spec"]["source"]["helm"]["parameters"][0]["value"] == "true"
        assert ioc.get("STATUS", name) == "Running"
        assert ioc.get("OVERRIDE", name) == "Overridden"
    finally:
        bed.ctl("start", "argocd-application-controller")
    took = wait_until(lambda: not bed.pods(name), 120, what="the pod gone once Argo CD runs again")
    record("stop-while-argocd-down", f"after the controller restart the pod went in {took:.2f} s")
    bed.restore()
