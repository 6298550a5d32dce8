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


def free_port(ports=None):
    """A port free for both TCP and UDP on loopback (CA uses both): the first free one of
    `ports` when given (a suite's own range), else a random one in 20000-40000."""
    for port in (ports or (random.randint(20000, 40000) for _ in range(200))):
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
    env.update(pva_env())
    return env


def pva_env(server_port=0, broadcast_port=0):
    """pvAccess settings for an IOC built with QSRV (docs/pva.md) and its clients: loopback
    only, and ports the system assigns (0) unless given, so that no test IOC takes PVA's
    5075/5076 or another's port. The PVA suites give their own ports."""
    return {
        "EPICS_PVAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_PVA_SERVER_PORT": str(server_port),
        "EPICS_PVA_BROADCAST_PORT": str(broadcast_port),
        "EPICS_PVA_ADDR_LIST": "127.0.0.1",
        "EPICS_PVA_AUTO_ADDR_LIST": "NO",
    }


def start_ca_repeater(port=None):
    """Start Base's caRepeater on a port of this test run (PORT, or a free one), unless
    EPICS_CA_REPEATER_PORT already names one (the pytest session under tools/run-tests.sh).
    Sets EPICS_CA_REPEATER_PORT; returns the process to stop, or None.

    A CA client (caget, camonitor, the IOC's CA links) that finds no repeater on its port
    spawns one, which inherits the client's stdout and stderr: a caget run with captured
    output then never reaches end-of-file and the test hangs. Ours has /dev/null for both.
    A port of its own per run: two runs sharing one would share one repeater, and the
    second would be left without one when the first stops. caRepeater binds its UDP port on
    every interface (Base's code); it only relays CA beacons from servers on this host to
    clients on this host, and stops with the run."""
    if os.environ.get("EPICS_CA_REPEATER_PORT"):
        return None
    for _ in range(1 if port else 5):
        p = port or free_port()
        env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(p))
        proc = subprocess.Popen([str(BASE_BIN / "caRepeater")], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("", p))
                except OSError:
                    os.environ["EPICS_CA_REPEATER_PORT"] = str(p)
                    return proc       # bound: the repeater is there
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise RuntimeError(f"caRepeater did not bind a UDP port ({port or 'free ones tried'})")


