"""iocmgr against the local control plane with the demo beamline, through
the real CA clients: what operators see and what their commands do. The IOC runs
as the chart's ServiceAccount (conftest.ioc): each command's answer is checked as
soon as caput -c returns, so a rule missing from the chart's Role shows here as the
API's 403 in CMD_MSG. The demo's instances are real containers on the bed's real node
(docs/node.md): their states, exit codes, reasons and consoles are the kubelet's and
the IOCs' own."""
import time

from conftest import NAMESPACE

RUNNING = "bl46p-ea-ioc-01"


def command_ok(ioc, pv, i):
    """Write 1 to a command record with completion (caput -c) and assert its answer."""
    r = ioc.ca.put(ioc.pv(pv, i), 1)
    assert r.returncode == 0, r.stderr
    stat, msg = ioc.get("CMD_STAT", i), ioc.get("CMD_MSG", i, string=True)
    assert stat == "OK", f"{pv} {i}: {stat}: {msg}"
    return msg


def test_boot_lists_the_demo_beamline(ioc):
    assert ioc.get("NAMESPACE") == NAMESPACE
    names = ioc.get("NAMES", string=True).split()    # one string, names separated by a space
    for name in ("bl46p-ea-ioc-01", "bl46p-mo-ioc-01", "bl46p-di-dcam-01", "bl46p-ea-ioc-02",
                 "bl46p-ea-ioc-03", "bl46p-ea-ioc-04", "bl46p-ea-ioc-05", "bl46p-mo-ioc-02", "bl46p-va-ioc-01"):
        assert name in names
    assert int(ioc.get("COUNT")) == len(names)


def test_running_instance_shows_where_and_what(ioc, cluster):
    i = RUNNING
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
    assert ioc.get("STATUS.SEVR", i) == "NO_ALARM"
    assert ioc.get("RUNNING", i) == "Yes"
    assert ioc.get("READY", i) == "Yes"
    assert ioc.get("ENABLED", i) == "Enabled"
    image = ioc.get("IMAGE", i, string=True)
    assert image == "ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1", image
    # VERSION is the image tag (DESIGN.md; issue 18 item 10), not the chart's label
    assert ioc.get("VERSION", i) == "2024.4.1"
    assert ioc.get("DESC", i) == "Simulated-area-detector"
    assert ioc.get("POD", i) == f"{i}-0"
    assert ioc.get("NODE", i) == cluster.env["IOCMGR_REAL_NODE_NAME"]
    assert ioc.get("IP", i) == cluster.env["IOCMGR_NODE_IP"]      # hostNetwork: the node's address


def test_older_charts_are_managed(ioc):
    # is_ioc label on a StatefulSet, and a Deployment from the oldest charts
    for i in ("bl46p-di-dcam-01", "bl46p-va-ioc-01"):
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)


def test_stopped_instance_is_stopped_without_alarm(ioc):
    i = "bl46p-ea-ioc-02"
    assert ioc.get("STATUS", i) == "Stopped"
    assert ioc.get("STATUS.SEVR", i) == "NO_ALARM"
    assert ioc.get("ENABLED", i) == "Disabled"


def test_pending_instance_shows_the_scheduler_message_and_goes_major(ioc):
    i = "bl46p-ea-ioc-03"
    value, sevr = ioc.ca.wait_value(ioc.pv("STATUS", i), lambda v, s: v == "Pending" and s == "MAJOR",
                                    timeout=30)
    message = ioc.get("MESSAGE", i, string=True)
    assert "Unschedulable" in message and "node" in message, message


def test_crash_loop_is_major_with_reason(ioc):
    # the IOC exits with status 1 at boot; the kubelet backs off 10 s, 20 s, 40 s ...
    i = "bl46p-ea-ioc-04"
    ioc.ca.wait_value(ioc.pv("STATUS", i), lambda v, s: v == "CrashLoop" and s == "MAJOR", timeout=60)
    assert int(ioc.get("RESTARTS", i)) > 0
    assert ioc.get("LAST_EXIT", i) == "1"
    assert ioc.get("LAST_REASON", i) == "Error"
    ioc.ca.wait_value(ioc.lpv("MESSAGE", i), lambda v, s: "CrashLoopBackOff: back-off " in v, timeout=60,
                      string=True)
    # the Pending, the crash-looping, the OOMKilled and the image-missing instances
    assert int(ioc.get("FAULT_COUNT")) >= 3


