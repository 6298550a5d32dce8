"""The IOC on an Argo CD beamline, through real CA clients, against the real
kube-apiserver with Argo CD's own Application CRD and NO Argo CD running: what
the IOC itself does (which path each command takes, what the records show, the
bad cases). With the real application-controller: tests/argocd.

Apps in namespace argoc-beamline (root `argoc`, ec's EC_TARGET=argoc-beamline/argoc),
IOCs in argoc-iocs; both are created and deleted here."""
import json
import subprocess
from pathlib import Path

import pytest

from iocmgrtest import TOP, chart_identity, run_ioc, wait_until

APPS, IOCS, ROOT = "argoc-beamline", "argoc-iocs", "argoc"
MANAGED, PLAIN, LABELLED = "argoc-ea-ioc-01", "argoc-ea-ioc-02", "argoc-ea-ioc-03"

STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}, ioc: "true", domain: argoc, enabled: "true"{labels}}}
  annotations: {{{annotations}}}
spec:
  replicas: 1
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, ioc: "true"}}}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: [{{key: beamline, operator: Equal, value: bl46p, effect: NoSchedule}}]
      containers: [{{name: ioc, image: "ghcr.io/epics-containers/ioc-generic-runtime:2024.4.1"}}]
"""

APP = """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: {ns}
  annotations: {{{annotations}}}
spec:
  project: default
  destination: {{name: in-cluster, namespace: {iocs}}}
  source: {{repoURL: "file:///nowhere/{repo}.git", path: "{path}", targetRevision: "{rev}",
           helm: {{parameters: {params}}}}}
  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}
status:
  sourceType: Helm
  sync: {{status: Synced}}
  health: {{status: Healthy}}
  reconciledAt: "2026-12-01T10:00:00Z"
  operationState: {{phase: Succeeded, message: "successfully synced (all tasks run)", operation: {{sync: {{}}}},
                   startedAt: "2026-12-01T09:59:58Z"}}
"""


def apply(cluster, text):
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"], input=text,
                       text=True, env=cluster.env, capture_output=True)
    assert r.returncode == 0, f"kubectl apply: {r.stderr}\n{text}"


def tracking(value):
    return f'argocd.argoproj.io/tracking-id: "{value}"'


def root_params(cluster):
    out = cluster.kubectl("-n", APPS, "get", "application", ROOT, "-o",
                          "jsonpath={.spec.source.helm.parameters}")
    return {p["name"]: p.get("value") for p in json.loads(out or "[]")}


def application_crd(cluster):
    """Argo CD's Application CRD applied and established; None, or why it cannot be had."""
    crd = subprocess.run([str(TOP / "tests/k8s/integration/argo-crd.sh")], capture_output=True, text=True)
    if crd.returncode != 0:
        return (f"no Argo CD Application CRD: {crd.stderr.strip()} (argo-crd.sh needs go and the "
                "Go module proxy once)")
    cluster.kubectl("apply", "-f", crd.stdout.strip())
    # kubectl wait fails before the CRD's first condition exists
    wait_until(lambda: cluster.kubectl("get", "crd", "applications.argoproj.io", "-o",
                                       'jsonpath={.status.conditions[?(@.type=="Established")].status}',
                                       check=False) == "True", 60, step=0.5, what="the Application CRD established")
    return None


@pytest.fixture(scope="module")
def beamline(cluster):
    missing = application_crd(cluster)
    if missing:
        pytest.skip(missing)
    for ns in (APPS, IOCS):
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
        cluster.kubectl("create", "namespace", ns)
    apply(cluster, APP.format(name=ROOT, ns=APPS, iocs=APPS, annotations="", repo="deploy", path="apps",
                              rev="main", params='[{name: other.thing, value: "x"}]'))
    apply(cluster, APP.format(name=MANAGED, ns=APPS, iocs=IOCS, repo="services", path=f"services/{MANAGED}",
                              rev="2024.4.1", params='[{name: global.enabled, value: "true"}]',
                              annotations=tracking(f"{APPS}_{ROOT}:argoproj.io/Application:{APPS}/{MANAGED}")))
    apply(cluster, STS.format(name=MANAGED, ns=IOCS, labels="",
                              annotations=tracking(f"{APPS}_{MANAGED}:apps/StatefulSet:{IOCS}/{MANAGED}")))
    apply(cluster, STS.format(name=PLAIN, ns=IOCS, labels="", annotations=""))
    # label tracking, and a child without a tracking-id of its own: its root is EC_TARGET's
    apply(cluster, APP.format(name=LABELLED, ns=APPS, iocs=IOCS, repo="services", path=f"services/{LABELLED}",
                              rev="2024.4.1", params='[{name: global.enabled, value: "true"}]', annotations=""))
    apply(cluster, STS.format(name=LABELLED, ns=IOCS, annotations="",
                              labels=f', app.kubernetes.io/instance: "{LABELLED}"'))
    yield cluster
    for ns in (APPS, IOCS):
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")


