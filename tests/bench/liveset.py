"""Instances deployed after boot (issue 16, docs/performance.md "Instances deployed after
boot"): figures, not a timed test. Uses bench.py's cluster, namespace, IOC snapshot and
API client (IOCMGR_CLUSTER_DIR, BENCH_NAMESPACE, BENCH_OUT ...); the N instances must exist
(`bench.py create N`).

  liveset.py latency N ADD     boot the IOC at N instances with ADD+8 spare slots, then create
                               ADD StatefulSets one by one: watch ADDED -> a fresh caget of the
                               new STATUS answering (cafresh), p50/p99; the IOC's own part
                               from its log
  liveset.py monitor N K WAIT  K camonitor channels (Base's libca, defaults) and K with
                               EPICS_CA_MAX_SEARCH_PERIOD=60 search for names that do not exist
                               yet, for WAIT s; then the names are deployed, one every 15 s:
                               when each monitor connected after its ADDED
  liveset.py memory N S...     RSS of the IOC at N instances with each pool size S (after the
                               sync and 20 s): memory per spare slot
  liveset.py cleanup           delete the StatefulSets these made (bench-live-*)

Writes $BENCH_OUT/liveset-*.json and prints the figures."""
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import bench
from bench import ARCH, HERE, NS, PREFIX, Api, Ioc, ca_env, ioc_port, load1, log, pct, statefulset

CAFRESH = HERE / f"O.{ARCH}" / "cafresh"


def live_name(i):
    return f"bench-live-{i:03d}"


class AddedWatch:
    """StatefulSet watch in the namespace: arrival time (time.time()) of each ADDED event."""

    def __init__(self, api, on_added=None):
        self.on_added = on_added
        st, body = api.request("GET", f"/apis/apps/v1/namespaces/{NS}/statefulsets?limit=1")
        rv = body["metadata"]["resourceVersion"]
        self.conn = http.client.HTTPSConnection(api.host, api.port, context=api.ctx, timeout=3600)
        self.conn.request("GET", f"/apis/apps/v1/namespaces/{NS}/statefulsets?watch=1&resourceVersion={rv}"
                          "&timeoutSeconds=3000", headers={"Accept": "application/json"})
        self.resp = self.conn.getresponse()
        self.added = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            line = self.resp.readline()
            t = time.time()
            if not line:
                return
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("type") == "ADDED":
                name = ev["object"]["metadata"]["name"]
                if self.on_added and name not in self.added:
                    self.on_added(name, t)
                self.added.setdefault(name, t)

    def wait(self, name, timeout=30):
        deadline = time.monotonic() + timeout
        while name not in self.added:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no ADDED event for {name} within {timeout} s")
            time.sleep(0.005)
        return self.added[name]


def create(api, name):
    st, body = api.request("POST", f"/apis/apps/v1/namespaces/{NS}/statefulsets", statefulset(name))
    if st not in (200, 201):
        raise RuntimeError(f"POST {name}: HTTP {st}: {body}")


def boot(work, n, slots):
    os.environ["IOCMGR_SPARE_SLOTS"] = str(slots)
    port = ioc_port()
    ioc = Ioc(work / f"ioc-slots{slots}.log", port, n)
    env = ca_env(port)
    deadline = time.monotonic() + bench.BOOT_TIMEOUT
    while True:
        if ioc.when(r"Kubernetes API connected, cache consistent") is not None:
            break
        if time.monotonic() > deadline or ioc.proc.poll() is not None:
            ioc.stop()
            raise RuntimeError(f"the IOC did not sync; log in {work}")
        time.sleep(0.2)
    return ioc, env


def ioc_times(ioc, pattern):
    """Absolute times (time.time()) of the IOC's log lines matching pattern, with the match."""
    return [(ioc.t0 + t, m) for t, line in list(ioc.lines) if (m := re.search(pattern, line))]


