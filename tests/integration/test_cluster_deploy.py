"""The deployment (the Helm chart deploy/helm/iocmgr, the services-repo
example deploy/services/bl46p-cs-iocmgr-01, the Dockerfile) against the local
control plane.

The chart lints and its output passes the API server's own validation
(dry-run=server) in both topologies; `helm install` makes the StatefulSet, whose
pod gets the chart's ServiceAccount, and iocmgr authenticates the in-cluster
way with that account's files (token, ca.crt, namespace) and the pod's own
environment, as the pod would. kwok fakes the pod and runs no container, so the
IOC process runs on the host. `helm upgrade` of a value rolls the pod.

IOCMGR_HELM names the helm executable (tools/run-tests.sh sets it from
tests/helm/build.sh); without it the chart tests are skipped and say so."""
import json
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, run_ioc

CHART = TOP / "deploy/helm/iocmgr"
SERVICE = TOP / "deploy/services/bl46p-cs-iocmgr-01"
HELM = os.environ.get("IOCMGR_HELM", "")
RELEASE = "bl46p-cs-iocmgr-01"
# The demo beamline already has a ServiceAccount `iocmgr` (tests/cluster/demo), which
# Helm would refuse to take over: the chart's own account gets a name of its own here.
SA_NAME = "iocmgr-chart"
SA = f"system:serviceaccount:{NAMESPACE}:{SA_NAME}"
PREFIX = "TST-HELM-01:"
INSTALL = ["--set", f"serviceAccount.name={SA_NAME}", "--set", f"prefix={PREFIX}"]

needs_helm = pytest.mark.skipif(
    not (HELM and Path(HELM).is_file()),
    reason="helm not available: set IOCMGR_HELM to a helm 3 executable "
           "(IOCMGR_HELM=$(tests/helm/build.sh); tools/run-tests.sh does this)")


def helm(cluster, tmp, *args, check=True, timeout=120):
    """helm against the test cluster, with its caches and config in tmp."""
    env = dict(cluster.env, HELM_CACHE_HOME=str(tmp / "helm-cache"),
               HELM_CONFIG_HOME=str(tmp / "helm-config"), HELM_DATA_HOME=str(tmp / "helm-data"))
    r = subprocess.run([HELM, "--kubeconfig", cluster.kubeconfig, *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)}: {r.stdout}{r.stderr}")
    return r


def as_json(cluster, manifests):
    """YAML manifests as a list of objects, parsed by kubectl (client side)."""
    out = cluster_run(cluster, ["create", "--dry-run=client", "-o", "json", "-f", "-"], manifests)
    docs, decoder, pos = [], json.JSONDecoder(), 0
    while pos < len(out.rstrip()):     # one JSON document per object, one after the other
        obj, end = decoder.raw_decode(out, pos)
        docs += obj["items"] if obj.get("kind") == "List" else [obj]
        pos = end + len(out[end:]) - len(out[end:].lstrip())
    return docs


def cluster_run(cluster, args, stdin):
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=stdin,
                       env=cluster.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout


def template(cluster, tmp, *values, chart=CHART, release=RELEASE):
    out = helm(cluster, tmp, "template", release, str(chart), "--namespace", NAMESPACE, *values).stdout
    return as_json(cluster, out)


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''} in the rendered chart"
    return found[0]


