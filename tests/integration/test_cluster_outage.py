"""The API server goes away and comes back: CONNECTED drops, every instance
PV turns INVALID (never stale-but-good), commands are refused in words, and
everything recovers without restarting the IOC. Runs last among the cluster
tests (file order) since it takes the apiserver away."""
import time


def test_apiserver_outage_and_recovery(ioc, cluster):
    i = "bl46p-ea-ioc-01"
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
    try:
        with ioc.ca.monitor(ioc.pv("CONNECTED")) as conn, ioc.ca.monitor(ioc.pv("STATUS", i)) as st:
            t0 = time.monotonic()
            cluster.apiserver("stop")
            conn.wait("Disconnected", timeout=30)
            st.wait(lambda v, s: s == "INVALID", timeout=10)
            lost = time.monotonic() - t0
            assert ioc.get("RUNNING.SEVR", i) == "INVALID"

            ioc.ca.put(ioc.pv("RESTART", i), 1)
            assert ioc.get("CMD_STAT", i) == "Error"
            assert "unreachable" in ioc.get("CMD_MSG", i, string=True)

            cluster.apiserver("start")
            t1 = time.monotonic()
            conn.wait("Connected", timeout=90)
            st.wait(lambda v, s: v == "Running" and s == "NO_ALARM", timeout=30)
            print(f"disconnect seen in {lost:.1f}s; recovered {time.monotonic() - t1:.1f}s after restart")
    finally:
        cluster.apiserver("start")
