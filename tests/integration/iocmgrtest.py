"""Helpers for iocmgr's integration tests: the built IOC, the real Channel
Access command-line clients from the built EPICS Base, and the local
Kubernetes control plane (tests/cluster). Everything listens on loopback."""
import os
import queue
import random
import re
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("IOCMGR_CACHE",
                            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "iocmgr"))


def _epics_base():
    for name in ("RELEASE.local", "RELEASE.deps"):
        f = TOP / "configure" / name
        if f.exists():
            for line in f.read_text().splitlines():
                m = re.match(r"\s*EPICS_BASE\s*=\s*(\S+)", line)
                if m:
                    return Path(m.group(1))
    raise RuntimeError("EPICS_BASE unknown: run 'make deps' first")


EPICS_BASE = _epics_base()
ARCH = subprocess.run(["perl", str(EPICS_BASE / "lib/perl/EpicsHostArch.pl")],
                      capture_output=True, text=True, check=True).stdout.strip()
BASE_BIN = EPICS_BASE / "bin" / ARCH
IOCMGR = TOP / "bin" / ARCH / "iocmgr"


def free_port():
    """A port free for both TCP and UDP on loopback (CA uses both)."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                t.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def ca_env(port, extra_addr=""):
    env = dict(os.environ)
    env.update({
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_ADDR_LIST": ("127.0.0.1 " + extra_addr).strip(),
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_MAX_ARRAY_BYTES": "1000000",
        "PATH": f"{BASE_BIN}:{os.environ.get('PATH', '')}",   # caRepeater
    })
    return env


class CA:
    """The real caget/caput/camonitor against one server port."""

    def __init__(self, port):
        self.port = port
        self.env = ca_env(port)

    def run(self, tool, *args, timeout=30, user=None):
        cmd = [str(BASE_BIN / tool), *args]
        if user:
            cmd = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *cmd]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def get(self, pv, string=False):
        r = self.run("caget", "-t", "-w", "3", *(["-S"] if string else []), pv)
        if r.returncode != 0:
            raise AssertionError(f"caget {pv} failed: {r.stdout}{r.stderr}")
        return r.stdout.strip()

    def try_get(self, pv):
        r = self.run("caget", "-t", "-w", "1", pv)
        return r.stdout.strip() if r.returncode == 0 else None

    def put(self, pv, value, user=None, wait=True):
        args = (["-c", "-w", "30"] if wait else []) + [pv, str(value)]
        return self.run("caput", *args, user=user, timeout=60)

    def wait_value(self, pv, want, timeout=30, string=False):
        """Wait on a monitor until pv shows want (a value or a predicate)."""
        with self.monitor(pv, string=string) as mon:
            return mon.wait(want, timeout)

    @contextmanager
    def monitor(self, pv, string=False):
        mon = Monitor(self, pv, string)
        try:
            yield mon
        finally:
            mon.close()


class Monitor:
    """camonitor in the background; every update is kept as (value, severity)."""

    def __init__(self, ca, pv, string):
        args = [str(BASE_BIN / "camonitor"), "-t", "n", "-F", "|", "-w", "5"]
        if string:
            args.append("-S")
        self.proc = subprocess.Popen(args + [pv], env=ca.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.updates = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            # "-t n -F |": name|(no time)|value|status|severity
            parts = line.rstrip("\n").split("|")
            if len(parts) >= 3:
                value = parts[2].strip()
                sevr = parts[4].strip() if len(parts) > 4 and parts[4].strip() else "NO_ALARM"
                self.updates.put((value, sevr))

    def wait(self, want, timeout):
        pred = want if callable(want) else (lambda v, s: v == str(want))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting; seen {self.seen}")
            try:
                value, sevr = self.updates.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append((value, sevr))
            if pred(value, sevr):
                return value, sevr

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Ioc:
    def __init__(self, proc, prefix, ca, log):
        self.proc, self.prefix, self.ca, self.log = proc, prefix, ca, log

    def pv(self, name, instance=None):
        return f"{self.prefix}{instance.upper() + ':' if instance else ''}{name}"

    def lpv(self, name, instance=None):
        """A long string record's value as a char array, unbounded by 40 characters."""
        return self.pv(name, instance) + ".VAL$"

    def get(self, name, instance=None, string=False):
        long_string = string and name not in ("LOG", "LOG_PREV")
        pv = self.lpv(name, instance) if long_string else self.pv(name, instance)
        return self.ca.get(pv, string=string)

    def logtext(self):
        return Path(self.log).read_text(errors="replace")


@contextmanager
def run_ioc(tmp_path, env_extra, prefix="TST-IOCMGR-01:", port=None, boot_timeout=40):
    """Start the built iocmgr with its st.cmd on a port of its own; stop it after."""
    port = port or free_port()
    env = ca_env(port, env_extra.pop("CA_EXTRA_ADDR", ""))
    env.update({"IOCMGR_PREFIX": prefix, "IOCMGR_USERS": "root",
                "IOCMGR_HOSTS": f"{socket.gethostname()},localhost"})
    env.update(env_extra)
    log = tmp_path / f"ioc-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(IOCMGR), "st.cmd"], cwd=TOP / "iocBoot/iociocmgr", env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    ioc = Ioc(proc, prefix, CA(port), log)
    try:
        deadline = time.monotonic() + boot_timeout
        while ioc.ca.try_get(prefix + "HEARTBEAT") is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"iocmgr did not come up:\n{ioc.logtext()}")
            time.sleep(0.2)
        yield ioc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_unreachable_kubeconfig(path):
    """A kubeconfig whose API server is a closed port on loopback."""
    path.write_text("""apiVersion: v1
kind: Config
current-context: t
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
users:
- name: u
  user:
    token: not-used
contexts:
- name: t
  context:
    cluster: c
    user: u
    namespace: bl46p-iocs
""")
    return path
