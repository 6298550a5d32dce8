"""Fixtures of the alarm tests: Kafka, the real Phoebus alarm server, iocmgr
booted against the local control plane, and a recorder of every message the
alarm server publishes. Ports (all on 127.0.0.1) come from the environment:
IOCMGR_ALARM_KAFKA_PORT (+1 for its controller), IOCMGR_ALARM_CA_PORT (iocmgr;
+1 the alarm server's CA repeater, +2 the softIoc standing in for an IOC).
tests/alarm/run.sh sets them and the class paths (IOCMGR_ALARM_KAFKA_CP,
IOCMGR_ALARM_PHOEBUS_CP) from tests/alarm/setup.sh, or IOCMGR_ALARM_SKIP (the
reason) where there is no Phoebus: every test is then reported skipped."""
import importlib.util
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from iocmgrtest import CACHE, TOP, chart_identity, run_ioc, soft_ioc, start_ca_repeater, wait_until  # noqa: E402

_spec = importlib.util.spec_from_file_location("integration_conftest",
                                               HERE.parent / "integration" / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
Cluster = _integration.Cluster

NAMESPACE = os.environ.get("IOCMGR_ALARM_NAMESPACE", "alarm-iocs")
CONFIG = "IocmgrAlarmTest"
PREFIX = "TST-ALARM-01:"
GRACE = 5          # IOCMGR_PENDING_GRACE
SETTLE = 15        # IOCMGR_CRASH_SETTLE
# The alarm server publishes nothing for a PV that connects with no alarm, and a PV
# still unconnected CONNECTION_TIMEOUT s after the server started as UNDEFINED
# "Disconnected" (AlarmServerPV.checkConnection; alarm-server.sh sets the timeout).
# A canary nobody serves, imported with iocmgr's configuration, shows when that check
# has run: from then on, "no state published" means "connected, no alarm".
CONNECTION_TIMEOUT = 10
CANARY_PV = f"{PREFIX}NOT-SERVED-CANARY"
CANARY_PATH = f"/{CONFIG}/test-canary/{CANARY_PV}"
CRASH_CYCLE = 9    # alarm-crash-01: crashes 3 s after each start, restarted 6 s later (instances.yaml)
KAFKA_PORT = int(os.environ.get("IOCMGR_ALARM_KAFKA_PORT", "16640"))
CA_PORT = int(os.environ.get("IOCMGR_ALARM_CA_PORT", "16642"))


def path_of(instance, field):
    """The alarm tree path iocmgr's configuration gives an instance PV."""
    return f"/{CONFIG}/bl46p/{instance}/{PREFIX}{instance.upper()}:{field}"


CONNECTED_PATH = f"/{CONFIG}/IOC-manager/{PREFIX}CONNECTED"


class Recording:
    """Every message on the configuration's topic, as RecordStates printed it
    (milliseconds, key, JSON value), read again on each call."""

    def __init__(self, file):
        self.file = file

    def messages(self, prefix):
        out = []
        for line in self.file.read_text(errors="replace").splitlines():
            parts = line.split("\t", 2)
            if len(parts) != 3 or not parts[1].startswith(prefix):
                continue
            value = None if parts[2] == "null" else json.loads(parts[2])
            out.append((int(parts[0]) / 1000.0, parts[1][len(prefix):], value))
        return out

    def states(self, path):
        """[(time, severity, value, message)] the alarm server published for path."""
        return [(t, v.get("severity"), v.get("value"), v.get("message"))
                for t, p, v in self.messages("state:") if p == path and v]

    def config(self, path):
        found = [v for _, p, v in self.messages("config:") if p == path and v]
        return found[-1] if found else None

    def wait_state(self, path, pred, timeout, after=0.0, what=None):
        """The first state for path at or after `after` for which pred(severity, value)."""
        found = []

        def seen():
            found[:] = [s for s in self.states(path) if s[0] >= after and pred(s[1], s[2])]
            return found

        try:
            wait_until(seen, timeout, step=0.2, what=what or f"a state of {path}")
        except AssertionError as e:
            raise AssertionError(f"{e}; published: {self.states(path)}") from None
        return found[0]


def _stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pytest_collection_modifyitems(config, items):
    reason = os.environ.get("IOCMGR_ALARM_SKIP")
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


def with_canary(xml_text):
    """iocmgr's alarm configuration plus the canary component (see CANARY_PV)."""
    canary = (f'  <component name="test-canary">\n    <pv name="{CANARY_PV}">\n'
              "      <enabled>true</enabled>\n    </pv>\n  </component>\n")
    assert xml_text.rstrip().endswith("</config>"), xml_text[-200:]
    return xml_text[:xml_text.rindex("</config>")] + canary + "</config>\n"


@pytest.fixture(scope="session", autouse=True)
def ca_repeater():
    proc = start_ca_repeater()
    yield
    _stop(proc)


@pytest.fixture(scope="session")
def cluster():
    run_dir = os.environ.get("IOCMGR_CLUSTER_DIR", str(CACHE / "cluster-run"))
    if not Path(run_dir, "env").exists():
        pytest.fail(f"no local control plane in {run_dir}: run tests/cluster/up.sh (make test does)")
    return Cluster(run_dir)


def classpath(name):
    cp = os.environ.get(name)
    if not cp:
        pytest.fail(f"{name} is not set: run the alarm tests with tests/alarm/run.sh")
    return cp


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    state = tmp_path_factory.mktemp("kafka")
    t0 = time.monotonic()
    subprocess.run([str(HERE / "kafka.sh"), "start", str(state), classpath("IOCMGR_ALARM_KAFKA_CP"),
                    str(KAFKA_PORT), str(KAFKA_PORT + 1)], check=True, timeout=120)
    print(f"Kafka up in {time.monotonic() - t0:.1f} s")
    yield f"127.0.0.1:{KAFKA_PORT}"
    subprocess.run([str(HERE / "kafka.sh"), "stop", str(state)], timeout=60)


@pytest.fixture(scope="session")
def beamline(cluster, tmp_path_factory):
    """The test's instances, applied before iocmgr boots (it manages what it
    finds at boot), deleted with their namespace after."""
    manifest = tmp_path_factory.mktemp("beamline") / "instances.yaml"
    manifest.write_text((HERE / "instances.yaml").read_text().replace("NAMESPACE", NAMESPACE))
    # what an earlier run left (its namespace may still be terminating)
    cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=120)
    cluster.kubectl("apply", "-f", str(manifest))
    yield cluster
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="session")
def uptime_ioc(tmp_path_factory):
    """A real softIoc serving alarm-ok-01's UPTIME in iocStats' format (a stringin,
    "HH:MM:SS", tests/ioc/iocStatsUptime.db), as the IOC in its pod would: this suite's
    instances are kwok's pods, which run no container (docs/node.md "Where each instance
    runs"), so that its ALIVE is true."""
    db = TOP / "tests/ioc/iocStatsUptime.db"
    with soft_ioc(db, CA_PORT + 2, what="the softIoc serving ALARM-OK-01:UPTIME", macros="IOC=ALARM-OK-01"):
        yield f"127.0.0.1:{CA_PORT + 2}"