def dry_run_server(cluster, docs):
    return cluster_run(cluster, ["apply", "--dry-run=server", "-f", "-"],
                       json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


def test_dockerfile_copies_existing_files_and_builds_like_the_readme():
    text = (TOP / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    # COPY --from=STAGE copies from an earlier stage, not from the build context
    copies = [l.split()[1:-1] for l in lines if l.startswith("COPY ") and not l.split()[1].startswith("--from=")]
    assert copies
    for sources in copies:
        for src in sources:
            assert (TOP / src).exists(), f"Dockerfile copies {src}, which does not exist"
    run = " ".join(l for l in lines if l.startswith("RUN "))
    assert re.search(r"\bmake deps\b", run) and re.search(r"&& make\s*(&&|$)", run)
    readme = (TOP / "README.md").read_text()
    assert "make deps" in readme
    assert re.search(r'^CMD \[".*/bin/linux-x86_64/iocmgr", "st\.cmd"\]', text, re.M)
    workdir = [l.split()[1] for l in lines if l.startswith("WORKDIR ")][-1]
    assert workdir.endswith("iocBoot/iociocmgr") and (TOP / "iocBoot/iociocmgr/st.cmd").exists()


@needs_helm
@pytest.mark.parametrize("topology", ["dedicated", "shared"])
def test_chart_lints(cluster, tmp_path, topology):
    r = helm(cluster, tmp_path, "lint", "--strict", str(CHART), "--set", f"topology={topology}")
    assert "0 chart(s) failed" in r.stdout, r.stdout


@needs_helm
@pytest.mark.parametrize("topology", ["dedicated", "shared"])
def test_chart_passes_server_dry_run(cluster, tmp_path, topology):
    docs = template(cluster, tmp_path, "--set", f"topology={topology}", *INSTALL)
    out = dry_run_server(cluster, docs)
    for kind in (f"serviceaccount/{SA_NAME}", f"role.rbac.authorization.k8s.io/{RELEASE}",
                 f"rolebinding.rbac.authorization.k8s.io/{RELEASE}", f"statefulset.apps/{RELEASE}"):
        assert kind in out, out


@needs_helm
def test_topologies_differ_only_in_the_beamline_node_pinning(cluster, tmp_path):
    dedicated = find(template(cluster, tmp_path), "StatefulSet")["spec"]["template"]["spec"]
    shared = find(template(cluster, tmp_path, "--set", "topology=shared"),
                  "StatefulSet")["spec"]["template"]["spec"]
    assert dedicated["nodeSelector"] == {"beamline": "bl46p"}
    assert dedicated["tolerations"] == [{"key": "beamline", "operator": "Equal", "value": "bl46p",
                                         "effect": "NoSchedule"}]
    assert "nodeSelector" not in shared and "tolerations" not in shared
    for spec in (dedicated, shared):
        spec.pop("nodeSelector", None)
        spec.pop("tolerations", None)
    assert dedicated == shared
    assert shared["hostNetwork"] is True and shared["serviceAccountName"] == "iocmgr"


@needs_helm
def test_chart_keeps_iocmgr_out_of_its_own_selector(cluster, tmp_path):
    docs = template(cluster, tmp_path)
    for d in docs:
        labels = d["metadata"].get("labels", {})
        assert "ioc" not in labels and "is_ioc" not in labels, d["metadata"]
    pod_labels = find(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert "ioc" not in pod_labels and "is_ioc" not in pod_labels
    for label in ("ioc", "is_ioc"):
        r = helm(cluster, tmp_path, "template", RELEASE, str(CHART), "--set", f"labels.{label}=true",
                 check=False)
        assert r.returncode != 0 and "must not carry the IOC instance selector label" in r.stderr


@needs_helm
def test_chart_values_reach_the_iocs_environment(cluster, tmp_path):
    docs = template(cluster, tmp_path, "--set", "readOnly=true", "--set", "namespace=p46-iocs",
                    "--set", "accessSecurity.users={op1,op2}", "--set", "accessSecurity.hosts={ws1}",
                    "--set", "expectedInstances={bl46p-ea-ioc-01,bl46p-mo-ioc-01}",
                    "--set", "selector=ioc=true", "--set", "image.tag=1.2.3")
    sts = find(docs, "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env = container_env(docs)
    assert env["IOCMGR_PREFIX"] == "BL46P-CS-IOCMGR-01:"
    assert env["IOCMGR_READONLY"] == "1" and env["IOCMGR_NAMESPACE"] == "p46-iocs"
    assert env["IOCMGR_USERS"] == "op1,op2" and env["IOCMGR_HOSTS"] == "ws1"
    assert env["IOCMGR_SELECTOR"] == "ioc=true" and env["IOCMGR_KUBECONFIG"] == "incluster"
    assert env["EPICS_CA_MAX_ARRAY_BYTES"] == "1000000" and env["IOCMGR_PENDING_GRACE"] == "60"
    assert env["IOCMGR_CRASH_SETTLE"] == "120"
    # without Argo CD's Role, no Applications are watched
    assert env["IOCMGR_ARGO_NAMESPACE"] == "none" and "IOCMGR_ARGO_ROOT" not in env
    assert container["image"] == "registry.example.org/controls/iocmgr:1.2.3"
    expected = find(docs, "ConfigMap")["data"]["expected.yaml"]
    assert expected.split() == ["instances:", "-", '"bl46p-ea-ioc-01"', "-", '"bl46p-mo-ioc-01"']
    assert env["IOCMGR_EXPECTED"] == "/epics/iocmgr-config/expected.yaml"
    # the Role goes where the instances are
    assert find(docs, "Role")["metadata"]["namespace"] == "p46-iocs"
    assert sts["spec"]["replicas"] == 1
    # what the argocd-apps chart passes for a stopped service (services.<svc>.enabled)
    for stopped in ("false", "False"):
        assert find(template(cluster, tmp_path, "--set", f"global.enabled={stopped}"),
                    "StatefulSet")["spec"]["replicas"] == 0


@needs_helm
def test_argocd_mode_adds_exactly_the_application_rules(cluster, tmp_path):
    without = template(cluster, tmp_path)
    assert [d for d in without if d["kind"] == "Role"] == [find(without, "Role", RELEASE)]
    docs = template(cluster, tmp_path, "--set", "argocd.enabled=true",
                    "--set", "argocd.appNamespace=bl46p-beamline")
    role = find(docs, "Role", f"{RELEASE}-argocd")
    assert role["metadata"]["namespace"] == "bl46p-beamline"
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["applications"],
                              "verbs": ["get", "list", "watch", "patch"]}]
    binding = find(docs, "RoleBinding", f"{RELEASE}-argocd")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "iocmgr", "namespace": NAMESPACE}]
    assert find(docs, "Role", RELEASE)["rules"] == find(without, "Role", RELEASE)["rules"]
    # the IOC looks for the root where the Role lets it: the Applications' namespace
    env = container_env(docs)
    assert env["IOCMGR_ARGO_NAMESPACE"] == "bl46p-beamline"
    assert env["IOCMGR_ARGO_ROOT"] == "" and env["IOCMGR_ARGO_INSTANCE_LABEL"] == ""
    env = container_env(template(cluster, tmp_path, "--set", "argocd.enabled=true",
                                 "--set", "argocd.root=bl46p", "--set", "argocd.instanceLabel=-",
                                 "--set", "crashSettle=30"))
    assert env["IOCMGR_ARGO_NAMESPACE"] == NAMESPACE      # default: the release namespace
    assert env["IOCMGR_ARGO_ROOT"] == "bl46p" and env["IOCMGR_ARGO_INSTANCE_LABEL"] == "-"
    assert env["IOCMGR_CRASH_SETTLE"] == "30"


