"""The deployment (deploy/, Dockerfile) against the local control plane.

The manifests pass the API server's own validation (dry-run=server) in both
topologies; applied for real, the StatefulSet's pod gets the shipped
ServiceAccount, and iocmgr authenticates the in-cluster way with that
account's files (token, ca.crt, namespace), as a pod would see them. The IOC
process runs on the host: kwok fakes the pod, it runs no container."""
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, run_ioc

DEPLOY = TOP / "deploy"
STS = "bl46p-cs-iocmgr-01"
SA = f"system:serviceaccount:{NAMESPACE}:iocmgr"


def kustomize_dir(topology, tmp):
    """deploy/<topology> moved to the test's namespace, as a site overlay would
    (kustomize takes only relative paths to a base)."""
    (tmp / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {NAMESPACE}\nresources:\n- {os.path.relpath(DEPLOY / topology, tmp)}\n")
    return tmp


def apply(cluster, topology, *extra):
    with tempfile.TemporaryDirectory() as d:
        return cluster.kubectl("apply", "-k", str(kustomize_dir(topology, Path(d))), *extra)


def test_dockerfile_copies_existing_files_and_builds_like_the_readme():
    text = (TOP / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    copies = [l.split()[1:-1] for l in lines if l.startswith("COPY ")]
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


@pytest.mark.parametrize("topology", ["iocmgr", "iocmgr-shared"])
def test_manifests_pass_server_dry_run(cluster, topology):
    out = apply(cluster, topology, "--dry-run=server")
    for kind in ("serviceaccount/iocmgr", "role.rbac.authorization.k8s.io/iocmgr",
                 "rolebinding.rbac.authorization.k8s.io/iocmgr", f"statefulset.apps/{STS}"):
        assert kind in out, out


def test_shared_topology_drops_only_the_beamline_node_pinning(cluster):
    with tempfile.TemporaryDirectory() as d:
        shared = cluster.kubectl("kustomize", str(kustomize_dir("iocmgr-shared", Path(d))))
    with tempfile.TemporaryDirectory() as d:
        dedicated = cluster.kubectl("kustomize", str(kustomize_dir("iocmgr", Path(d))))
    assert "beamline: bl46p" in dedicated and "NoSchedule" in dedicated
    assert "nodeSelector" not in shared and "tolerations" not in shared
    assert "hostNetwork: true" in shared and "serviceAccountName: iocmgr" in shared


def can_i(cluster, verb, resource, namespace=NAMESPACE):
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "auth", "can-i", verb,
                        resource, "-n", namespace, f"--as={SA}"],
                       env=cluster.env, capture_output=True, text=True, timeout=30)
    return r.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def deployed(cluster):
    apply(cluster, "iocmgr")
    yield
    cluster.kubectl("-n", NAMESPACE, "delete", "statefulset", STS, "--wait=false",
                    "--ignore-not-found", check=False)


def test_role_is_least_privilege(cluster, deployed):
    allowed = [("list", "statefulsets.apps"), ("watch", "statefulsets.apps"),
               ("patch", "statefulsets.apps"), ("patch", "statefulsets.apps/scale"),
               ("list", "deployments.apps"), ("delete", "pods"), ("watch", "pods"),
               ("get", "pods/log"), ("watch", "events")]
    denied = [("create", "pods"), ("create", "statefulsets.apps"), ("delete", "statefulsets.apps"),
              ("patch", "deployments.apps"), ("get", "secrets"), ("create", "pods/exec"),
              ("get", "configmaps"), ("update", "pods")]
    assert [a for a in allowed if not can_i(cluster, *a)] == []
    assert [d for d in denied if can_i(cluster, *d)] == []
    assert not can_i(cluster, "list", "pods", namespace="default")


def test_pod_runs_with_the_shipped_service_account(cluster, deployed):
    pod = f"{STS}-0"
    deadline = time.monotonic() + 60
    while cluster.kubectl("-n", NAMESPACE, "get", "pod", pod, "-o", "jsonpath={.status.phase}",
                          check=False) != "Running":
        if time.monotonic() > deadline:
            raise AssertionError(f"{pod} not Running after 60 s: "
                                 + cluster.kubectl("-n", NAMESPACE, "describe", "pod", pod,
                                                   check=False))
        time.sleep(0.5)
    spec = lambda path: cluster.jsonpath("pod", pod, path)
    assert spec("{.spec.serviceAccountName}") == "iocmgr"
    assert spec("{.spec.hostNetwork}") == "true"
    # the token, CA and namespace files the in-cluster path reads
    mounts = spec("{.spec.containers[0].volumeMounts[*].mountPath}").split()
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts and "/epics/opi" in mounts
    assert spec("{.spec.nodeName}")


def test_iocmgr_connects_in_cluster_with_the_service_account_files(cluster, deployed, tmp_path):
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(cluster.kubectl("-n", NAMESPACE, "create", "token", "iocmgr",
                                              "--duration=10m"))
    (sa / "ca.crt").write_bytes((cluster.dir / "ca.crt").read_bytes())
    (sa / "namespace").write_text(NAMESPACE)
    api = urlparse(cluster.env["IOCMGR_API_URL"])
    env = {"IOCMGR_KUBECONFIG": f"incluster:{sa}",
           "KUBERNETES_SERVICE_HOST": api.hostname, "KUBERNETES_SERVICE_PORT": str(api.port)}
    expected = set()
    for selector in ("ioc=true", "is_ioc=true"):
        for kind in ("statefulsets", "deployments"):
            expected |= set(cluster.kubectl("-n", NAMESPACE, "get", kind, "-l", selector, "-o",
                                            "jsonpath={.items[*].metadata.name}").split())
    with run_ioc(tmp_path, env, prefix="TST-INCLUSTER-01:") as ioc:
        deadline = time.monotonic() + 30
        while ioc.ca.try_get(ioc.pv("CONNECTED")) != "Connected":
            if time.monotonic() > deadline:
                raise AssertionError("iocmgr did not connect in-cluster with the ServiceAccount "
                                     f"files in {sa}: LAST_ERROR "
                                     f"{ioc.get('LAST_ERROR', string=True)!r}\n{ioc.logtext()}")
            time.sleep(0.3)
        assert ioc.get("NAMESPACE") == NAMESPACE
        assert f"{api.hostname}:{api.port}" in ioc.get("API_URL", string=True)
        assert int(ioc.get("COUNT")) == len(expected)
        # the manager is not one of the instances it manages
        assert STS not in ioc.ca.get(ioc.pv("NAMES"))
