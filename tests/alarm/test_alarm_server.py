"""What the real Phoebus alarm server makes of iocmgr: the configuration iocmgr
writes at boot, checked with Phoebus' own reader and imported into Kafka, then
the alarm states the server publishes there while the cluster does what
beamlines do. Every check reads the whole sequence of published states (time,
severity), not only the last one. The tests run in file order: they share one
cluster, IOC and alarm server, and the apiserver outage comes last."""
import subprocess
import time

from conftest import (CANARY_PATH, CONFIG, CONNECTED_PATH, CONNECTION_TIMEOUT, CRASH_CYCLE, HERE, NAMESPACE,
                      SETTLE, classpath, path_of)
from iocmgrtest import settled, wait_until

INSTANCES = ("alarm-ok-01", "alarm-crash-01", "alarm-pending-01", "alarm-stopped-01")


def show(title, states, t0):
    print(f"{title}:")
    for t, sevr, value, msg in states:
        print(f"  {t - t0:8.1f} s  {sevr:9} {value!s:12} {msg}")


def restarts(cluster, pod):
    out = cluster.kubectl("-n", NAMESPACE, "get", "pod", pod, "-o",
                          "jsonpath={.status.containerStatuses[0].restartCount}", check=False)
    return int(out) if out.isdigit() else 0


def check_config(tmp_path, xml_text, name):
    f = tmp_path / "config.xml"
    f.write_text(xml_text)
    return subprocess.run([str(HERE / "alarm-server.sh"), "check", classpath("IOCMGR_ALARM_PHOEBUS_CP"),
                           str(f), name], capture_output=True, text=True, timeout=120)


def test_configuration_is_clean_and_imported(alarm_server, ioc):
    check = (alarm_server.dir / "check.log").read_text()
    print(check)
    pvs = [line.split()[1] for line in check.splitlines() if line.startswith("PV ")]
    want = [CONNECTED_PATH] + [path_of(i, f) for i in INSTANCES for f in ("STATUS", "ALIVE")]
    # iocmgr's configuration, and the canary the fixture adds (conftest.CANARY_PV)
    assert sorted(pvs) == sorted(want + [CANARY_PATH])
    assert "0 problems" in check
    # what the server holds is what iocmgr wrote: every PV, with its guidance
    for path in want:
        config = alarm_server.recording.config(path)
        assert config and config.get("guidance"), f"{path}: {config}"


def test_the_check_fails_on_what_the_import_lets_pass(ioc, tmp_path):
    """The alarm server's -import exits 0 for a configuration under another
    name, and Phoebus' reader drops a PV listed twice with only a warning: the
    check must catch both, or a clean result means nothing."""
    text = ioc.alarm_xml.read_text()
    r = check_config(tmp_path, text, "SomeOtherName")
    assert r.returncode == 1 and f"named '{CONFIG}', expected 'SomeOtherName'" in r.stdout, r.stdout
    first_component = text.index('    <component name="alarm-ok-01">')
    end = text.index("    </component>", first_component) + len("    </component>\n")
    twice = text.replace("</config>", '  <component name="again">\n' + text[first_component:end]
                         + "  </component>\n</config>")
    r = check_config(tmp_path, twice, CONFIG)
    assert r.returncode == 1 and "Ignoring duplicate PV" in r.stdout, r.stdout


def test_pending_past_its_grace_period_is_major_with_guidance(alarm_server):
    path = path_of("alarm-pending-01", "STATUS")
    t, sevr, value, msg = alarm_server.recording.wait_state(path, lambda s, v: s == "MAJOR", 60)
    assert value == "Pending", (value, msg)
    guidance = alarm_server.recording.config(path)["guidance"]
    print(f"published {sevr} {value} {msg}; guidance: {guidance}")
    assert any("Pending (MINOR, MAJOR past the grace period)" in g["details"] for g in guidance)


def test_crash_loop_is_one_major_alarm_across_three_restart_cycles(alarm_server, beamline, ioc):
    path = path_of("alarm-crash-01", "STATUS")
    rec = alarm_server.recording
    started = time.time()
    ioc.ca.put(ioc.pv("START", "alarm-crash-01"), 1)
    first, _, _, _ = rec.wait_state(path, lambda s, v: s == "MAJOR", 60, after=started)
    r0 = restarts(beamline, "alarm-crash-01-0")
    # three more crashes and restarts (9 s each), then the next crash's back-off
    cycles = [(time.time(), r0)]

    def cycled():
        n = restarts(beamline, "alarm-crash-01-0")
        if n != cycles[-1][1]:
            cycles.append((time.time(), n))
        return n >= r0 + 3

    wait_until(cycled, 90, step=0.5, what="three restart cycles")
    cycles_done = time.time()
    states = rec.states(path)
    show(f"alarm states of {path} (0 s: the first MAJOR; START written at {started - first:.1f} s)",
         states, first)
    print("  the pod meanwhile (kubectl, polled every 0.5 s):")
    for t, n in cycles:
        print(f"  {t - first:8.1f} s  restartCount {n}")
    after = [s for s in states if s[0] >= first]
    assert all(sevr == "MAJOR" and value == "CrashLoop" for _, sevr, value, _ in after), after
    raised = [i for i in range(len(states)) if states[i][1] == "MAJOR"
              and (i == 0 or states[i - 1][1] != "MAJOR")]
    assert len(raised) == 1, states
    assert cycles_done - first >= 3 * 9 - 9, "three cycles cannot pass this fast"
    message = ioc.get("MESSAGE", "alarm-crash-01", string=True)
    print(f"MESSAGE: {message}")
    assert message.startswith("restarting: ") and "last exit 1 (Error)" in message


