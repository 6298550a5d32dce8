"""Helpers of the real-node suites (tests/node, docs/node.md): the bed started by
`IOCMGR_REAL_NODE=1 tests/cluster/up.sh` (tools/run-tests.sh does it), IOC instances
shaped like the ioc-instance chart's on the generic test IOC image, the node's processes
as the machine sees them, and iocmgr run on the host reaching the node's IOCs over CA."""
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))
from iocmgrtest import BASE_BIN, TOP, run_ioc  # noqa: E402,F401  (TOP: for the suites)

# the integration suites' conftest (its Cluster, its caRepeater fixture), under a name of
# its own: "conftest" is this directory's
_spec = importlib.util.spec_from_file_location("integration_conftest", INTEGRATION / "conftest.py")
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)

NAMESPACE = os.environ.get("IOCMGR_NAMESPACE", "bl46p-iocs")
UPTIME_RE = re.compile(r"^(\d+ days?, )?\d\d:\d\d:\d\d$")


def drain(mon):
    """Every (value, severity) a Monitor has received so far (the first is the value it
    connected with), taken from its queue."""
    seen = []
    while not mon.updates.empty():
        seen.append(mon.updates.get_nowait())
    return seen


def uptime_seconds(text):
    """iocStats' up_time string ("HH:MM:SS", "1 day, HH:MM:SS", "N days, HH:MM:SS") in seconds."""
    m = re.match(r"^(?:(\d+) days?, )?(\d\d):(\d\d):(\d\d)$", text.strip())
    if not m:
        raise AssertionError(f"not an iocStats UPTIME: {text!r}")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


class NodeBed(integration.Cluster):
    """The cluster with its real node: kubectl, the node's settings and processes."""

    def __init__(self, run_dir):
        super().__init__(run_dir)
        for key in ("IOCMGR_NODE_IP", "IOCMGR_REAL_NODE_NAME", "IOCMGR_IMAGE_IOC", "IOCMGR_NODE_ID"):
            if not self.env.get(key):
                raise AssertionError(f"no real node in {run_dir} ({key} unset): start the bed with "
                                     "IOCMGR_REAL_NODE=1 tests/cluster/up.sh")
        self.node = self.env["IOCMGR_REAL_NODE_NAME"]
        self.ip = self.env["IOCMGR_NODE_IP"]
        self.ca_addr = self.env["IOCMGR_NODE_CA_ADDR_LIST"]
        self.image = self.env["IOCMGR_IMAGE_IOC"]
        self.cgroup = f"iocmgr-{self.env['IOCMGR_NODE_ID']}"

    # ---- Kubernetes
    def apply(self, *objects):
        r = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "apply", "-f", "-"], env=self.env,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"kubectl apply: {r.stderr}")

    def get(self, kind, name, namespace=NAMESPACE):
        out = self.kubectl("-n", namespace, "get", kind, name, "-o", "json", check=False)
        return json.loads(out) if out else None

    def pod(self, instance):
        return self.get("pod", f"{instance}-0")

    def container(self, instance):
        p = self.pod(instance) or {}
        statuses = p.get("status", {}).get("containerStatuses") or [{}]
        return statuses[0]

    def delete_instance(self, name):
        self.kubectl("-n", NAMESPACE, "delete", "statefulset,configmap", name, f"{name}-config",
                     "--ignore-not-found", "--wait=false", check=False)

    def wait(self, pred, timeout, what, step=0.2):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(step)

    def wait_running(self, instance, timeout=60, ready=True):
        def ok():
            p = self.pod(instance)
            if not p or p["status"].get("phase") != "Running":
                return None
            c = self.container(instance)
            return p if (c.get("ready") if ready else c.get("state", {}).get("running")) else None
        return self.wait(ok, timeout, f"{instance}-0 Running{' and Ready' if ready else ''}")

    def answering(self, instance, timeout=60):
        """Wait until the instance's pod is Running and Ready and its IOC answers its
        UPTIME over CA; returns that UPTIME"""
        self.wait_running(instance, timeout)
        return self.wait(lambda: self.uptime(instance), 30, f"{instance}:UPTIME over CA")

    # ---- Channel Access to the node's IOCs, from the machine
    def ca_env(self):
        env = dict(os.environ)
        env.update({"EPICS_CA_ADDR_LIST": self.ca_addr, "EPICS_CA_AUTO_ADDR_LIST": "NO",
                    "PATH": f"{BASE_BIN}:{os.environ.get('PATH', '')}"})
        env.pop("EPICS_CA_SERVER_PORT", None)
        return env

    def caget(self, pv, wait=2.0, string=False):
        """The PV's value as a string, or None when nothing answers within `wait` s.
        string: a CHAR array read as text (caget -S: NAMES, LOG)."""
        r = subprocess.run([str(BASE_BIN / "caget"), "-t", "-w", str(wait), *(["-S"] if string else []), pv],
                           env=self.ca_env(),
                           capture_output=True, text=True, timeout=wait + 30)
        return r.stdout.strip() if r.returncode == 0 else None

    def uptime(self, instance, wait=2.0):
        """The IOC's own iocStats UPTIME, or None; a value must be in iocStats' format."""
        v = self.caget(f"{instance.upper()}:UPTIME", wait)
        if v in (None, ""):
            return None
        assert UPTIME_RE.match(v), f"{instance}:UPTIME is not in iocStats' format: {v!r}"
        return v

    # ---- the node's processes, as the machine sees them
    def processes(self, instance=None, comm=None):
        """pids in the node's cgroup subtree (kubepods), optionally only those whose
        environment has IOC_NAME=instance and whose command is comm"""
        root = Path("/sys/fs/cgroup/pids") / self.cgroup / "kubepods"
        pids = set()
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                pids.update(int(p) for p in procs.read_text().split())
        out = []
        for pid in sorted(pids):
            try:
                if comm and Path(f"/proc/{pid}/comm").read_text().strip() != comm:
                    continue
                if instance:
                    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                    if f"IOC_NAME={instance}".encode() not in environ:
                        continue
            except OSError:
                continue
            out.append(pid)
        return out

    def ioc_pid(self, instance, timeout=30):
        return self.wait(lambda: (self.processes(instance, "softIoc") or [None])[0], timeout,
                         f"the softIoc process of {instance}")


