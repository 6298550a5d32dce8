"""ALIVE: the IOC itself answers over CA. The demo beamline's IOCs are real softIoc
processes in containers on the bed's real node (docs/node.md): iocmgr reads each one's
iocStats UPTIME (a string, "00:01:02") at the node's broadcast address. While the IOC
answers and its UPTIME advances, ALIVE is Alive; the IOC process stopped (SIGSTOP)
while its pod stays Running, ALIVE goes Silent with a MAJOR alarm, the picture of a hung
IOC; continued (SIGCONT), Alive again. A stopped instance has no IOC: Silent, no alarm.

Marked alive_string: ALIVE must judge iocStats' UPTIME string (issue 18 item 1); iocmgr
reading UPTIME as a number shows Silent about 5 s after Alive on a healthy IOC."""
import os
import signal
import sys
from pathlib import Path

import pytest

from conftest import NAMESPACE
from iocmgrtest import run_ioc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
from nodebed import NodeBed  # noqa: E402

RUNNING, STOPPED = "bl46p-ea-ioc-01", "bl46p-ea-ioc-02"


@pytest.mark.alive_string
def test_alive_follows_the_ioc_not_the_pod(cluster, tmp_path):
    node = NodeBed(cluster.dir)
    i = RUNNING
    env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE,
           "CA_EXTRA_ADDR": f"{node.ca_addr}:5064"}
    with run_ioc(tmp_path, env, prefix="TST-ALIVE-01:") as ioc:
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
        node.wait(lambda: node.uptime(i), 30, f"{i}:UPTIME over CA")
        ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
        assert ioc.get("ALIVE.SEVR", i) == "NO_ALARM"
        with ioc.ca.monitor(ioc.pv("ALIVE", i)) as mon:
            # longer than ALIVE's 5 s staleness limit: the real UPTIME string advances
            with pytest.raises(AssertionError, match="timed out"):
                mon.wait(lambda v, s: v != "Alive", 8)
        pid = node.ioc_pid(i)
        os.kill(pid, signal.SIGSTOP)
        try:
            value, sevr = ioc.ca.wait_value(ioc.pv("ALIVE", i), "Silent", timeout=30)
            assert sevr == "MAJOR"
            assert ioc.get("STATUS", i) == "Running"
            assert node.uptime(i, wait=1) is None
        finally:
            os.kill(pid, signal.SIGCONT)
        ioc.ca.wait_value(ioc.pv("ALIVE", i), lambda v, s: v == "Alive" and s == "NO_ALARM", timeout=30)
        assert node.ioc_pid(i) == pid         # the same IOC process, not a restart
        # a stopped instance that does not answer is as desired: no alarm
        ioc.ca.wait_value(ioc.pv("ALIVE", STOPPED), lambda v, s: v == "Silent" and s == "NO_ALARM",
                          timeout=10)