class CA:
    """The real caget/caput/camonitor against one server port."""

    def __init__(self, port):
        self.port = port
        self.env = ca_env(port)

    def run(self, tool, *args, timeout=30):
        cmd = [str(BASE_BIN / tool), *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def get(self, pv, string=False):
        r = self.run("caget", "-t", "-w", "3", *(["-S"] if string else []), pv)
        if r.returncode != 0:
            raise AssertionError(f"caget {pv} failed: {r.stdout}{r.stderr}")
        return r.stdout.strip()

    def try_get(self, pv):
        r = self.run("caget", "-t", "-w", "1", pv)
        return r.stdout.strip() if r.returncode == 0 else None

    def put(self, pv, value, wait=True):
        args = (["-c", "-w", "30"] if wait else []) + [pv, str(value)]
        return self.run("caput", *args, timeout=60)

    def wait_value(self, pv, want, timeout=30, string=False):
        """Wait on a monitor until pv shows want (a value or a predicate)."""
        with self.monitor(pv, string=string) as mon:
            return mon.wait(want, timeout)

    @contextmanager
    def monitor(self, pv, string=False, kind=None):
        mon = (kind or Monitor)(self, pv, string)
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
                self._got(value, sevr)

    def _got(self, value, sevr):
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
        """caget -t of the PV; string=True reads a long string whole: an lsi's VAL$, or
        as it is a char array (LOG, LOG_PREV, NAMES, UNMANAGED: caget -S)."""
        long_string = string and name not in ("LOG", "LOG_PREV", "NAMES", "UNMANAGED")
        pv = self.lpv(name, instance) if long_string else self.pv(name, instance)
        return self.ca.get(pv, string=string)

    def logtext(self):
        return Path(self.log).read_text(errors="replace")


# Signs in an IOC's own output of a crash or a thread that gave up (glibc's heap checks,
# EPICS' cantProceed and epicsAssert). A fatal signal shows in the exit status instead;
# tools/sanitize.sh's reports go to files of their own and are judged there.
CRASH_WORDS = ("double free", "stack smashing", "malloc(): ", "free(): invalid", "can't proceed, suspending",
               "A call to 'assert(")


def stop_process(proc, timeout):
    """SIGTERM to proc (unless it has exited already) and wait at most `timeout` s.
    Returns (how, seconds): how is "exited" (before the signal), "stopped" (within the
    bound) or "hung" (killed after the bound). proc.returncode is set after."""
    if proc.poll() is not None:
        return "exited", 0.0
    t0 = time.monotonic()
    proc.terminate()
    try:
        proc.wait(timeout)
        return "stopped", time.monotonic() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "hung", time.monotonic() - t0


def shutdown_problem(what, how, seconds, returncode, expect, timeout, log_text=""):
    """"" when the process ended as it should, else the sentence that says how not."""
    if how == "hung":
        return f"{what} did not stop within {timeout} s of SIGTERM (killed)"
    if how == "exited" and returncode != expect:
        return f"{what} had exited with status {returncode} before the end of the test, expected {expect}"
    if how == "stopped" and returncode != expect:
        sig = f" (signal {-returncode})" if returncode < 0 else ""
        return f"{what} ended with status {returncode}{sig} on SIGTERM, expected {expect}"
    crash = [w for w in CRASH_WORDS if w in log_text]
    if crash:
        return f"{what}'s output shows a crash: {crash}"
    return ""


@contextmanager
def run_ioc(tmp_path, env_extra, pre_iocsh=(), post_iocsh=(), prefix="TST-IOCMGR-01:", port=None,
            boot_timeout=40, stop_timeout=30, binary=IOCMGR, startup="st.cmd", expect_status=0):
    """Start the built iocmgr with its st.cmd on a CA port of its own; stop it after.

    pre_iocsh lines run before st.cmd (e.g. "var asCheckClientIP 1"), post_iocsh lines
    after iocInit (e.g. "dbl > file"). binary and startup replace the IOC and st.cmd
    (the ibek-generated boot). Yields the Ioc.

    The IOC is stopped with SIGTERM (what Kubernetes sends). When the test body
    passed, its end is asserted: exit status 0 (iocmgrMain's handler exits through
    epicsExit), within stop_timeout s, no crash in its output; an IOC that exited by
    itself (REBOOT) must have exited 0 too, or with expect_status where the test makes
    it exit on purpose (the boot-list failure's 3). ioc.shutdown holds (how, seconds,
    status)."""
    port = port or free_port()
    env = ca_env(port, env_extra.pop("CA_EXTRA_ADDR", ""))
    env.update({"IOCMGR_PREFIX": prefix, "IOCMGR_USERS": "root",
                "IOCMGR_HOSTS": f"{socket.gethostname()},localhost"})
    env.update(env_extra)
    log = tmp_path / f"ioc-{port}.log"
    args = [str(binary), str(startup)]
    if pre_iocsh or post_iocsh:
        script = tmp_path / f"start-{port}.cmd"
        script.write_text("".join(f"{line}\n" for line in (*pre_iocsh, f"< {startup}", *post_iocsh)))
        args = [str(binary), str(script)]
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=TOP / "iocBoot/iociocmgr", env=env,
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
        how, seconds = stop_process(proc, stop_timeout)
        ioc.shutdown = (how, round(seconds, 2), proc.returncode)
    # reached only when the test body passed (an exception leaves through the finally)
    problem = shutdown_problem(f"iocmgr {prefix}", how, seconds, proc.returncode, expect_status, stop_timeout,
                               ioc.logtext())
    if problem:
        raise AssertionError(f"{problem}; the end of its log:\n{ioc.logtext()[-3000:]}")


@contextmanager
def soft_ioc(db, port, what="softIoc", macros=""):
    """Base's softIoc serving `db` (with `macros`, "A=1,B=2") on a CA port of its own (a
    stand-in for an IOC in a pod: kwok runs no container). Stopped with SIGTERM at the
    end (or by the test, with stop_process); softIoc (Base 7.0.3.1) has no handler for
    it, so the signal ends it: status -15 within 10 s is a good end; a crash signal, an
    exit of its own or a hang is a failure."""
    proc = subprocess.Popen([str(BASE_BIN / "softIoc"), *(["-m", macros] if macros else []), "-d", str(db)],
                            env=ca_env(port),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        how, seconds = stop_process(proc, 10)
    problem = shutdown_problem(what, how, seconds, proc.returncode, -15, 10)
    if problem:
        raise AssertionError(problem)


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


# ---- fault and security tests (tests/faults, test_cluster_faults.py, test_cluster_security.py)

FAULTS = TOP / "tests" / "faults"


def write_kubeconfig(path, server, namespace="bl46p-iocs", ca_file=None, insecure=False,
                     token=None, token_file=None, client_cert=None, client_key=None):
    """A one-context kubeconfig; every argument that is None is left out."""
    cluster = [f"    server: {server}"]
    if ca_file:
        cluster.append(f"    certificate-authority: {ca_file}")
    if insecure:
        cluster.append("    insecure-skip-tls-verify: true")
    user = []
    if token:
        user.append(f"    token: {token}")
    if token_file:
        user.append(f"    tokenFile: {token_file}")
    if client_cert:
        user += [f"    client-certificate: {client_cert}", f"    client-key: {client_key}"]
    path.write_text("\n".join([
        "apiVersion: v1", "kind: Config", "current-context: t",
        "clusters:", "- name: c", "  cluster:", *cluster,
        "users:", "- name: u", "  user:", *(user or ["    {}"]),
        "contexts:", "- name: t", "  context:", "    cluster: c", "    user: u",
        f"    namespace: {namespace}", ""]))
    path.chmod(0o600)
    return path


# ---- iocmgr's identity as the chart ships it (deploy/helm/iocmgr)

CHART = TOP / "deploy" / "helm" / "iocmgr"
CHART_SA = "iocmgr-tests"


def helm_executable():
    """IOCMGR_HELM (tools/run-tests.sh sets it), else tests/helm/build.sh (cached by
    version; builds helm from the Go module proxy the first time)."""
    helm = os.environ.get("IOCMGR_HELM", "")
    if helm and Path(helm).is_file():
        return helm
    r = subprocess.run([str(TOP / "tests/helm/build.sh")], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0 or not r.stdout.strip():
        raise AssertionError("the chart's Role is rendered with helm, and tests/helm/build.sh failed "
                             f"(or set IOCMGR_HELM to a helm 3 executable):\n{r.stderr[-3000:]}")
    os.environ["IOCMGR_HELM"] = r.stdout.strip()
    return os.environ["IOCMGR_HELM"]


def chart_identity(cluster, tmp, namespace, name=None, values=(), minutes=180):
    """iocmgr's least-privilege identity exactly as the chart ships it: the chart's
    templates/rbac.yaml (ServiceAccount, Role, RoleBinding, and with argocd.enabled the
    Role on Applications) rendered by helm under release `name` for `namespace`, with
    `values` (e.g. rbac.deployments=true for a beamline with the oldest charts'
    Deployments), applied by the admin; returns a kubeconfig with a token of that
    ServiceAccount. The chart is the one source of the rules: a rule removed from it is
    a right this identity no longer has, and the test needing it fails with a 403; a
    Role or RoleBinding of the release that the chart no longer renders is deleted.
    The name (CHART_SA, CHART_SA-argo with Argo CD mode) differs from the demo's own
    ServiceAccount `iocmgr` (tests/cluster/demo/01-rbac.yaml), whose Role must not add
    its rights, and Argo CD mode's Roles never reach the plain identity."""
    argo = any(v.startswith("argocd.enabled=true") for v in values)
    name = name or (f"{CHART_SA}-argo" if argo else CHART_SA)
    sets = ["--set", f"serviceAccount.name={name}"]
    for v in values:
        sets += ["--set", v]
    env = dict(cluster.env, HELM_CACHE_HOME=str(tmp / "helm-cache"), HELM_CONFIG_HOME=str(tmp / "helm-config"),
               HELM_DATA_HOME=str(tmp / "helm-data"))
    r = subprocess.run([helm_executable(), "template", name, str(CHART), "--namespace", namespace,
                        "--show-only", "templates/rbac.yaml", *sets], env=env, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"helm template {CHART} (rbac.yaml): {r.stderr}")
    a = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-", "-o", "name"],
                       input=r.stdout, env=cluster.env, capture_output=True, text=True, timeout=60)
    if a.returncode != 0:
        raise AssertionError(f"kubectl apply of the chart's rbac.yaml: {a.stderr}")
    rendered = set(a.stdout.split())
    app_ns = [v.split("=", 1)[1] for v in values if v.startswith("argocd.appNamespace=")]
    for ns in {namespace, *app_ns}:
        have = cluster.kubectl("-n", ns, "get", "role,rolebinding", "-o", "name", "-l",
                               f"app.kubernetes.io/instance={name}").split()
        stale = [obj for obj in have if obj not in rendered]
        if stale:
            cluster.kubectl("-n", ns, "delete", *stale)
    token = cluster.kubectl("-n", namespace, "create", "token", name, f"--duration={minutes}m")
    return write_kubeconfig(tmp / f"{name}-{namespace}.kubeconfig", cluster.env["IOCMGR_API_URL"],
                            namespace=namespace, ca_file=cluster.dir / "ca.crt", token=token)


class SlowProxy:
    """tests/faults/slowproxy.py in the background: a loopback TCP proxy to the
    apiserver that can delay, cut, refuse and freeze (see its docstring)."""

    def __init__(self, target_port, max_seconds=900):
        self.proc = subprocess.Popen(
            ["python3", str(FAULTS / "slowproxy.py"), "--target", f"127.0.0.1:{target_port}",
             "--max-seconds", str(max_seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        words = self.proc.stdout.readline().split()
        if len(words) < 5 or words[0] != "slowproxy":
            self.proc.kill()
            raise AssertionError(f"slowproxy did not start: {words}")
        self.port, self.control = int(words[2]), int(words[4])

    def cmd(self, line):
        with socket.create_connection(("127.0.0.1", self.control), timeout=10) as s:
            s.sendall((line + "\n").encode())
            answer = s.makefile().readline().strip()
        if not answer.startswith(("ok", "conns")):
            raise AssertionError(f"slowproxy {line}: {answer}")
        return answer

    def close(self):
        if self.proc.poll() is None:
            try:
                self.cmd("quit")
                self.proc.wait(10)
            except (OSError, AssertionError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def admin_context(cluster_dir):
    """TLS context of the local cluster's admin: its CA and client certificate."""
    import ssl
    pki = Path(cluster_dir) / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return ctx


class ApiWatch:
    """A raw watch of one collection with the admin client certificate, in a thread,
    so a test can count what really happened on the server. keep=True: every event is
    kept as (monotonic time, type, name, uid, resourceVersion, object). keep=False (the
    soak's million events): nothing is kept or decoded beyond the type. Either way
    `counts` holds the events by type and `error` why the stream ended early."""

    def __init__(self, cluster_dir, api_port, path, timeout_seconds=600, keep=True):
        import http.client
        self.keep = keep
        self.events = []
        self.counts = {}
        self.error = ""
        self.closed = False
        self.conn = http.client.HTTPSConnection("127.0.0.1", api_port, context=admin_context(cluster_dir),
                                                timeout=timeout_seconds)
        sep = "&" if "?" in path else "?"
        self.conn.request("GET", f"{path}{sep}watch=1&timeoutSeconds={int(timeout_seconds)}")
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise AssertionError(f"watch {path}: HTTP {self.resp.status}")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        import json
        try:
            for line in self.resp:
                if self.keep:
                    ev = json.loads(line)
                    kind = ev["type"]
                    meta = ev["object"].get("metadata", {})
                    self.events.append((time.monotonic(), kind, meta.get("name"), meta.get("uid"),
                                        meta.get("resourceVersion"), ev["object"]))
                else:
                    # '{"type":"MODIFIED",...': the type is the first value
                    kind = line[9:line.index(b'"', 9)].decode() if line.startswith(b'{"type":"') else "?"
                self.counts[kind] = self.counts.get(kind, 0) + 1
        except Exception as e:   # noqa: BLE001 (also what close() causes)
            if not self.closed:
                self.error = f"{type(e).__name__}: {e}"

    def of(self, name, types=("ADDED", "MODIFIED", "DELETED")):
        return [e for e in list(self.events) if e[2] == name and e[1] in types]

    def close(self):
        self.closed = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()


def fault(script, *args, timeout=120, check=True):
    """Run tests/faults/SCRIPT (or tests/cluster/SCRIPT for apiserver.sh) with the
    caller's environment (IOCMGR_CLUSTER_DIR and ports)."""
    path = FAULTS / script if (FAULTS / script).exists() else TOP / "tests/cluster" / script
    r = subprocess.run([str(path), *args], env=dict(os.environ), capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)}: {r.stdout}{r.stderr}")
    return r.stdout.strip()


def settled(count, quiet, timeout, what="the count"):
    """Wait until count() has not changed for `quiet` seconds (at most `timeout`), and say
    so: the bounded, reported window after which "it happened exactly N times" or "it
    never happened" is read, instead of a fixed sleep. Returns the final count."""
    t0 = time.monotonic()
    last, since = count(), t0
    while time.monotonic() - since < quiet:
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what} still changing after {timeout}s (last {last})")
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    print(f"settled: {what} = {last}, unchanged for {quiet:g} s ({time.monotonic() - t0:.1f} s in all)")
    return last


def wait_until(pred, timeout, step=0.1, what="condition"):
    """Poll pred() until it is true; returns seconds taken, raises on timeout."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class TimedMonitor(Monitor):
    """Monitor that also keeps when each update arrived: timeline [(monotonic, value, sevr)]."""

    def __init__(self, ca, pv, string=False):
        self.timeline = []
        super().__init__(ca, pv, string)

    def _got(self, value, sevr):
        self.timeline.append((time.monotonic(), value, sevr))
        super()._got(value, sevr)

    def first(self, pred, after=0.0):
        """Time of the first update at or after `after` matching pred(value, sevr), or None."""
        for t, v, s in list(self.timeline):
            if t >= after and pred(v, s):
                return t
        return None

    def wait_after(self, pred, after, timeout):
        """Wait for an update at or after `after` matching pred (value or predicate);
        returns its time. Unlike wait(), updates queued earlier never satisfy it."""
        test = pred if callable(pred) else (lambda v, s: v == str(pred))
        deadline = time.monotonic() + timeout
        while (t := self.first(test, after)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s; timeline {self.timeline}")
            time.sleep(0.02)
        return t


def timed_monitor(ca, pv, string=False):
    return ca.monitor(pv, string, kind=TimedMonitor)


def ca_tools_for_any_user():
    """caget/caput/camonitor/cainfo with the EPICS libraries they load, copied to a
    world-readable directory: EPICS Base in a cache under /root (mode 0700) cannot
    be loaded by another user, so `setpriv --reuid nobody caput` would fail before
    sending anything. Returns (directory, env additions); the binaries use
    RUNPATH, so LD_LIBRARY_PATH wins."""
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="iocmgr-ca-tools-"))
    d.chmod(0o755)
    for tool in ("caget", "caput", "camonitor", "cainfo"):
        shutil.copy2(BASE_BIN / tool, d / tool)
    for lib in (EPICS_BASE / "lib" / ARCH).glob("lib*.so*"):
        if lib.name.startswith(("libca.", "libCom.")):
            shutil.copy2(lib, d / lib.name, follow_symlinks=True)
    for f in d.iterdir():
        f.chmod(0o755)
    return d, {"LD_LIBRARY_PATH": str(d)}


if __name__ == "__main__":
    # tools/run-tests.sh and tests/bench/run.sh: "iocmgrtest.py ca-repeater [PORT]" starts
    # the run's caRepeater (left running) and prints "PORT PID".
    import sys
    if len(sys.argv) in (2, 3) and sys.argv[1] == "ca-repeater":
        os.environ.pop("EPICS_CA_REPEATER_PORT", None)
        repeater = start_ca_repeater(int(sys.argv[2]) if len(sys.argv) == 3 else None)
        print(os.environ["EPICS_CA_REPEATER_PORT"], repeater.pid)
    else:
        sys.exit("usage: iocmgrtest.py ca-repeater [PORT]")
