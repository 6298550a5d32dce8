"""The real `ec` 5.5.2 (edge-containers-cli, K8S backend) beside iocmgr on the same real IOC
pods (docs/ec.md, "On real pods"): `ec ps`, `ec stop`, `ec start`, `ec restart` and
`ec logs` act on the kubelet's pods, iocmgr's PVs follow each action (camonitor), and `ec ps`
sees what iocmgr's commands did. The instances are made here, in a namespace of the
suite's own (IOCMGR_TEST_NODE_EC_NAMESPACE, default ec-node-iocs), and deleted after.
Every ec command and its output goes to a transcript (IOCMGR_TEST_NODE_EC_TRANSCRIPT,
default tests/results/node/ec-node-transcript.txt)."""
import os
import time
from pathlib import Path

import pytest

from ecclient import ec_for, transcript_to
from iocmgrtest import chart_identity, timed_monitor
from nodebed import TOP, ioc_instance, node_iocmgr, uptime_seconds

EC_NS = os.environ.get("IOCMGR_TEST_NODE_EC_NAMESPACE", "ec-node-iocs")
TRANSCRIPT = Path(os.environ.get("IOCMGR_TEST_NODE_EC_TRANSCRIPT",
                                 TOP / "tests/results/node/ec-node-transcript.txt"))
# SEEN carries the older chart's is_ioc label too (`ec ps` selects on it), UNSEEN only the
# current chart's ioc label. SEEN boots 6 s before it is Ready (a readiness probe), so that
# a restart's Degraded window is longer than one `ec ps` (0.5 s to several on this machine).
SEEN, UNSEEN = "bl46p-ea-ec-01", "bl46p-ea-ec-02"


@pytest.fixture(scope="module")
def transcript():
    with transcript_to(TRANSCRIPT) as log:
        yield log


@pytest.fixture(scope="module")
def ec_beamline(bed, transcript):
    bed.kubectl("delete", "namespace", EC_NS, "--ignore-not-found", "--wait=true", "--timeout=120s", timeout=150)
    bed.kubectl("create", "namespace", EC_NS)
    bed.apply(*ioc_instance(SEEN, bed.image, behaviour="slow:6", readiness=True, namespace=EC_NS,
                            labels={"is_ioc": "true"}),
              *ioc_instance(UNSEEN, bed.image, namespace=EC_NS))
    transcript(f"kubectl apply: StatefulSets {SEEN} (ioc + is_ioc labels, slow:6 with a readiness probe), "
               f"{UNSEEN} (ioc label only) of image {bed.image} in namespace {EC_NS}")
    bed.wait_running(SEEN, 90, namespace=EC_NS)
    bed.wait_running(UNSEEN, 90, namespace=EC_NS)
    yield bed
    bed.kubectl("delete", "namespace", EC_NS, "--wait=false", check=False)


@pytest.fixture(scope="module")
def ec(bed, transcript):
    return ec_for(bed, transcript, EC_NS)


@pytest.fixture
def ioc(ec_beamline, tmp_path):
    """iocmgr on the machine managing the namespace (node_iocmgr)"""
    identity = chart_identity(ec_beamline, tmp_path, EC_NS)      # the chart's ServiceAccount and Role
    with node_iocmgr(ec_beamline, tmp_path, [SEEN, UNSEEN], "TST-NODE-EC:", IOCMGR_NAMESPACE=EC_NS,
                     IOCMGR_KUBECONFIG=identity) as booted:
        booted.ca.wait_value(booted.pv("STATUS", SEEN), "Running", timeout=60)
        yield booted


def test_ec_ps_and_iocmgr_see_the_same_real_pods(ec_beamline, ec, ioc, transcript):
    bed = ec_beamline
    rows = ec.ps()
    names = sorted(ioc.get("NAMES", string=True).split())
    transcript(f"ec ps: {rows}; iocmgr NAMES: {names}")
    assert rows == {SEEN: "Healthy"}, rows
    assert names == sorted([SEEN, UNSEEN])
    assert ioc.get("POD", SEEN) == f"{SEEN}-0" and ioc.get("NODE", SEEN) == bed.node
    assert bed.processes(SEEN, "softIoc")