@pytest.fixture(scope="module")
def ioc(beamline, tmp_path_factory):
    """As the chart's ServiceAccount with the chart's Argo CD mode on (its Role on the
    Applications in APPS), as a beamline deployed by Argo CD runs it."""
    tmp = tmp_path_factory.mktemp("argoc")
    kubeconfig = chart_identity(beamline, tmp, IOCS, values=["argocd.enabled=true", f"argocd.appNamespace={APPS}"])
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": IOCS, "EC_TARGET": f"{APPS}/{ROOT}"}
    with run_ioc(tmp, env, prefix="TST-ARGO-01:") as booted:
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        yield booted


def cmd_msg(ioc, inst):
    return ioc.get("CMD_MSG", inst, string=True)


def test_records_show_the_application(ioc):
    ioc.ca.wait_value(ioc.pv("ARGO_APP", MANAGED), f"{APPS}/{MANAGED}", timeout=20)
    assert ioc.get("SYNC", MANAGED) == "Synced"
    assert ioc.get("HEALTH", MANAGED) == "Healthy"
    assert ioc.get("REVISION", MANAGED) == "2024.4.1"
    assert ioc.get("OVERRIDE", MANAGED) == "From git"
    assert ioc.get("SYNC_MSG", MANAGED, string=True) == "Succeeded: successfully synced (all tasks run)"
    assert ioc.get("ARGO_APP") == f"{APPS}/{ROOT}"
    assert ioc.get("SYNC") == "Synced"
    assert ioc.get("HEALTH") == "Healthy"
    # an instance without an Application: n/a, empty, no alarm
    assert ioc.get("ARGO_APP", PLAIN) == ""
    assert ioc.get("SYNC", PLAIN) == "n/a"
    assert ioc.ca.get(ioc.pv("SYNC", PLAIN) + ".SEVR") == "NO_ALARM"


def test_stop_goes_through_the_root_and_never_scales(ioc, beamline):
    r = ioc.ca.put(ioc.pv("STOP", MANAGED), 1)
    assert r.returncode == 0, r.stderr
    assert cmd_msg(ioc, MANAGED) == (f"stop requested: services.{MANAGED}.enabled=false on Application "
                                     f"{APPS}/{ROOT}")
    assert root_params(beamline) == {"other.thing": "x", f"services.{MANAGED}.enabled": "false"}
    assert beamline.kubectl("-n", IOCS, "get", "sts", MANAGED, "-o", "jsonpath={.spec.replicas}") == "1"
    # Argo CD is not running: nothing claims more than the parameter
    ioc.ca.wait_value(ioc.pv("OVERRIDE", MANAGED), "Overridden", timeout=20)
    assert ioc.get("ENABLED", MANAGED) == "Disabled"
    msg = ioc.get("MESSAGE", MANAGED, string=True)
    assert msg.startswith(f"stop requested (services.{MANAGED}.enabled=false on Application {APPS}/{ROOT}): "
                          "Argo CD has not applied it yet"), msg
    assert "root last reconciled 2026-12-01T10:00:00Z" in msg
    assert ioc.get("SYNC_MSG", MANAGED, string=True).endswith(
        "; root not synced yet: it asks enabled=false, the child still has global.enabled=true "
        "(root last reconciled 2026-12-01T10:00:00Z)")

    r = ioc.ca.put(ioc.pv("START", MANAGED), 1)
    assert r.returncode == 0, r.stderr
    assert cmd_msg(ioc, MANAGED).startswith("start requested: ")
    assert root_params(beamline)[f"services.{MANAGED}.enabled"] == "true"
    assert len(root_params(beamline)) == 2


