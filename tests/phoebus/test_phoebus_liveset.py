"""The generated overview shows an instance deployed after boot, live, in the real Phoebus
5.0.5 (issue 16): the spare slots' rows are written at boot, hidden while free; a new
StatefulSet is bound to a slot, its row appears with its name and state, and Restart from
that row (button, confirmation, Yes) deletes its pod.

Ports: IOCMGR_PHOEBUS_CA_PORT (the IOC's CA port; default a free one), display
IOCMGR_PHOEBUS_DISPLAY (default :67). Screenshot: iocmgr-overview-live.png in
tests/results/phoebus (and docs/images with IOCMGR_PHOEBUS_DOCS=1)."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, free_port, run_ioc
from phoebus import Phoebus, Xvfb, classpath, needs_phoebus, phoebus_repo, resource
from test_cluster_argo_ioc import STS
from test_phoebus_screens import confirm, in_order, picture, pod_uid, wait_text, write_numbers

pytestmark = needs_phoebus()

P = "TST-PHLIVE-01:"
NEW = "bl46p-ea-ioc-71"
STATIC = ["iocmgr-manager.bob", "iocmgr-row.bob", "iocmgr-instance.bob"]
KEY = "iocmgr-overview.bob"


@pytest.fixture(scope="module")
def live(cluster, tmp_path_factory):
    cluster.kubectl("-n", NAMESPACE, "delete", "statefulset", NEW, "--ignore-not-found", "--wait=true")
    tmp = tmp_path_factory.mktemp("phoebus-live")
    opi = tmp / "opi"
    opi.mkdir()
    for name in STATIC:
        shutil.copy(TOP / "opi" / name, opi / name)
    port = int(os.environ.get("IOCMGR_PHOEBUS_CA_PORT") or free_port())
    env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE, "IOCMGR_OPI_DIR": str(opi),
           "IOCMGR_SPARE_SLOTS": "2"}
    with run_ioc(tmp, env, prefix=P, port=port) as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        display = os.environ.get("IOCMGR_PHOEBUS_DISPLAY", ":67")
        x = Xvfb(display)
        ph = None
        try:
            ph = Phoebus(classpath(phoebus_repo()), tmp, display, [port], int(os.environ["EPICS_CA_REPEATER_PORT"]),
                         [resource(str(opi / "iocmgr-overview.bob"))], tmp / "phoebus.log")
            ph.wait_report(KEY, lambda w: len(w) > 0, 240, "the overview represented")
            yield ioc, ph
        finally:
            if ph:
                ph.close()
            x.close()
            cluster.kubectl("-n", NAMESPACE, "delete", "statefulset", NEW, "--ignore-not-found", "--wait=false")


def visible(ph, path):
    return ph.ok(f"widget {KEY} {path}")["widget"]["visible"]


def test_a_row_appears_live_and_restart_works_from_it(live, cluster):
    ioc, ph = live
    # written at boot: the slots' rows are there, hidden while free
    assert visible(ph, "bl46p-ea-ioc-01") is True
    for slot in ("SPARE_001", "SPARE_002"):
        deadline = time.monotonic() + 30
        while visible(ph, slot) is not False:
            assert time.monotonic() < deadline, f"{slot}'s row is shown while the slot is free"
            time.sleep(0.3)

    t0 = time.monotonic()
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                       input=STS.format(name=NEW, ns=NAMESPACE, labels="", annotations=""), text=True, env=cluster.env, capture_output=True)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    while not visible(ph, "SPARE_001"):
        assert time.monotonic() < deadline, "the bound slot's row did not appear within 30 s"
        time.sleep(0.2)
    t_row = time.monotonic() - t0
    wait_text(ph, KEY, "SPARE_001/Name", lambda t: t == NEW, 30, "the new instance's name")
    wait_text(ph, KEY, "SPARE_001/Status", lambda t: t == "Running", 60, "Running")
    t_running = time.monotonic() - t0
    assert visible(ph, "SPARE_002") is False
    picture(ph, KEY, "iocmgr-overview-live")

    uid0 = pod_uid(cluster, NEW)
    assert uid0
    ph.ok(f"record {KEY} SPARE_001/Status")
    t1 = time.monotonic()
    ph.ok(f"click {KEY} SPARE_001/Restart")
    confirm(ph, "Restart the instance in spare slot SPARE_001? (deletes its pod; Kubernetes starts a new one)")
    deadline = time.monotonic() + 60
    while (uid := pod_uid(cluster, NEW)) in ("", uid0):
        assert time.monotonic() < deadline, "the pod kept its uid 60 s after Restart was confirmed"
        time.sleep(0.1)
    t_uid = time.monotonic() - t1
    wait_text(ph, KEY, "SPARE_001/Status", lambda t: t == "Running", 90, "Running again")
    seen = ph.ok(f"recorded {KEY} SPARE_001/Status")["values"]
    assert in_order(seen, ["Terminating", "Running"]), seen
    assert f"RESTART {NEW} requested by" in ioc.logtext()
    write_numbers(live_apply_to_row_shown_s=round(t_row, 2), live_apply_to_row_running_s=round(t_running, 2),
                  live_restart_click_to_new_uid_s=round(t_uid, 2), live_restart_states_seen=seen)
    print(f"\nkubectl apply -> row shown {t_row:.2f} s, Running {t_running:.2f} s; "
          f"Restart click -> new pod uid {t_uid:.2f} s; row showed {seen}")
