"""ALIVE: the IOC itself answers over CA. The demo beamline's IOCs are real softIoc
processes in containers on the bed's real node (docs/node.md), serving <I>:UPTIME as
iocStats does (tests/ioc/iocStatsUptime.db: a stringin "HH:MM:SS", "1 day, HH:MM:SS",
"N days, HH:MM:SS", new every second); iocmgr reads it at the node's broadcast address.
ALIVE follows the string changing, not its hours: the IOC process stopped (SIGSTOP)
while its pod stays Running, ALIVE goes Silent with a MAJOR alarm, the picture of a hung
IOC; continued, Alive again. Silent is MAJOR only while the pod is Ready (a pod that is
booting or crash-looping already alarms on STATUS: one alarm per fault); a stopped
instance has no IOC: Silent, no alarm.

The hour and day boundaries cannot be waited for on a real IOC: there the same records
run in Base's softIoc on the machine with their clock started just before the boundary
(UPTIME_OFFSET), standing in for the instance's IOC."""
import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, free_port, run_ioc, shutdown_problem, soft_ioc, stop_process, CA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
from nodebed import NodeBed  # noqa: E402

RUNNING = "bl46p-ea-ioc-01"
STOPPED = "bl46p-ea-ioc-02"
CRASHING = "bl46p-ea-ioc-04"
UPTIME_DB = TOP / "tests/ioc/iocStatsUptime.db"
# statsUpTime() in iocStats devIocStats/devIocStatsString.c
IOCSTATS_UPTIME = re.compile(r"^(?:(?:1 day|[2-9]\d* days|[1-9]\d+ days), )?([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")


@contextmanager
def uptime_ioc(instance, offset=0):
    """A softIoc serving <INSTANCE>:UPTIME as iocStats does, its clock started at offset s
    (stopped with SIGTERM at the end, its end judged: iocmgrtest.soft_ioc)."""
    port = free_port()
    with soft_ioc(UPTIME_DB, port, what=f"the softIoc serving {instance.upper()}:UPTIME",
                  macros=f"IOC={instance.upper()},UPTIME_OFFSET={offset}") as proc:
        yield port, proc


def test_uptime_db_serves_iocstats_format():
    """The stand-in is iocStats' UPTIME: a DBF_STRING, HH:MM:SS from the first second
    (PINI, no UDF), hours of the day, then "1 day, " and "N days, " prefixes."""
    for offset, before, after in ((3598, "00:59:59", "01:00:00"), (86398, "23:59:59", "1 day, 00:00:00"),
                                  (2 * 86400 - 2, "1 day, 23:59:59", "2 days, 00:00:00")):
        with uptime_ioc("TST-UPTIME", offset) as (port, _):
            ca = CA(port)
            pv = "TST-UPTIME:UPTIME"
            deadline = time.monotonic() + 10
            while ca.try_get(pv) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            info = ca.run("cainfo", pv).stdout
            assert "DBF_STRING" in info, info
            seen = []
            with ca.monitor(pv, string=True) as mon:
                mon.wait(after, timeout=10)
                seen = [v for v, _ in mon.seen]
            print(f"offset {offset}: {seen}")
            assert before in seen, seen
            assert all(IOCSTATS_UPTIME.match(v) for v in seen), seen
            assert all(s == "NO_ALARM" for _, s in mon.seen), mon.seen


