"""The real node and real IOCs on it (docs/node.md): the node registers as the beamline's
node, a pod of the generic test IOC image runs softIoc and answers caget of its iocStats
UPTIME from the machine, and iocmgr's commands act on the real processes."""
import subprocess
import time
from pathlib import Path

import pytest

from iocmgrtest import BASE_BIN
from nodebed import NAMESPACE, drain, node_iocmgr, uptime_seconds


def test_the_node_is_ready_as_the_beamline_node(bed):
    node = bed.get("node", bed.node, namespace="default")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True", conditions
    assert node["metadata"]["labels"]["beamline"] == "bl46p"
    assert {"key": "beamline", "value": "bl46p", "effect": "NoSchedule"} in node["spec"]["taints"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == bed.ip
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.37.2"
    assert info["containerRuntimeVersion"].startswith("containerd://1.6."), info
    # kwok fakes only its own nodes: the real one is not annotated as fake
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
    ready = Path(bed.dir, "node", "ready-seconds").read_text().strip()
    print(f"node {bed.node} Ready {ready}s after the kubelet started")


def test_an_ioc_pod_answers_its_uptime_from_the_machine(bed, instances):
    i = instances("bl46p-ea-test-01")
    pod = bed.wait_running(i)
    assert pod["spec"]["nodeName"] == bed.node
    assert pod["status"]["podIP"] == bed.ip          # hostNetwork: the node's address
    first = bed.wait(lambda: bed.uptime(i), 30, f"{i}:UPTIME over CA")
    bed.wait(lambda: (bed.uptime(i) or first) != first, 10, "UPTIME to count")
    # the IOC is a real process on this machine, in the node's pod cgroups
    pid = bed.ioc_pid(i)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"softIoc"
    assert b"IOC_PREFIX=BL46P-EA-TEST-01" in Path(f"/proc/{pid}/environ").read_bytes()


def test_a_pod_network_ioc_answers_at_its_pod_address_and_nothing_leaves(bed, instances):
    # without hostNetwork: the node's bridge, an address from the pods' /24, routed from
    # the machine through the node; the pod reaches the apiserver's Service address only
    i = instances("bl46p-ea-test-05", host_network=False)
    pod = bed.wait_running(i)
    ip = pod["status"]["podIP"]
    assert ip != bed.ip and ip.rsplit(".", 1)[0] + ".0/24" == bed.env["IOCMGR_NODE_POD_NET"]
    env = dict(bed.ca_env(), EPICS_CA_ADDR_LIST=ip)
    bed.wait(lambda: subprocess.run([str(BASE_BIN / "caget"), "-t", "-w", "2", f"{i.upper()}:UPTIME"],
                                    env=env, capture_output=True, text=True).stdout.strip(), 30,
             f"{i}:UPTIME at {ip}")
    probe = bed.kubectl("-n", NAMESPACE, "exec", f"{i}-0", "--", "bash", "-c",
                        'ip route; (exec 3<>/dev/tcp/10.96.0.1/443) && echo apiserver: ok; '
                        '(exec 3<>/dev/tcp/198.51.100.1/80) 2>&1 | grep -o "Network is unreachable"', check=False)
    assert "default" not in probe and "apiserver: ok" in probe and "Network is unreachable" in probe, probe


@pytest.mark.alive_string
def test_iocmgr_shows_the_real_ioc_running_and_alive(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-02")
    bed.answering(i)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
        assert ioc.get("STATUS.SEVR", i) == "NO_ALARM"
        assert ioc.get("NODE", i) == bed.node
        assert ioc.get("IP", i) == bed.ip
        assert ioc.get("POD", i) == f"{i}-0"
        assert ioc.get("IMAGE", i, string=True) == bed.image
        ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
        # UPTIME is a string ("00:00:12") that changes every second: Alive, without alarm,
        # for longer than iocmgr's staleness limit (5 s)
        with ioc.ca.monitor(ioc.pv("ALIVE", i)) as mon:
            time.sleep(8)
            seen = drain(mon)
        assert seen and all(v == "Alive" and s == "NO_ALARM" for v, s in seen), seen


def restart_sample(bed, ioc, i):
    """caput RESTART -> the new IOC process answering its UPTIME over CA: seconds, the new
    pod's uid, the first UPTIME the new IOC gave"""
    old_uid = bed.pod(i)["metadata"]["uid"]
    old_pid = bed.ioc_pid(i)
    t0 = time.monotonic()
    r = ioc.ca.put(ioc.pv("RESTART", i), 1)
    assert r.returncode == 0, r.stderr
    # the new IOC: a small UPTIME again (the old one has run for 10 s or more)
    first = bed.wait(lambda: (lambda v: v if v and uptime_seconds(v) < 10 else None)(bed.uptime(i, wait=0.5)),
                     90, f"the new {i} answering its UPTIME", step=0.05)
    took = time.monotonic() - t0
    new = bed.pod(i)
    assert new and new["metadata"]["uid"] != old_uid
    assert bed.ioc_pid(i) != old_pid
    assert old_pid not in bed.processes()
    return took, new["metadata"]["uid"], first


def test_restart_gives_a_new_pod_and_a_new_ioc(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-03")
    bed.wait_running(i)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-02:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
        samples = []
        for _ in range(3):
            bed.wait(lambda: (v := bed.uptime(i)) and uptime_seconds(v) >= 10, 40, "the IOC up 10 s")
            took, uid, first = restart_sample(bed, ioc, i)
            assert uptime_seconds(first) <= 9 and first.startswith("00:00:0"), first
            samples.append(took)
            ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
            assert ioc.get("CMD_STAT", i) == "OK"
        print("caput RESTART -> new IOC answering its UPTIME: " + ", ".join(f"{s:.2f}s" for s in samples))


def test_stop_leaves_no_process_and_start_brings_it_back(bed, instances, tmp_path):
    i = instances("bl46p-ea-test-04")
    bed.answering(i)
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-03:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
        assert ioc.ca.put(ioc.pv("STOP", i), 1).returncode == 0
        value, sevr = ioc.ca.wait_value(ioc.pv("STATUS", i), "Stopped", timeout=60)
        assert sevr == "NO_ALARM"
        bed.wait(lambda: not bed.processes(i), 30, f"no process of {i} left on the node")
        assert bed.pod(i) is None
        assert bed.uptime(i, wait=1) is None
        # nothing answers, and that is as desired: Silent without an alarm
        ioc.ca.wait_value(ioc.pv("ALIVE", i), lambda v, s: v == "Silent" and s == "NO_ALARM", timeout=15)
        assert ioc.ca.put(ioc.pv("START", i), 1).returncode == 0
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
        first = bed.wait(lambda: bed.uptime(i), 30, f"{i} answering again")
        assert uptime_seconds(first) < 30
