"""ALIVE: the IOC itself answers over CA. A real softIoc stands in for the
IOC in the pod (kwok runs no container): while it serves <I>:UPTIME, ALIVE is
1; stopped while the pod stays Running, ALIVE goes 0 with a MAJOR alarm:
the picture of a hung IOC."""
from conftest import NAMESPACE
from iocmgrtest import free_port, run_ioc, shutdown_problem, soft_ioc, stop_process


def test_alive_follows_the_ioc_not_the_pod(shipped_kubeconfig, tmp_path):
    i = "bl46p-ea-ioc-01"
    db = tmp_path / "uptime.db"
    db.write_text('record(calc, "%s:UPTIME") { field(SCAN, "1 second") field(CALC, "VAL+1") }\n'
                  % i.upper())
    soft_port = free_port()
    with soft_ioc(db, soft_port, what="the softIoc serving UPTIME") as soft:
        env = {"IOCMGR_KUBECONFIG": str(shipped_kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
               "CA_EXTRA_ADDR": f"127.0.0.1:{soft_port}"}
        with run_ioc(tmp_path, env, prefix="TST-ALIVE-01:") as ioc:
            ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
            ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
            assert ioc.get("ALIVE.SEVR", i) == "NO_ALARM"
            how, seconds = stop_process(soft, 10)
            assert not shutdown_problem("the softIoc", how, seconds, soft.returncode, -15, 10)
            value, sevr = ioc.ca.wait_value(ioc.pv("ALIVE", i), "Silent", timeout=30)
            assert sevr == "MAJOR"
            assert ioc.get("STATUS", i) == "Running"
            # a stopped instance that does not answer is as desired: no alarm
            stopped = "bl46p-ea-ioc-02"
            ioc.ca.wait_value(ioc.pv("ALIVE", stopped), lambda v, s: v == "Silent" and s == "NO_ALARM",
                              timeout=10)