@pytest.fixture(scope="session")
def ioc(beamline, uptime_ioc, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ioc")
    # as the chart's ServiceAccount and Role in this namespace (START/RESTART need them)
    env = {"IOCMGR_KUBECONFIG": str(chart_identity(beamline, tmp, NAMESPACE)), "IOCMGR_NAMESPACE": NAMESPACE,
           "IOCMGR_PENDING_GRACE": str(GRACE), "IOCMGR_CRASH_SETTLE": str(SETTLE),
           "IOCMGR_ALARM_CONFIG": str(tmp / "iocmgr-alarm.xml"), "IOCMGR_ALARM_CONFIG_NAME": CONFIG,
           "CA_EXTRA_ADDR": uptime_ioc}
    with run_ioc(tmp, env, prefix=PREFIX, port=CA_PORT) as booted:
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        booted.alarm_xml = tmp / "iocmgr-alarm.xml"
        yield booted


class AlarmServer:
    def __init__(self, kafka, dir, recording):
        self.kafka, self.dir, self.recording = kafka, dir, recording

    def log(self):
        return (self.dir / "alarm-server.log").read_text(errors="replace")


def start_recorder(cp, kafka, config, d):
    """RecordStates following configuration `config` into d/topic.tsv: (process, Recording)."""
    rec_file = d / "topic.tsv"
    with open(rec_file, "w") as out:
        recorder = subprocess.Popen(["java", "-Xmx128m", "-cp", cp, "org.iocmgr.alarmtest.RecordStates",
                                     kafka, config], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=open(d / "recorder.log", "w"))
    return recorder, Recording(rec_file)


@contextmanager
def running_alarm_server(kafka, config, xml_text, d, ca_port, repeater_port):
    """The configuration `config` (xml_text: iocmgr's, and anything a test adds) checked
    and imported, and the server running on it, reading the IOC on 127.0.0.1:ca_port;
    the recorder follows the topic from its first message. Yields an AlarmServer."""
    cp = classpath("IOCMGR_ALARM_PHOEBUS_CP")
    script = str(HERE / "alarm-server.sh")
    t0 = time.monotonic()
    imported = d / "imported.xml"
    imported.write_text(xml_text)
    subprocess.run([script, "import", cp, kafka, config, str(imported), str(d)], check=True, timeout=180)
    print(f"configuration checked and imported in {time.monotonic() - t0:.1f} s")
    recorder, recording = start_recorder(cp, kafka, config, d)
    server = AlarmServer(kafka, d, recording)
    try:
        subprocess.run([script, "start", cp, kafka, config, str(d), str(ca_port), str(repeater_port),
                        str(CONNECTION_TIMEOUT)], check=True, timeout=30)
        # Up once it has published the root's state. A PV that is fine from the
        # start gets no state message at all: only changes are published.
        wait_until(lambda: server.recording.messages(f"state:/{config}"), 120, step=0.2,
                   what="the alarm server's first state of the configuration")
        print(f"alarm server up in {time.monotonic() - t0:.1f} s")
        yield server
    finally:
        subprocess.run([script, "stop", str(d)], timeout=60)
        _stop(recorder)
        print(f"alarm server log:\n{server.log()[-3000:]}")


@pytest.fixture(scope="session")
def alarm_server(kafka, ioc, tmp_path_factory):
    """The server on iocmgr's configuration (running_alarm_server)"""
    with running_alarm_server(kafka, CONFIG, with_canary(ioc.alarm_xml.read_text()),
                              tmp_path_factory.mktemp("alarm-server"), CA_PORT, CA_PORT + 1) as server:
        yield server
