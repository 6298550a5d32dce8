"""iocmgr itself as a child Application of the Argo CD beamline (issue 13): the bed's
services repo holds services/bl46p-cs-iocmgr-01, our chart deploy/helm/iocmgr vendored
with the values of deploy/services/bl46p-cs-iocmgr-01 in Argo CD mode (tests/argocd/
repos.sh), and the root lists it beside the IOC instances. Argo CD deploys it; kwok
runs no container, so the IOC process runs on the host the way the pod would: the
StatefulSet's environment, the in-cluster path with its ServiceAccount's token. It
manages its siblings and not itself: its objects carry no ioc/is_ioc label."""
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "argocd"))
from bedtest import SELF, bed, services  # noqa: E402,F401  (fixtures)
from iocmgrtest import run_ioc, wait_until  # noqa: E402

SELECTOR_LABELS = ("ioc", "is_ioc")


def test_iocmgr_is_a_synced_healthy_child_of_the_root(bed):
    assert bed.status(SELF) == ("Synced", "Healthy")
    app = bed.app(SELF)
    tid = app["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
    assert tid == f"{bed.ns}_{bed.root}:argoproj.io/Application:{bed.ns}/{SELF}", tid
    assert app["spec"]["source"]["path"] == f"services/{SELF}"
    assert {"name": "global.enabled", "value": "true"} in app["spec"]["source"]["helm"]["parameters"]
    # Healthy under kwok means the StatefulSet's pod is Ready
    assert bed.ready_pod(SELF)
    sts = bed.sts(SELF)
    assert sts["spec"]["replicas"] == 1 and sts["status"].get("readyReplicas") == 1
    tid = sts["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
    assert tid == f"{bed.ns}_{SELF}:apps/StatefulSet:{bed.ns}/{SELF}", tid


def test_its_statefulset_is_outside_its_own_selector(bed):
    sts = bed.sts(SELF)
    for labels in (sts["metadata"]["labels"], sts["spec"]["template"]["metadata"]["labels"]):
        assert not set(SELECTOR_LABELS) & set(labels), labels
    for label in SELECTOR_LABELS:
        names = bed.kubectl("get", "statefulsets", "-l", f"{label}=true", "-o",
                            "jsonpath={.items[*].metadata.name}").split()
        assert SELF not in names


def can_i(bed, verb, resource, namespace):
    r = bed.cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace,
                            f"--as=system:serviceaccount:{bed.ns}:{SELF}", check=False)
    return r.strip() == "yes"


def test_its_role_has_the_application_rules_in_the_apps_namespace(bed):
    role = bed.get("roles", f"{SELF}-argocd")
    assert role, f"no Role {SELF}-argocd in {bed.ns}"
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["applications"],
                              "verbs": ["get", "list", "watch", "patch"]}]
    binding = bed.get("rolebindings", f"{SELF}-argocd")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SELF, "namespace": bed.ns}]
    apps = "applications.argoproj.io"
    assert all(can_i(bed, v, apps, bed.ns) for v in ("get", "list", "watch", "patch"))
    assert not any(can_i(bed, v, apps, bed.ns) for v in ("create", "delete", "update"))
    assert not can_i(bed, "list", apps, "argocd")


def pod_env(bed, tmp):
    """The container environment of the StatefulSet Argo CD made (values and the
    namespace fieldRef), the expected list from its ConfigMap written under tmp, as
    the pod's mount would give it."""
    sts = bed.sts(SELF)
    env = {}
    for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[e["name"]] = bed.ns
    for name in [n for n in env if n.startswith("EPICS_CA_")]:
        del env[name]          # the test's CA runs on loopback, on a port of its own
    assert "IOCMGR_OPI_DIR" not in env          # the bed's values: no opis volume
    expected = bed.get("configmaps", f"{SELF}-expected")["data"]["expected.yaml"]
    (tmp / "expected.yaml").write_text(expected)
    env["IOCMGR_EXPECTED"] = str(tmp / "expected.yaml")
    return env


