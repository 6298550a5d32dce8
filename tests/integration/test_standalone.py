"""The built IOC without a cluster: it boots, serves CA on loopback, and shows
that the Kubernetes API is unreachable rather than stale values."""
import time

from iocmgrtest import run_ioc, write_unreachable_kubeconfig


def test_heartbeat_changes_and_disconnected_is_visible(tmp_path):
    kubeconfig = write_unreachable_kubeconfig(tmp_path / "kubeconfig")
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig)}
    with run_ioc(tmp_path, env) as ioc:
        first = int(float(ioc.get("HEARTBEAT")))
        ioc.ca.wait_value(ioc.pv("HEARTBEAT"), lambda v, s: int(float(v)) > first, timeout=5)
        assert ioc.get("VERSION")
        assert ioc.get("CONNECTED") == "Disconnected"
        assert ioc.get("CONNECTED.SEVR") == "MAJOR"
        assert ioc.get("NAMESPACE") == "bl46p-iocs"
        assert ioc.get("COUNT") == "0"
        assert "127.0.0.1:1" in ioc.get("API_URL", string=True)
        # The reason is in words, for a person to act on.
        deadline = time.monotonic() + 10
        while not ioc.get("LAST_ERROR", string=True) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ioc.get("LAST_ERROR", string=True)