def cmd_latency(n, add):
    api = Api()
    work = bench.OUT / f"liveset-latency-n{n}-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    ioc, env = boot(work, n, add + 8)
    res = {"n": n, "added": add, "slots": add + 8, "load_start": load1(), "samples": []}
    try:
        probe = subprocess.Popen([str(CAFRESH), "10"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, bufsize=1)

        def ask(name, t):
            # a fresh caget the moment the event arrives (the watch's thread)
            if name.startswith("bench-live-"):
                probe.stdin.write(f"{PREFIX}{name.upper()}:STATUS\n")
                probe.stdin.flush()
        watch = AddedWatch(api, ask)
        # libca's own floor: fresh cagets of a name that exists
        for _ in range(20):
            probe.stdin.write(f"{PREFIX}COUNT\n")
            probe.stdin.flush()
            t_answer, _, value, t_start = probe.stdout.readline().split()
            res.setdefault("floor_ms", []).append(1e3 * (float(t_answer) - float(t_start)))
            time.sleep(0.1)
        for i in range(1, add + 1):
            name = live_name(i)
            t_post = time.time()
            create(api, name)
            t_answer, _, value, t_start = probe.stdout.readline().split()
            t_added = watch.wait(name)
            res["samples"].append({"name": name, "post": t_post, "added": t_added, "answer": float(t_answer),
                                   "start": float(t_start), "value": value})
            time.sleep(0.3)
        probe.stdin.close()
        probe.wait(10)
        serves = {m.group(2): (t, float(m.group(3))) for t, m in
                  ioc_times(ioc, r"(SPARE_\d+) now serves (\S+): \d+ names .* in ([\d.]+) ms")}
        for s in res["samples"]:
            if s["name"] in serves:
                s["ioc_published"], s["alias_ms"] = serves[s["name"]]
        res["load_end"] = load1()
        res["rss_kb"] = ioc.rss_kb()
    finally:
        ioc.stop()
    lat = [1e3 * (s["answer"] - s["added"]) for s in res["samples"] if s["value"] != "TIMEOUT"]
    ioc_part = [1e3 * (s["ioc_published"] - s["added"]) for s in res["samples"] if "ioc_published" in s]
    alias = [s["alias_ms"] for s in res["samples"] if "alias_ms" in s]
    res["summary"] = {
        "answered": len(lat), "timeouts": sum(s["value"] == "TIMEOUT" for s in res["samples"]),
        "values": sorted({s["value"] for s in res["samples"]}),
        "added_to_caget_ms": {"p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat) if lat else None},
        "caget_floor_existing_name_ms": {"p50": pct(res["floor_ms"], 50), "p99": pct(res["floor_ms"], 99)},
        "caget_started_after_added_ms_p50": pct([1e3 * (s["start"] - s["added"]) for s in res["samples"]], 50),
        "added_to_ioc_log_ms": {"p50": pct(ioc_part, 50), "p99": pct(ioc_part, 99)},
        "alias_creation_ms": {"p50": pct(alias, 50), "p99": pct(alias, 99)},
        "post_to_added_ms_p50": pct([1e3 * (s["added"] - s["post"]) for s in res["samples"]], 50)}
    (work / "liveset-latency.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res["summary"], indent=1))
    log(f"latency: {work}")


def cmd_monitor(n, k, wait):
    api = Api()
    work = bench.OUT / f"liveset-monitor-n{n}-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    first = 200
    names = [live_name(first + i) for i in range(k)]
    ioc, env = boot(work, n, k + 8)
    res = {"n": n, "k": k, "wait_s": wait, "monitors": {}}
    procs = {}
    seen = {}
    try:
        watch = AddedWatch(api)
        for label, extra in (("default", {}), ("max_search_60", {"EPICS_CA_MAX_SEARCH_PERIOD": "60"})):
            e = {**env, **extra}
            p = subprocess.Popen([str(bench.iocmgrtest.BASE_BIN / "camonitor"), "-t", "n", "-F", "|", "-w", "1",
                                  *[f"{PREFIX}{nm.upper()}:STATUS" for nm in names]],
                                 env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            procs[label] = p
            seen[label] = {}

            def read(p=p, got=seen[label]):
                for line in p.stdout:
                    t = time.time()
                    parts = line.split("|")
                    if len(parts) >= 3 and parts[2].strip():
                        got.setdefault(parts[0].strip(), t)
            threading.Thread(target=read, daemon=True).start()
        t_start = time.time()
        log(f"monitor: {2 * k} channels searching; deploying after {wait} s")
        time.sleep(wait)
        for nm in names:
            create(api, nm)
            time.sleep(15)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and not all(
                len(s) == k for s in seen.values()):
            time.sleep(1)
        for label, got in seen.items():
            rows = []
            for nm in names:
                pv = f"{PREFIX}{nm.upper()}:STATUS"
                added = watch.added.get(nm)
                rows.append({"name": nm, "searching_s": added - t_start if added else None,
                             "connected_after_added_s": got[pv] - added if pv in got and added else None})
            res["monitors"][label] = rows
    finally:
        for p in procs.values():
            p.terminate()
        ioc.stop()
    (work / "liveset-monitor.json").write_text(json.dumps(res, indent=1))
    for label, rows in res["monitors"].items():
        print(label, " ".join(f"{r['connected_after_added_s']:.1f}" if r["connected_after_added_s"] is not None
                              else "never" for r in rows))
    log(f"monitor: {work}")


def cmd_memory(n, sizes):
    work = bench.OUT / f"liveset-memory-n{n}-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    res = {"n": n, "rss_kb": {}}
    for s in sizes:
        ioc, _ = boot(work, n, s)
        try:
            time.sleep(20)
            res["rss_kb"][s] = ioc.rss_kb()
        finally:
            ioc.stop()
        log(f"memory: {s} slots: RSS {res['rss_kb'][s] / 1024:.1f} MB")
    lo, hi = min(sizes), max(sizes)
    res["per_slot_kb"] = (res["rss_kb"][hi] - res["rss_kb"][lo]) / (hi - lo) if hi > lo else None
    (work / "liveset-memory.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


def cmd_cleanup():
    api = Api()
    for i in range(1, 400):
        api.request("DELETE", f"/apis/apps/v1/namespaces/{NS}/statefulsets/{live_name(i)}")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "latency":
        cmd_latency(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "monitor":
        cmd_monitor(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "memory":
        cmd_memory(int(sys.argv[2]), [int(s) for s in sys.argv[3:]])
    elif cmd == "cleanup":
        cmd_cleanup()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
