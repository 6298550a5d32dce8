"""ALIVE: the IOC itself answers over CA. A real softIoc stands in for the
IOC in the pod (kwok runs no container): while it serves <I>:UPTIME, ALIVE is
1; stopped while the pod stays Running, ALIVE goes 0 with a MAJOR alarm:
the picture of a hung IOC."""
import subprocess

from conftest import NAMESPACE
from iocmgrtest import BASE_BIN, ca_env, free_port, run_ioc


def test_alive_follows_the_ioc_not_the_pod(cluster, tmp_path):
    i = "bl46p-ea-ioc-01"
    db = tmp_path / "uptime.db"
    db.write_text('record(calc, "%s:UPTIME") { field(SCAN, "1 second") field(CALC, "VAL+1") }\n'
                  % i.upper())
    soft_port = free_port()
    soft = subprocess.Popen([str(BASE_BIN / "softIoc"), "-d", str(db)], env=ca_env(soft_port),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE,
               "CA_EXTRA_ADDR": f"127.0.0.1:{soft_port}"}
        with run_ioc(tmp_path, env, prefix="TST-ALIVE-01:") as ioc:
            ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
            ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
            assert ioc.get("ALIVE.SEVR", i) == "NO_ALARM"
            soft.terminate()
            soft.wait(10)
            value, sevr = ioc.ca.wait_value(ioc.pv("ALIVE", i), "Silent", timeout=30)
            assert sevr == "MAJOR"
            assert ioc.get("STATUS", i) == "Running"
            # a stopped instance that does not answer is as desired: no alarm
            stopped = "bl46p-ea-ioc-02"
            ioc.ca.wait_value(ioc.pv("ALIVE", stopped), lambda v, s: v == "Silent" and s == "NO_ALARM",
                              timeout=10)
    finally:
        if soft.poll() is None:
            soft.kill()
            soft.wait()
