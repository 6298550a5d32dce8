"""The table overview (opi/iocmgr-table.bob, docs/pva.md) in the real Phoebus 5.0.5
display runtime: a Table widget bound to pva://$(P)TABLE, the manager header over CA
above it. Phoebus' own PVA client (core-pva) on loopback, searching the IOC's UDP port
of the PVA block. Checked: every element is a property Phoebus knows, every PV connects
(PVA and CA), the table shows one row per instance with the NTTable's values, the
Status and Severity cells carry the alarm colour of the row's severity (the screen's
script), a restart shows live in the row (and its colour), and a PNG of it.

Run by tools/run-tests.sh's PVA block (IOCMGR_TEST_PVA=0 leaves it out); skipped, with
what to set, without Phoebus' jars. Environment as tests/phoebus/test_phoebus_screens.py
(PHOEBUS_REPO, IOCMGR_PHOEBUS_OUT, IOCMGR_PHOEBUS_DOCS=1); IOCMGR_PHOEBUS_TABLE_DISPLAY
(Xvfb display, default :125)."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, free_port, pva_env, run_ioc
from phoebus import Phoebus, Xvfb, all_connected, classpath, needs_phoebus, phoebus_repo, resource

REPO = phoebus_repo()
pytestmark = needs_phoebus()

P = "BL46P-CS-IOCMGR-01:"
KEY = "iocmgr-table.bob"
RUNNING = "bl46p-ea-ioc-01"
OUT = os.environ.get("IOCMGR_PHOEBUS_OUT") or str(TOP / "tests/results/phoebus")
COLOUR = {"NO_ALARM": "OK", "MINOR": "MINOR", "MAJOR": "MAJOR", "INVALID": "INVALID"}
_lo, _hi = (int(x) for x in os.environ.get("IOCMGR_TEST_PVA_PORTS", "25064-25089").split("-"))


def table_widget(widgets):
    return next(w for w in widgets if w["type"] == "table")


def names(cluster):
    out = cluster.kubectl("-n", NAMESPACE, "get", "statefulsets,deployments", "-o",
                          "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}")
    return sorted(n for n in out.split() if n.startswith("bl46p-"))


@pytest.fixture(scope="module")
def manager(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table")
    opi = tmp / "opi"
    opi.mkdir()
    for name in ("iocmgr-table.bob", "iocmgr-manager.bob"):
        shutil.copy(TOP / "opi" / name, opi / name)
    server = free_port(range(_hi - 3, _hi + 1))
    bcast = free_port([p for p in range(_hi - 3, _hi + 1) if p != server])
    env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE, "IOCMGR_PENDING_GRACE": "3",
           **pva_env(server, bcast)}
    with run_ioc(tmp, env, prefix=P) as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        ioc.opi, ioc.bcast = opi, bcast
        yield ioc


@pytest.fixture(scope="module")
def phoebus(manager, tmp_path_factory):
    display = os.environ.get("IOCMGR_PHOEBUS_TABLE_DISPLAY", ":125")
    work = tmp_path_factory.mktemp("phoebus-table")
    x = Xvfb(display)
    ph = None
    try:
        t0 = time.monotonic()
        ph = Phoebus(classpath(REPO), work, display, [manager.ca.port], int(os.environ["EPICS_CA_REPEATER_PORT"]),
                     [resource(str(manager.opi / "iocmgr-table.bob"), P=P)], work / "phoebus.log",
                     pva_broadcast_port=manager.bcast)
        ph.wait_report(KEY, lambda w: len(w) > 0, 240, "the display represented")
        ph.started = time.monotonic() - t0
        yield ph
    finally:
        if ph:
            ph.close()
        x.close()


def test_every_element_is_a_property(phoebus, manager):
    unknown = phoebus.ok(f"lint {manager.opi / 'iocmgr-table.bob'}", timeout=60)["unknown"]
    assert not unknown, unknown


def test_table_shows_every_instance_coloured_by_severity(phoebus, manager, cluster):
    expected = names(cluster)

    def shown(widgets):
        t = table_widget(widgets)
        return (all_connected(widgets) and [row[0] for row in t["cells"]] == expected
                and len(t["cell_colors"]) == len(expected))
    widgets = phoebus.wait_report(KEY, shown, 120, "every PV connected and a row per instance")
    t = table_widget(widgets)
    assert t["pvs"][0]["name"] == f"pva://{P}TABLE"
    assert t["headers"] == ["Name", "Status", "Severity", "Ready", "Enabled", "Restarts", "Version",
                            "Node", "Message"]
    for row, colours in zip(t["cells"], t["cell_colors"]):
        name, status, severity = row[0], row[1], row[2]
        assert status == manager.get("STATUS", name), (name, status)
        assert colours[1] == colours[2] == COLOUR[severity], (name, severity, colours)
        # caget -S escapes quotes (the scheduler's message has ', the kubelet's ")
        assert row[8] == manager.get("MESSAGE", name, string=True).encode("latin-1").decode("unicode_escape"), name
    severities = {row[2] for row in t["cells"]}
    assert {"NO_ALARM", "MAJOR"} <= severities, severities      # the demo has both
    os.makedirs(OUT, exist_ok=True)
    png = os.path.join(OUT, "iocmgr-table.png")
    phoebus.ok(f"snap {KEY} {png}")
    if os.environ.get("IOCMGR_PHOEBUS_DOCS") == "1":
        shutil.copy(png, TOP / "docs/images/iocmgr-table.png")
    print(f"Phoebus up with the table in {phoebus.started:.1f} s; picture {png}")


def test_a_restart_shows_live_in_its_row(phoebus, manager, cluster):
    """RESTART over CA: the row leaves Running (Terminating/Starting, MINOR colour) and
    comes back, as the table's PVA monitor delivers it."""
    i = names(cluster).index(RUNNING)
    r = manager.ca.put(manager.pv("RESTART", RUNNING), 1)
    assert r.returncode == 0, r.stderr
    seen = []

    def row_is(pred):
        def check(widgets):
            t = table_widget(widgets)
            if len(t["cells"]) <= i or len(t["cell_colors"]) <= i:
                return False
            seen.append((t["cells"][i][1], t["cell_colors"][i][1]))
            return pred(t["cells"][i][1], t["cell_colors"][i][1])
        return check
    phoebus.wait_report(KEY, row_is(lambda s, c: s != "Running" and c in ("MINOR", "OK")), 60,
                        "the row leaving Running")
    phoebus.wait_report(KEY, row_is(lambda s, c: s == "Running" and c == "OK"), 60, "the row Running again")
    print(f"row {RUNNING} as Phoebus showed it: {sorted(set(seen))}")
