#!/usr/bin/env python3
"""iocmgr performance harness (tests/bench; docs/performance.md). Python stdlib only.

Subcommands (tests/bench/run.sh drives them; the cluster comes from $IOCMGR_CLUSTER_DIR):
  bench.py create N        make StatefulSets bench-ioc-00001..N in $BENCH_NAMESPACE, shaped like
                           tests/cluster/demo/10-bl46p-ea-ioc-01.yaml; wait until every pod is Ready
  bench.py run N           one measurement round against the N instances: boot, RSS, idle CPU,
                           CA server load, change->monitor latency, 'ps' comparison, commands
  bench.py watch OUT       raw pod watch, one timestamped line per event (used by 'run')
  bench.py apirate N       requests/s at the apiserver (apiserver_request_total): nothing, iocmgr,
                           the real `ec monitor` (BENCH_EC) watching the namespace; idle and churn
  bench.py report          the results table (median of the rounds) from $BENCH_OUT/*.json
  bench.py cleanup         delete the bench StatefulSets (the namespace stays)

Every figure is printed; nothing here passes or fails on time.
"""
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import http.client
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parents[1]
sys.path.insert(0, str(TOP / "tests" / "integration"))
import iocmgrtest  # noqa: E402  (the Base in use, free loopback ports, the CA environment)
NS = os.environ.get("BENCH_NAMESPACE", "bench-iocs")
PREFIX = os.environ.get("BENCH_PREFIX", "BENCH-IOCMGR:")
CLUSTER = Path(os.environ.get("IOCMGR_CLUSTER_DIR", Path.home() / ".cache/iocmgr/cluster-bench"))
OUT = Path(os.environ.get("BENCH_OUT", HERE / "results"))
IDLE_S = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
QUIET_S = float(os.environ.get("BENCH_QUIET_SECONDS", "15"))
LAT_CHANGES = int(os.environ.get("BENCH_LATENCY_CHANGES", "200"))
LAT_RATE = float(os.environ.get("BENCH_LATENCY_RATE", "3"))
CMD_COUNT = int(os.environ.get("BENCH_COMMANDS", "100"))
PS_REPEAT = int(os.environ.get("BENCH_PS_REPEAT", "10"))
BOOT_TIMEOUT = float(os.environ.get("BENCH_BOOT_TIMEOUT", "120"))
# container: the IOC runs with a container's default capabilities (see Ioc); host: as started
IOC_MODE = os.environ.get("BENCH_IOC_MODE", "container")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


ARCH = os.environ.get("EPICS_HOST_ARCH", "linux-x86_64")
IOC_TOP = Path(os.environ.get("BENCH_IOC_TOP", TOP))    # the built IOC measured (default: this tree)
IOCMGR = IOC_TOP / "bin" / ARCH / "iocmgr"
CASTATUS = HERE / f"O.{ARCH}" / "castatus"


def cluster_bin():
    for line in (CLUSTER / "env").read_text().splitlines():
        m = re.match(r"export IOCMGR_CLUSTER_BIN='(.*)'", line)
        if m:
            return Path(m.group(1))
    raise SystemExit(f"bench: no IOCMGR_CLUSTER_BIN in {CLUSTER}/env: is the cluster up?")


def api_url():
    for line in (CLUSTER / "env").read_text().splitlines():
        m = re.match(r"export IOCMGR_API_URL='https://([^:]+):(\d+)'", line)
        if m:
            return m.group(1), int(m.group(2))
    raise SystemExit(f"bench: no IOCMGR_API_URL in {CLUSTER}/env")


def name_of(i):
    return f"bench-ioc-{i:05d}"


# ------------------------------------------------------------------ the API

class Api:
    """Admin client (the cluster's client certificate), one keep-alive connection per thread."""

    def __init__(self):
        self.host, self.port = api_url()
        self.ctx = iocmgrtest.admin_context(CLUSTER)
        self.local = threading.local()

    def conn(self, timeout=60):
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
            self.local.c = c
        return c

    def request(self, method, path, body=None, ctype="application/json"):
        for attempt in range(3):
            c = self.conn()
            try:
                headers = {"Accept": "application/json"}
                data = None
                if body is not None:
                    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                    headers["Content-Type"] = ctype
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                payload = r.read()
                return r.status, (json.loads(payload) if payload[:1] in (b"{", b"[") else payload)
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def list_all(self, path):
        items, cont = [], ""
        while True:
            sep = "&" if "?" in path else "?"
            st, body = self.request("GET", f"{path}{sep}limit=500" + (f"&continue={cont}" if cont else ""))
            if st != 200:
                raise RuntimeError(f"GET {path}: HTTP {st}: {body}")
            items += body.get("items", [])
            cont = body.get("metadata", {}).get("continue", "")
            if not cont:
                return items, body["metadata"].get("resourceVersion", "")


def statefulset(name):
    """The shape of tests/cluster/demo/10-bl46p-ea-ioc-01.yaml (ioc-instance chart)."""
    labels = {"app": name, "ioc": "true", "location": "bl46p", "domain": "bl46p", "enabled": "true",
              "description": "Bench-simulated-IOC", "commitHash": "c0ffee1"}
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS,
                     # is_ioc as well: `ec ps` selects on it (docs/ec.md), and must list them all
                     "labels": {**labels, "is_ioc": "true", "iocmgr.bench": "true",
                                "app.kubernetes.io/managed-by": "Helm",
                                "helm.sh/chart": "ioc-instance-4.0.0"},
                     "annotations": {"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": NS}},
        "spec": {
            "replicas": 1, "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True, "terminationGracePeriodSeconds": 3,
                    "tolerations": [{"key": "beamline", "operator": "Equal", "value": "bl46p",
                                     "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "ioc", "image": "ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1",
                        "command": ["bash", "-c"], "args": ["/epics/ioc/start.sh"], "stdin": True, "tty": True,
                        "env": [{"name": "IOC_NAME", "value": name}, {"name": "IOC_PREFIX", "value": name.upper()},
                                {"name": "IOC_LOCATION", "value": "bl46p"}, {"name": "IOC_GROUP", "value": "bl46p"},
                                {"name": "RUNTIME_DIR", "value": "/epics/runtime"},
                                {"name": "CONFIG_DIR", "value": "/epics/ioc/config"}],
                        "livenessProbe": {"exec": {"command": ["/bin/bash", "-c", "/epics/ioc/liveness.sh"]},
                                          "initialDelaySeconds": 120, "periodSeconds": 10},
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                                      "requests": {"cpu": "100m", "memory": "64Mi"}},
                        "volumeMounts": [
                            {"name": "config-volume", "mountPath": "/epics/ioc/config"},
                            {"name": "runtime-volume", "mountPath": "/epics/runtime", "subPath": name},
                            {"name": "opi-volume", "mountPath": "/epics/opi", "subPath": name},
                            {"name": "autosave-volume", "mountPath": "/autosave", "subPath": name}],
                    }],
                    "volumes": [
                        # one ConfigMap shared by all bench instances (the chart makes one each)
                        {"name": "config-volume", "configMap": {"name": "bench-ioc-config"}},
                        {"name": "runtime-volume", "persistentVolumeClaim": {"claimName": "bl46p-runtime-claim"}},
                        {"name": "opi-volume", "persistentVolumeClaim": {"claimName": "bl46p-opi-claim"}},
                        {"name": "autosave-volume", "persistentVolumeClaim": {"claimName": "bl46p-autosave-claim"}}],
                },
            },
        },
    }