def test_revision_and_image(ioc, beamline):
    r = ioc.ca.put(ioc.pv("REVISION_SP", MANAGED), "2024.5.1")
    assert r.returncode == 0, r.stderr
    assert cmd_msg(ioc, MANAGED) == (f"revision requested: services.{MANAGED}.targetRevision=2024.5.1 on "
                                     f"Application {APPS}/{ROOT}")
    assert root_params(beamline)[f"services.{MANAGED}.targetRevision"] == "2024.5.1"
    image = beamline.kubectl("-n", IOCS, "get", "sts", MANAGED, "-o",
                             "jsonpath={.spec.template.spec.containers[0].image}")
    r = ioc.ca.put(ioc.pv("IMAGE_SP", MANAGED), "ghcr.io/epics-containers/ioc-generic-runtime:2099.1.1")
    assert ioc.get("CMD_STAT", MANAGED) == "Error"
    assert cmd_msg(ioc, MANAGED).startswith(f"IMAGE_SP refused: {MANAGED} is deployed by Argo CD (Application "
                                            f"{APPS}/{MANAGED}): its image is set in the services repo")
    assert beamline.kubectl("-n", IOCS, "get", "sts", MANAGED, "-o",
                            "jsonpath={.spec.template.spec.containers[0].image}") == image
    # without an Application, REVISION_SP has nothing to set, and STOP scales as always
    ioc.ca.put(ioc.pv("REVISION_SP", PLAIN), "1.0")
    assert "not deployed by an Argo CD Application" in cmd_msg(ioc, PLAIN)
    assert ioc.ca.put(ioc.pv("STOP", PLAIN), 1).returncode == 0
    assert cmd_msg(ioc, PLAIN) == "stop requested: scaled to 0 replicas"
    wait_until(lambda: beamline.kubectl("-n", IOCS, "get", "sts", PLAIN, "-o",
                                        "jsonpath={.spec.replicas}") == "0", 10, what="PLAIN scaled to 0")


def test_label_tracking_and_the_root_named_by_ec_target(ioc, beamline):
    ioc.ca.wait_value(ioc.pv("ARGO_APP", LABELLED), f"{APPS}/{LABELLED}", timeout=20)
    assert ioc.ca.put(ioc.pv("STOP", LABELLED), 1).returncode == 0
    assert cmd_msg(ioc, LABELLED) == (f"stop requested: services.{LABELLED}.enabled=false on Application "
                                      f"{APPS}/{ROOT}")
    assert root_params(beamline)[f"services.{LABELLED}.enabled"] == "false"
    assert beamline.kubectl("-n", IOCS, "get", "sts", LABELLED, "-o", "jsonpath={.spec.replicas}") == "1"


def test_root_tracked_by_another_application_is_refused(ioc, beamline):
    before = root_params(beamline)
    beamline.kubectl("-n", APPS, "annotate", "application", ROOT, "--overwrite",
                     f"argocd.argoproj.io/tracking-id=argocd_facility:argoproj.io/Application:{APPS}/{ROOT}")
    try:
        ioc.ca.wait_value(ioc.lpv("SYNC_MSG", MANAGED), lambda v, s: "commands refused" in v, timeout=20,
                          string=True)
        ioc.ca.put(ioc.pv("STOP", MANAGED), 1)
        assert cmd_msg(ioc, MANAGED) == (f"STOP refused, nothing changed: root Application {APPS}/{ROOT} is "
                                         "itself tracked by Application argocd/facility: its self-heal would "
                                         "revert an override; change it there or in git")
        assert ioc.ca.get(ioc.pv("STOP", MANAGED) + ".SEVR") == "MAJOR"
        assert root_params(beamline) == before
    finally:
        beamline.kubectl("-n", APPS, "annotate", "application", ROOT, "argocd.argoproj.io/tracking-id-")


def test_failed_sync_reaches_message(ioc, beamline):
    beamline.kubectl("-n", APPS, "patch", "application", MANAGED, "--type", "merge", "-p",
                     json.dumps({"status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"},
                                            "operationState": {"phase": "Failed",
                                                               "message": "one or more objects failed to apply"}}}))
    value, sevr = ioc.ca.wait_value(ioc.pv("SYNC", MANAGED), "OutOfSync", timeout=20)
    assert sevr == "MINOR"
    assert ioc.get("HEALTH", MANAGED) == "Degraded"
    assert ioc.get("MESSAGE", MANAGED, string=True).startswith(
        f"Argo CD sync of {APPS}/{MANAGED} failed: one or more objects failed to apply")


def test_missing_application_refuses_and_keeps_the_statefulset(ioc, beamline):
    beamline.kubectl("-n", APPS, "delete", "application", MANAGED, "--wait=true")
    ioc.ca.wait_value(ioc.pv("ARGO_APP", MANAGED), "", timeout=20)
    ioc.ca.put(ioc.pv("STOP", MANAGED), 1)
    assert cmd_msg(ioc, MANAGED).startswith(f"STOP refused, nothing changed: Application {APPS}/{MANAGED} "
                                            "(named by the tracking-id) not found")
    assert beamline.kubectl("-n", IOCS, "get", "sts", MANAGED, "-o", "jsonpath={.spec.replicas}") == "1"
    assert ioc.get("SYNC", MANAGED) == "Unknown"
