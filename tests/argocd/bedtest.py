"""Helpers for the Argo CD integration tests (tests/integration/test_argocd_*.py):
the running bed (tests/argocd/up.sh) seen through kubectl and raw API watches.
Everything the tests change they change the way a person would (kubectl patch of the
root Application, kubectl scale), and `restore()` puts the beamline back to git."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from iocmgrtest import ApiWatch, settled, wait_until  # noqa: E402

SRC = Path(__file__).resolve().parent
# iocmgr itself, a child Application beside the instances (tests/argocd/repos.sh)
SELF = "bl46p-cs-iocmgr-01"


def services():
    """(name, image, enabled-in-git, description) of tests/argocd/bl46p-services.txt."""
    out = []
    for line in (SRC / "bl46p-services.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, image, enabled, desc = line.split()
            out.append((name, image, enabled == "true", desc))
    return out


class Bed:
    def __init__(self, cluster):
        self.cluster = cluster
        self.dir = Path(os.environ.get("IOCMGR_ARGOCD_DIR", f"{cluster.dir}-argocd"))
        env = {}
        for line in (self.dir / "env").read_text().splitlines():
            if line.startswith("export "):
                for item in line[len("export "):].split():
                    k, v = item.split("=", 1)
                    env[k] = v
        self.env = env
        self.ns = env["IOCMGR_ARGOCD_NAMESPACE"]
        self.root = env["IOCMGR_ARGOCD_ROOT"]
        self.api_port = int(cluster.env["IOCMGR_API_URL"].rsplit(":", 1)[1])

    # ---- reading
    def kubectl(self, *args, check=True, kubeconfig=None):
        return self.cluster.kubectl("-n", self.ns, *args, check=check, kubeconfig=kubeconfig)

    def get(self, kind, name):
        out = self.kubectl("get", kind, name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out else None

    def app(self, name):
        return self.get("applications.argoproj.io", name)

    def sts(self, name):
        return self.get("statefulsets", name)

    def pods(self, name):
        """Pods of instance `name` that are not being deleted."""
        items = json.loads(self.kubectl("get", "pods", "-l", f"app={name}", "-o", "json"))["items"]
        return [p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_pod(self, name):
        items = json.loads(self.kubectl("get", "pods", "-l", f"app={name}", "-o", "json"))["items"]
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for p in items if not p["metadata"].get("deletionTimestamp")
                   for c in p.get("status", {}).get("conditions", []))

    def root_params(self):
        app = self.app(self.root)
        return {p["name"]: p["value"] for p in app["spec"]["source"].get("helm", {}).get("parameters", [])}

    def status(self, name):
        app = self.app(name) or {}
        st = app.get("status", {})
        return st.get("sync", {}).get("status", ""), st.get("health", {}).get("status", "")

    def stays_gone(self, name, timeout=120):
        """Instance `name`'s pod has gone: prove it stays gone without a fixed sleep. Ask
        Argo CD to compare the Application now (its own `argocd.argoproj.io/refresh`
        annotation, which the controller removes once it has compared), and wait until it
        has and finds it Synced. A stop made behind Argo CD's back would be OutOfSync
        there, and self-heal would sync the pod back, which the raw pod watch (settled,
        no event for 5 s) and the final look would show. Returns the seconds this took."""
        t0 = time.monotonic()
        refresh = "argocd.argoproj.io/refresh"
        pods = self.watch("pods", label=f"app={name}")
        try:
            self.kubectl("annotate", "--overwrite", "applications.argoproj.io", name, f"{refresh}=normal")

            def compared_and_synced():
                app = self.app(name) or {}
                return (refresh not in (app.get("metadata", {}).get("annotations") or {})
                        and app.get("status", {}).get("sync", {}).get("status") == "Synced")
            wait_until(compared_and_synced, timeout, step=0.5,
                       what=f"Argo CD's requested comparison of {name} done, Synced")
            settled(lambda: len(pods.events), 5, 60, what=f"pod events of {name}")
        finally:
            pods.close()
        assert not self.pods(name), f"{name}: a pod came back after Argo CD's comparison"
        return time.monotonic() - t0

    # ---- changing (as a person with kubectl would)
    def set_root_params(self, params):
        """Replace the root's Helm parameters by `params` (dict; {} removes them all)."""
        body = {"spec": {"source": {"helm": {"parameters": [{"name": k, "value": v}
                                                             for k, v in params.items()]}}}}
        self.kubectl("patch", "applications.argoproj.io", self.root, "--type", "merge", "-p", json.dumps(body))

    def watch(self, resource, name=None, label=None):
        """A raw watch (iocmgrtest.ApiWatch) of a collection in the bed's namespace."""
        group = {"applications": "/apis/argoproj.io/v1alpha1", "statefulsets": "/apis/apps/v1",
                 "pods": "/api/v1"}[resource]
        sel = []
        if name:
            sel.append(f"fieldSelector=metadata.name%3D{name}")
        if label:
            sel.append(f"labelSelector={label}")
        path = f"{group}/namespaces/{self.ns}/{resource}" + ("?" + "&".join(sel) if sel else "")
        return ApiWatch(self.cluster.dir, self.api_port, path, timeout_seconds=300)

    def all_synced(self):
        want = {self.root, SELF} | {s[0] for s in services()}
        items = [i for i in json.loads(self.kubectl("get", "applications.argoproj.io", "-o", "json"))["items"]
                 if i["metadata"]["name"] in want]
        return len(items) == len(want) and all(
            i.get("status", {}).get("sync", {}).get("status") == "Synced"
            and i.get("status", {}).get("health", {}).get("status") == "Healthy" for i in items)

    def at_git_state(self):
        """Every instance as git has it: replicas, image tag of the first release, pod Ready."""
        for name, image, enabled, _ in services():
            sts = self.sts(name)
            if not sts or sts["spec"]["replicas"] != (1 if enabled else 0):
                return False
            img = sts["spec"]["template"]["spec"]["containers"][0]["image"]
            if not img.endswith(f"/{image}:2024.4.1"):
                return False
            if enabled != self.ready_pod(name) or (not enabled and self.pods(name)):
                return False
        sts = self.sts(SELF)
        return bool(sts) and sts["spec"]["replicas"] == 1 and self.ready_pod(SELF)

    def restore(self, timeout=120):
        """Root parameters removed, a running controller, and the beamline back as git has it."""
        if self.root_params():
            self.set_root_params({})
        wait_until(lambda: self.all_synced() and self.at_git_state(), timeout, step=0.5,
                   what="the Argo CD beamline back at its git state")

    def ctl(self, action, name):
        """tests/argocd/ctl.sh: stop/start one server of the bed (same args and env)."""
        r = subprocess.run([str(SRC / "ctl.sh"), action, name], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "IOCMGR_CLUSTER_DIR": str(self.cluster.dir),
                                "IOCMGR_ARGOCD_DIR": str(self.dir)})
        if r.returncode != 0:
            raise AssertionError(f"ctl.sh {action} {name}: {r.stdout}{r.stderr}")

    def proc_alive(self, name):
        try:
            pid = int((self.dir / "pids" / f"{name}.pid").read_text())
            exe = (self.dir / "pids" / f"{name}.exe").read_text().strip()
            return os.readlink(f"/proc/{pid}/exe") == exe
        except (OSError, ValueError):
            return False


