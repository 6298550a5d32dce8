"""The list at boot fails (the real apiserver stopped): the manager must never look
healthy while it manages only part of the beamline. It boots with what it was told
to expect, shows CONNECTED 0 (MAJOR) and why in LAST_ERROR, and once the API answers
and shows instances it has no records for, it exits with a non-zero status so that
Kubernetes restarts it with all of them (docs/reliability.md)."""
import time

from conftest import NAMESPACE
from iocmgrtest import fault, run_ioc, timed_monitor, wait_until


def test_boot_list_failure_never_looks_healthy(cluster, tmp_path):
    env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE}
    cluster.apiserver("stop")
    try:
        with run_ioc(tmp_path, env, prefix="TST-BOOT-01:", stop_timeout=10) as ioc:
            with timed_monitor(ioc.ca, ioc.pv("CONNECTED")) as conn:
                conn.wait(lambda v, s: True, timeout=10)
                assert ioc.get("CONNECTED") == "Disconnected"
                assert ioc.get("CONNECTED.SEVR") == "MAJOR"
                err = ioc.get("LAST_ERROR", string=True)
                t0 = time.monotonic()
                cluster.apiserver("start")
                try:
                    wait_until(lambda: ioc.proc.poll() is not None, 90, step=0.2,
                               what="the manager exiting to be restarted with every instance")
                finally:
                    print(f"CONNECTED seen: {[(v, sv) for _, v, sv in conn.timeline]}; COUNT {ioc.ca.try_get(ioc.pv('COUNT'))}, "
                          f"FAULT_COUNT {ioc.ca.try_get(ioc.pv('FAULT_COUNT'))}")
                print(f"exited {time.monotonic() - t0:.1f} s after the apiserver came back, "
                      f"status {ioc.proc.returncode}")
                seen = [(v, sv) for _, v, sv in conn.timeline]
            assert ioc.proc.returncode != 0
            assert "boot" in err and "list" in err, err
            assert all(v != "Connected" for v, _ in seen), seen
            log = ioc.logtext()
            tail = [line for line in log.splitlines() if "iocmgr:" in line and "k8s:" not in line]
            print("\n".join(tail[-6:]))
            assert "restart" in log and "no records" in log, log[-2000:]
    finally:
        cluster.apiserver("start")
        # kube-scheduler exits by design when the restart makes its caches relist
        # (tests/faults/restart.sh): the suites after this one schedule pods
        for component in ("kube-scheduler", "kube-controller-manager"):
            fault("restart.sh", "--if-dead", component)

