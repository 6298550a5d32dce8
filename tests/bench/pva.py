#!/usr/bin/env python3
"""pvAccess figures (docs/performance.md "pvAccess", docs/pva.md), with bench.py's cluster,
instances, IOC snapshot and CA client. Figures only; nothing passes or fails on time.

  pva.py run N        against the N bench instances (bench.py create N), one IOC:
                      'ps': one `pvget $(P)TABLE`, one CA client reading every STATUS
                      (castatus get, and Base's caget with every name), and the real `ec ps`
                      (BENCH_EC), PS_REPEAT times each,
                      interleaved, each a fresh process; medians and ratios.
                      Latency: BENCH_LATENCY_CHANGES pod deletions at BENCH_LATENCY_RATE/s
                      while a raw pod watch (kwatch) and p4p monitors of TABLE and of every
                      STATUS run; monitor update - watch event, p50/p99; TABLE updates
                      against instance changes (coalescing).
                      RSS and idle CPU (BENCH_IDLE_SECONDS) with QSRV; with
                      BENCH_IOC_TOP=<a CA-only tree> and BENCH_VARIANT=caonly the same IOC
                      without QSRV (only RSS and idle CPU then).
  pva.py report       the table of $BENCH_OUT/pva-*.json

The IOC serves PVA on 127.0.0.1, TCP/UDP ports BENCH_PVA_PORTS (default 25060,25061);
the p4p client is tests/pva/venv.sh's. Results in $BENCH_OUT."""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench
from bench import HERE, TOP, log, load1, ms_stats, name_of

import iocmgrtest

SERVER, BCAST = (int(p) for p in os.environ.get("BENCH_PVA_PORTS", "25060,25061").split(","))
_ca_env = bench.ca_env


def ca_env(port):
    """bench's CA environment plus the IOC's PVA ports (the Ioc reads it at start)."""
    env = _ca_env(port)
    env.update(iocmgrtest.pva_env(SERVER, BCAST))
    return env


bench.ca_env = ca_env

MONITOR = r'''
import json, sys, time
from p4p.client.thread import Context
# TABLE: one line per update: arrival time and the rows whose status changed
# STATUS: one line per update: arrival time, name, state
mode, seconds = sys.argv[1], float(sys.argv[2])
ctxt = Context("pva", nt=False)
out = sys.stdout
prev = {}
def table(v):
    t = time.time()
    st = v["value.status"]
    changed = [(i, s) for i, s in enumerate(st) if prev.get(i) != s]
    for i, s in enumerate(st):
        prev[i] = s
    out.write(json.dumps([t, changed]) + "\n"); out.flush()
def status(name):
    def cb(v):
        t = time.time()
        if isinstance(v, Exception):
            return
        out.write(json.dumps([t, name, v["value.choices"][v["value.index"]]]) + "\n"); out.flush()
    return cb
if mode == "table":
    subs = [ctxt.monitor(sys.argv[3], table)]
else:
    subs = [ctxt.monitor(n, status(n)) for n in sys.argv[3:]]
time.sleep(seconds)
for s in subs:
    s.close()
ctxt.close()
'''


def p4p_python():
    return subprocess.run([str(TOP / "tests/pva/venv.sh")], capture_output=True, text=True,
                          check=True).stdout.strip().splitlines()[-1]


