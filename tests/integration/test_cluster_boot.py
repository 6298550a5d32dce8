"""The list at boot fails (the real apiserver unreachable: slowproxy in front of it
refuses every connection): the manager must never look healthy while it manages only
part of the beamline. It boots with what it was told to expect, shows CONNECTED 0
(MAJOR) and why in LAST_ERROR, and once the API answers and shows instances it has
no records for, it exits with status 3 so that Kubernetes restarts it with all of
them (docs/status.md). The proxy, not a stopped apiserver: the rest of the cluster
(the scheduler, kwok) must not notice."""
import time

from conftest import NAMESPACE
from iocmgrtest import SlowProxy, run_ioc, timed_monitor, wait_until, write_kubeconfig


def test_boot_list_failure_never_looks_healthy(cluster, tmp_path):
    pki = cluster.dir / "pki"
    port = int(cluster.env["IOCMGR_API_URL"].rsplit(":", 1)[1])
    with SlowProxy(port) as proxy:
        proxy.cmd("refuse on")
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{proxy.port}",
                                      ca_file=cluster.dir / "ca.crt", client_cert=pki / "admin.crt",
                                      client_key=pki / "admin.key")
        env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE}
        with run_ioc(tmp_path, env, prefix="TST-BOOT-01:", stop_timeout=10, expect_status=3) as ioc:
            with timed_monitor(ioc.ca, ioc.pv("CONNECTED")) as conn:
                conn.wait(lambda v, s: True, timeout=10)
                assert ioc.get("CONNECTED") == "Disconnected"
                assert ioc.get("CONNECTED.SEVR") == "MAJOR"
                assert ioc.get("COUNT") == "0"
                wait_until(lambda: "boot" in ioc.get("LAST_ERROR", string=True), 10, what="LAST_ERROR")
                err = ioc.get("LAST_ERROR", string=True)
                t0 = time.monotonic()
                proxy.cmd("refuse off")
                try:
                    wait_until(lambda: ioc.proc.poll() is not None, 90, step=0.2,
                               what="the manager exiting to be restarted with every instance")
                finally:
                    print(f"CONNECTED seen: {[(v, sv) for _, v, sv in conn.timeline]}; "
                          f"LAST_ERROR before: {err}")
                print(f"exited {time.monotonic() - t0:.1f} s after the API answered, "
                      f"status {ioc.proc.returncode}")
                seen = [(v, sv) for _, v, sv in conn.timeline]
            assert ioc.proc.returncode == 3
            assert all(v != "Connected" for v, _ in seen), seen
            assert "instance list at boot failed" in err, err
            log = ioc.logtext()
            tail = [line for line in log.splitlines() if "iocmgr:" in line and "k8s:" not in line]
            print("\n".join(tail[-6:]))
            assert "exiting (status 3)" in log and "no records" in log, log[-2000:]