@pytest.mark.alive_string
def test_alive_follows_the_ioc_not_the_pod(cluster, shipped_kubeconfig, tmp_path):
    node = NodeBed(cluster.dir)
    i = RUNNING
    env = {"IOCMGR_KUBECONFIG": str(shipped_kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
           "CA_EXTRA_ADDR": f"{node.ca_addr}:5064"}
    with run_ioc(tmp_path, env, prefix="TST-ALIVE-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
        assert IOCSTATS_UPTIME.match(node.wait(lambda: node.uptime(i), 30, f"{i}:UPTIME over CA"))
        ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
        assert ioc.get("ALIVE.SEVR", i) == "NO_ALARM"
        with ioc.ca.monitor(ioc.pv("ALIVE", i)) as mon:
            # longer than ALIVE's 5 s window: the real UPTIME string advances
            with pytest.raises(AssertionError, match="timed out"):
                mon.wait(lambda v, s: v != "Alive", 8)
        pid = node.ioc_pid(i)
        os.kill(pid, signal.SIGSTOP)
        try:
            ioc.ca.wait_value(ioc.pv("ALIVE", i), lambda v, s: v == "Silent" and s == "MAJOR", timeout=30)
            assert ioc.get("STATUS", i) == "Running"
            assert node.uptime(i, wait=1) is None
        finally:
            os.kill(pid, signal.SIGCONT)
        ioc.ca.wait_value(ioc.pv("ALIVE", i), lambda v, s: v == "Alive" and s == "NO_ALARM", timeout=30)
        assert node.ioc_pid(i) == pid         # the same IOC process, not a restart
        # a stopped instance that does not answer is as desired: no alarm
        ioc.ca.wait_value(ioc.pv("ALIVE", STOPPED), lambda v, s: v == "Silent" and s == "NO_ALARM",
                          timeout=10)


def test_alive_across_the_hour_boundary(shipped_kubeconfig, tmp_path):
    """UPTIME 00:59:30 -> 01:00:05 as iocStats serves it: ALIVE stays Alive, no alarm,
    from its first look through 01:00:00. (Read as a number, "00:59:59" and "01:00:00"
    are the hours 0 and 1: for an hour the IOC looks frozen.) The clock starts 30 s
    before the hour so that ALIVE has watched the IOC for several times its 5 s window
    before the boundary, whatever the boot takes."""
    with uptime_ioc(RUNNING, offset=3570) as (soft_port, _):
        env = {"IOCMGR_KUBECONFIG": str(shipped_kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
               "CA_EXTRA_ADDR": f"127.0.0.1:{soft_port}"}
        with run_ioc(tmp_path, env, prefix="TST-ALIVE-02:") as ioc:
            soft_ca = CA(soft_port)
            ioc.ca.wait_value(ioc.pv("STATUS", RUNNING), "Running", timeout=60)
            with ioc.ca.monitor(ioc.pv("ALIVE", RUNNING)) as alive, \
                    soft_ca.monitor(f"{RUNNING.upper()}:UPTIME", string=True) as uptime:
                alive.wait("Alive", timeout=30)
                # from ALIVE's first Alive on (before it, a link just connected and without a
                # value yet reads Silent without alarm: seen under ASan's slower boot)
                since = len(alive.seen) - 1
                first = uptime.wait(lambda v, s: True, timeout=5)[0]
                assert first < "00:59:50", f"ALIVE first seen Alive at UPTIME {first}: too late to judge"
                uptime.wait("01:00:05", timeout=60)
                while not alive.updates.empty():          # every ALIVE update so far
                    alive.seen.append(alive.updates.get_nowait())
            transcript = [f"UPTIME {v}" for v, _ in uptime.seen] + [f"ALIVE {v} {s}" for v, s in alive.seen]
            print("\n".join(transcript))
            assert "00:59:59" in [v for v, _ in uptime.seen] and "01:00:00" in [v for v, _ in uptime.seen]
            assert all(v == "Alive" and s == "NO_ALARM" for v, s in alive.seen[since:]), alive.seen
            assert ioc.get("ALIVE", RUNNING) == "Alive"
            assert ioc.get("ALIVE.SEVR", RUNNING) == "NO_ALARM"


def test_no_alive_alarm_while_the_pod_is_not_ready(ioc):
    """A crash-looping IOC is CrashLoop (MAJOR) on STATUS; its pod is not Ready, so
    ALIVE is Silent without an alarm of its own."""
    ioc.ca.wait_value(ioc.pv("STATUS", CRASHING), lambda v, s: v == "CrashLoop" and s == "MAJOR", timeout=60)
    value, sevr = ioc.ca.wait_value(ioc.pv("ALIVE", CRASHING), lambda v, s: v == "Silent", timeout=10)
    assert ioc.get("READY", CRASHING) == "No"
    assert ioc.get("ALIVE.SEVR", CRASHING) == "NO_ALARM", (value, sevr)
