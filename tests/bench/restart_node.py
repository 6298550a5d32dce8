#!/usr/bin/env python3
"""RESTART on a real node (docs/performance.md, "RESTART on a real node"): how long from an
operator's command to the new IOC process answering its UPTIME over Channel Access, for

  caput   iocmgr's RESTART (`castatus caput`: what `caput -c` does, with timestamps), timed
          from the client's start
  ec      `ec restart NAME` (edge-containers-cli 5.5.2, K8S backend)
  kubectl `kubectl delete pod NAME-0`

on one instance of the generic test IOC image on the bed's real node (kubelet, containerd,
runc), and iocmgr's own share: the RESTART put written (castatus' clock) to the pod's
deletion seen by a watch on the apiserver (kwatch), and to the put's callback (iocmgr
completes the RESTART record when the apiserver has answered its DELETE). Samples are interleaved (caput, ec,
kubectl, caput, ...), each taken once the IOC has been up at least BENCH_NODE_UPTIME
seconds (4) so that the new IOC's UPTIME tells it from the old one. The new IOC is found by
polling `caget -w 0.2` of its UPTIME (resolution ~0.25 s). Prints figures; nothing passes
or fails on time.

  restart_node.py OUT          (run by tests/bench/restart-node.sh)

Environment: IOCMGR_CLUSTER_DIR (a bed with a real node), EPICS_CA_REPEATER_PORT (a
running repeater), BENCH_EC and BENCH_HELM (ec and helm), BENCH_NODE_SAMPLES (20 per
method), BENCH_CA_PORTS (iocmgr's CA port from this range)."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(TOP / "tests/node"))
from nodebed import NodeBed, ioc_instance, uptime_seconds  # noqa: E402
from iocmgrtest import BASE_BIN, chart_identity, free_port, run_ioc  # noqa: E402

SAMPLES = int(os.environ.get("BENCH_NODE_SAMPLES", "20"))
MIN_UP = int(os.environ.get("BENCH_NODE_UPTIME", "4"))
NAME = "bench-node-ioc-01"
PREFIX = "BENCH-NODE:"
ARCH = "linux-x86_64"


def log(msg):
    print(f"bench-node: {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    """p-th percentile, linear between closest ranks (numpy's default)"""
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def load1():
    return float(Path("/proc/loadavg").read_text().split()[0])


class Watch:
    """kwatch on the namespace: (arrival, type, pod, uid, deleting) per pod event"""

    def __init__(self, bed, ns, out):
        self.out = out
        host = bed.env["IOCMGR_API_URL"]
        d = Path(bed.dir)
        self.proc = subprocess.Popen([str(HERE / f"O.{ARCH}" / "kwatch"), host, str(d / "ca.crt"),
                                      str(d / "pki/admin.crt"), str(d / "pki/admin.key"), ns, str(out)])

    def deleting(self, pod, after):
        """arrival time of the first event after `after` showing the pod being deleted"""
        for line in Path(self.out).read_text().splitlines():
            p = line.split()
            if len(p) == 7 and p[1] != "STARTED" and p[2] == pod and float(p[0]) >= after \
                    and (p[4] == "1" or p[1] == "DELETED"):
                return float(p[0])
        return None

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def new_ioc_answering(bed, old_up, t_deadline):
    """Poll the IOC's UPTIME until an IOC that has been up less than the old one answers;
    (time it answered, its UPTIME)"""
    while time.time() < t_deadline:
        r = subprocess.run([str(BASE_BIN / "caget"), "-t", "-w", "0.2", f"{NAME.upper()}:UPTIME"],
                           env=bed.ca_env(), capture_output=True, text=True, timeout=30)
        t = time.time()
        v = r.stdout.strip()
        if r.returncode == 0 and v and uptime_seconds(v) < old_up:
            return t, v
    raise SystemExit(f"bench-node: the new {NAME} did not answer in time")


def sample(bed, ioc, watch, method, ec_env):
    # the old IOC up long enough to be told from the new one
    while True:
        v = bed.uptime(NAME, wait=1)
        if v and uptime_seconds(v) >= MIN_UP:
            old_up = uptime_seconds(v)
            break
        time.sleep(0.2)
    old_uid = bed.pod(NAME)["metadata"]["uid"]
    names = Path(watch.out).with_name("names")
    load = load1()
    t0 = time.time()
    if method == "caput":
        argv = [str(HERE / f"O.{ARCH}" / "castatus"), "caput", PREFIX, str(names), "RESTART"]
        env = ioc.ca.env            # iocmgr's CA server on loopback
    elif method == "ec":
        argv, env = [os.environ["BENCH_EC"], "restart", NAME], ec_env
    else:
        argv, env = ["kubectl", "--kubeconfig", bed.kubeconfig, "-n", bed.env["IOCMGR_NAMESPACE"], "delete", "pod",
                     f"{NAME}-0"], bed.env
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())), daemon=True).start()
    t_new, first = new_ioc_answering(bed, old_up, t0 + 120)
    proc.wait(60)
    if proc.returncode != 0:
        raise SystemExit(f"bench-node: {method} failed ({proc.returncode}): {out}")
    new_uid = bed.pod(NAME)["metadata"]["uid"]
    assert new_uid != old_uid, f"{method}: no new pod"
    words = out["stdout"].split()
    t_put = float(words[2]) if method == "caput" else t0
    t_del = watch.deleting(f"{NAME}-0", t0)
    return {"method": method, "end_to_end_s": round(t_new - t0, 3), "first_uptime": first,
            "to_delete_ms": round((t_del - t_put) * 1000, 1) if t_del else None,
            # the put's callback: iocmgr completes RESTART when the apiserver has answered its DELETE
            "to_answer_ms": round((float(words[3]) - t_put) * 1000, 1) if method == "caput" else None,
            "command_to_put_ms": round((t_put - t0) * 1000, 1), "load1": load}