def kubectl(*args, **kw):
    return subprocess.run([str(cluster_bin() / "kubectl"), "--kubeconfig", str(CLUSTER / "kubeconfig"), *args],
                          capture_output=True, text=True, **kw)


def ec_command(*args):
    """(argv, env) running the real `ec` (BENCH_EC, from tests/ec/venv.sh) with its K8S backend
    on the bench namespace: helm (BENCH_HELM) and kubectl on PATH, the admin kubeconfig.
    None when run.sh did not provide ec."""
    ec, helm = os.environ.get("BENCH_EC"), os.environ.get("BENCH_HELM")
    if not ec or not helm:
        return None
    env = dict(os.environ, EC_CLI_BACKEND="K8S", EC_TARGET=NS, KUBECONFIG=str(CLUSTER / "kubeconfig"),
               PATH=f"{Path(helm).parent}:{cluster_bin()}:{os.environ['PATH']}", COLUMNS="200")
    return [ec, *args], env


def ensure_storage():
    text = "\n---\n".join((TOP / "tests/cluster/demo" / f).read_text().replace("bl46p-iocs", NS)
                           for f in ("00-namespace.yaml", "02-storage.yaml"))
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "bench-ioc-config", "namespace": NS},
          "data": {"ioc.yaml": "ioc_name: \"{{ _global.get_env('IOC_NAME') }}\"\nentities: []\n"}}
    r = subprocess.run([str(cluster_bin() / "kubectl"), "--kubeconfig", str(CLUSTER / "kubeconfig"),
                        "apply", "-f", "-"], input=text + "\n---\n" + json.dumps(cm), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: kubectl apply of the storage failed: {r.stderr}")


def pod_ready(p):
    st = p.get("status", {})
    if p["metadata"].get("deletionTimestamp") or st.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions", []))


def count_ready(api):
    pods, _ = api.list_all(f"/api/v1/namespaces/{NS}/pods?labelSelector=ioc%3Dtrue")
    return sum(1 for p in pods if pod_ready(p)), len(pods)


def wait_ready(api, n, timeout, what="pods"):
    t0 = time.time()
    last = -1
    while True:
        ready, total = count_ready(api)
        if ready != last:
            log(f"  {ready}/{n} {what} Ready ({total} pods) after {time.time() - t0:.0f} s")
            last = ready
        if ready >= n:
            return time.time() - t0
        if time.time() - t0 > timeout:
            raise SystemExit(f"bench: only {ready}/{n} pods Ready after {timeout:.0f} s")
        time.sleep(2 if n < 2000 else 5)


def wait_quiet(api, timeout=900):
    """Every pod Ready is not a quiet cluster: at 5,000 the StatefulSet controller goes on
    updating StatefulSet status and posting Events for minutes (its client is rate limited):
    ~17 StatefulSet and ~3 Event changes a second here, all of which the IOC follows. Boot
    and idle are measured once the namespace has had no change for QUIET_S seconds.
    Returns (seconds waited, changes seen)."""
    watches = []
    t0 = time.monotonic()
    try:
        for path in (f"/apis/apps/v1/namespaces/{NS}/statefulsets", f"/api/v1/namespaces/{NS}/pods",
                     f"/api/v1/namespaces/{NS}/events"):
            _, body = api.request("GET", f"{path}?limit=1")
            rv = body["metadata"]["resourceVersion"]
            watches.append(iocmgrtest.ApiWatch(CLUSTER, api.port, f"{path}?resourceVersion={rv}",
                                               timeout_seconds=int(timeout) + 60))
        while True:
            now = time.monotonic()
            last = max([t0] + [w.events[-1][0] for w in watches if w.events])
            changes = sum(len(w.events) for w in watches)
            if now - last >= QUIET_S:
                return now - t0, changes
            if now - t0 > timeout:
                log(f"  the namespace still changes after {timeout:.0f} s ({changes} changes): measuring anyway")
                return now - t0, changes
            time.sleep(1)
    finally:
        for w in watches:
            w.close()


def cmd_create(n):
    api = Api()
    ensure_storage()
    existing, _ = api.list_all(f"/apis/apps/v1/namespaces/{NS}/statefulsets?labelSelector=iocmgr.bench%3Dtrue")
    have = {s["metadata"]["name"] for s in existing}
    todo = [name_of(i) for i in range(1, n + 1) if name_of(i) not in have]
    log(f"creating {len(todo)} StatefulSets in {NS} ({len(have)} exist)")
    t0 = time.time()
    errors = []

    def worker(chunk):
        for name in chunk:
            st, body = api.request("POST", f"/apis/apps/v1/namespaces/{NS}/statefulsets", statefulset(name))
            if st not in (201, 409):
                errors.append(f"{name}: HTTP {st}: {str(body)[:200]}")

    threads = [threading.Thread(target=worker, args=(todo[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("bench: creating StatefulSets failed:\n" + "\n".join(errors[:10]))
    t_post = time.time() - t0
    # StatefulSets of a bench cluster made before they carried is_ioc
    r = kubectl("-n", NS, "label", "statefulsets", "-l", "iocmgr.bench=true,!is_ioc", "is_ioc=true")
    if r.returncode != 0:
        raise SystemExit(f"bench: labelling is_ioc=true failed: {r.stderr}")
    log(f"  {len(todo)} created in {t_post:.1f} s; waiting for the pods (controller-manager, scheduler, kwok)")
    t_ready = wait_ready(api, n, float(os.environ.get("BENCH_CREATE_TIMEOUT", "3600")))
    res = {"n": n, "created": len(todo), "post_s": round(t_post, 1), "all_ready_s": round(t_ready + t_post, 1),
           "load": os.getloadavg()[0]}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"create-{n}.json", "w") as f:
        json.dump(res, f, indent=1)
    log(f"  cluster: {len(todo)} instances Ready {res['all_ready_s']} s after the first POST")


def cmd_cleanup():
    api = Api()
    st, body = api.request("DELETE", f"/apis/apps/v1/namespaces/{NS}/statefulsets?labelSelector=iocmgr.bench%3Dtrue")
    log(f"deleted bench StatefulSets: HTTP {st}")


# ------------------------------------------------------------------ the watch

def cmd_watch(out):
    """Raw pod watch: '<arrival time> <type> <pod> <uid> <deleting 0/1> <phase> <ready 0/1>' per event."""
    api = Api()
    st, body = api.request("GET", f"/api/v1/namespaces/{NS}/pods?limit=1")
    rv = body["metadata"]["resourceVersion"]
    c = http.client.HTTPSConnection(api.host, api.port, context=api.ctx, timeout=3600)
    c.request("GET", f"/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion={rv}&timeoutSeconds=3000",
              headers={"Accept": "application/json"})
    r = c.getresponse()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    with open(out, "w", buffering=1) as f:
        f.write(f"{time.time():.6f} STARTED - - - - -\n")
        while True:
            line = r.readline()
            t = time.time()
            if not line:
                break
            try:
                ev = json.loads(line)
                o = ev["object"]
                md = o.get("metadata", {})
                f.write(f"{t:.6f} {ev['type']} {md.get('name', '-')} {md.get('uid', '-')} "
                        f"{1 if md.get('deletionTimestamp') else 0} {o.get('status', {}).get('phase', '-')} "
                        f"{1 if pod_ready(o) else 0}\n")
            except (ValueError, KeyError):
                continue


def start_watch(out):
    """The raw pod watch: kwatch (C, libcurl, like iocmgr's network thread) when built, else
    `bench.py watch`. BENCH_WATCHER=python forces the latter."""
    kw = HERE / f"O.{ARCH}" / "kwatch"
    if kw.exists() and os.environ.get("BENCH_WATCHER", "c") == "c":
        host, port = api_url()
        return subprocess.Popen([str(kw), f"https://{host}:{port}", str(CLUSTER / "ca.crt"),
                                 str(CLUSTER / "pki/admin.crt"), str(CLUSTER / "pki/admin.key"), NS, str(out)])
    return subprocess.Popen([sys.executable, str(HERE / "bench.py"), "watch", str(out)])


def read_watch(path):
    evs = []
    for line in Path(path).read_text().splitlines():
        p = line.split()
        if len(p) == 7 and p[1] != "STARTED":
            evs.append((float(p[0]), p[1], p[2], p[3], p[4] == "1", p[5], p[6] == "1"))
    return evs


def first_deleting(evs, pod, after):
    """Arrival time of the first event after `after` showing pod being deleted."""
    for t, typ, name, uid, deleting, phase, ready in evs:
        if name == pod and t >= after and (deleting or typ == "DELETED"):
            return t
    return None


# ------------------------------------------------------------------ the IOC

VARIANT = os.environ.get("BENCH_VARIANT", "stock")
TEMPLATE_SED = os.environ.get("BENCH_TEMPLATE_SED", "")
STCMD_SED = os.environ.get("BENCH_STCMD_SED", "")


def snapshot_dir():
    return OUT / ("snapshot" if VARIANT == "stock" else f"snapshot-{VARIANT}")


def make_snapshot():
    """Copy the built IOC (binary, libraries, dbd, db, iocBoot) so that a rebuild in the work tree
    during a long run does not change what is measured. The shipped st.cmd is used as it is,
    plus NELM=$(IOCMGR_NELM=1000) handed to iocmgr.iocsh so NAMES can hold every instance.
    BENCH_TEMPLATE_SED and BENCH_STCMD_SED (sed scripts) edit the snapshot's instance template
    and st.cmd for a what-if variant (BENCH_VARIANT names it); the stock run leaves them alone."""
    import hashlib
    import shutil
    snap = snapshot_dir()
    if (snap / "provenance.json").exists():
        return snap
    if snap.exists():
        shutil.rmtree(snap)
    (snap / "bin" / ARCH).mkdir(parents=True)
    shutil.copy2(IOCMGR, snap / "bin" / ARCH / "iocmgr")
    shutil.copytree(IOC_TOP / "lib" / ARCH, snap / "lib" / ARCH, symlinks=True,
                    ignore=shutil.ignore_patterns("*.a"))
    for d in ("dbd", "db"):
        shutil.copytree(IOC_TOP / d, snap / d)
    shutil.copytree(IOC_TOP / "iocBoot/iociocmgr", snap / "iocBoot/iociocmgr")
    (snap / "iocBoot/iociocmgr/envPaths").write_text(
        f'epicsEnvSet("IOC","iociocmgr")\nepicsEnvSet("TOP","{snap}")\n'
        f'epicsEnvSet("EPICS_BASE","{iocmgrtest.EPICS_BASE}")\n')
    stcmd = snap / "iocBoot/iociocmgr/st.cmd"
    text = stcmd.read_text()
    nelm = 'iocshLoad("iocBoot/iociocmgr/iocmgr.iocsh", "'
    nelm_ok = nelm in text
    if nelm_ok:
        text = text.replace(nelm, nelm + "NELM=$(IOCMGR_NELM=1000),")
        stcmd.write_text(text)
    if TEMPLATE_SED:
        subprocess.run(["sed", "-i", TEMPLATE_SED, str(snap / "db/iocmgrInstance.template")], check=True)
    if STCMD_SED:
        subprocess.run(["sed", "-i", STCMD_SED, str(stcmd)], check=True)
    git = lambda *a: subprocess.run(["git", "-C", str(TOP), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    prov = {"git_head": git("rev-parse", "--short", "HEAD"),
            "git_dirty_product": git("status", "--porcelain", "iocmgrApp", "iocBoot"),
            "iocmgr_sha256": hashlib.sha256((snap / "bin" / ARCH / "iocmgr").read_bytes()).hexdigest()[:16],
            "support_sha256": hashlib.sha256((snap / "lib" / ARCH / "libiocmgrSupport.so").read_bytes()).hexdigest()[:16],
            "iocmgr_built": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(IOCMGR.stat().st_mtime)),
            "ioc_top": str(IOC_TOP), "variant": VARIANT, "template_sed": TEMPLATE_SED, "stcmd_sed": STCMD_SED, "names_nelm_macro": nelm_ok,
            "taken": time.strftime("%Y-%m-%d %H:%M:%S")}
    (snap / "provenance.json").write_text(json.dumps(prov, indent=1))
    log(f"snapshot of the built IOC in {snap}: {prov}")
    return snap


def ioc_port():
    """The IOC's CA port: a free one of BENCH_CA_PORTS ("LO-HI", a machine's port plan), else any."""
    r = os.environ.get("BENCH_CA_PORTS")
    if not r:
        return iocmgrtest.free_port()
    lo, hi = (int(x) for x in r.split("-"))
    return iocmgrtest.free_port(range(lo, hi + 1))


def ca_env(port):
    env = iocmgrtest.ca_env(port)
    env["EPICS_CA_MAX_ARRAY_BYTES"] = "10000000"      # NAMES of every instance
    return env


class Ioc:
    """The built iocmgr with its shipped st.cmd, stdout lines timestamped into a log."""

    def __init__(self, logpath, port, n):
        snap = make_snapshot()
        self.port = port
        self.env = ca_env(port)
        self.env["LD_LIBRARY_PATH"] = str(snap / "lib" / ARCH)     # the binary's RUNPATH names the work tree
        if os.environ.get("BENCH_K8S_DEBUG", "1") == "1":   # log the k8s layer's list/watch failures
            self.env["LD_PRELOAD"] = str(HERE / f"O.{ARCH}" / "k8sdebug.so")
        self.env.update({"IOCMGR_PREFIX": PREFIX, "IOCMGR_NAMESPACE": NS, "IOCMGR_NELM": str(max(n, 1000)),
                         "IOCMGR_KUBECONFIG": os.environ.get("BENCH_KUBECONFIG",
                                                             str(CLUSTER / "limited.kubeconfig")),
                         "IOCMGR_USERS": "root", "IOCMGR_HOSTS": f"{socket.gethostname()},localhost"})
        self.logf = open(logpath, "w", buffering=1)
        self.lines = []
        self.t0 = time.time()
        cmd = [str(snap / "bin" / ARCH / "iocmgr"), "st.cmd"]
        if IOC_MODE == "container":
            # the capabilities a container gets by default: no CAP_SYS_NICE (so EPICS threads are not
            # SCHED_FIFO) and no CAP_IPC_LOCK (so iocInit's epicsThreadRealtimeLock does not mlockall)
            cmd = ["setpriv", "--bounding-set=-sys_nice,-ipc_lock"] + cmd
        self.proc = subprocess.Popen(cmd, cwd=snap / "iocBoot/iociocmgr", env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.time() - self.t0
            self.lines.append((t, line.rstrip("\n")))
            self.logf.write(f"{t:9.3f} {line}")

    def when(self, pattern):
        for t, line in self.lines:
            if re.search(pattern, line):
                return round(t, 3)
        return None

    def cpu_ticks(self):
        f = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = f[f.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])      # utime + stime

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        self.logf.close()


def cpu_percent(ioc, seconds):
    """CPU of the IOC over `seconds`, in % of one core."""
    hz = os.sysconf("SC_CLK_TCK")
    c0, t0 = ioc.cpu_ticks(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = ioc.cpu_ticks(), time.monotonic()
    return round(100.0 * (c1 - c0) / hz / (t1 - t0), 2)


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def wait_until_due(due, clock=time.time, sleep=time.sleep, step=0.01):
    """Wait until the wall clock reaches `due` (in steps of at most `step`); returns how
    late the caller is then, in seconds (0.0 when on time). A schedule that fell behind
    (a loaded machine, a slow kubectl spawn) is a figure to report, never a negative
    sleep: the time is read once per step and the sleep is never below zero."""
    while True:
        left = due - clock()
        if left <= 0:
            return -left
        sleep(min(step, left))


def schedule_lateness(late, threshold=0.05):
    """How far a paced loop fell behind: the number of sends later than `threshold`
    seconds, the worst and the median lateness (ms)."""
    behind = [x for x in late if x > threshold]
    return {"sends": len(late), "late": len(behind), "late_threshold_ms": round(1000 * threshold),
            "max_late_ms": round(1000 * max(late), 1) if late else None,
            "p50_late_ms": round(1000 * pct(late, 50), 1) if late else None}


def ms_stats(values):
    vals = [1000.0 * x for x in values]
    return {"count": len(vals), "p50_ms": round(pct(vals, 50), 1) if vals else None,
            "p99_ms": round(pct(vals, 99), 1) if vals else None,
            "max_ms": round(max(vals), 1) if vals else None}


def load1():
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------ one round

def measure_ps(res, n, round_no, names_file, env):
    """'ps': today's `kubectl get statefulsets,pods -l ioc=true -o json`, the real `ec ps`
    (K8S backend, when tests/bench/run.sh found it: BENCH_EC) and one CA client reading every
    STATUS, PS_REPEAT times each, interleaved; medians and ratios to the CA client."""
    kget = [str(cluster_bin() / "kubectl"), "--kubeconfig", str(CLUSTER / "kubeconfig"), "-n", NS,
            "get", "statefulsets,pods", "-l", "ioc=true", "-o", "json"]
    ec = ec_command("ps")
    tk, tc, te, kbytes = [], [], [], 0
    for i in range(PS_REPEAT):
        t0 = time.monotonic()
        r = subprocess.run(kget, capture_output=True)
        tk.append(time.monotonic() - t0)
        kbytes = len(r.stdout)
        if r.returncode != 0:
            raise SystemExit(f"bench: kubectl get failed: {r.stderr[-500:]}")
        if ec:
            t0 = time.monotonic()
            r = subprocess.run(ec[0], env=ec[1], capture_output=True, text=True)
            te.append(time.monotonic() - t0)
            rows = sum(1 for line in r.stdout.splitlines() if "bench-ioc-" in line)
            if r.returncode != 0 or rows != n:
                raise SystemExit(f"bench: ec ps listed {rows} of {n} (exit {r.returncode}): {r.stderr[-500:]}")
        t0 = time.monotonic()
        r = subprocess.run([str(CASTATUS), "get", PREFIX, str(names_file)], env=env, capture_output=True, text=True)
        tc.append(time.monotonic() - t0)
        if r.returncode != 0:
            raise SystemExit(f"bench: castatus get failed: {r.stdout}{r.stderr}")
        res["ps_ca_output"] = r.stdout.strip()
    res["ps_kubectl_s"] = round(statistics.median(tk), 4)
    res["ps_kubectl_all_s"] = [round(x, 4) for x in tk]
    res["ps_kubectl_bytes"] = kbytes
    res["ps_ca_s"] = round(statistics.median(tc), 4)
    res["ps_ca_all_s"] = [round(x, 4) for x in tc]
    res["ps_ratio"] = round(res["ps_kubectl_s"] / res["ps_ca_s"], 1)
    if te:
        res["ps_ec_s"] = round(statistics.median(te), 4)
        res["ps_ec_all_s"] = [round(x, 4) for x in te]
        res["ps_ec_ratio"] = round(res["ps_ec_s"] / res["ps_ca_s"], 1)
    res["load_ps"] = load1()
    log(f"[n={n} r={round_no}] ps: kubectl {res['ps_kubectl_s']} s ({kbytes // 1024} KB JSON), "
        f"ec ps {res.get('ps_ec_s', '(no BENCH_EC)')} s, CA {res['ps_ca_s']} s: kubectl/CA {res['ps_ratio']}x, "
        f"ec/CA {res.get('ps_ec_ratio', '-')}x; load {res['load_ps']}")


def delete_pods(names):
    """LAT_CHANGES `kubectl delete pod --wait=false` at LAT_RATE a second, on distinct instances
    (at fewer than LAT_CHANGES instances each several times, in sweeps). Returns
    ([(instance, time sent)], [how late each send was, s]: wait_until_due)."""
    n = len(names)
    victims = [names[(i * 7919) % n] for i in range(LAT_CHANGES)]
    if n < LAT_CHANGES:    # small beamline: each instance twice, in two sweeps
        victims = [names[i % n] for i in range(LAT_CHANGES)]
    kc = [str(cluster_bin() / "kubectl"), "--kubeconfig", str(CLUSTER / "kubeconfig"), "-n", NS,
          "delete", "pod", "--wait=false"]
    sent, procs, late = [], [], []
    t_start = time.time()
    for i, name in enumerate(victims):
        late.append(wait_until_due(t_start + i / LAT_RATE))
        sent.append((name, time.time()))
        procs.append(subprocess.Popen(kc + [f"{name}-0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs = [p for p in procs if p.poll() is None]
    for p in procs:
        p.wait(60)
    return sent, late


PHASES = os.environ.get("BENCH_PHASES", "all")     # all | boot | ps


class PhasesDone(Exception):
    pass


def cmd_run(n, round_no):
    api = Api()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / f"n{n}-{IOC_MODE}-{VARIANT}-r{round_no}"
    work.mkdir(parents=True, exist_ok=True)
    names = [name_of(i) for i in range(1, n + 1)]
    names_file = work / "names.txt"
    names_file.write_text("\n".join(names) + "\n")
    res = {"n": n, "round": round_no, "mode": IOC_MODE, "variant": VARIANT,
           "watcher": "c" if (HERE / f"O.{ARCH}" / "kwatch").exists() and os.environ.get("BENCH_WATCHER", "c") == "c"
           else "python", "start": time.strftime("%Y-%m-%d %H:%M:%S"), "load_start": load1()}

    ready, total = count_ready(api)
    if ready < n:
        wait_ready(api, n, 600)
    res["quiet_wait_s"], res["changes_before_quiet"] = wait_quiet(api)
    log(f"[n={n} r={round_no}] namespace quiet for {QUIET_S:.0f} s after {res['quiet_wait_s']:.0f} s "
        f"({res['changes_before_quiet']} changes)")

    # ---- boot: IOC start -> every STATUS connected and not Unknown
    port = ioc_port()
    env = ca_env(port)
    ioc = Ioc(work / "ioc.log", port, n)
    res["provenance"] = json.loads((snapshot_dir() / "provenance.json").read_text())
    boot = subprocess.run([str(CASTATUS), "boot", PREFIX, str(names_file), f"{ioc.t0:.6f}", str(BOOT_TIMEOUT)],
                          env=env, capture_output=True, text=True)
    res["load_boot"] = load1()
    bootv = dict(line.split(None, 1) for line in boot.stdout.splitlines() if " " in line)
    res["boot_all_ready_s"] = float(bootv["all_ready"]) if "all_ready" in bootv else None
    res["boot_all_connected_s"] = float(bootv.get("all_connected", "nan"))
    res["boot_first_connect_s"] = float(bootv.get("first_connect", "nan"))
    res["boot_list_done_s"] = ioc.when(r"managing \d+ instance")
    res["boot_iocinit_done_s"] = ioc.when(r"iocRun: All initialization complete")
    res["boot_k8s_sync_s"] = ioc.when(r"Kubernetes API connected, cache consistent")
    res["rss_boot_kb"] = ioc.rss_kb()
    log(f"[n={n} r={round_no}] boot: all STATUS ready {res['boot_all_ready_s']} s "
        f"(list {res['boot_list_done_s']}, iocInit {res['boot_iocinit_done_s']}, sync {res['boot_k8s_sync_s']}, "
        f"first/all connect {res['boot_first_connect_s']}/{res['boot_all_connected_s']}); "
        f"RSS {res['rss_boot_kb'] // 1024} MB; load {res['load_boot']}")
    if res["boot_all_ready_s"] is None:
        log("boot output:\n" + boot.stdout + boot.stderr)
    try:
        # ---- every STATUS must now read Running (the cluster is all Running): a record left
        # behind (a lost I/O Intr request) shows here
        time.sleep(3)
        r = subprocess.run([str(CASTATUS), "get", PREFIX, str(names_file)], env=env, capture_output=True, text=True)
        m = re.search(r"^\s+Running (\d+)$", r.stdout, re.M)
        res["running_after_boot"] = int(m.group(1)) if m else 0
        res["after_boot_histogram"] = r.stdout.strip().splitlines()[1:]
        if res["running_after_boot"] != n:
            log(f"[n={n} r={round_no}] after boot, STATUS shows {res['after_boot_histogram']} (cluster: all Running)")
        time.sleep(2)
        if PHASES == "ps":       # boot and the 'ps' comparison only
            measure_ps(res, n, round_no, names_file, env)
            raise PhasesDone
        # ---- idle: no CA client, cluster quiet
        res["idle_cpu_pct"] = cpu_percent(ioc, IDLE_S)
        res["rss_idle_kb"] = ioc.rss_kb()
        res["load_idle"] = load1()
        log(f"[n={n} r={round_no}] idle {IDLE_S:.0f} s: CPU {res['idle_cpu_pct']} %, RSS {res['rss_idle_kb'] // 1024} MB, "
            f"load {res['load_idle']}")
        if PHASES == "boot":     # boot, consistency, RSS and idle CPU only (what-if variants)
            raise PhasesDone

        # ---- CA server load: one client monitoring every STATUS, cluster quiet
        monlog = work / "monitor.txt"
        with open(monlog, "w") as mf:
            mon = subprocess.Popen([str(CASTATUS), "monitor", PREFIX, str(names_file)], env=env,
                                   stdout=mf, stderr=subprocess.DEVNULL)
        t_mon = time.time()
        while time.time() - t_mon < 60:   # wait until the client has every channel
            if sum(1 for line in open(monlog) if " connected " in line) >= n:
                break
            time.sleep(0.5)
        time.sleep(3)
        res["monitor_idle_cpu_pct"] = cpu_percent(ioc, IDLE_S)
        res["rss_monitor_kb"] = ioc.rss_kb()
        res["load_monitor_idle"] = load1()
        log(f"[n={n} r={round_no}] monitoring all STATUS, idle {IDLE_S:.0f} s: CPU {res['monitor_idle_cpu_pct']} %, "
            f"RSS {res['rss_monitor_kb'] // 1024} MB, load {res['load_monitor_idle']}")

        # ---- latency under churn: kubectl delete pod, watch event, CA monitor update
        watchlog = work / "watch.txt"
        watch = start_watch(watchlog)
        # BENCH_WATCH_BOTH=1: the Python watcher as well, to compare the two references
        pywatch = (subprocess.Popen([sys.executable, str(HERE / "bench.py"), "watch", str(work / "watch-py.txt")])
                   if os.environ.get("BENCH_WATCH_BOTH") == "1" else None)
        while not watchlog.exists() or not watchlog.read_text().startswith(tuple("0123456789")):
            time.sleep(0.1)
        time.sleep(1)
        c0, tc0 = ioc.cpu_ticks(), time.monotonic()
        sent, late = delete_pods(names)
        time.sleep(3)
        c1, tc1 = ioc.cpu_ticks(), time.monotonic()
        res["churn_cpu_pct"] = round(100.0 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (tc1 - tc0), 2)
        res["churn_rate_per_s"] = LAT_RATE
        res["churn_schedule"] = schedule_lateness(late)
        if res["churn_schedule"]["late"]:
            log(f"[n={n} r={round_no}] the churn fell behind its schedule: {res['churn_schedule']}")
        res["load_churn"] = load1()
        watch.terminate()
        watch.wait(10)
        if pywatch:
            pywatch.terminate()
            pywatch.wait(10)
        evs = read_watch(watchlog)
        upd = {}
        for line in open(monlog):
            p = line.split()
            if len(p) == 4 and p[2].lstrip("-").isdigit():
                upd.setdefault(p[1], []).append((float(p[0]), int(p[2])))
        above, e2e, k2w, missing = [], [], [], 0
        for name, t_k in sent:
            t_w = first_deleting(evs, f"{name}-0", t_k)
            t_ca = next((t for t, v in upd.get(name, []) if t >= t_k and v == 7), None)   # 7 = Terminating
            if t_w is None or t_ca is None:
                missing += 1
                continue
            above.append(t_ca - t_w)
            e2e.append(t_ca - t_k)
            k2w.append(t_w - t_k)
        res["latency_above_event"] = ms_stats(above)
        res["latency_end_to_end"] = ms_stats(e2e)
        res["latency_kubectl_to_event"] = ms_stats(k2w)
        res["latency_missing"] = missing
        res["latency_negative"] = sum(1 for x in above if x < 0)
        log(f"[n={n} r={round_no}] latency over {len(above)} changes ({missing} unmatched): "
            f"above the watch event p50 {res['latency_above_event']['p50_ms']} ms p99 {res['latency_above_event']['p99_ms']} ms; "
            f"kubectl->monitor p50 {res['latency_end_to_end']['p50_ms']} p99 {res['latency_end_to_end']['p99_ms']} ms; "
            f"CPU during churn ({LAT_RATE}/s) {res['churn_cpu_pct']} %; load {res['load_churn']}")
        mon.terminate()
        mon.wait(10)

        wait_ready(api, n, 600, "pods (after churn)")
        time.sleep(2)

        measure_ps(res, n, round_no, names_file, env)

        # ---- commands: RESTART at 5/s (caput -> DELETE seen by a watch), then a burst of 100 in 1 s
        for label, rate, offset in (("restart", 5.0, 0), ("burst", 100.0, CMD_COUNT)):
            k = min(CMD_COUNT, n)
            if n >= 2 * CMD_COUNT:
                chosen = names[offset + 17: offset + 17 + k] if offset + 17 + k <= n else names[offset: offset + k]
            else:
                chosen = names[:k]
                wait_ready(api, n, 600, "pods (before commands)")
            cmd_names = work / f"{label}-names.txt"
            cmd_names.write_text("\n".join(chosen) + "\n")
            watchlog = work / f"{label}-watch.txt"
            watch = start_watch(watchlog)
            while not watchlog.exists() or not watchlog.read_text().startswith(tuple("0123456789")):
                time.sleep(0.1)
            time.sleep(1)
            r = subprocess.run([str(CASTATUS), "put", PREFIX, str(cmd_names), "RESTART", str(rate), "30"],
                               env=env, capture_output=True, text=True)
            time.sleep(2)
            watch.terminate()
            watch.wait(10)
            evs = read_watch(watchlog)
            to_delete, to_answer, answered, deleted, refused = [], [], 0, 0, 0
            for line in r.stdout.splitlines():
                p = line.split(None, 5)
                if len(p) < 6:
                    continue
                name, t_put, t_cb, ok, stat, msg = p[0], float(p[1]), float(p[2]), p[3] == "1", int(p[4]), p[5]
                if ok and t_cb > 0:
                    to_answer.append(t_cb - t_put)
                if msg.startswith("restart requested"):
                    answered += 1
                else:
                    refused += 1
                t_w = first_deleting(evs, f"{name}-0", t_put)
                if t_w is not None:
                    deleted += 1
                    to_delete.append(t_w - t_put)
            res[f"cmd_{label}"] = {"rate_per_s": rate, "count": len(chosen), "answered_ok": answered,
                                   "not_ok": refused, "deletes_seen": deleted,
                                   "caput_to_delete": ms_stats(to_delete),
                                   "caput_to_callback": ms_stats(to_answer),
                                   "castatus": r.stderr.strip()[-300:], "load": load1()}
            if refused:
                res[f"cmd_{label}"]["sample_not_ok"] = [ln for ln in r.stdout.splitlines()
                                                        if "restart requested" not in ln][:3]
            cr = res[f"cmd_{label}"]
            log(f"[n={n} r={round_no}] {label} x{len(chosen)} at {rate:.0f}/s: {answered} answered OK, {deleted} DELETEs seen; "
                f"caput->pod deleting p50 {cr['caput_to_delete']['p50_ms']} p99 {cr['caput_to_delete']['p99_ms']} ms; "
                f"caput->put-callback p50 {cr['caput_to_callback']['p50_ms']} p99 {cr['caput_to_callback']['p99_ms']} ms; "
                f"load {cr['load']}")
            if n < 2 * CMD_COUNT:
                time.sleep(3)
        res["rss_end_kb"] = ioc.rss_kb()
        res["callback_overflow"] = sum(1 for _, line in ioc.lines if "ring buffer full" in line)
        res["ioc_errors"] = [line for _, line in ioc.lines
                             if re.search(r"ring buffer full|error|failed", line, re.I)
                             and "RESTART" not in line][:10]
    except PhasesDone:
        pass
    finally:
        res["callback_overflow"] = sum(1 for _, line in ioc.lines if "ring buffer full" in line)
        ioc.stop()
    res["end"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(OUT / f"n{n}-{IOC_MODE}-{VARIANT}-r{round_no}.json", "w") as f:
        json.dump(res, f, indent=1)
    wait_ready(api, n, 600, "pods (end of round)")
    log(f"[n={n} r={round_no}] done: {OUT}/n{n}-{IOC_MODE}-{VARIANT}-r{round_no}.json")


# ------------------------------------------------------------------ API server load: ec monitor vs iocmgr

APIRATE_S = float(os.environ.get("BENCH_APIRATE_SECONDS", "60"))


def scrape_metrics(api):
    """The apiserver's own counters: apiserver_request_total and apiserver_response_sizes_sum
    (bytes) summed by "VERB resource [subresource]", and apiserver_watch_events_total summed
    (events sent to every watcher)."""
    st, body = api.request("GET", "/metrics")
    if st != 200:
        raise SystemExit(f"bench: GET /metrics: HTTP {st}")
    text = body.decode() if isinstance(body, bytes) else json.dumps(body)
    reqs, sizes, watch_events = {}, {}, 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_watch_events_total{"):
            watch_events += float(line.rsplit(" ", 1)[1])
            continue
        into = (reqs if line.startswith("apiserver_request_total{") else
                sizes if line.startswith("apiserver_response_sizes_sum{") else None)
        if into is None:
            continue
        labels_s, val = line.rsplit(" ", 1)
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels_s))
        key = " ".join(x for x in (lab.get("verb", "?"), lab.get("resource", "") or "-",
                                   lab.get("subresource", "")) if x)
        into[key] = into.get(key, 0.0) + float(val)
    return reqs, sizes, watch_events


# what `ec ps` and every `ec monitor` refresh ask the apiserver (kubectl get statefulset, helm
# list); nothing else in the cluster lists these while a window runs
EC_QUERIES = ("LIST statefulsets", "LIST secrets")


def proc_ticks(pid):
    """utime + stime of pid and of its children already waited for (ec's kubectl and helm)."""
    f = Path(f"/proc/{pid}/stat").read_text()
    fields = f[f.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15])


class Churn:
    """Pod deletions at LAT_RATE a second (the latency phase's rate), in a thread."""

    def __init__(self, api, names):
        self.api, self.names, self.stop, self.sent = api, names, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        t0, i = time.time(), 0
        while not self.stop.is_set():
            due = t0 + i / LAT_RATE
            if self.stop.wait(max(0.0, due - time.time())):
                break
            name = self.names[(i * 7919) % len(self.names)]
            self.api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{name}-0")
            self.sent += 1
            i += 1

    def close(self):
        self.stop.set()
        self.thread.join(30)


def api_window(api, seconds, ticks=None, churn_names=None):
    """Requests per second at the apiserver over `seconds` (its own counters, read before and
    after), by kind of request; with churn_names, pods of those are deleted at LAT_RATE/s."""
    m0, b0, w0 = scrape_metrics(api)
    c0, t0 = (ticks() if ticks else 0), time.monotonic()
    churn = Churn(Api(), churn_names) if churn_names else None
    time.sleep(seconds)
    if churn:
        churn.close()
    m1, b1, w1 = scrape_metrics(api)
    c1, t1 = (ticks() if ticks else 0), time.monotonic()
    dt = t1 - t0
    by = {k: round((v - m0.get(k, 0.0)) / dt, 3) for k, v in m1.items() if v - m0.get(k, 0.0) > 0}
    nbytes = {k: round((v - b0.get(k, 0.0)) / dt) for k, v in b1.items() if v - b0.get(k, 0.0) > 0}
    return {"seconds": round(dt, 1), "requests_per_s": round(sum(by.values()), 2),
            "by_request": dict(sorted(by.items(), key=lambda kv: -kv[1])),
            "ec_queries_per_s": round(sum(by.get(k, 0.0) for k in EC_QUERIES), 3),
            "ec_query_bytes_per_s": sum(nbytes.get(k, 0) for k in EC_QUERIES),
            "response_bytes_per_s": dict(sorted(nbytes.items(), key=lambda kv: -kv[1])[:10]),
            "watch_events_per_s": round((w1 - w0) / dt, 2),
            "client_cpu_pct": round(100.0 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / dt, 2) if ticks else None,
            "pods_deleted": churn.sent if churn else 0, "load": load1()}


class EcMonitor:
    """The real `ec monitor` (a Textual TUI) on a pseudo-terminal of 50x200, its screen drained
    in a thread; stopped with its whole process group."""

    def __init__(self, logpath):
        import fcntl
        import pty
        import struct
        import termios
        argv, env = ec_command("monitor")
        env["TERM"] = "xterm-256color"
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.master, self.tail = master, b""
        self.logf = open(logpath, "wb")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.logf.write(data)
            self.tail = (self.tail + data)[-200000:]

    def wait_table(self, timeout):
        """Until the table shows an instance (the first refresh is done)."""
        deadline = time.monotonic() + timeout
        while b"bench-ioc-" not in self.tail:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: ec monitor showed no instance in {timeout:.0f} s "
                                 f"(exit {self.proc.poll()}); screen in {self.logf.name}")
            time.sleep(0.2)

    def ticks(self):
        return proc_ticks(self.proc.pid)

    def stop(self):
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.reader.join(5)
        os.close(self.master)
        self.logf.close()


def cmd_apirate(n):
    """Requests per second at the apiserver with nothing watching the namespace, with
    `ec monitor` running, and with iocmgr running: each idle, then while pods change at
    LAT_RATE/s, APIRATE_S seconds each. The cluster's own controllers and kwok make the
    baseline, and the apiserver counts no client apart: what tells the clients apart is ec's
    queries (EC_QUERIES, nobody else makes them) and the watch events sent."""
    api = Api()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / f"apirate-n{n}"
    work.mkdir(parents=True, exist_ok=True)
    names = [name_of(i) for i in range(1, n + 1)]
    res = {"n": n, "seconds": APIRATE_S, "churn_rate_per_s": LAT_RATE, "start": time.strftime("%Y-%m-%d %H:%M:%S")}
    clients = ["baseline", "iocmgr"] + (["ec monitor"] if ec_command() else [])
    if not ec_command():
        log("no BENCH_EC/BENCH_HELM: the ec monitor phase is left out")
    try:
        for client in clients:
            apirate_client(api, n, client, names, work, res)
    finally:   # what was measured is kept when a later client fails
        wait_ready(api, n, 600, "pods (end of apirate)")
        res["end"] = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(OUT / f"apirate-{n}.json", "w") as f:
            json.dump(res, f, indent=1)
        log(f"[n={n}] apirate done: {OUT}/apirate-{n}.json")


def apirate_client(api, n, client, names, work, res):
    """One client's pair of windows (idle, pods changing) into res[client]."""
    wait_ready(api, n, 600, f"pods (before {client})")
    wait_quiet(api)
    ioc = mon = None
    ticks = None
    try:
        if client == "iocmgr":
            ioc = Ioc(work / "ioc.log", ioc_port(), n)
            t0 = time.monotonic()
            while not ioc.when(r"Kubernetes API connected, cache consistent"):
                if ioc.proc.poll() is not None or time.monotonic() - t0 > BOOT_TIMEOUT:
                    raise SystemExit(f"bench: iocmgr did not sync; log in {work}/ioc.log")
                time.sleep(0.2)
            ticks = ioc.cpu_ticks
        elif client == "ec monitor":
            mon = EcMonitor(work / "ec-monitor.screen")
            mon.wait_table(600)     # one refresh at 1,000 took ~60 s at a load of 13
            ticks = mon.ticks
        time.sleep(5)
        res[client] = {"idle": api_window(api, APIRATE_S, ticks)}
        log(f"[n={n}] {client}, idle: {res[client]['idle']['requests_per_s']} requests/s at the apiserver, "
            f"client CPU {res[client]['idle']['client_cpu_pct']} %")
        res[client]["churn"] = api_window(api, APIRATE_S, ticks, names)
        log(f"[n={n}] {client}, {LAT_RATE:.0f} pod changes/s: {res[client]['churn']['requests_per_s']} requests/s, "
            f"client CPU {res[client]['churn']['client_cpu_pct']} %")
    finally:
        if ioc:
            ioc.stop()
        if mon:
            mon.stop()


# ------------------------------------------------------------------ report

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=1):
    if v is None:
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def cmd_report():
    """Markdown tables: the median over the rounds of each (N, mode, variant), with min-max."""
    groups = {}
    for f in sorted(OUT.glob("n*-r*.json")):
        r = json.loads(f.read_text())
        groups.setdefault((r["n"], r.get("mode", "container"), r.get("variant", "stock")), []).append(r)

    def col(rs, get, nd=1, scale=1.0, rng=True):
        vals = []
        for r in rs:
            try:
                v = get(r)
            except (KeyError, TypeError):
                v = None
            if v is not None:
                vals.append(v * scale)
        if not vals:
            return "-"
        m = statistics.median(vals)
        if rng and len(vals) > 1:
            return f"{m:.{nd}f} ({min(vals):.{nd}f}-{max(vals):.{nd}f})"
        return f"{m:.{nd}f}"

    out = ["| N | mode | variant | rounds | cluster ready (s) | boot: all STATUS (s) | iocInit done (s) | "
           "API synced (s) | STATUS right after boot | RSS boot (MB) | RSS idle (MB) | idle CPU (%) | "
           "CPU, client monitors all STATUS (%) | CPU during churn (%) | load (idle) |",
           "|" + "---|" * 15]
    for (n, mode, variant), rs in sorted(groups.items()):
        cj = OUT / f"create-{n}.json"
        cr = json.loads(cj.read_text()).get("all_ready_s") if cj.exists() else None
        running = [r.get("running_after_boot") for r in rs]
        out.append(f"| {n} | {mode} | {variant} | {len(rs)} | {fmt(cr)} | "
                   f"{col(rs, lambda r: r['boot_all_ready_s'], 2)} | {col(rs, lambda r: r['boot_iocinit_done_s'], 2)} | "
                   f"{col(rs, lambda r: r['boot_k8s_sync_s'], 2)} | {'/'.join(str(x) for x in running)} of {n} Running | "
                   f"{col(rs, lambda r: r['rss_boot_kb'], 0, 1 / 1024)} | {col(rs, lambda r: r['rss_idle_kb'], 0, 1 / 1024)} | "
                   f"{col(rs, lambda r: r['idle_cpu_pct'], 2)} | {col(rs, lambda r: r['monitor_idle_cpu_pct'], 2)} | "
                   f"{col(rs, lambda r: r['churn_cpu_pct'], 2)} | {col(rs, lambda r: r['load_idle'], 2)} |")
    out += ["", "| N | mode | variant | change->monitor above the watch event p50 / p99 (ms) | kubectl->monitor p50 / p99 (ms) | "
            "kubectl->watch event p50 (ms) | changes (unmatched) | ps: kubectl (s) | ps: CA (s) | ratio | load (ps) |",
            "|" + "---|" * 11]
    for (n, mode, variant), rs in sorted(groups.items()):
        if not any("latency_above_event" in r for r in rs):
            continue
        out.append(f"| {n} | {mode} | {variant} | "
                   f"{col(rs, lambda r: r['latency_above_event']['p50_ms'])} / {col(rs, lambda r: r['latency_above_event']['p99_ms'])} | "
                   f"{col(rs, lambda r: r['latency_end_to_end']['p50_ms'], 0)} / {col(rs, lambda r: r['latency_end_to_end']['p99_ms'], 0)} | "
                   f"{col(rs, lambda r: r['latency_kubectl_to_event']['p50_ms'], 0)} | "
                   f"{'/'.join(str(r.get('latency_above_event', {}).get('count')) for r in rs)} "
                   f"({'/'.join(str(r.get('latency_missing')) for r in rs)}) | "
                   f"{col(rs, lambda r: r['ps_kubectl_s'], 3)} | {col(rs, lambda r: r['ps_ca_s'], 3)} | "
                   f"{col(rs, lambda r: r['ps_ratio'], 1)} | {col(rs, lambda r: r['load_ps'], 2)} |")
    out += ["", "| N | mode | variant | RESTART at 5/s: caput->pod deleting p50 / p99 (ms) | caput->put callback p99 (ms) | "
            "burst 100 in 1 s: answered OK in CMD_MSG | DELETEs seen | burst caput->deleting p50 / p99 (ms) | load |",
            "|" + "---|" * 9]
    for (n, mode, variant), rs in sorted(groups.items()):
        if not any("cmd_burst" in r for r in rs):
            continue
        out.append(f"| {n} | {mode} | {variant} | "
                   f"{col(rs, lambda r: r['cmd_restart']['caput_to_delete']['p50_ms'])} / "
                   f"{col(rs, lambda r: r['cmd_restart']['caput_to_delete']['p99_ms'])} | "
                   f"{col(rs, lambda r: r['cmd_restart']['caput_to_callback']['p99_ms'])} | "
                   f"{'/'.join(str(r.get('cmd_burst', {}).get('answered_ok')) for r in rs)} of "
                   f"{'/'.join(str(r.get('cmd_burst', {}).get('count')) for r in rs)} | "
                   f"{'/'.join(str(r.get('cmd_burst', {}).get('deletes_seen')) for r in rs)} | "
                   f"{col(rs, lambda r: r['cmd_burst']['caput_to_delete']['p50_ms'])} / "
                   f"{col(rs, lambda r: r['cmd_burst']['caput_to_delete']['p99_ms'])} | "
                   f"{col(rs, lambda r: r['cmd_burst']['load'], 2)} |")
    if any("ps_ec_s" in r for rs in groups.values() for r in rs):
        out += ["", "| N | mode | variant | rounds x repeats | ps: kubectl get (s) | ps: real `ec ps` (s) | "
                "ps: CA, every STATUS (s) | kubectl / CA | ec ps / CA | load (ps) |", "|" + "---|" * 10]
        for (n, mode, variant), rs in sorted(groups.items()):
            rs = [r for r in rs if "ps_ec_s" in r]
            if rs:
                out.append(f"| {n} | {mode} | {variant} | {len(rs)} x {len(rs[0]['ps_ec_all_s'])} | "
                           f"{col(rs, lambda r: r['ps_kubectl_s'], 3)} | {col(rs, lambda r: r['ps_ec_s'], 3)} | "
                           f"{col(rs, lambda r: r['ps_ca_s'], 3)} | {col(rs, lambda r: r['ps_ratio'], 1)} | "
                           f"{col(rs, lambda r: r['ps_ec_ratio'], 1)} | {col(rs, lambda r: r['load_ps'], 2)} |")
    rates = [json.loads(f.read_text()) for f in sorted(OUT.glob("apirate-*.json"))]
    if rates:
        out += ["", "| N | watching the namespace | pods changing (/s) | all requests (/s) | "
                "`ec`'s queries: LIST statefulsets + secrets (/s) | their responses (KB/s) | "
                "watch events sent (/s) | client CPU (% of a core) | load |", "|" + "---|" * 9]
        for r in sorted(rates, key=lambda r: r["n"]):
            for client in ("baseline", "iocmgr", "ec monitor"):
                for ph in ("idle", "churn"):
                    c = r.get(client, {}).get(ph)
                    if not c:
                        continue
                    out.append(f"| {r['n']} | {'nothing' if client == 'baseline' else client} | "
                               f"{0 if ph == 'idle' else r['churn_rate_per_s']:g} | {c['requests_per_s']:.2f} | "
                               f"{sum(c['by_request'].get(k, 0.0) for k in EC_QUERIES):.3f} | "
                               f"{fmt(c['ec_query_bytes_per_s'] / 1024 if 'ec_query_bytes_per_s' in c else None, 0)} | "
                               f"{c['watch_events_per_s']:.1f} | {fmt(c['client_cpu_pct'])} | {c['load']:.1f} |")
    over = {k: sum(r.get("callback_overflow", 0) for r in rs) for k, rs in groups.items()}
    if any(over.values()):
        out += ["", "callback queue overflows (\"ring buffer full\"): " +
                ", ".join(f"N={k[0]} {k[1]} {k[2]}: {v}" for k, v in sorted(over.items()) if v)]
    print("\n".join(out))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd = sys.argv[1]
    if cmd == "create":
        cmd_create(int(sys.argv[2]))
    elif cmd == "run":
        cmd_run(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    elif cmd == "watch":
        cmd_watch(sys.argv[2])
    elif cmd == "apirate":
        cmd_apirate(int(sys.argv[2]))
    elif cmd == "report":
        cmd_report()
    elif cmd == "cleanup":
        cmd_cleanup()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
