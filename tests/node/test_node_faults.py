"""Real failures of real IOCs on the node, as the kubelet handles them and iocmgr shows
them (docs/node.md): a stopped (SIGSTOP) or hung IOC restarted by its liveness probe, a
crash loop with the kubelet's own back-off, OOMKilled, an image the node does not have,
a pod no node will take, a slow boot."""
import os
import signal
import time

import pytest

from iocmgrtest import timed_monitor
from nodebed import NAMESPACE, node_iocmgr, uptime_seconds


def container_history(bed, i, until, timeout, step=0.25):
    """Poll the pod's container status until until(status) or timeout; returns the
    distinct (seconds since start, restartCount, state, reason) seen, and for each
    restart n the seconds from the end of container n-1 to the start of container n
    (the API's own timestamps, whole seconds)."""
    from datetime import datetime
    t0 = time.monotonic()
    seen, last, gaps = [], None, {}

    def ts(x):
        return datetime.strptime(x, "%Y-%m-%dT%H:%M:%SZ").timestamp()
    while True:
        c = bed.container(i)
        state = next(iter(c.get("state", {})), "-")
        reason = (c.get("state", {}).get(state) or {}).get("reason", "")
        now = (c.get("restartCount", 0), state, reason)
        if now != last:
            seen.append((round(time.monotonic() - t0, 1), *now))
            last = now
        started = (c.get("state", {}).get("running") or {}).get("startedAt")
        ended = (c.get("lastState", {}).get("terminated") or {}).get("finishedAt")
        if started and ended and now[0] not in gaps:
            gaps[now[0]] = ts(started) - ts(ended)
        if until(c):
            return seen, [gaps[n] for n in sorted(gaps)]
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s; container history {seen}")
        time.sleep(step)


