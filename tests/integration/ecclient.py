"""The real `ec` CLI (edge-containers-cli 5.5.2, tests/ec/venv.sh) with its K8S backend, as
the interop tests drive it (tests/integration/test_ec_interop.py on the local control
plane, tests/node/test_node_ec.py on real pods): every command and its output to a log."""
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from iocmgrtest import TOP, helm_executable


@contextmanager
def transcript_to(path):
    """A log(text) writing time-stamped entries to path (made anew)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f:
        yield lambda text: f.write(f"[{time.strftime('%H:%M:%S')}] {text.rstrip()}\n")


def tool_path(script):
    r = subprocess.run([str(TOP / script)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        pytest.fail(f"{script} failed: {r.stderr[-1500:]}")
    return Path(r.stdout.strip().splitlines()[-1])


class Ec:
    """The real `ec` with its K8S backend: EC_TARGET names the namespace; helm and kubectl
    on PATH, KUBECONFIG the cluster's admin."""

    def __init__(self, cluster, ec, helm, log, namespace):
        self.ec, self.log, self.namespace = ec, log, namespace
        self.env = {**cluster.env, "EC_CLI_BACKEND": "K8S", "KUBECONFIG": cluster.kubeconfig,
                    "PATH": f"{helm.parent}:{ec.parent}:{cluster.env['PATH']}", "COLUMNS": "200"}

    def run(self, *args, ns=None, check=True):
        ns = ns or self.namespace
        t0 = time.monotonic()
        r = subprocess.run([str(self.ec), *args], env={**self.env, "EC_TARGET": ns},
                           capture_output=True, text=True, timeout=60)
        dt = time.monotonic() - t0
        self.log(f"$ EC_TARGET={ns} ec {' '.join(args)}    # {dt:.2f} s, exit {r.returncode}\n"
                 f"{r.stdout}{r.stderr}")
        if check and r.returncode != 0:
            raise AssertionError(f"ec {' '.join(args)}: exit {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def ps(self, ns=None):
        """{name: health} from the table `ec ps` prints (rich's box characters)."""
        rows = {}
        for line in self.run("ps", ns=ns).stdout.splitlines():
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if len(cells) >= 3 and cells[0] and cells[0] != "name":
                rows[cells[0]] = cells[2]
        return rows

    def wait_health(self, name, health, timeout=60):
        """Re-run `ec ps` (what a user of ec does) until NAME shows HEALTH."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            h = self.ps().get(name)
            seen.append(h)
            if h == health:
                return seen
        raise AssertionError(f"ec ps never showed {name} {health} in {timeout} s; seen {seen}")


def ec_for(cluster, log, namespace):
    """The real ec (tests/ec/venv.sh) with helm (iocmgrtest.helm_executable) for
    the cluster's namespace; logs what runs"""
    ec_bin = tool_path("tests/ec/venv.sh")
    helm = Path(helm_executable())
    e = Ec(cluster, ec_bin, helm, log, namespace)
    log(f"ec: {ec_bin} ({e.run('--version', check=False).stdout.strip()}); helm: {helm}; "
        f"kubectl and KUBECONFIG: {cluster.kubeconfig}")
    return e