def measure_ps(res, n, names_file, env, pvget):
    ec = bench.ec_command("ps")
    caget = [str(iocmgrtest.BASE_BIN / "caget"), "-t", "-w", "10",
             *[f"{bench.PREFIX}{x.upper()}:STATUS" for x in names_file.read_text().split()]]
    tp, tc, te, tg = [], [], [], []
    for _ in range(bench.PS_REPEAT):
        t0 = time.monotonic()
        r = subprocess.run(caget, env=env, capture_output=True, text=True)
        tg.append(time.monotonic() - t0)
        if r.returncode != 0 or len(r.stdout.split()) != n:
            raise SystemExit(f"pva: caget of every STATUS failed: {r.stderr[-300:]}")
        t0 = time.monotonic()
        r = subprocess.run(pvget, env=env, capture_output=True, text=True)
        tp.append(time.monotonic() - t0)
        rows = sum(1 for line in r.stdout.splitlines() if "bench-ioc-" in line)
        if r.returncode != 0 or rows != n:
            raise SystemExit(f"pva: pvget TABLE showed {rows} of {n} rows: {r.stderr[-300:]}")
        t0 = time.monotonic()
        r = subprocess.run([str(bench.CASTATUS), "get", bench.PREFIX, str(names_file)], env=env,
                           capture_output=True, text=True)
        tc.append(time.monotonic() - t0)
        if r.returncode != 0:
            raise SystemExit(f"pva: castatus get failed: {r.stdout}{r.stderr}")
        if ec:
            t0 = time.monotonic()
            r = subprocess.run(ec[0], env=ec[1], capture_output=True, text=True)
            te.append(time.monotonic() - t0)
    res["pvget_table_s"] = round(statistics.median(tp), 4)
    res["pvget_table_all_s"] = [round(x, 4) for x in tp]
    res["ca_all_status_s"] = round(statistics.median(tc), 4)
    res["ca_all_status_all_s"] = [round(x, 4) for x in tc]
    res["ca_over_pvget"] = round(res["ca_all_status_s"] / res["pvget_table_s"], 1)
    res["caget_all_status_s"] = round(statistics.median(tg), 4)
    res["caget_over_pvget"] = round(res["caget_all_status_s"] / res["pvget_table_s"], 1)
    if te:
        res["ec_ps_s"] = round(statistics.median(te), 4)
        res["ec_over_pvget"] = round(res["ec_ps_s"] / res["pvget_table_s"], 1)
    res["load_ps"] = load1()
    log(f"[pva n={n}] pvget TABLE {res['pvget_table_s']} s, CA every STATUS {res['ca_all_status_s']} s "
        f"({res['ca_over_pvget']}x), caget of every STATUS {res['caget_all_status_s']} s "
        f"({res['caget_over_pvget']}x), ec ps {res.get('ec_ps_s', '-')} s ({res.get('ec_over_pvget', '-')}x); "
        f"load {res['load_ps']}")


def measure_latency(res, n, names, work, py):
    prefix = bench.PREFIX
    env = dict(os.environ, **iocmgrtest.pva_env(SERVER, BCAST))
    duration = bench.LAT_CHANGES / bench.LAT_RATE + 40
    tfile, sfile = work / "pva-table.txt", work / "pva-status.txt"
    tmon = subprocess.Popen([py, "-c", MONITOR, "table", str(duration), f"{prefix}TABLE"], env=env,
                            stdout=open(tfile, "w"), stderr=subprocess.DEVNULL)
    smon = subprocess.Popen([py, "-c", MONITOR, "status", str(duration),
                             *[f"{prefix}{x.upper()}:STATUS" for x in names]], env=env,
                            stdout=open(sfile, "w"), stderr=subprocess.DEVNULL)
    # every subscription has its first update
    deadline = time.time() + 60
    while time.time() < deadline and (sum(1 for _ in open(sfile)) < n or not tfile.read_text()):
        time.sleep(0.5)
    watchlog = work / "pva-watch.txt"
    watch = bench.start_watch(watchlog)
    while not watchlog.exists() or not watchlog.read_text().startswith(tuple("0123456789")):
        time.sleep(0.1)
    time.sleep(1)
    t_first = time.time()
    sent, _late = bench.delete_pods(names)
    time.sleep(10)
    watch.terminate()
    watch.wait(10)
    for m in (tmon, smon):
        m.terminate()
        m.wait(10)
    evs = bench.read_watch(watchlog)
    index = {x: i for i, x in enumerate(names)}
    tups = [json.loads(line) for line in open(tfile) if line.startswith("[")]
    sups = [json.loads(line) for line in open(sfile) if line.startswith("[")]
    above_t, above_s, missed = [], [], 0
    for name, t_sent in sent:
        t_ev = bench.first_deleting(evs, f"{name}-0", t_sent)
        if t_ev is None:
            missed += 1
            continue
        i = index[name]
        tt = next((t for t, changed in tups if t >= t_sent and any(j == i and s == "Terminating"
                                                                    for j, s in changed)), None)
        st = next((t for t, pv, s in sups if t >= t_sent and s == "Terminating"
                   and pv == f"{prefix}{name.upper()}:STATUS"), None)
        if tt is not None:
            above_t.append(tt - t_ev)
        if st is not None:
            above_s.append(st - t_ev)
    in_window = [u for u in tups if u[0] >= t_first]
    res["latency_table_above_watch"] = ms_stats(above_t)
    res["latency_status_above_watch"] = ms_stats(above_s)
    res["latency_unmatched"] = missed
    res["table_updates"] = len(in_window)
    res["instance_changes"] = sum(len(c) for _, c in in_window)
    res["status_updates"] = sum(1 for u in sups if u[0] >= t_first)
    res["load_latency"] = load1()
    log(f"[pva n={n}] TABLE above the watch event {res['latency_table_above_watch']}, "
        f"STATUS {res['latency_status_above_watch']}; {res['table_updates']} TABLE updates for "
        f"{res['instance_changes']} row changes ({res['status_updates']} STATUS updates); load {res['load_latency']}")


