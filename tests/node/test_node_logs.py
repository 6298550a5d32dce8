"""LOG and LOG_PREV carry the real IOC console (the container's tty, written by containerd,
served by the kubelet) through the apiserver (docs/node.md)."""
from nodebed import NAMESPACE, node_iocmgr


def fetch(ioc, what, i):
    r = ioc.ca.put(ioc.pv(f"{what}_FETCH", i), 1)
    assert r.returncode == 0, r.stderr
    assert ioc.get("CMD_STAT", i) == "OK", ioc.get("CMD_MSG", i, string=True)
    # caget -S shows a line end as the two characters \n
    return ioc.get(what, i, string=True).replace("\\n", "\n").replace("\\r", "\r")


def test_log_and_log_prev_are_the_real_console(bed, instances, tmp_path):
    # the IOC runs 6 s and exits 1: its console then is the previous container's
    i = instances("bl46p-ea-test-20", behaviour="exit:6")
    prefix = i.upper()
    with node_iocmgr(bed, tmp_path, [i], "TST-NODE-20:") as ioc:
        bed.wait_running(i, ready=False)
        bed.wait(lambda: "iocRun: All initialization complete" in
                 bed.kubectl("-n", NAMESPACE, "logs", f"{i}-0", check=False), 30, "the IOC booted")
        log = fetch(ioc, "LOG", i)
        for line in (f"Starting IOC {i} (prefix {prefix}, behaviour exit:6)", "Starting iocInit",
                     "iocRun: All initialization complete", f"{prefix}:UPTIME"):
            assert line in log, (line, log[-2000:])
        bed.wait(lambda: bed.container(i).get("restartCount", 0) >= 1, 60, "the first exit")
        prev = fetch(ioc, "LOG_PREV", i)
        assert f"Starting IOC {i}" in prev and "start.sh: the IOC exited with status 1" in prev, prev[-2000:]
        # the same text kubectl shows through the apiserver (LOG is its last LOG_NELM bytes)
        kubectl = bed.kubectl("-n", NAMESPACE, "logs", f"{i}-0", "--previous")
        assert prev.strip().replace("\r", "")[-500:] in kubectl.replace("\r", ""), (prev[-500:], kubectl[-500:])