def test_stopped_as_desired_raises_nothing(alarm_server):
    """The server publishes nothing for a PV that connects with no alarm, so an empty
    history alone proves nothing (a PV never connected has none either, until the
    server's connection check). The canary, a PV nobody serves started with the others,
    is published UNDEFINED once that check has run: from then on a PV with no message,
    or only OK ones, is connected and raises nothing. A PV iocmgr did not serve, or a
    Stopped shown with an alarm, would have a non-OK state here."""
    rec = alarm_server.recording
    t, sevr, value, msg = rec.wait_state(CANARY_PATH, lambda s, v: s != "OK", CONNECTION_TIMEOUT + 60,
                                         what="the canary published as not connected")
    print(f"canary: {sevr} {msg!r}: the server's connection check of every PV has run")
    for field in ("STATUS", "ALIVE"):
        path = path_of("alarm-stopped-01", field)
        assert rec.config(path), f"{path} is not in the alarm server's configuration"
        states = rec.states(path)
        print(f"alarm-stopped-01:{field}: {states}")
        assert all(sevr == "OK" for _, sevr, _, _ in states), states


def test_crash_loop_clears_once_fixed_and_stays_clear(alarm_server, beamline, ioc):
    path = path_of("alarm-crash-01", "STATUS")
    rec = alarm_server.recording
    # the fix: the image no longer crashes (here: the label kwok's crash stages
    # select is gone from the template), rolled out by a RESTART from iocmgr
    beamline.kubectl("-n", NAMESPACE, "patch", "statefulset", "alarm-crash-01", "--type=json", "-p",
                     '[{"op": "remove", "path": "/spec/template/metadata/labels/iocmgr.test~1crash-loop"}]')
    fixed = time.time()
    ioc.ca.put(ioc.pv("RESTART", "alarm-crash-01"), 1)

    def ready_new_pod():
        out = beamline.kubectl("-n", NAMESPACE, "get", "pod", "alarm-crash-01-0", "-o",
                               "jsonpath={.metadata.labels.iocmgr\\.test/crash-loop}|"
                               "{.status.containerStatuses[0].ready}", check=False)
        return out == "|true"

    wait_until(ready_new_pod, 60, step=0.2, what="the fixed pod Ready")
    ready = time.time()
    _, _, value, _ = rec.wait_state(path, lambda s, v: s == "OK", SETTLE + 30, after=fixed,
                                    what="the crash loop's alarm cleared")
    cleared = rec.states(path)
    clear_time = [s for s in cleared if s[0] >= fixed and s[1] == "OK"][0][0]
    # stays clear: nothing published and no restart of the pod over one whole crash
    # cycle of the kwok stages (a crash loop still going would show in it), bounded
    settled(lambda: (len(rec.states(path)), restarts(beamline, "alarm-crash-01-0")), CRASH_CYCLE, 60,
            what=f"states of {path} and restarts of alarm-crash-01-0")
    states = rec.states(path)
    show(f"alarm states of {path} after the fix (Ready at {ready - fixed:.1f} s)",
         [s for s in states if s[0] >= fixed - 1], fixed)
    assert value == "Running"
    between = [s for s in states if fixed <= s[0] < clear_time]
    assert all(sevr == "MAJOR" for _, sevr, _, _ in between), "cleared and raised again on the way"
    # whole seconds in iocmgr and kubectl's own delay in seeing Ready: a margin of 3 s
    assert clear_time - ready >= SETTLE - 3, f"cleared {clear_time - ready:.1f} s after Ready"
    assert all(sevr == "OK" for t, sevr, _, _ in states if t >= clear_time), "raised again after"
    assert ioc.get("STATUS", "alarm-crash-01") == "Running"


def test_apiserver_outage_raises_connected_then_everything_clears(alarm_server, beamline, ioc):
    rec = alarm_server.recording
    statuses = {i: path_of(i, "STATUS") for i in INSTANCES}
    down = time.time()
    beamline.apiserver("stop")
    try:
        lost, _, _, _ = rec.wait_state(CONNECTED_PATH, lambda s, v: s == "MAJOR", 60, after=down)
        print(f"CONNECTED MAJOR {lost - down:.1f} s after the apiserver was told to stop")
        invalid = {i: rec.wait_state(p, lambda s, v: s == "INVALID", 30, after=down)[0]
                   for i, p in statuses.items()}
    finally:
        beamline.apiserver("start")
    back, _, _, _ = rec.wait_state(CONNECTED_PATH, lambda s, v: s == "OK", 90, after=lost)
    print(f"CONNECTED OK {back - down:.1f} s after the outage began")
    want = {"alarm-ok-01": ("OK", "Running"), "alarm-crash-01": ("OK", "Running"),
            "alarm-stopped-01": ("OK", "Stopped"), "alarm-pending-01": ("MAJOR", "Pending")}
    for i, (sevr, value) in want.items():
        rec.wait_state(statuses[i], lambda s, v: (s, v) == (sevr, value), 60, after=invalid[i] + 0.001)
    # read once nothing more is published for 5 s (bounded, reported): a second
    # disconnection or a flap after the recovery would show in the count
    settled(lambda: sum(len(rec.states(p)) for p in [CONNECTED_PATH, *statuses.values()]), 5, 60,
            what="states published for CONNECTED and the STATUS PVs")
    for p in [CONNECTED_PATH, *statuses.values()]:
        show(p, [s for s in rec.states(p) if s[0] >= down], down)
    # after recovery nothing moves again: one state each, the final one
    for i, (sevr, value) in want.items():
        after = [s[1:3] for s in rec.states(statuses[i]) if s[0] > invalid[i]]
        assert after == [(sevr, value)], (i, after)
    assert ioc.get("CONNECTED") == "Connected"