def cmd_run(n):
    api = bench.Api()
    bench.OUT.mkdir(parents=True, exist_ok=True)
    work = bench.OUT / f"pva-n{n}-{bench.VARIANT}"
    work.mkdir(parents=True, exist_ok=True)
    names = [name_of(i) for i in range(1, n + 1)]
    names_file = work / "names.txt"
    names_file.write_text("\n".join(names) + "\n")
    res = {"n": n, "variant": bench.VARIANT, "start": time.strftime("%Y-%m-%d %H:%M:%S"),
           "load_start": load1()}
    bench.wait_ready(api, n, 600)
    res["quiet_wait_s"], _ = bench.wait_quiet(api)
    port = bench.ioc_port()
    env = ca_env(port)
    ioc = bench.Ioc(work / "ioc.log", port, n)
    try:
        boot = subprocess.run([str(bench.CASTATUS), "boot", bench.PREFIX, str(names_file), f"{ioc.t0:.6f}",
                               str(bench.BOOT_TIMEOUT)], env=env, capture_output=True, text=True)
        log(f"[pva n={n}] boot: {boot.stdout.strip().splitlines()[-1:]}")
        time.sleep(5)
        res["rss_boot_kb"] = ioc.rss_kb()
        res["idle_cpu_pct"] = bench.cpu_percent(ioc, bench.IDLE_S)
        res["rss_idle_kb"] = ioc.rss_kb()
        res["load_idle"] = load1()
        log(f"[pva n={n} {bench.VARIANT}] RSS {res['rss_boot_kb'] // 1024} MB after boot, "
            f"{res['rss_idle_kb'] // 1024} MB idle; idle CPU {res['idle_cpu_pct']} %; load {res['load_idle']}")
        if bench.VARIANT == "stock":
            pvget = [str(iocmgrtest.BASE_BIN / "pvget"), "-w", "10", f"{bench.PREFIX}TABLE"]
            measure_ps(res, n, names_file, env, pvget)
            measure_latency(res, n, names, work, p4p_python())
            res["rss_after_kb"] = ioc.rss_kb()
    finally:
        ioc.stop()
    with open(bench.OUT / f"pva-{n}-{bench.VARIANT}.json", "w") as f:
        json.dump(res, f, indent=1)


def cmd_report():
    rows = [json.loads(p.read_text()) for p in sorted(bench.OUT.glob("pva-*.json"))]
    print("| N | variant | RSS boot / idle (MB) | idle CPU (%) | pvget TABLE (s) | CA every STATUS (s) | "
          "CA / pvget | caget every STATUS (s) | caget / pvget | ec ps (s) | ec / pvget | TABLE above watch p50 / p99 (ms) | "
          "STATUS above watch p50 / p99 (ms) | TABLE updates / row changes | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["n"], r["variant"])):
        lt, ls = r.get("latency_table_above_watch", {}), r.get("latency_status_above_watch", {})
        print(f"| {r['n']} | {r['variant']} | {r['rss_boot_kb'] // 1024} / {r['rss_idle_kb'] // 1024} | "
              f"{r['idle_cpu_pct']} | {r.get('pvget_table_s', '-')} | {r.get('ca_all_status_s', '-')} | "
              f"{r.get('ca_over_pvget', '-')} | {r.get('caget_all_status_s', '-')} | "
              f"{r.get('caget_over_pvget', '-')} | {r.get('ec_ps_s', '-')} | {r.get('ec_over_pvget', '-')} | "
              f"{lt.get('p50_ms', '-')} / {lt.get('p99_ms', '-')} ({lt.get('count', 0)}) | "
              f"{ls.get('p50_ms', '-')} / {ls.get('p99_ms', '-')} ({ls.get('count', 0)}) | "
              f"{r.get('table_updates', '-')} / {r.get('instance_changes', '-')} | "
              f"{r.get('load_idle')}, {r.get('load_ps', '-')}, {r.get('load_latency', '-')} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        cmd_run(int(sys.argv[2]))
    elif len(sys.argv) == 2 and sys.argv[1] == "report":
        cmd_report()
    else:
        sys.exit(__doc__)