def test_ec_stop_start_restart_move_iocmgrs_pvs_and_the_real_process(ec_beamline, ec, ioc, transcript):
    bed = ec_beamline
    status = ioc.pv("STATUS", SEEN)
    with timed_monitor(ioc.ca, status) as mon:
        mon.wait_after("Running", 0, 60)
        for cmd, states in (("stop", ["Stopped"]), ("start", ["Starting", "Running"]),
                            ("restart", ["Terminating", "Starting", "Running"])):
            uid, pid = bed.pod(SEEN, EC_NS)["metadata"]["uid"] if cmd != "start" else None, bed.processes(SEEN)
            t_cmd = t = time.monotonic()
            ec.run(cmd, SEEN)
            for state in states:
                t = mon.wait_after(state, t, 90)
            transcript(f"camonitor {status} after ec {cmd}: " + " -> ".join(
                f"{v}/{s} at +{tt - t_cmd:.2f} s" for tt, v, s in mon.timeline if tt >= t_cmd))
            if cmd == "stop":
                bed.wait(lambda: not bed.processes(SEEN), 30, f"no process of {SEEN} on the node")
                assert bed.pod(SEEN, EC_NS) is None and bed.uptime(SEEN, wait=1) is None
                assert ioc.get("ENABLED", SEEN) == "Disabled"
            else:
                new = bed.wait(lambda: bed.uptime(SEEN), 30, f"the new {SEEN} answering")
                assert uptime_seconds(new) < 20, new
                assert bed.pod(SEEN, EC_NS)["metadata"]["uid"] != uid
                assert not set(bed.processes(SEEN)) & set(pid)
                transcript(f"after ec {cmd}: pod uid {bed.pod(SEEN, EC_NS)['metadata']['uid']}, "
                           f"{SEEN.upper()}:UPTIME {new}, iocmgr POD {ioc.get('POD', SEEN)}")
    # ec acts on what its selector lists only
    r = ec.run("stop", UNSEEN, check=False)
    assert r.returncode != 0 and "not found" in (r.stdout + r.stderr)
    assert bed.get("statefulset", UNSEEN, EC_NS)["spec"]["replicas"] == 1


def test_ec_logs_is_the_console_iocmgr_shows(ec_beamline, ec, ioc, transcript):
    out = ec.run("logs", SEEN).stdout
    assert f"Starting IOC {SEEN}" in out and "iocRun: All initialization complete" in out, out[-2000:]
    r = ioc.ca.put(ioc.pv("LOG_FETCH", SEEN), 1)
    assert r.returncode == 0 and ioc.get("CMD_STAT", SEEN) == "OK", ioc.get("CMD_MSG", SEEN, string=True)
    log = ioc.get("LOG", SEEN, string=True).replace("\\n", "\n").replace("\\r", "\r")
    # the same console, through the same apiserver: the boot's lines in both
    for line in (f"Starting IOC {SEEN}", "iocRun: All initialization complete"):
        assert line in log, (line, log[-1500:])
    transcript(f"iocmgr LOG of {SEEN} (caput LOG_FETCH, caget -S LOG), last lines:\n"
               + "\n".join(log.replace("\r", "").splitlines()[-5:]))


def test_iocmgr_commands_seen_by_ec(ec_beamline, ec, ioc, transcript):
    for cmd, healths in (("STOP", ["Degraded"]), ("START", ["Healthy"]), ("RESTART", ["Degraded", "Healthy"])):
        r = ioc.ca.put(ioc.pv(cmd, SEEN), 1)
        assert r.returncode == 0, r.stderr
        transcript(f"$ caput {ioc.pv(cmd, SEEN)} 1  # CMD_MSG: {ioc.get('CMD_MSG', SEEN, string=True)}")
        for health in healths:
            ec.wait_health(SEEN, health, timeout=90)
        transcript(f"ec ps showed {SEEN}: {' then '.join(healths)}")
