"""The Phoebus screens and the alarm configuration name only PVs the IOC serves.

The IOC boots against the demo beamline with a startup file that runs st.cmd,
writes the overview and the alarm XML (iocmgrWriteScreens,
iocmgrWriteAlarmConfig) and lists its records (dbl, redirected to a file: the
IOC's stdout to a file is block-buffered). Every pv_name in every
screen is then checked against that list after macro substitution, following
embedded displays and open_display actions from the generated overview the way
Phoebus would, so the static detail screen is checked once per instance."""
import re
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, run_ioc

OPI = TOP / "opi"
PREFIX = "TST-SCREENS-01:"
STATIC = ["iocmgr-manager.bob", "iocmgr-row.bob", "iocmgr-instance.bob"]
# Phoebus fills these itself; they never name a PV.
PHOEBUS_MACROS = {"pv_name", "pv_value", "actions"}
MACRO = re.compile(r"\$\((\w+)\)|\$\{(\w+)\}")


@pytest.fixture(scope="module")
def served(shipped_kubeconfig, tmp_path_factory):
    """Boots the IOC once; returns (record names, opi dir, alarm xml path, ioc)."""
    tmp = tmp_path_factory.mktemp("screens")
    opi = tmp / "opi"
    opi.mkdir()
    # As the deployment's install-opi init container does.
    for name in STATIC:
        shutil.copy(OPI / name, opi / name)
    alarms = tmp / "alarms.xml"
    dbl = tmp / "records.txt"
    after_init = [f'iocmgrWriteScreens("{opi}")',
                  f'iocmgrWriteAlarmConfig("{alarms}", "BL46P")',
                  f'dbl > {dbl}']
    env = {"IOCMGR_KUBECONFIG": str(shipped_kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE}
    with run_ioc(tmp, env, post_iocsh=after_init, prefix=PREFIX) as ioc:
        wait_get(ioc, "CONNECTED", "Connected", 30)
        deadline = time.monotonic() + 20
        while not (alarms.exists() and (opi / "iocmgr-overview.bob").exists()
                   and f"{PREFIX}HEARTBEAT" in (dbl.read_text() if dbl.exists() else "")):
            if time.monotonic() > deadline:
                raise AssertionError("iocmgrWriteScreens / iocmgrWriteAlarmConfig / dbl did not "
                                     "all run (are the iocsh commands registered?); IOC log:\n"
                                     + ioc.logtext())
            time.sleep(0.2)
        records = set(dbl.read_text().split())
        yield records, opi, alarms, ioc


def wait_get(ioc, name, want, timeout):
    """Polls with caget: bounded, and independent of camonitor's output format."""
    deadline = time.monotonic() + timeout
    while (got := ioc.ca.try_get(ioc.pv(name))) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{ioc.pv(name)} is {got!r}, not {want!r} after {timeout}s:\n"
                                 + ioc.logtext())
        time.sleep(0.3)


def record_of(pv):
    """The record a channel name refers to: 'REC.VAL$' -> 'REC'."""
    return pv.split(".", 1)[0]


def expand(text, macros):
    def sub(m):
        name = m.group(1) or m.group(2)
        return macros.get(name, m.group(0))
    for _ in range(5):  # macro values may hold macros ($(P) passed down)
        new = MACRO.sub(sub, text)
        if new == text:
            break
        text = new
    return text


def macros_of(element, inherited):
    """Macros an embedded display or open_display action passes on."""
    out = dict(inherited)
    m = element.find("macros")
    if m is not None:
        for child in m:
            out[child.tag] = expand(child.text or "", inherited)
    return out


def walk(path, passed, seen, found):
    """Collects (file, pv name after substitution) from path and every display
    it embeds or opens. Macros passed in win over the display's own."""
    key = (path.name, tuple(sorted(passed.items())))
    if key in seen:
        return
    seen.add(key)
    root = ET.parse(path).getroot()
    assert root.tag == "display" and root.get("version") == "2.0.0", path
    macros = macros_of(root, {})
    macros.update(passed)
    for widget in root.iter("widget"):
        for el in widget.iter("pv_name"):
            if el.text:
                found.append((path.name, expand(el.text, macros)))
        if widget.get("type") == "embedded":
            walk(path.parent / expand(widget.findtext("file"), macros),
                 macros_of(widget, macros), seen, found)
        for action in widget.iter("action"):
            if action.get("type") == "open_display":
                walk(path.parent / expand(action.findtext("file"), macros),
                     macros_of(action, macros), seen, found)