def test_sigstop_fails_the_liveness_probe_and_the_kubelet_restarts_the_ioc(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-10", liveness_period=3)
    bed.answering(i)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-10:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
        pid = bed.ioc_pid(i)
        with timed_monitor(ioc.ca, ioc.pv("STATUS", i)) as status, \
                timed_monitor(ioc.ca, ioc.pv("RESTARTS", i)) as restarts:
            t0 = time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            assert bed.uptime(i, wait=2) is None          # stopped: nothing answers
            history, _ = container_history(bed, i, lambda c: c.get("restartCount", 0) >= 1
                                           and c.get("state", {}).get("running"), 60)
            took = time.monotonic() - t0
            restarts.wait_after("1", t0, 30)
            new = bed.ioc_pid(i)
            assert new != pid
            first = bed.wait(lambda: bed.uptime(i), 30, "the restarted IOC answering")
            assert uptime_seconds(first) < 30
            ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
        c = bed.container(i)
        assert c["lastState"]["terminated"]["exitCode"] in (137, 143), c["lastState"]
        events = bed.kubectl("-n", NAMESPACE, "get", "events", "--field-selector",
                             f"involvedObject.name={i}-0", "-o", "jsonpath={.items[*].message}")
        assert "Liveness probe failed" in events, events
        print(f"SIGSTOP -> restarted in {took:.1f}s; container {history}; "
              f"iocmgr STATUS {[(round(t - t0, 1), v, s) for t, v, s in status.timeline]}, "
              f"RESTARTS {[(round(t - t0, 1), v) for t, v, s in restarts.timeline]}")


@pytest.mark.alive_string
def test_alive_follows_sigstop_sigcont_and_the_liveness_restart(bed, instances, tmp_path):
    # a slow liveness probe (2 failures 10 s apart) leaves time to see SIGCONT first
    i = instances("bl46p-ea-test-11", liveness_period=10)
    bed.answering(i)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-11:") as ioc:
        ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
        pid = bed.ioc_pid(i)
        with timed_monitor(ioc.ca, ioc.pv("ALIVE", i)) as alive:
            t0 = time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            alive.wait_after(lambda v, s: v == "Silent" and s == "MAJOR", t0, 15)
            assert ioc.get("STATUS", i) == "Running"      # the pod still runs: only ALIVE sees it
            t1 = time.monotonic()
            os.kill(pid, signal.SIGCONT)
            alive.wait_after(lambda v, s: v == "Alive" and s == "NO_ALARM", t1, 15)
            assert bed.ioc_pid(i) == pid                  # the same process, answering again
            t2 = time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            alive.wait_after(lambda v, s: v == "Silent" and s == "MAJOR", t2, 15)
            # the liveness probe fails three times, the kubelet restarts the container
            bed.wait(lambda: bed.container(i).get("restartCount", 0) >= 1, 90, "the liveness restart")
            alive.wait_after(lambda v, s: v == "Alive" and s == "NO_ALARM", t2, 60)
            print(f"ALIVE: {[(round(t - t0, 1), v, s) for t, v, s in alive.timeline]}")


def test_a_hung_ioc_stops_answering_and_is_restarted(bed, instances):
    i = instances("bl46p-ea-test-12", behaviour="hang:6", liveness_period=3)
    bed.answering(i)
    bed.wait(lambda: bed.uptime(i, wait=1) is None, 30, f"{i} to stop answering")
    assert bed.container(i).get("state", {}).get("running"), "the hung IOC's container still runs"
    bed.wait(lambda: bed.container(i).get("restartCount", 0) >= 1, 60, "the liveness restart")
    assert "stops answering now" in bed.kubectl("-n", NAMESPACE, "logs", f"{i}-0", "--previous")


def test_crash_loop_backs_off_10_20_40_and_iocmgr_holds_crashloop(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-13", behaviour="exit:0")
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-13:") as ioc:
        with timed_monitor(ioc.ca, ioc.pv("STATUS", i)) as status, \
                timed_monitor(ioc.ca, ioc.pv("RESTARTS", i)) as restarts:
            t0 = time.monotonic()
            history, gaps = container_history(bed, i, lambda c: c.get("restartCount", 0) >= 4
                                              and c.get("state", {}).get("running"), 240)
            restarts.wait_after("4", t0, 30)
        # the kubelet's back-off, from a container's end to the next start: the first
        # restart at once, then 10 s, 20 s, 40 s. A backing-off pod is looked at again
        # every 10-15 s (the kubelet's pod worker back-off, jittered), so a restart comes
        # up to 15 s after its back-off has passed (18 s seen at load 10), never before; the API's
        # timestamps are whole seconds.
        pod = bed.pod(i)
        c = bed.container(i)
        assert c["lastState"]["terminated"]["exitCode"] == 1
        assert c["lastState"]["terminated"]["reason"] == "Error"
        print(f"container history (s, restartCount, state, reason): {history}")
        print(f"restart gaps after each exit (s): {gaps}")
        print(f"iocmgr STATUS {[(round(t - t0, 1), v, s) for t, v, s in status.timeline]}")
        print(f"iocmgr RESTARTS {[(round(t - t0, 1), v, s) for t, v, s in restarts.timeline]}")
        assert len(gaps) >= 4, (gaps, history)
        assert gaps[0] <= 2, gaps
        for gap, want in zip(gaps[1:], (10, 20, 40)):
            assert want - 1 <= gap <= want + 25, (gaps, history)
        # one alarm for the whole loop: once CrashLoop (MAJOR), it stays so between cycles
        first = next(k for k, (t, v, s) in enumerate(status.timeline) if v == "CrashLoop")
        assert all(v == "CrashLoop" and s == "MAJOR" for t, v, s in status.timeline[first:]), status.timeline
        assert ioc.get("LAST_EXIT", i) == "1"
        assert ioc.get("LAST_REASON", i) == "Error"
        message = ioc.get("MESSAGE", i, string=True)
        assert message.startswith("restarting:") and "last exit 1 (Error)" in message, message
        print(f"MESSAGE: {message}")
        assert pod["status"]["phase"] == "Running"


def test_oomkilled_reaches_last_reason_and_message(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-14", behaviour="oom:2", memory="48Mi")
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-14:") as ioc:
        bed.wait(lambda: (bed.container(i).get("lastState", {}).get("terminated") or {}).get("reason")
                 == "OOMKilled", 60, "the container OOMKilled")
        ioc.ca.wait_value(ioc.pv("LAST_REASON", i), "OOMKilled", timeout=30)
        assert ioc.get("LAST_EXIT", i) == "137"
        # the first restart is at once and the IOC runs (MESSAGE empty); at the second
        # OOM the kubelet backs off and MESSAGE says why
        message, sevr = ioc.ca.wait_value(ioc.lpv("MESSAGE", i), lambda v, s: "OOMKilled" in v,
                                          timeout=60, string=True)
        assert ioc.get("STATUS", i) in ("Starting", "CrashLoop")
        print(f"STATUS {ioc.get('STATUS', i)}, MESSAGE: {message}")


def test_an_image_the_node_does_not_have(bed, instances, tmp_path):
    image = "localhost/iocmgr/not-on-this-node:1.0"
    i = instances("bl46p-ea-test-15", image=image)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-15:") as ioc:
        bed.wait(lambda: (bed.container(i).get("state", {}).get("waiting") or {}).get("reason")
                 == "ErrImageNeverPull", 60, "ErrImageNeverPull")
        kubelet = bed.container(i)["state"]["waiting"]["message"]
        value, sevr = ioc.ca.wait_value(ioc.pv("MESSAGE", i) + ".VAL$", lambda v, s: image in v,
                                        timeout=30, string=True)
        assert "ErrImageNeverPull" in value or kubelet in value, (value, kubelet)
        assert ioc.get("STATUS.SEVR", i) in ("MINOR", "MAJOR")
        print(f"kubelet: {kubelet}; STATUS {ioc.get('STATUS', i)}; MESSAGE: {value}")


def test_a_pod_without_the_toleration_stays_pending_with_the_schedulers_message(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-16", tolerate=False)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-16:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), lambda v, s: v == "Pending" and s == "MAJOR", timeout=40)
        message = ioc.get("MESSAGE", i, string=True)
        scheduler = bed.kubectl("-n", NAMESPACE, "get", "pod", f"{i}-0", "-o",
                                'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}')
        assert "untolerated taint" in scheduler, scheduler
        assert scheduler in message, (message, scheduler)
        print(f"MESSAGE: {message}")


def test_a_slow_ioc_is_starting_until_it_answers(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-17", behaviour="slow:8", readiness=True)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-17:", IOCMGR_PENDING_GRACE=30) as ioc:
        with timed_monitor(ioc.ca, ioc.pv("STATUS", i)) as status:
            t0 = time.monotonic()
            status.wait_after("Running", t0, 60)
        bed.wait(lambda: bed.uptime(i), 5, f"{i}:UPTIME")
        starting = [(round(t - t0, 1), v, s) for t, v, s in status.timeline if v == "Starting"]
        assert starting and all(s == "MINOR" for _, _, s in starting), status.timeline
        print(f"STATUS {[(round(t - t0, 1), v, s) for t, v, s in status.timeline]}")
