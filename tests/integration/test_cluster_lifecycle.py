"""Instances the manager knows at boot, and those it learns of later: an
expected instance that is missing shows Absent; one created after boot is
listed in UNMANAGED; REBOOT makes the IOC exit cleanly so Kubernetes restarts
it with the new set."""
import subprocess

from conftest import NAMESPACE
from iocmgrtest import run_ioc

LATE = "bl46p-ea-ioc-77"
STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %(name)s
  namespace: %(ns)s
  labels: {app: %(name)s, ioc: "true", domain: bl46p, enabled: "true"}
spec:
  replicas: 0
  serviceName: %(name)s
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata: {labels: {app: %(name)s, ioc: "true"}}
    spec:
      containers:
      - {name: ioc, image: "ghcr.io/epics-containers/ioc-generic-runtime:2024.4.1"}
"""


def test_absent_unmanaged_and_reboot(cluster, shipped_kubeconfig, tmp_path):
    expected = tmp_path / "instances.yaml"
    expected.write_text("instances:\n  - name: bl46p-ea-ioc-01\n  - name: bl46p-ea-ioc-99\n")
    env = {"IOCMGR_KUBECONFIG": str(shipped_kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
           "IOCMGR_EXPECTED": str(expected)}
    try:
        with run_ioc(tmp_path, env, prefix="TST-LIFE-01:") as ioc:
            ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
            value, sevr = ioc.ca.wait_value(ioc.pv("STATUS", "bl46p-ea-ioc-99"), "Absent", timeout=10)
            assert sevr == "MAJOR"
            assert "not found" in ioc.get("MESSAGE", "bl46p-ea-ioc-99", string=True)

            subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                           input=STS % {"name": LATE, "ns": NAMESPACE}, text=True, env=cluster.env,
                           check=True, capture_output=True)
            ioc.ca.wait_value(ioc.pv("UNMANAGED"), lambda v, s: LATE in v.split(), timeout=30, string=True)
            assert LATE not in ioc.get("NAMES", string=True).split()
            # the same for screens, as one line of text
            assert ioc.get("UNMANAGED_TEXT", string=True) == LATE

            r = ioc.ca.put(ioc.pv("REBOOT"), 1, wait=False)
            assert r.returncode == 0, r.stderr
            assert ioc.proc.wait(20) == 0
            assert "REBOOT by root@" in ioc.logtext()
    finally:
        cluster.kubectl("-n", NAMESPACE, "delete", "statefulset", LATE, "--ignore-not-found", "--wait=false")
