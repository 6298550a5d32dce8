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


def test_settings_for_large_namespaces_reach_every_instance(tmp_path):
    """IOCMGR_LOG_NELM, IOCMGR_UPTIME_SCAN and IOCMGR_ALIVE_SCAN (docs/iocsh.md) are
    handed through iocmgr.iocsh to each instance's records; the watch limit is taken."""
    kubeconfig = write_unreachable_kubeconfig(tmp_path / "kubeconfig")
    expected = tmp_path / "expected.yaml"
    expected.write_text("- bl46p-ea-ioc-01\n- bl46p-ea-ioc-02\n")
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_EXPECTED": str(expected),
           "IOCMGR_LOG_NELM": "1024", "IOCMGR_UPTIME_SCAN": "10 second",
           "IOCMGR_ALIVE_SCAN": "5 second", "IOCMGR_WATCH_TIMEOUT": "90"}
    with run_ioc(tmp_path, env) as ioc:
        assert ioc.get("COUNT") == "2"
        for i in ("bl46p-ea-ioc-01", "bl46p-ea-ioc-02"):
            assert ioc.get("LOG.NELM", i) == "1024"
            assert ioc.get("LOG_PREV.NELM", i) == "1024"
            assert ioc.get("UPTIME.SCAN", i) == "10 second"
            assert ioc.get("ALIVE.SCAN", i) == "5 second"
        # accepted, no complaint ("iocmgr: iocmgrWatchTimeout: ..."); the echoed command
        # "iocmgrWatchTimeout(90)" is in the log too once stdout is flushed (the PVA server does)
        assert "iocmgrWatchTimeout: " not in ioc.logtext()


def test_defaults_without_settings(tmp_path):
    kubeconfig = write_unreachable_kubeconfig(tmp_path / "kubeconfig")
    expected = tmp_path / "expected.yaml"
    expected.write_text("- bl46p-ea-ioc-01\n")
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_EXPECTED": str(expected),
           "IOCMGR_WATCH_TIMEOUT": "3"}
    with run_ioc(tmp_path, env) as ioc:
        i = "bl46p-ea-ioc-01"
        assert ioc.get("LOG.NELM", i) == "16384"
        assert ioc.get("UPTIME.SCAN", i) == "1 second"
        assert ioc.get("ALIVE.SCAN", i) == "1 second"
        # a limit under 10 s is refused in words, the default kept
        assert "iocmgrWatchTimeout: 3 s is too short (at least 10 s); keeping 120 s" in ioc.logtext()
