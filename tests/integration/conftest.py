"""Fixtures shared by the integration tests: the local control plane's
environment, iocmgr's identity as the Helm chart ships it, and one iocmgr IOC
booted against the demo beamline with that identity."""
import os
import subprocess
from pathlib import Path

import pytest

from iocmgrtest import CACHE, TOP, chart_identity, run_ioc, start_ca_repeater

NAMESPACE = os.environ.get("IOCMGR_NAMESPACE", "bl46p-iocs")


def pytest_configure(config):
    # as in tests/node: ALIVE judged from the real IOCs' iocStats UPTIME string
    config.addinivalue_line(
        "markers", "alive_string: needs ALIVE to judge iocStats' UPTIME string (issue 18 item 1)")


class Cluster:
    def __init__(self, run_dir):
        self.dir = Path(run_dir)
        out = subprocess.run(["bash", "-c", f". '{self.dir}/env' && env -0"],
                             capture_output=True, text=True, check=True).stdout
        self.env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
        self.kubeconfig = self.env["KUBECONFIG"]

    def kubectl(self, *args, check=True, kubeconfig=None, timeout=60):
        r = subprocess.run(["kubectl", "--kubeconfig", kubeconfig or self.kubeconfig, *args],
                           env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr}")
        return r.stdout.strip()

    def jsonpath(self, kind, name, path):
        return self.kubectl("-n", NAMESPACE, "get", kind, name, "-o", f"jsonpath={path}")

    def apiserver(self, action):
        subprocess.run([str(TOP / "tests/cluster/apiserver.sh"), action], env={**os.environ},
                       check=True, timeout=120)


@pytest.fixture(scope="session", autouse=True)
def ca_repeater():
    """One caRepeater for the session, with no hold on any test's output."""
    proc = start_ca_repeater()
    yield
    if proc:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def cluster():
    run_dir = os.environ.get("IOCMGR_CLUSTER_DIR", str(CACHE / "cluster-run"))
    if not Path(run_dir, "env").exists():
        pytest.fail(f"no local control plane in {run_dir}: run tests/cluster/up.sh and demo.sh "
                    "(make test does)")
    return Cluster(run_dir)


@pytest.fixture(scope="session")
def shipped_kubeconfig(cluster, tmp_path_factory):
    """A token of the ServiceAccount the chart deploy/helm/iocmgr ships, bound to the
    chart's own Role (rendered by helm; iocmgrtest.chart_identity). The demo beamline
    has a Deployment of the oldest charts, so the chart's rbac.deployments is on, as a
    beamline with such instances would set it."""
    return chart_identity(cluster, tmp_path_factory.mktemp("identity"), NAMESPACE,
                          values=["rbac.deployments=true"])


@pytest.fixture(scope="session")
def ioc(cluster, shipped_kubeconfig, tmp_path_factory):
    """iocmgr on the demo beamline as the chart's ServiceAccount (least privilege, not
    the cluster admin): a command whose rule the chart lacks fails its test."""
    env = {"IOCMGR_KUBECONFIG": str(shipped_kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
           "IOCMGR_PENDING_GRACE": "3"}
    with run_ioc(tmp_path_factory.mktemp("ioc"), env) as booted:
        booted.kubeconfig = shipped_kubeconfig
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        yield booted
