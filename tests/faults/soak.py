#!/usr/bin/env python3
"""Soak: push many watch events through a running iocmgr IOC's cache and records,
and watch its memory.

A namespace of its own (default iocmgr-soak) gets --instances StatefulSets shaped
like the demo's (labels ioc=true ...); half run one pod each (kwok), half are
scaled to 0. An IOC is booted against that namespace, so every instance has its
records. Then --workers threads PATCH an annotation, alternately on a StatefulSet
and on a pod, as fast as the local apiserver takes them (HTTP/1.1 keep-alive, the
admin client certificate): each accepted PATCH is one MODIFIED event on one of the
IOC's watches, decoded, cached and turned into a record update.

The IOC's VmRSS (/proc/PID/status) is sampled every 10 s and at 10 %, 50 % and 100 %
of the events; growth is RSS(100 %) against RSS(10 %) (after warm-up). Bounded: stops
at --events or after --max-seconds, whichever comes first, and says which. SIGTERM
(e.g. from `timeout`) stops the IOC too.

Alongside the IOC, one raw watch per stream (admin certificate) counts the events the
apiserver really sends for the namespace, so "PATCHes accepted" can be checked against
"watch events delivered". At the end the IOC must still follow both record streams: a
StatefulSet scaled up shows on ENABLED, a deleted pod's replacement on STARTED. The
IOC's log is kept (its path is printed) and its k8s messages are counted.

    . /tmp/env-of-your-cluster   # IOCMGR_CLUSTER_DIR and the IOCMGR_*_PORT variables
    tests/faults/soak.py [--events 1000000] [--max-seconds 1200] [--instances 200]

Needs a running cluster (tests/cluster/up.sh; demo.sh not needed). The last line is
a JSON summary; exit status 1 when the IOC lost its connection for good, died, or
RSS grew by 5 % or more.
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from iocmgrtest import CACHE, ApiWatch, admin_context, run_ioc, start_ca_repeater  # noqa: E402

STS = """---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}, ioc: "true", location: soak, domain: soak, enabled: "{enabled}",
           description: Soak-instance}}
spec:
  replicas: {replicas}
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}, ioc: "true"}}
      annotations: {{pod-ready.stage.kwok.x-k8s.io/delay: "0s"}}
    spec:
      hostNetwork: true
      tolerations: [{{key: beamline, operator: Exists, effect: NoSchedule}}]
      containers:
      - name: ioc
        image: ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1
        command: [bash, -c, /epics/ioc/start.sh]
        env: [{{name: IOC_NAME, value: {name}}}, {{name: IOC_PREFIX, value: {upper}}}]
"""


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def mem_status(pid):
    """VmRSS, RssAnon, RssFile, VmHWM, VmData (KiB) of pid."""
    keys = ("VmRSS", "RssAnon", "RssFile", "VmHWM", "VmData")
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k = line.split(":")[0]
        if k in keys:
            out[k] = int(line.split()[1])
    return out


def cpu_seconds(pid):
    """utime + stime of pid in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