def main(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bed = NodeBed(os.environ["IOCMGR_CLUSTER_DIR"])
    ns = bed.env["IOCMGR_NAMESPACE"]
    bed.delete_instance(NAME)
    bed.wait(lambda: bed.pod(NAME) is None, 60, f"an earlier {NAME} gone")
    bed.apply(*ioc_instance(NAME, bed.image, labels={"is_ioc": "true"}))
    bed.answering(NAME, 90)
    (out_dir / "names").write_text(NAME + "\n")
    ec_env = {**bed.env, "EC_CLI_BACKEND": "K8S", "EC_TARGET": ns, "KUBECONFIG": bed.kubeconfig,
              "PATH": f"{Path(os.environ['BENCH_HELM']).parent}:{bed.env['PATH']}"}
    lo, _, hi = os.environ.get("BENCH_CA_PORTS", "").partition("-")
    port = free_port(range(int(lo), int(hi) + 1)) if hi else free_port()
    expected = out_dir / "expected.yaml"
    expected.write_text(f"instances:\n  - name: {NAME}\n")
    # iocmgr as the chart's ServiceAccount and Role (tests/integration/iocmgrtest.chart_identity)
    env = {"IOCMGR_KUBECONFIG": str(chart_identity(bed, out_dir, ns)), "IOCMGR_NAMESPACE": ns,
           "IOCMGR_EXPECTED": str(expected), "CA_EXTRA_ADDR": f"{bed.ca_addr}:5064"}
    watch = Watch(bed, ns, out_dir / "watch.txt")
    results = []
    try:
        with run_ioc(out_dir, env, prefix=PREFIX, port=port) as ioc:
            ioc.ca.wait_value(ioc.pv("STATUS", NAME), "Running", timeout=60)
            methods = ("caput", "ec", "kubectl")
            for k in range(SAMPLES):
                for m in methods[k % 3:] + methods[:k % 3]:      # rotate the order
                    r = sample(bed, ioc, watch, m, ec_env)
                    results.append(r)
                    log(f"{k + 1}/{SAMPLES} {m}: {r['end_to_end_s']:.2f} s (first UPTIME {r['first_uptime']}), "
                        f"DELETE seen {r['to_delete_ms']} ms after the {'put' if m == 'caput' else 'command'}, "
                        f"load {r['load1']}")
    finally:
        watch.close()
        bed.delete_instance(NAME)
    (out_dir / "samples.json").write_text(json.dumps(results, indent=1))
    summary = report(results)
    (out_dir / "summary.txt").write_text(summary + "\n")
    print(summary)


def report(results):
    lines = [f"RESTART on a real node, {SAMPLES} samples per method (interleaved); seconds from the command "
             "to the new IOC process answering its UPTIME over CA", "",
             "| method | p50 | p99 | min | max | command -> pod deletion seen by the watch, p50 / p99 (ms) | "
             "1-min load during the samples |", "|---|---|---|---|---|---|---|"]
    e2e = {}
    for m in ("caput", "ec", "kubectl"):
        rs = [r for r in results if r["method"] == m]
        e = [r["end_to_end_s"] for r in rs]
        d = [r["to_delete_ms"] for r in rs if r["to_delete_ms"] is not None]
        e2e[m] = e
        loads = [r["load1"] for r in rs]
        what = "put written" if m == "caput" else "command started"
        lines.append(f"| {m} | {pct(e, 50):.2f} s | {pct(e, 99):.2f} s | {min(e):.2f} | {max(e):.2f} | "
                     f"{what}: {pct(d, 50):.1f} / {pct(d, 99):.1f} | "
                     f"{statistics.median(loads):.1f} ({min(loads):.1f}-{max(loads):.1f}) |")
    put = [r["command_to_put_ms"] for r in results if r["method"] == "caput"]
    answered = [r["to_answer_ms"] for r in results if r["method"] == "caput" and r.get("to_answer_ms")]
    lines += ["", f"ec restart / caput RESTART, end to end: p50 {pct(e2e['ec'], 50) / pct(e2e['caput'], 50):.2f}x, "
              f"p99 {pct(e2e['ec'], 99) / pct(e2e['caput'], 99):.2f}x (target: at least 1.3x)",
              f"kubectl delete pod / caput RESTART: p50 {pct(e2e['kubectl'], 50) / pct(e2e['caput'], 50):.2f}x",
              f"iocmgr's share (the put written -> the pod's deletion seen by the watch): p99 "
              f"{pct([r['to_delete_ms'] for r in results if r['method'] == 'caput' and r['to_delete_ms']], 99):.1f} ms "
              "(target: under 20 ms)",
              f"the put written -> its callback (iocmgr completes RESTART once the apiserver answered its DELETE): "
              f"p50 {pct(answered, 50):.1f} ms, p99 {pct(answered, 99):.1f} ms" if answered else "",
              f"the CA client's start and connection before its put: p50 {pct(put, 50):.0f} ms, p99 {pct(put, 99):.0f} ms"]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