def ioc_instance(name, image, behaviour="run", tolerate=True, memory="256Mi", readiness=False,
                 replicas=1, liveness_period=5, extra_env=(), host_network=True):
    """A ConfigMap and a StatefulSet shaped like the ioc-instance chart's output for the
    generic test IOC: labels, hostNetwork, stdin/tty, IOC_NAME/IOC_PREFIX, the liveness
    probe reading UPTIME with caget, resources; `behaviour` goes into the config volume
    (tests/images/ioc/start.sh reads $CONFIG_DIR/test-behaviour)."""
    labels = {"app": name, "ioc": "true", "location": "bl46p", "domain": "bl46p",
              "enabled": "true" if replicas else "false", "description": "Generic-test-IOC"}
    container = {
        "name": name, "image": image, "imagePullPolicy": "Never",
        "stdin": True, "tty": True,
        "env": [{"name": "IOC_NAME", "value": name}, {"name": "IOC_PREFIX", "value": name.upper()},
                {"name": "IOC_LOCATION", "value": "bl46p"}, {"name": "IOC_DOMAIN", "value": "bl46p"},
                {"name": "IOCSH_PS1", "value": f"{name} > "}, {"name": "CONFIG_DIR", "value": "/epics/ioc/config"},
                *({"name": k, "value": v} for k, v in extra_env)],
        "livenessProbe": {"exec": {"command": ["/bin/bash", "/epics/ioc/liveness.sh"]},
                          "periodSeconds": liveness_period, "timeoutSeconds": 5, "failureThreshold": 2},
        "resources": {"limits": {"cpu": "500m", "memory": memory},
                      "requests": {"cpu": "10m", "memory": "16Mi"}},
        "volumeMounts": [{"name": "config-volume", "mountPath": "/epics/ioc/config"}],
    }
    if readiness:
        container["readinessProbe"] = {"exec": {"command": ["/bin/bash", "/epics/ioc/readiness.sh"]},
                                       "periodSeconds": 2, "timeoutSeconds": 5}
    spec = {"hostNetwork": host_network, "terminationGracePeriodSeconds": 3, "containers": [container],
            "volumes": [{"name": "config-volume", "configMap": {"name": f"{name}-config"}}]}
    if tolerate:
        spec["tolerations"] = [{"key": "beamline", "operator": "Equal", "value": "bl46p",
                                "effect": "NoSchedule"}]
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"{name}-config", "namespace": NAMESPACE, "labels": {"app": name}},
         "data": {"test-behaviour": behaviour + "\n"}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
         "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {k: labels[k] for k in ("app", "ioc", "location", "domain")}},
                               "spec": spec}}},
    ]


@contextmanager
def node_iocmgr(bed, tmp_path, names, prefix, **env):
    """iocmgr on the machine, as the suites run it, managing the namespace; `names` are
    its expected instances (records from boot: instances made later are bound to them).
    Its CA client searches the node's broadcast address on the IOCs' port 5064."""
    expected = tmp_path / "expected.yaml"
    expected.write_text("instances:\n" + "".join(f"  - name: {n}\n" for n in names))
    full = {"KUBECONFIG": bed.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE,
            "IOCMGR_EXPECTED": str(expected), "IOCMGR_PENDING_GRACE": "5",
            "CA_EXTRA_ADDR": f"{bed.ca_addr}:5064"}
    full.update({k: str(v) for k, v in env.items()})
    with run_ioc(tmp_path, full, prefix=prefix) as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        yield ioc