def container_env(docs):
    container = find(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


@needs_helm
def test_services_repo_example_renders_through_the_dependency(cluster, tmp_path):
    """deploy/services/bl46p-cs-iocmgr-01 as a services repo holds it: a Chart.yaml
    depending on our chart, values under the `iocmgr:` key."""
    service = tmp_path / "service"
    shutil.copytree(SERVICE, service, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    chart_yaml = (service / "Chart.yaml").read_text()
    assert re.search(r"^- name: iocmgr$", chart_yaml, re.M), chart_yaml
    # the copy points at the chart by absolute path, as the relative one resolves in the tree
    relative = re.search(r'repository: "?file://([^"\n]+)', chart_yaml).group(1)
    assert (SERVICE / relative).resolve() == CHART
    (service / "Chart.yaml").write_text(chart_yaml.replace(relative, str(CHART)))
    helm(cluster, tmp_path, "dependency", "build", str(service))
    docs = template(cluster, tmp_path, chart=service, release="bl46p-cs-iocmgr-01")
    sts = find(docs, "StatefulSet", "bl46p-cs-iocmgr-01")
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["IOCMGR_PREFIX"] == "BL46P-CS-IOCMGR-01:"
    assert env["IOCMGR_USERS"] == "bl46p-operator" and env["IOCMGR_HOSTS"] == "bl46p-ws001,bl46p-ws002"
    assert sts["spec"]["template"]["spec"]["nodeSelector"] == {"beamline": "bl46p"}
    # the demo beamline has a ServiceAccount iocmgr already: validate the rest
    dry_run_server(cluster, [d for d in docs if d["kind"] != "ServiceAccount"])


def can_i(cluster, verb, resource, namespace=NAMESPACE):
    """resource/sub asks for the subresource (kubectl would read `sub` as an object name)."""
    resource, _, sub = resource.partition("/")
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "auth", "can-i", verb,
                        resource, *([f"--subresource={sub}"] if sub else []), "-n", namespace,
                        f"--as={SA}"],
                       env=cluster.env, capture_output=True, text=True, timeout=30)
    return r.stdout.strip() == "yes"


