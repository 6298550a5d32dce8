"""A real IOC deployed after iocmgr booted (issue 16, docs/ioc-layer.md "Spare slots"):
its pod on the real node, its softIoc serving an iocStats UPTIME string. iocmgr binds it
to a spare slot and rewrites the slot's ALIVE link to the new IOC's own <NAME>:UPTIME:
ALIVE reads Alive from the real UPTIME changing, without alarm."""
import time

from nodebed import drain, node_iocmgr


def test_a_real_ioc_deployed_after_boot_is_alive_from_its_own_uptime(bed, instances, tmp_path):
    name = "bl46p-ea-live-01"
    with node_iocmgr(bed, tmp_path, [], "TST-NODE-05:", IOCMGR_SPARE_SLOTS=2) as ioc:
        assert ioc.ca.try_get(ioc.pv("STATUS", name)) is None
        i = instances(name)
        bed.answering(i)
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
        assert ioc.ca.get(ioc.pv("STATUS", i) + ".NAME") == ioc.pv("STATUS", "SPARE_001")
        assert ioc.get("NODE", i) == bed.node and ioc.get("POD", i) == f"{i}-0"
        # the slot's link now reads the new IOC's own UPTIME (a string, "00:00:12")
        assert ioc.ca.get(ioc.pv("ALIVE", "SPARE_001") + ".INP") == f"{i.upper()}:UPTIME CA NMS"
        ioc.ca.wait_value(ioc.pv("ALIVE", i), "Alive", timeout=30)
        with ioc.ca.monitor(ioc.pv("ALIVE", i)) as mon:
            time.sleep(8)
            seen = drain(mon)
        assert seen and all(v == "Alive" and s == "NO_ALARM" for v, s in seen), seen
        # the free slot still reads nothing
        assert ioc.get("STATUS", "SPARE_002") == "Free" and ioc.get("ALIVE", "SPARE_002") == "Silent"