def check_pvs(found, records):
    unresolved = [(f, pv) for f, pv in found
                  if set(n for pair in MACRO.findall(pv) for n in pair if n) - PHOEBUS_MACROS]
    assert not unresolved, f"macros left unresolved: {unresolved}"
    missing = sorted({(f, pv) for f, pv in found if record_of(pv) not in records})
    assert not missing, f"screens name PVs the IOC does not serve: {missing}"


def test_every_static_screen_parses():
    for bob in sorted(OPI.glob("*.bob")):
        root = ET.parse(bob).getroot()
        assert root.tag == "display", bob
        for widget in root.iter("widget"):
            assert widget.get("type") and widget.get("version"), (bob, widget.findtext("name"))


def test_generated_overview_has_one_row_per_instance(served):
    records, opi, _, ioc = served
    root = ET.parse(opi / "iocmgr-overview.bob").getroot()
    rows = [w for w in root.iter("widget")
            if w.get("type") == "embedded" and w.findtext("file") == "iocmgr-row.bob"]
    count = int(ioc.get("COUNT"))
    assert count > 0 and len(rows) == count
    names = {w.findtext("macros/NAME") for w in rows}
    assert "bl46p-ea-ioc-01" in names
    for w in rows:
        assert w.findtext("macros/I") == w.findtext("macros/NAME").upper()
    # the header gets the height iocmgr-manager.bob has (it grew with the Argo CD
    # line), and the rows start below it
    header = next(w for w in root.iter("widget") if w.findtext("file") == "iocmgr-manager.bob")
    height = int(ET.parse(OPI / "iocmgr-manager.bob").getroot().findtext("height"))
    assert int(header.findtext("height")) == height
    assert min(int(w.findtext("y")) for w in rows) >= int(header.findtext("y")) + height


def test_every_screen_pv_is_served(served):
    records, opi, _, _ = served
    found = []
    walk(opi / "iocmgr-overview.bob", {}, set(), found)
    files = {f for f, _ in found}
    assert set(STATIC) | {"iocmgr-overview.bob"} >= files >= set(STATIC)
    # the detail screen was reached once per instance, through each row
    instances = {pv for f, pv in found if f == "iocmgr-instance.bob" and pv.endswith(":STATUS")}
    assert len(instances) == int(served[3].get("COUNT"))
    check_pvs(found, records)


def test_example_overview_names_served_pvs_with_this_prefix(served, tmp_path):
    """The repository's example, generated for the demo beamline, after
    replacing its prefix with the test IOC's."""
    records, opi, _, _ = served
    for name in STATIC + ["iocmgr-overview-example.bob"]:
        shutil.copy(OPI / name, tmp_path / name)
    # the detail screen's back link opens the generated overview
    shutil.copy(opi / "iocmgr-overview.bob", tmp_path)
    found = []
    walk(tmp_path / "iocmgr-overview-example.bob", {"P": PREFIX}, set(), found)
    assert any(f == "iocmgr-row.bob" for f, _ in found)
    check_pvs(found, records)


def test_alarm_configuration_names_served_pvs(served):
    records, _, alarms, ioc = served
    root = ET.parse(alarms).getroot()
    assert root.tag == "config" and root.get("name") == "BL46P"
    pvs = [pv.get("name") for pv in root.iter("pv")]
    assert len(pvs) == len(set(pvs))
    assert set(pvs) <= records, f"alarm PVs not served: {sorted(set(pvs) - records)}"
    count = int(ioc.get("COUNT"))
    assert f"{PREFIX}CONNECTED" in pvs
    assert sum(p.endswith(":STATUS") for p in pvs) == count
    assert sum(p.endswith(":ALIVE") for p in pvs) == count
    # one alarm per fault (docs/alarms.md): nothing else, no Argo CD PV
    assert len(pvs) == 2 * count + 1
    for pv in root.iter("pv"):
        assert pv.findtext("enabled") == "true" and pv.findtext("latching") == "false"
        assert pv.findtext("description")
        assert pv.findtext("guidance/title") and pv.findtext("guidance/details")
    # grouped by domain: every instance sits two levels below the root
    for domain in root.findall("component"):
        if domain.get("name") != "IOC-manager":
            assert domain.findall("pv") == [] and domain.findall("component/pv")


def test_screen_pvs_answer_over_channel_access(served):
    """dbl lists what was loaded; caget proves it is served over CA too."""
    records, opi, alarms, ioc = served
    found = []
    walk(opi / "iocmgr-overview.bob", {}, set(), found)
    names = sorted({record_of(pv) for _, pv in found} |
                   {pv.get("name") for pv in ET.parse(alarms).getroot().iter("pv")})
    r = ioc.ca.run("caget", "-w", "5", "-#", "1", *names, timeout=60)
    assert r.returncode == 0 and "not found" not in r.stdout + r.stderr, r.stdout + r.stderr