def wait_pod(cluster, pod, old_uid=None, timeout=90):
    """The pod Running (and, after an upgrade, a new one: another uid)."""
    deadline = time.monotonic() + timeout
    while True:
        got = cluster.kubectl("-n", NAMESPACE, "get", "pod", pod, "-o",
                              "jsonpath={.status.phase} {.metadata.uid}", check=False).split()
        if len(got) == 2 and got[0] == "Running" and got[1] != old_uid:
            return got[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"{pod} not Running{' (new)' if old_uid else ''} after {timeout} s: "
                                 + cluster.kubectl("-n", NAMESPACE, "describe", "pod", pod,
                                                   check=False))
        time.sleep(0.5)


@pytest.fixture(scope="module")
def installed(cluster, tmp_path_factory):
    """helm install of the chart (dedicated topology); the time from the install
    to iocmgr CONNECTED is measured by the connect test."""
    tmp = tmp_path_factory.mktemp("helm")
    t0 = time.monotonic()
    helm(cluster, tmp, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, *INSTALL)
    yield tmp, t0
    helm(cluster, tmp, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait=false", check=False)


def pod_env(cluster, pod, tmp):
    """The environment the pod's container gets (values and the namespace fieldRef),
    with the screens written under tmp instead of the opis volume."""
    spec = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "pod", pod, "-o", "json"))
    env = {}
    for e in spec["spec"]["containers"][0]["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[e["name"]] = spec["metadata"]["namespace"]
    for name in [n for n in env if n.startswith("EPICS_CA_")]:
        del env[name]          # the test's CA runs on loopback, on a port of its own
    (tmp / "opi").mkdir(exist_ok=True)
    env["IOCMGR_OPI_DIR"] = str(tmp / "opi")
    env["IOCMGR_ALARM_CONFIG"] = str(tmp / "opi/iocmgr-alarms.xml")
    return env


def service_account_files(cluster, tmp):
    sa = tmp / "serviceaccount"
    sa.mkdir(exist_ok=True)
    (sa / "token").write_text(cluster.kubectl("-n", NAMESPACE, "create", "token", SA_NAME,
                                              "--duration=10m"))
    (sa / "ca.crt").write_bytes((cluster.dir / "ca.crt").read_bytes())
    (sa / "namespace").write_text(NAMESPACE)
    return sa


@contextmanager
def running_as_the_pod(cluster, tmp):
    """iocmgr started as the chart's pod would be: its environment, the
    in-cluster path with the ServiceAccount's files, the API address a pod sees."""
    pod = f"{RELEASE}-0"
    env = pod_env(cluster, pod, tmp)
    assert env["IOCMGR_KUBECONFIG"] == "incluster"
    api = urlparse(cluster.env["IOCMGR_API_URL"])
    env.update({"IOCMGR_KUBECONFIG": f"incluster:{service_account_files(cluster, tmp)}",
                "KUBERNETES_SERVICE_HOST": api.hostname, "KUBERNETES_SERVICE_PORT": str(api.port)})
    with run_ioc(tmp, env, prefix=env["IOCMGR_PREFIX"]) as ioc:
        deadline = time.monotonic() + 30
        while ioc.ca.try_get(ioc.pv("CONNECTED")) != "Connected":
            if time.monotonic() > deadline:
                raise AssertionError("iocmgr did not connect in-cluster with the chart's "
                                     f"ServiceAccount: LAST_ERROR {ioc.get('LAST_ERROR', string=True)!r}"
                                     f"\n{ioc.logtext()}")
            time.sleep(0.3)
        yield ioc


@needs_helm
def test_helm_install_runs_iocmgr_connected_in_cluster(cluster, installed, tmp_path):
    _, t0 = installed
    wait_pod(cluster, f"{RELEASE}-0")
    expected = set()
    for selector in ("ioc=true", "is_ioc=true"):
        expected |= set(cluster.kubectl("-n", NAMESPACE, "get", "statefulsets", "-l", selector, "-o",
                                        "jsonpath={.items[*].metadata.name}").split())
    with running_as_the_pod(cluster, tmp_path) as ioc:
        print(f"helm install -> iocmgr CONNECTED in-cluster: {time.monotonic() - t0:.1f} s")
        assert ioc.get("NAMESPACE") == NAMESPACE
        api = urlparse(cluster.env["IOCMGR_API_URL"])
        assert f"{api.hostname}:{api.port}" in ioc.get("API_URL", string=True)
        assert int(ioc.get("COUNT")) == len(expected)
        assert ioc.get("READONLY") == "Read-write"
        # Argo CD off in the chart: no root, and n/a without alarm
        assert ioc.get("ARGO_APP") == "" and ioc.get("SYNC") == "n/a" and ioc.get("HEALTH") == "n/a"
        # the manager is not one of the instances it manages
        assert RELEASE not in ioc.get("NAMES", string=True).split()


@needs_helm
def test_role_is_least_privilege(cluster, installed):
    allowed = [("get", "statefulsets.apps"), ("list", "statefulsets.apps"),
               ("watch", "statefulsets.apps"), ("patch", "statefulsets.apps"),
               ("patch", "statefulsets.apps/scale"), ("get", "pods"), ("list", "pods"),
               ("watch", "pods"), ("delete", "pods"), ("get", "pods/log"), ("list", "events"),
               ("watch", "events")]
    denied = [("create", "pods"), ("create", "statefulsets.apps"), ("delete", "statefulsets.apps"),
              ("list", "deployments.apps"), ("get", "statefulsets.apps/scale"), ("get", "secrets"),
              ("create", "pods/exec"), ("get", "configmaps"), ("update", "pods"),
              ("patch", "applications.argoproj.io")]
    assert [a for a in allowed if not can_i(cluster, *a)] == []
    assert [d for d in denied if can_i(cluster, *d)] == []
    assert not can_i(cluster, "list", "pods", namespace="default")


@needs_helm
def test_pod_runs_with_the_charts_service_account(cluster, installed):
    pod = f"{RELEASE}-0"
    wait_pod(cluster, pod)
    spec = lambda path: cluster.jsonpath("pod", pod, path)
    assert spec("{.spec.serviceAccountName}") == SA_NAME
    assert spec("{.spec.hostNetwork}") == "true"
    # the token, CA and namespace files the in-cluster path reads
    mounts = spec("{.spec.containers[0].volumeMounts[*].mountPath}").split()
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts and "/epics/opi" in mounts
    assert spec("{.spec.initContainers[0].name}") == "install-opi"
    assert spec("{.spec.nodeName}")


@needs_helm
def test_helm_upgrade_of_a_value_rolls_the_pod(cluster, installed, tmp_path):
    tmp, _ = installed
    pod = f"{RELEASE}-0"
    uid = wait_pod(cluster, pod)
    t0 = time.monotonic()
    helm(cluster, tmp, "upgrade", RELEASE, str(CHART), "--namespace",
         NAMESPACE, "--reuse-values", "--set", "readOnly=true")
    wait_pod(cluster, pod, old_uid=uid)
    print(f"helm upgrade -> new pod Running: {time.monotonic() - t0:.1f} s")
    assert cluster.kubectl("-n", NAMESPACE, "get", "statefulset", RELEASE, "-o",
                           "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}") == RELEASE
    with running_as_the_pod(cluster, tmp_path) as ioc:
        assert ioc.get("READONLY") == "Read-only"


@needs_helm
def test_helm_upgrade_to_argocd_mode_names_the_root(cluster, installed, tmp_path):
    """argocd.root reaches the IOC: the manager's ARGO_APP names it. This cluster has
    no Argo CD, so the root is not found: SYNC Unknown, HEALTH Missing."""
    tmp, _ = installed
    pod = f"{RELEASE}-0"
    uid = wait_pod(cluster, pod)
    helm(cluster, tmp, "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--reuse-values",
         "--set", "argocd.enabled=true", "--set", "argocd.root=bl46p", "--set", "crashSettle=30")
    wait_pod(cluster, pod, old_uid=uid)
    with running_as_the_pod(cluster, tmp_path) as ioc:
        assert ioc.get("ARGO_APP") == f"{NAMESPACE}/bl46p"
        assert ioc.get("SYNC") == "Unknown" and ioc.get("HEALTH") == "Missing"
