"""The real `ec` CLI (edge-containers-cli 5.5.2, K8S backend) beside iocmgr, against the
local control plane (docs/ec.md):

- what `ec ps` lists of the demo beamline next to what iocmgr manages (read only);
- `ec stop` / `ec start` / `ec restart` followed on iocmgr's PVs with camonitor;
- iocmgr's STOP / START / RESTART seen by `ec ps`.

The commands run on instances of this test's own namespace (IOCMGR_TEST_EC_NAMESPACE,
default ec-iocs), made here and deleted after: the shared demo beamline stays as it is.
ec comes from tests/ec/venv.sh, helm from tests/helm/build.sh, kubectl from the cluster.
Every command and its output goes to a transcript (IOCMGR_TEST_EC_TRANSCRIPT, default
tests/results/ec-interop-transcript.txt). IOC CA ports come from IOCMGR_TEST_EC_CA_PORTS
(default 16680-16699)."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import NAMESPACE
from ecclient import ec_for, transcript_to
from iocmgrtest import TOP, chart_identity, free_port, run_ioc, timed_monitor

EC_NS = os.environ.get("IOCMGR_TEST_EC_NAMESPACE", "ec-iocs")
TRANSCRIPT = Path(os.environ.get("IOCMGR_TEST_EC_TRANSCRIPT", TOP / "tests/results/ec-interop-transcript.txt"))
# ec-ioc-01 carries both labels (ec and iocmgr see it); ec-ioc-02 only the current chart's
# `ioc` label (ec does not see it). Ready 15 s after the container starts, so that the
# Degraded window of a restart is longer than one `ec ps` (0.7 s on a quiet machine, up to
# 8 s on a loaded one) and `ec ps` cannot miss it.
SEEN, UNSEEN = "ec-ioc-01", "ec-ioc-02"
STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %(name)s
  namespace: %(ns)s
  labels: {app: %(name)s, ioc: "true", %(extra)s location: bl46p, domain: bl46p, enabled: "true"}
spec:
  replicas: 1
  serviceName: %(name)s
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata:
      labels: {app: %(name)s, ioc: "true", location: bl46p, domain: bl46p}
      annotations: {pod-ready.stage.kwok.x-k8s.io/delay: "15s"}
    spec:
      hostNetwork: true
      terminationGracePeriodSeconds: 3
      tolerations: [{key: beamline, operator: Equal, value: bl46p, effect: NoSchedule}]
      containers:
      - name: ioc
        image: ghcr.io/epics-containers/ioc-generic-runtime:2024.4.1
        command: [bash, -c]
        args: [/epics/ioc/start.sh]
        env: [{name: IOC_NAME, value: %(name)s}, {name: IOC_PREFIX, value: %(upper)s}]
"""


def ca_port():
    """A free CA port of the range this suite is given."""
    lo, hi = (int(x) for x in os.environ.get("IOCMGR_TEST_EC_CA_PORTS", "16680-16699").split("-"))
    return free_port(range(lo, hi + 1))


@pytest.fixture(scope="module")
def transcript():
    with transcript_to(TRANSCRIPT) as log:
        yield log


@pytest.fixture(scope="module")
def ec(cluster, transcript):
    return ec_for(cluster, transcript, EC_NS)


@pytest.fixture(scope="module")
def ec_namespace(cluster, transcript):
    # a namespace left by an earlier run may still be terminating
    cluster.kubectl("wait", "--for=delete", f"namespace/{EC_NS}", "--timeout=90s", check=False, timeout=120)
    cluster.kubectl("create", "namespace", EC_NS)
    docs = [STS % {"name": SEEN, "ns": EC_NS, "extra": 'is_ioc: "true",', "upper": SEEN.upper()},
            STS % {"name": UNSEEN, "ns": EC_NS, "extra": "", "upper": UNSEEN.upper()}]
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input="---".join(docs), text=True, env=cluster.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    transcript(f"$ kubectl apply  # StatefulSets {SEEN} (ioc + is_ioc labels), {UNSEEN} (ioc label only) "
               f"in namespace {EC_NS}\n{r.stdout}")
    for name in (SEEN, UNSEEN):
        cluster.kubectl("-n", EC_NS, "rollout", "status", f"statefulset/{name}", "--timeout=60s", timeout=90)
    yield EC_NS
    cluster.kubectl("delete", "namespace", EC_NS, "--timeout=90s", check=False, timeout=120)