@pytest.fixture(scope="session")
def bed(cluster):
    b = Bed(cluster) if Path(os.environ.get("IOCMGR_ARGOCD_DIR", f"{cluster.dir}-argocd"), "env").exists() else None
    if b is None:
        pytest.fail("no Argo CD test bed running: run tests/argocd/up.sh after tests/cluster/up.sh "
                    "(make test does; IOCMGR_TEST_ARGOCD=0 leaves the suite out)")
    b.restore()
    return b


@pytest.fixture
def clean_bed(bed):
    """The bed at its git state before and after the test."""
    bed.restore()
    yield bed
    bed.restore()


def percentile(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def record(name, text):
    """Append a measured figure to tests/results/argocd-figures.txt (read by docs/argocd.md)."""
    out = Path(__file__).resolve().parents[1] / "results"
    out.mkdir(exist_ok=True)
    with open(out / "argocd-figures.txt", "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {name}: {text}\n")
    print(f"{name}: {text}")


def sa_kubeconfig(bed, tmp, account, minutes=60):
    """A kubeconfig with a token of ServiceAccount `account` in the bed's namespace."""
    token = bed.kubectl("create", "token", account, f"--duration={minutes}m")
    server = bed.cluster.env["IOCMGR_API_URL"]
    path = Path(tmp) / f"{account}.kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: t
clusters:
- name: c
  cluster: {{server: "{server}", certificate-authority: "{bed.cluster.dir / 'ca.crt'}"}}
users:
- name: u
  user: {{token: "{token}"}}
contexts:
- name: t
  context: {{cluster: c, user: u, namespace: {bed.ns}}}
""")
    path.chmod(0o600)
    return path
