"""The real Phoebus alarm server reading iocmgr's PVs over pvAccess (docs/pva.md): a
second iocmgr on the same beamline writes its alarm configuration with
IOCMGR_ALARM_PROTOCOL=pva (every PV named pva://...), the configuration is checked
with Phoebus' reader and imported as a configuration of its own, and a second alarm
server, whose PVA client searches only that IOC's UDP port on 127.0.0.1, publishes
what it reads: the Pending instance MAJOR with its guidance, the stopped one nothing.
Runs after test_alarm_server.py (tests/alarm/run.sh), on its Kafka and beamline.
PVA ports from IOCMGR_TEST_PVA_PORTS (default 25064-25089)."""
import os
import subprocess
import time

import pytest

from conftest import HERE, NAMESPACE, _stop, classpath, start_recorder
from iocmgrtest import free_port, pva_env, run_ioc, wait_until

CONFIG = "IocmgrAlarmPva"
PREFIX = "TST-ALARM-02:"
_lo, _hi = (int(x) for x in os.environ.get("IOCMGR_TEST_PVA_PORTS", "25064-25089").split("-"))


def pva_path(instance, field):
    """The alarm tree path of a pva:// PV: Phoebus escapes the '/' of the name."""
    return f"/{CONFIG}/bl46p/{instance}/pva:\\/\\/{PREFIX}{instance.upper()}:{field}"


@pytest.fixture(scope="module")
def pva_ioc(beamline, uptime_ioc, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pva-ioc")
    server = free_port(range(_hi - 7, _hi - 3))
    bcast = free_port([p for p in range(_hi - 7, _hi - 3) if p != server])
    env = {"KUBECONFIG": beamline.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE, "IOCMGR_PENDING_GRACE": "5",
           "IOCMGR_ALARM_CONFIG": str(tmp / "iocmgr-alarm.xml"), "IOCMGR_ALARM_CONFIG_NAME": CONFIG,
           "IOCMGR_ALARM_PROTOCOL": "pva", "CA_EXTRA_ADDR": uptime_ioc, **pva_env(server, bcast)}
    with run_ioc(tmp, env, prefix=PREFIX) as booted:
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        booted.alarm_xml, booted.bcast = tmp / "iocmgr-alarm.xml", bcast
        yield booted


@pytest.fixture(scope="module")
def pva_alarm_server(kafka, pva_ioc, tmp_path_factory):
    cp = classpath("IOCMGR_ALARM_PHOEBUS_CP")
    d = tmp_path_factory.mktemp("alarm-server-pva")
    script = str(HERE / "alarm-server.sh")
    subprocess.run([script, "import", cp, kafka, CONFIG, str(pva_ioc.alarm_xml), str(d)], check=True, timeout=180)
    recorder, recording = start_recorder(cp, kafka, CONFIG, d)
    try:
        t0 = time.monotonic()
        subprocess.run([script, "start", cp, kafka, CONFIG, str(d), str(free_port()), str(free_port()),
                        "30", str(pva_ioc.bcast)], check=True, timeout=30)
        wait_until(lambda: recording.messages(f"state:/{CONFIG}"), 120, step=0.2,
                   what="the PVA alarm server's first state of the configuration")
        print(f"alarm server (PVA) up in {time.monotonic() - t0:.1f} s")
        yield recording
    finally:
        subprocess.run([script, "stop", str(d)], timeout=60)
        _stop(recorder)
        print(f"alarm server (PVA) log:\n{(d / 'alarm-server.log').read_text(errors='replace')[-2000:]}")


def test_pva_configuration_names_pva_pvs(pva_ioc):
    xml = pva_ioc.alarm_xml.read_text()
    names = [line.split('"')[1] for line in xml.splitlines() if "<pv name=" in line]
    assert names and all(n.startswith("pva://" + PREFIX) for n in names), names[:5]


def test_alarm_server_over_pva_raises_pending_and_nothing_for_stopped(pva_alarm_server):
    rec = pva_alarm_server
    paths = sorted({p for _, p, _ in rec.messages("state:")})
    print(f"paths with states: {paths}")
    pending = pva_path("alarm-pending-01", "STATUS")
    t, sevr, value, msg = rec.wait_state(pending, lambda s, v: s == "MAJOR", 60)
    assert value == "Pending", (value, msg)
    guidance = rec.config(pending)["guidance"]
    assert any("Pending (MINOR, MAJOR past the grace period)" in g["details"] for g in guidance)
    print(f"over PVA: {pending}: {sevr} {value} {msg}")
    # connected: the running instance's ALIVE read over PVA (its state is published only
    # if it ever was not OK, so read the server's view of CONNECTED instead)
    stopped = pva_path("alarm-stopped-01", "STATUS")
    assert all(s[1] == "OK" for s in rec.states(stopped)), rec.states(stopped)
    bad = [s for s in rec.states(f"/{CONFIG}/IOC-manager/pva:\\/\\/{PREFIX}CONNECTED") if s[1] != "OK"]
    assert not bad, bad