def test_oom_killed_instance_shows_the_kernels_verdict(ioc):
    # over its 48 MiB limit 5 s after each start: the kernel's OOM killer ends it
    i = "bl46p-ea-ioc-05"
    ioc.ca.wait_value(ioc.pv("LAST_REASON", i), "OOMKilled", timeout=60)
    assert ioc.get("LAST_EXIT", i) == "137"
    assert int(ioc.get("RESTARTS", i)) >= 1
    ioc.ca.wait_value(ioc.lpv("MESSAGE", i), lambda v, s: "last exit 137 (OOMKilled)" in v, timeout=60,
                      string=True)


def test_image_not_on_the_node_is_failed_with_the_kubelets_message(ioc):
    i = "bl46p-mo-ioc-02"
    ioc.ca.wait_value(ioc.pv("STATUS", i), lambda v, s: v == "Failed" and s == "MAJOR", timeout=60)
    message = ioc.get("MESSAGE", i, string=True)
    assert message.startswith("ErrImageNeverPull: "), message
    assert "ioc-pmac-runtime:2025.1.1" in message and "is not present with pull policy of Never" in message
    assert ioc.get("RESTARTS", i) == "0"


def test_restart_goes_through_terminating_and_gives_a_new_pod(ioc, cluster):
    i = RUNNING
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
    before = cluster.jsonpath("pod", f"{i}-0", "{.metadata.uid}")
    with ioc.ca.monitor(ioc.pv("STATUS", i)) as mon:
        assert "restart requested" in command_ok(ioc, "RESTART", i)
        mon.wait(lambda v, s: v in ("Terminating", "Starting"), timeout=30)
        mon.wait("Running", timeout=60)
    after = cluster.jsonpath("pod", f"{i}-0", "{.metadata.uid}")
    assert after and after != before
    assert ioc.get("RESTART", i) == "Idle"
    assert "RESTART " + i in ioc.logtext() and "root@" in ioc.logtext()


def test_stop_then_start(ioc, cluster):
    i = "bl46p-mo-ioc-01"
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
    command_ok(ioc, "STOP", i)
    value, sevr = ioc.ca.wait_value(ioc.pv("STATUS", i), "Stopped", timeout=60)
    assert sevr == "NO_ALARM"
    assert cluster.jsonpath("statefulset", i, "{.spec.replicas}") == "0"
    command_ok(ioc, "START", i)
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
    assert cluster.jsonpath("statefulset", i, "{.spec.replicas}") == "1"


def test_image_set_rolls_the_pod_and_bad_reference_is_refused(ioc, cluster):
    i = "bl46p-di-dcam-01"
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
    old = ioc.get("IMAGE", i, string=True)
    new = "ghcr.io/epics-containers/ioc-adaravis-runtime:2024.9.1"
    try:
        r = ioc.ca.run("caput", "-c", "-w", "30", "-S", ioc.lpv("IMAGE_SP", i), new)
        assert r.returncode == 0, r.stderr
        assert ioc.get("CMD_STAT", i) == "OK", ioc.get("CMD_MSG", i, string=True)
        ioc.ca.wait_value(ioc.lpv("IMAGE", i), new, timeout=60, string=True)
        assert cluster.jsonpath("statefulset", i, "{.spec.template.spec.containers[0].image}") == new
        ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=60)
        # the new image's tag, whatever the StatefulSet's ioc_version label says (2023.11.1):
        # VERSION means the running image's tag (DESIGN.md; issue 18 item 10)
        ioc.ca.wait_value(ioc.pv("VERSION", i), "2024.9.1", timeout=30)

        r = ioc.ca.run("caput", "-c", "-w", "30", "-S", ioc.lpv("IMAGE_SP", i), "Not A/valid::image")
        assert ioc.get("CMD_STAT", i) == "Error"
        assert "invalid" in ioc.get("CMD_MSG", i, string=True).lower()
        assert ioc.get("IMAGE_SP.SEVR", i) == "MAJOR"
        assert cluster.jsonpath("statefulset", i, "{.spec.template.spec.containers[0].image}") == new
    finally:
        ioc.ca.run("caput", "-c", "-w", "30", "-S", ioc.lpv("IMAGE_SP", i), old)


def test_console_log_is_read_on_request(ioc):
    i = RUNNING
    ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
    # the IOC's own console, as its container wrote it (the pod may be new: it boots in
    # about a second after Running)
    deadline = time.monotonic() + 30
    while True:
        command_ok(ioc, "LOG_FETCH", i)
        log = ioc.get("LOG", i, string=True)
        if "iocRun: All initialization complete" in log or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert f"Starting IOC {i} (prefix {i.upper()}, behaviour run)" in log, log[:500]
    assert "iocRun: All initialization complete" in log and f"{i.upper()}:UPTIME" in log, log[-500:]