@contextmanager
def running_as_the_pod(bed, tmp, writers=False):
    """writers: the chart's access security lists plus this test's CA client (root on
    this machine), as the beamline would add an operator to accessSecurity; without,
    exactly the values', which let nobody here write."""
    env = pod_env(bed, tmp)
    if writers:
        env["IOCMGR_USERS"] += ",root"
        env["IOCMGR_HOSTS"] += f",{socket.gethostname()},localhost"
    assert env["IOCMGR_KUBECONFIG"] == "incluster"
    sa = tmp / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(bed.kubectl("create", "token", SELF, "--duration=30m"))
    (sa / "ca.crt").write_bytes((bed.cluster.dir / "ca.crt").read_bytes())
    (sa / "namespace").write_text(bed.ns)
    api = urlparse(bed.cluster.env["IOCMGR_API_URL"])
    env.update({"IOCMGR_KUBECONFIG": f"incluster:{sa}",
                "KUBERNETES_SERVICE_HOST": api.hostname, "KUBERNETES_SERVICE_PORT": str(api.port)})
    with run_ioc(tmp, env, prefix=env["IOCMGR_PREFIX"]) as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        yield ioc


@pytest.fixture(scope="module")
def self_ioc(bed, tmp_path_factory):
    bed.restore()
    with running_as_the_pod(bed, tmp_path_factory.mktemp("argo-self"), writers=True) as ioc:
        yield ioc
    bed.restore()


def test_its_access_security_comes_from_the_values(bed, tmp_path):
    """users bl46p-operator at bl46p-ws001/2 only: STOP from this machine is refused
    and nothing reaches the root."""
    name = "bl46p-mo-ioc-01"
    with running_as_the_pod(bed, tmp_path) as ioc:
        assert ioc.get("ARGO_APP") == f"{bed.ns}/{bed.root}"
        r = ioc.ca.put(ioc.pv("STOP", name), 1)
        assert r.returncode != 0 and "denied" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert bed.root_params() == {} and bed.ready_pod(name)


def test_iocmgr_as_its_pod_lists_its_siblings_and_not_itself(bed, self_ioc):
    ioc = self_ioc
    assert ioc.prefix == "BL46P-CS-IOCMGR-01:"
    assert ioc.get("NAMESPACE") == bed.ns
    siblings = sorted(s[0] for s in services())
    wait_until(lambda: int(ioc.get("COUNT")) == len(siblings), 30, what=f"COUNT {len(siblings)}")
    names = ioc.get("NAMES", string=True).split()   # one string, names separated by a space
    assert sorted(names) == siblings and SELF not in names
    assert ioc.get("ARGO_APP") == f"{bed.ns}/{bed.root}"
    ioc.ca.wait_value(ioc.pv("SYNC"), "Synced", timeout=30)
    ioc.ca.wait_value(ioc.pv("ARGO_APP", "bl46p-mo-ioc-01"), f"{bed.ns}/bl46p-mo-ioc-01", timeout=30)


def test_stop_on_a_sibling_goes_through_the_root(bed, self_ioc):
    ioc, name = self_ioc, "bl46p-mo-ioc-01"
    bed.restore()
    ioc.ca.wait_value(ioc.pv("STATUS", name), "Running", timeout=30)
    t0 = time.monotonic()
    ioc.ca.put(ioc.pv("STOP", name), 1)
    assert bed.root_params() == {f"services.{name}.enabled": "false"}, bed.root_params()
    wait_until(lambda: not bed.pods(name), 60, what=f"the pod of {name} gone")
    print(f"STOP by the Argo CD-deployed iocmgr -> pod gone in {time.monotonic() - t0:.2f} s")
    ioc.ca.wait_value(ioc.pv("STATUS", name), "Stopped", timeout=30)
    assert bed.sts(name)["spec"]["replicas"] == 0
    # iocmgr itself is untouched: still Synced, Healthy, its pod Ready
    assert bed.status(SELF) == ("Synced", "Healthy") and bed.ready_pod(SELF)
    ioc.ca.put(ioc.pv("START", name), 1)
    assert bed.root_params().get(f"services.{name}.enabled", "").lower() == "true", bed.root_params()
    wait_until(lambda: bed.ready_pod(name), 60, what=f"the pod of {name} back and Ready")
    ioc.ca.wait_value(ioc.pv("STATUS", name), "Running", timeout=60)