class Load:
    def __init__(self, cluster_dir, port, ns, targets, target, deadline):
        self.ctx = admin_context(cluster_dir)
        self.port, self.ns, self.targets = port, ns, targets   # API paths, weighted by repetition
        self.target, self.deadline = target, deadline
        self.lock = threading.Lock()
        self.done = 0
        self.errors = 0
        self.last_error = ""

    def worker(self, index):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        n = 0
        while True:
            with self.lock:
                if self.done >= self.target or time.monotonic() > self.deadline:
                    break
            n += 1
            path = self.targets[(index * 7919 + n * 104729) % len(self.targets)]
            body = json.dumps({"metadata": {"annotations": {"iocmgr.soak/n": f"{index}-{n}"}}})
            try:
                conn.request("PATCH", path, body=body,
                             headers={"Content-Type": "application/merge-patch+json"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
                if not ok:
                    err = f"HTTP {resp.status} {path}"
            except (OSError, http.client.HTTPException) as e:
                ok, err = False, f"{type(e).__name__}: {e}"
                conn.close()
                conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
            with self.lock:
                if ok:
                    self.done += 1
                else:
                    self.errors += 1
                    self.last_error = err
        conn.close()


class EtcdCompactor:
    """Compacts the cluster's etcd every `every` seconds to the revision it had one
    period before, as kube-apiserver does every 5 min (--etcd-compaction-interval).
    At a few hundred writes per second, 5 to 10 min of history (~4 KB a revision)
    comes close to the 1 GiB quota tests/cluster/up.sh gives etcd; with 1 to 2 min it
    stays far below. The apiserver's watch caches (which serve the IOC's watches) are
    never that far behind, so nothing sees a 410 from this."""

    def __init__(self, cluster_dir, every):
        args = (Path(cluster_dir) / "pids" / "etcd.args").read_text().replace("\0", "\n").split()
        url = args[args.index("--listen-client-urls") + 1]
        self.host, self.port = url.split("//")[1].split(",")[0].rsplit(":", 1)
        self.every, self.stop = every, threading.Event()
        self.compactions, self.error, self.db = 0, "", {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def post(self, path, body):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        try:
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
            if resp.status != 200:
                raise RuntimeError(f"etcd {path}: HTTP {resp.status} {data}")
            return data
        finally:
            conn.close()

    def status(self):
        st = self.post("/v3/maintenance/status", {})
        return {"revision": int(st["header"]["revision"]), "db_bytes": int(st["dbSize"]),
                "db_in_use_bytes": int(st.get("dbSizeInUse", 0))}

    def _run(self):
        previous = None
        while not self.stop.wait(self.every):
            try:
                self.db = self.status()
                rev = self.db["revision"]
                if previous:
                    self.post("/v3/kv/compaction", {"revision": str(previous), "physical": True})
                    self.compactions += 1
                previous = rev
            except (OSError, ValueError, KeyError, RuntimeError, http.client.HTTPException) as e:
                if "required revision has been compacted" not in str(e):
                    self.error = f"{type(e).__name__}: {e}"

    def close(self):
        self.stop.set()
        self.thread.join(70)


def kubectl(env, *args, stdin=None, timeout=300):
    r = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--max-seconds", type=float, default=1200)
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--namespace", default="iocmgr-soak")
    ap.add_argument("--mix", default="sts:2,pod:1,event:1",
                    help="relative weights of the PATCH targets: StatefulSets (records), pods "
                         "(records), Warning Events (cache only)")
    ap.add_argument("--keep", action="store_true", help="leave the namespace in place")
    ap.add_argument("--etcd-compact-every", type=float, default=60,
                    help="compact etcd every S s to the revision of S s before (0: leave it to the "
                         "apiserver's 5 min); see EtcdCompactor")
    ap.add_argument("--log-dir", help="where to keep the IOC's log (default: a new /tmp/iocmgr-soak-*)")
    a = ap.parse_args()
    # `timeout` sends SIGTERM: unwind, so that run_ioc stops the IOC and the namespace goes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak: SIGTERM, stopping"))

    cluster_dir = Path(os.environ.get("IOCMGR_CLUSTER_DIR", CACHE / "cluster-run"))
    if not (cluster_dir / "env").exists():
        sys.exit(f"soak: no cluster in {cluster_dir}: run tests/cluster/up.sh (IOCMGR_CLUSTER_DIR)")
    out = subprocess.run(["bash", "-c", f". '{cluster_dir}/env' && env -0"], capture_output=True,
                         text=True, check=True).stdout
    env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    port = int(env["IOCMGR_API_URL"].rsplit(":", 1)[1])
    ns = a.namespace

    names = [f"soak-ioc-{i:03d}" for i in range(a.instances)]
    running = names[: a.instances // 2]
    print(f"soak: {a.instances} instances in {ns} ({len(running)} with a pod); target {a.events} events, "
          f"at most {a.max_seconds:.0f} s", flush=True)
    gone_by = time.monotonic() + 180   # a namespace left Terminating by an earlier run
    while kubectl(env, "get", "ns", ns, "--ignore-not-found", "-o", "jsonpath={.status.phase}") == "Terminating":
        if time.monotonic() > gone_by:
            sys.exit(f"soak: namespace {ns} still Terminating after 180 s")
        time.sleep(2)
    if f"namespace/{ns}" not in kubectl(env, "get", "ns", "-o", "name").split():
        kubectl(env, "create", "namespace", ns)
    docs = "".join(STS.format(name=n, ns=ns, upper=n.upper(), replicas=1 if n in running else 0,
                              enabled="true" if n in running else "false") for n in names)
    kubectl(env, "apply", "-f", "-", stdin=docs)
    t_ready = time.monotonic() + 300
    while True:
        ready = kubectl(env, "-n", ns, "get", "pods", "-o",
                        "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}")
        if ready.split().count("True") >= len(running):
            break
        if time.monotonic() > t_ready:
            sys.exit("soak: pods not Ready after 300 s")
        time.sleep(2)
    pods = [f"{n}-0" for n in running]
    # Warning Events about the soak pods, as the scheduler or kubelet would write
    events = [f"soak-warning-{i:03d}" for i in range(len(running))]
    kubectl(env, "apply", "-f", "-", stdin="".join(
        f"---\napiVersion: v1\nkind: Event\nmetadata: {{name: {e}, namespace: {ns}}}\ntype: Warning\n"
        f"reason: BackOff\nmessage: soak\ninvolvedObject: {{kind: Pod, name: {p}, namespace: {ns}}}\n"
        for e, p in zip(events, pods)))
    weights = dict((k, int(v)) for k, v in (w.split(":") for w in a.mix.split(",")))
    paths = {"sts": [f"/apis/apps/v1/namespaces/{ns}/statefulsets/{n}" for n in names],
             "pod": [f"/api/v1/namespaces/{ns}/pods/{p}" for p in pods],
             "event": [f"/api/v1/namespaces/{ns}/events/{e}" for e in events]}
    targets = []
    for kind, w in weights.items():
        for i in range(max(len(v) for v in paths.values()) * w):
            if w:
                targets.append(paths[kind][i % len(paths[kind])])

    summary = {"target_events": a.events, "instances": a.instances, "mix": a.mix, "workers": a.workers,
               "cpus": os.cpu_count(), "loadavg_start": loadavg()}
    failed = []
    repeater = start_ca_repeater()
    tmp = Path(a.log_dir) if a.log_dir else Path(tempfile.mkdtemp(prefix="iocmgr-soak-"))
    tmp.mkdir(parents=True, exist_ok=True)
    counters = []
    compactor = None
    try:
        ioc_env = {"KUBECONFIG": env["KUBECONFIG"], "IOCMGR_NAMESPACE": ns}
        with run_ioc(tmp, ioc_env, prefix="SOAK-IOCMGR:", boot_timeout=120) as ioc:
            print(f"soak: IOC pid {ioc.proc.pid}, log {ioc.log}", flush=True)
            summary["ioc_log"] = str(ioc.log)
            ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=60)
            assert int(ioc.get("COUNT")) == a.instances, ioc.get("COUNT")
            pid = ioc.proc.pid
            time.sleep(5)
            boot_log_len = len(ioc.logtext())
            summary["rss_boot_kib"] = rss_kib(pid)
            summary["mem_boot_kib"] = mem_status(pid)
            summary["ioc_cpu_s_boot"] = cpu_seconds(pid)
            for kind, path in (("sts", f"/apis/apps/v1/namespaces/{ns}/statefulsets"),
                               ("pod", f"/api/v1/namespaces/{ns}/pods"),
                               ("event", f"/api/v1/namespaces/{ns}/events?fieldSelector=type%3DWarning")):
                if weights.get(kind):
                    counters.append((kind, ApiWatch(cluster_dir, port, path, a.max_seconds + 600, keep=False)))
            time.sleep(2)   # the initial ADDED of every object
            added = {kind: dict(c.counts) for kind, c in counters}
            compactor = EtcdCompactor(cluster_dir, a.etcd_compact_every) if a.etcd_compact_every > 0 else None
            if compactor:
                summary["etcd_start"] = compactor.status()
            t0 = time.monotonic()
            load = Load(cluster_dir, port, ns, targets, a.events, t0 + a.max_seconds)
            threads = [threading.Thread(target=load.worker, args=(i,), daemon=True) for i in range(a.workers)]
            for t in threads:
                t.start()
            marks = {10: None, 50: None, 100: None}
            curve = []
            next_sample = t0
            while any(t.is_alive() for t in threads):
                time.sleep(0.2)
                now = time.monotonic()
                done = load.done
                for pct in marks:
                    if marks[pct] is None and done >= a.events * pct / 100:
                        marks[pct] = (done, round(now - t0, 1), rss_kib(pid))
                        print(f"soak: {pct:3d} %: {done} events in {now - t0:.0f} s, RSS {marks[pct][2]} KiB",
                              flush=True)
                if now >= next_sample and ioc.proc.poll() is None:
                    curve.append((round(now - t0), done, rss_kib(pid), cpu_seconds(pid), loadavg()[0]))
                    next_sample += 10
                    if len(curve) % 6 == 0:
                        print(f"soak: {done} events, {done / max(now - t0, 1e-9):.0f}/s, RSS {curve[-1][2]} KiB, "
                              f"IOC CPU {curve[-1][3]} s, load {curve[-1][4]}, errors {load.errors}"
                              + (f", etcd db {compactor.db.get('db_bytes', 0) >> 20} MiB" if compactor else ""),
                              flush=True)
                if ioc.proc.poll() is not None:
                    failed.append(f"the IOC exited with status {ioc.proc.returncode}")
                    break
            elapsed = time.monotonic() - t0
            summary["loadavg_end"] = loadavg()
            if compactor:
                compactor.close()
                summary.update({"etcd_end": compactor.status(), "etcd_compactions": compactor.compactions,
                                "etcd_compact_error": compactor.error})
            time.sleep(5)   # let the IOC drain what is in flight
            final_rss = rss_kib(pid) if ioc.proc.poll() is None else None
            summary.update({
                "events": load.done, "seconds": round(elapsed, 1),
                "events_per_s": round(load.done / elapsed, 1), "patch_errors": load.errors,
                "last_error": load.last_error, "reached_target": load.done >= a.events,
                "rss_marks_kib": {f"{k}%": v for k, v in marks.items()}, "rss_final_kib": final_rss,
                "watch_events_delivered": {kind: {t: n - added[kind].get(t, 0) for t, n in c.counts.items()
                                                  if n - added[kind].get(t, 0)}
                                           for kind, c in counters},
                "watch_errors": {kind: c.error for kind, c in counters if c.error},
                "curve_fields": ["s", "events", "rss_kib", "ioc_cpu_s", "load1"], "curve": curve})
            if ioc.proc.poll() is None:
                summary["mem_final_kib"] = mem_status(pid)
                summary["ioc_cpu_s_end"] = cpu_seconds(pid)
                summary["connected_at_end"] = ioc.get("CONNECTED")
                try:
                    # still live: a change made now shows up, on the StatefulSet stream ...
                    probe = names[-1]
                    kubectl(env, "-n", ns, "scale", "statefulset", probe, "--replicas=1")
                    ioc.ca.wait_value(ioc.pv("ENABLED", probe), "Enabled", timeout=60)
                    kubectl(env, "-n", ns, "scale", "statefulset", probe, "--replicas=0")
                    # ... and on the pod stream: a deleted pod's replacement has another start time
                    if running:
                        started = ioc.get("STARTED", running[0])
                        time.sleep(1.1)   # start times have a resolution of 1 s
                        kubectl(env, "-n", ns, "delete", "pod", f"{running[0]}-0", "--wait=false")
                        ioc.ca.wait_value(ioc.pv("STARTED", running[0]),
                                          lambda v, s: v not in (started, "") and s == "NO_ALARM", timeout=60)
                    summary["live_after"] = True
                except (AssertionError, RuntimeError, subprocess.TimeoutExpired) as e:
                    summary["live_after"] = False
                    failed.append(f"the IOC did not follow a change made after the load: {str(e)[:300]}")
                if summary["connected_at_end"] != "Connected":
                    failed.append("CONNECTED is not Connected at the end")
            log = ioc.logtext()
            during = log[boot_log_len:]
            summary["relists_410"] = log.count("410 Gone")
            summary["sync_losses"] = log.count("Kubernetes API unreachable")
            summary["log_lines_after_boot"] = [line for line in during.splitlines() if line.strip()][:40]
    finally:
        for _, c in counters:
            c.close()
        if compactor:
            compactor.stop.set()
        if repeater:
            repeater.terminate()
            repeater.wait(10)
        if not a.keep:
            try:
                kubectl(env, "delete", "namespace", ns, "--wait=false", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"soak: could not delete namespace {ns}: {e}", flush=True)
    # growth: 100 % (or the last sample when the target was not reached) against 10 %
    base = marks[10][2] if marks[10] else (curve[len(curve) // 10][2] if curve else None)
    end = marks[100][2] if marks[100] else final_rss
    if base and end:
        summary["rss_growth_pct"] = round(100.0 * (end - base) / base, 2)
        if summary["rss_growth_pct"] >= 5:
            failed.append(f"RSS grew {summary['rss_growth_pct']} % (limit 5 %)")
    if not summary.get("reached_target"):
        rate = summary.get("events_per_s") or 0
        summary["extrapolated_seconds_for_target"] = round(a.events / rate) if rate else None
        print(f"soak: target not reached within {a.max_seconds:.0f} s: {summary.get('events')} events at "
              f"{rate}/s; {a.events} would take about {summary['extrapolated_seconds_for_target']} s here",
              flush=True)
    db = cluster_dir / "etcd" / "member" / "snap" / "db"
    if db.exists():
        summary["etcd_db_bytes"] = db.stat().st_size
    summary["failed"] = failed
    print("soak: " + ("FAILED: " + "; ".join(failed) if failed else "ok"), flush=True)
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