def boot(cluster, tmp_path, ns, prefix):
    """iocmgr on namespace ns as the chart's ServiceAccount and Role there (ec runs as
    the admin, as a person with kubectl would)."""
    kubeconfig = chart_identity(cluster, tmp_path, ns, values=["rbac.deployments=true"])
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": ns}
    return run_ioc(tmp_path, env, prefix=prefix, port=ca_port())


def test_ec_ps_sees_only_is_ioc(cluster, ec, tmp_path, transcript):
    """Demo beamline (9 instances, read only): `ec ps` lists the StatefulSets labelled
    is_ioc=true, iocmgr every instance (ioc or is_ioc, StatefulSet or Deployment)."""
    with boot(cluster, tmp_path, NAMESPACE, "TST-EC-DEMO:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        managed = sorted(ioc.get("NAMES", string=True).split())   # names separated by a space
        transcript(f"$ caget -S {ioc.pv('NAMES')}  # iocmgr COUNT {ioc.get('COUNT')}\n{' '.join(managed)}")
    listed = sorted(ec.ps(ns=NAMESPACE))
    old_label = sorted(cluster.kubectl("-n", NAMESPACE, "get", "statefulset", "-l", "is_ioc=true",
                                       "-o", "jsonpath={.items[*].metadata.name}").split())
    transcript(f"ec ps lists {len(listed)} of the {len(managed)} instances iocmgr manages: {listed}")
    assert len(managed) == 9, managed   # tests/cluster/demo: nine (OOMKilled and image missing came with the real node)
    assert listed == old_label == ["bl46p-di-dcam-01"]
    assert set(listed) < set(managed)


def test_ec_commands_seen_by_iocmgr(cluster, ec, ec_namespace, tmp_path, transcript):
    """`ec stop`, `ec start`, `ec restart` on an instance; iocmgr's STATUS (camonitor)
    follows each one."""
    with boot(cluster, tmp_path, ec_namespace, "TST-EC-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        assert ioc.get("COUNT") == "2"
        status = ioc.pv("STATUS", SEEN)
        with timed_monitor(ioc.ca, status) as mon:
            mon.wait_after("Running", 0, 60)
            for cmd, states in (("stop", ["Stopped"]), ("start", ["Starting", "Running"]),
                                ("restart", ["Terminating", "Starting", "Running"])):
                t_cmd = t = time.monotonic()
                ec.run(cmd, SEEN)
                for state in states:
                    t = mon.wait_after(state, t, 60)
                transcript(f"camonitor {status} after ec {cmd}: " + " -> ".join(
                    f"{v}/{s} at +{tt - t_cmd:.2f} s" for tt, v, s in mon.timeline if tt >= t_cmd))
        transcript(f"iocmgr {ioc.pv('ENABLED', SEEN)} = {ioc.get('ENABLED', SEEN)}, "
                   f"{ioc.pv('POD', SEEN)} = {ioc.get('POD', SEEN)}")
        # ec cannot act on what its selector does not list
        r = ec.run("stop", UNSEEN, check=False)
        assert r.returncode != 0 and "not found" in (r.stdout + r.stderr)
        assert cluster.kubectl("-n", ec_namespace, "get", "statefulset", UNSEEN,
                               "-o", "jsonpath={.spec.replicas}") == "1"


def test_iocmgr_commands_seen_by_ec_ps(cluster, ec, ec_namespace, tmp_path, transcript):
    """caput STOP / START / RESTART on iocmgr; `ec ps` shows the health each one leads to."""
    with boot(cluster, tmp_path, ec_namespace, "TST-EC-02:") as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        ioc.ca.wait_value(ioc.pv("STATUS", SEEN), "Running", timeout=60)
        assert ec.ps() == {SEEN: "Healthy"}
        for cmd, healths in (("STOP", ["Degraded"]), ("START", ["Healthy"]),
                             ("RESTART", ["Degraded", "Healthy"])):
            r = ioc.ca.put(ioc.pv(cmd, SEEN), 1)
            assert r.returncode == 0, r.stderr
            msg = ioc.get("CMD_MSG", SEEN, string=True)
            transcript(f"$ caput -c {ioc.pv(cmd, SEEN)} 1  # CMD_MSG: {msg}")
            for health in healths:
                ec.wait_health(SEEN, health)
            transcript(f"ec ps showed {SEEN}: {' then '.join(healths)}")
