"""The screens in the real Phoebus 5.0.5 display runtime, against the local
control plane's demo beamline on its real node (docs/node.md: real IOC containers,
the kubelet's states and reasons, the IOCs' own consoles, ALIVE from each IOC's own
UPTIME) and iocmgr on CA ports of its own.

One Phoebus JVM (tests/phoebus Harness, under Xvfb) opens every screen the way the
launcher does, each in its own window with the macros an operator uses: the
generated overview, the manager header, a row, the instance screen of a Running,
a Stopped, a Pending and a CrashLoop instance, one OOMKilled and one whose image is
not on the node, an instance screen of a second,
read-only manager, and one of a third manager whose instance an Argo CD Application
manages (Argo CD's own CRD, the Applications written here: no controller runs). For each, the runtime's own view is checked: every PV connects,
no widget shows an alarm its PV's state does not deserve, every text that shows a
value shows it, the Argo CD widgets read "n/a" and empty (the demo beamline has no
Argo CD) or, on the Argo CD instance, its Application, OutOfSync and Overridden with
their MINOR border; a PNG of each is kept. Then an operator's actions, with the pointer
through the X server: Restart on the overview (button, then the confirmation
dialog) gives the pod a new uid and the row goes Terminating, Starting, Running;
Fetch log fills the console log; Stop on the detail screen stops the instance; a
command refused by a read-only manager shows its message.

Environment: PHOEBUS_REPO (Maven repository with the org.phoebus jars; default
<repo>/../shared/phoebus/m2), IOCMGR_PHOEBUS_CA_PORT (first of 4 CA ports; default
free ones), IOCMGR_PHOEBUS_DISPLAY (Xvfb display, default :66),
IOCMGR_PHOEBUS_OUT (screenshots and numbers, default tests/results/phoebus),
IOCMGR_PHOEBUS_DOCS=1 (also copy the screenshots into docs/images)."""
import json
import os
import shutil
import time

import pytest

from conftest import NAMESPACE
from iocmgrtest import TOP, ApiWatch, chart_identity, free_port, run_ioc, settled, wait_until
from test_cluster_argo_ioc import APP, STS, application_crd, apply, tracking
from phoebus import Phoebus, Xvfb, all_connected, classpath, needs_phoebus, phoebus_repo, resource, summary

REPO = phoebus_repo()
pytestmark = needs_phoebus()

P = "BL46P-CS-IOCMGR-01:"
P_RO = "BL46P-CS-IOCMGR-02:"
P_ARGO = "BL46X-CS-IOCMGR-01:"
# the Argo CD beamline: apps, IOCs, root, the one instance (ec's EC_TARGET=<APPS>/<ROOT>)
APPS, IOCS, ROOT, ARGO_INST = "bl46x-beamline", "bl46x-iocs", "bl46x", "bl46x-ea-ioc-01"
STATIC = ["iocmgr-manager.bob", "iocmgr-row.bob", "iocmgr-instance.bob"]
RUNNING, STOPPED, PENDING, CRASHLOOP = ("bl46p-ea-ioc-01", "bl46p-ea-ioc-02",
                                        "bl46p-ea-ioc-03", "bl46p-ea-ioc-04")
OOMKILLED, NO_IMAGE = "bl46p-ea-ioc-05", "bl46p-mo-ioc-02"
OUT = os.environ.get("IOCMGR_PHOEBUS_OUT") or str(TOP / "tests/results/phoebus")

# key (as the harness finds a display) -> (file, macros, picture name, state)
SCREENS = {
    "iocmgr-overview.bob": ("iocmgr-overview.bob", {}, "iocmgr-overview", None),
    "iocmgr-manager.bob": ("iocmgr-manager.bob", {"P": P}, "iocmgr-manager", None),
    f"iocmgr-row.bob|I={RUNNING.upper()}": ("iocmgr-row.bob", {"P": P, "I": RUNNING.upper(), "NAME": RUNNING},
                                           "iocmgr-row", "Running"),
}
# (the OOMKilled one crash-loops too: its screen shows the kernel's reason)
for _name, _state, _picture in ((RUNNING, "Running", "running"), (STOPPED, "Stopped", "stopped"),
                                (PENDING, "Pending", "pending"), (CRASHLOOP, "CrashLoop", "crashloop"),
                                (OOMKILLED, "CrashLoop", "oomkilled"), (NO_IMAGE, "Failed", "imagemissing")):
    SCREENS[f"iocmgr-instance.bob|I={_name.upper()}|P={P}"] = (
        "iocmgr-instance.bob", {"P": P, "I": _name.upper(), "NAME": _name},
        f"iocmgr-instance-{_picture}", _state)
RO_KEY = f"iocmgr-instance.bob|I={RUNNING.upper()}|P={P_RO}"
SCREENS[RO_KEY] = ("iocmgr-instance.bob", {"P": P_RO, "I": RUNNING.upper(), "NAME": RUNNING},
                   "iocmgr-instance-readonly", "Running")
ARGO_KEY = f"iocmgr-instance.bob|I={ARGO_INST.upper()}|P={P_ARGO}"
SCREENS[ARGO_KEY] = ("iocmgr-instance.bob", {"P": P_ARGO, "I": ARGO_INST.upper(), "NAME": ARGO_INST},
                     "iocmgr-instance-argocd", "Running")


@pytest.fixture(scope="module")
def ports():
    base = os.environ.get("IOCMGR_PHOEBUS_CA_PORT")
    return [int(base) + i for i in range(4)] if base else [free_port() for _ in range(4)]


@pytest.fixture(scope="module")
def cp():
    return classpath(REPO)


@pytest.fixture(scope="module")
def argo_beamline(cluster):
    """One instance managed by a child Application of root ROOT, in namespaces of its
    own; the child OutOfSync and the root overriding its revision. None (and the
    Argo CD screen skipped) without Argo CD's CRD."""
    missing = application_crd(cluster)
    if missing:
        yield missing
        return
    for ns in (APPS, IOCS):
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
        cluster.kubectl("create", "namespace", ns)
    apply(cluster, APP.format(name=ROOT, ns=APPS, iocs=APPS, annotations="", repo="deploy", path="apps",
                              rev="main", params=f'[{{name: services.{ARGO_INST}.targetRevision, value: "2024.5.1"}}]'))
    apply(cluster, APP.format(name=ARGO_INST, ns=APPS, iocs=IOCS, repo="services", path=f"services/{ARGO_INST}",
                              rev="2024.4.1", params='[{name: global.enabled, value: "true"}]',
                              annotations=tracking(f"{APPS}_{ROOT}:argoproj.io/Application:{APPS}/{ARGO_INST}")))
    cluster.kubectl("-n", APPS, "patch", "application", ARGO_INST, "--type=merge",
                    "-p", '{"status": {"sync": {"status": "OutOfSync"}}}')
    apply(cluster, STS.format(name=ARGO_INST, ns=IOCS, labels="",
                              annotations=tracking(f"{APPS}_{ARGO_INST}:apps/StatefulSet:{IOCS}/{ARGO_INST}")))
    yield None
    for ns in (APPS, IOCS):
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")


@pytest.fixture(scope="module")
def managers(cluster, ports, argo_beamline, tmp_path_factory):
    """The manager an operator uses (its overview written at boot), a read-only one
    and one of the Argo CD beamline, each as the chart's ServiceAccount and Role
    (iocmgrtest.chart_identity), not as the cluster's admin."""
    tmp = tmp_path_factory.mktemp("phoebus-iocs")
    demo = chart_identity(cluster, tmp, NAMESPACE, values=["rbac.deployments=true"])
    if argo_beamline is None:
        argo_env = {"IOCMGR_NAMESPACE": IOCS, "EC_TARGET": f"{APPS}/{ROOT}", "IOCMGR_KUBECONFIG": str(
            chart_identity(cluster, tmp, IOCS, values=["argocd.enabled=true", f"argocd.appNamespace={APPS}"]))}
    else:   # no Application CRD: the Argo CD screen is skipped, this manager shows the demo
        argo_env = {}
    opi = tmp / "opi"
    opi.mkdir()
    for name in STATIC:  # as the deployment's install-opi init container does
        shutil.copy(TOP / "opi" / name, opi / name)
    env = {"IOCMGR_KUBECONFIG": str(demo), "IOCMGR_NAMESPACE": NAMESPACE,
           "IOCMGR_PENDING_GRACE": "3", "IOCMGR_OPI_DIR": str(opi),
           # ALIVE: the demo's IOCs answer at the real node's broadcast address, port 5064
           "CA_EXTRA_ADDR": f"{cluster.env['IOCMGR_NODE_CA_ADDR_LIST']}:5064"}
    with run_ioc(tmp, dict(env), prefix=P, port=ports[0]) as ioc, \
            run_ioc(tmp, {**env, "IOCMGR_READONLY": "1", "IOCMGR_OPI_DIR": ""}, prefix=P_RO,
                    port=ports[1]) as ro, \
            run_ioc(tmp, {**env, **argo_env, "IOCMGR_OPI_DIR": ""}, prefix=P_ARGO, port=ports[3]) as argo:
        for booted in (ioc, ro, argo):
            booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        yield ioc, ro, opi, argo


@pytest.fixture(scope="module")
def phoebus(cp, managers, ports, tmp_path_factory):
    opi = managers[2]
    display = os.environ.get("IOCMGR_PHOEBUS_DISPLAY", ":66")
    work = tmp_path_factory.mktemp("phoebus")
    resources = [resource(str(opi / f), **macros) for f, macros, _, _ in SCREENS.values()]
    x = Xvfb(display)
    ph = None
    try:
        t0 = time.monotonic()
        ph = Phoebus(cp, work, display, [ports[0], ports[1], ports[3]], int(os.environ["EPICS_CA_REPEATER_PORT"]),
                     resources, work / "phoebus.log")
        # Up and every display represented: bounded, like every wait here.
        for key in SCREENS:
            ph.wait_report(key, lambda w: len(w) > 0, 240, "the display represented")
        ph.started = time.monotonic() - t0
        yield ph
    finally:
        if ph:
            ph.close()
        x.close()


def write_numbers(**numbers):
    """Numbers the docs quote, kept with the screenshots."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "numbers.json")
    data = json.load(open(path)) if os.path.exists(path) else {}
    data.update(numbers)
    json.dump(data, open(path, "w"), indent=1, sort_keys=True)


def picture(phoebus, key, name):
    """A PNG of the display as the runtime draws it, kept in OUT (and docs/images)."""
    os.makedirs(OUT, exist_ok=True)
    png = os.path.join(OUT, name + ".png")
    phoebus.ok(f"snap {key} {png}")
    if os.environ.get("IOCMGR_PHOEBUS_DOCS") == "1":
        shutil.copy(png, TOP / "docs/images" / (name + ".png"))
    return png


@pytest.mark.parametrize("name", STATIC + ["iocmgr-overview.bob"])
def test_every_element_is_a_property(phoebus, managers, name):
    """Phoebus ignores an element that is no property of its widget without a word:
    the screens once asked for confirmation with <confirm_dialog>, which Phoebus 5
    calls show_confirm_dialog, so Restart acted on the first click."""
    unknown = phoebus.ok(f"lint {managers[2] / name}", timeout=60)["unknown"]
    assert not unknown, unknown


# What deserves an alarm on these screens (DESIGN.md "Alarms mean something"):
# STATUS by its value as docs/status.md decides it (Pending is past the 3 s grace
# here), ALIVE while the IOC of a running pod is silent (the crash-looping one),
# and the manager's count of faulty instances while there are some. Nothing
# else on a healthy manager: not SYNC, HEALTH or OVERRIDE without Argo CD, and with
# it only the states the records make MINOR (docs/pvs.md).
ARGO_MINOR = {":SYNC": "OutOfSync", ":HEALTH": "Degraded", ":OVERRIDE": "Overridden"}
STATUS_SEVERITY = {"Running": {"NONE"}, "Stopped": {"NONE"}, "Starting": {"MINOR"},
                   "Terminating": {"MINOR"}, "Pending": {"MAJOR"}, "CrashLoop": {"MAJOR"},
                   "Failed": {"MAJOR"}, "Absent": {"MAJOR"},
                   "Free": {"NONE"}}      # a spare slot's row, hidden while free (docs/screens.md)


def deserved(pv, values):
    """The severities a PV's value deserves; values: every PV's value on the screen."""
    name = pv["name"].split(".")[0]
    if name.endswith(":STATUS"):
        return STATUS_SEVERITY.get(pv["value"], {"INVALID"})
    if name.endswith(":ALIVE"):  # the IOC of a Ready pod does not answer (iocmgrAliveUpdate)
        ready = values.get(name[:-len("ALIVE")] + "READY") == "Yes"
        return {"MAJOR"} if pv["value"] == "Silent" and ready else {"NONE"}
    if name.endswith(":FAULT_COUNT"):
        return {"MINOR", "MAJOR"} if int(pv["value"]) > 0 else {"NONE"}
    for suffix, minor in ARGO_MINOR.items():
        if name.endswith(suffix):
            return {"MINOR"} if pv["value"] == minor else {"NONE"}
    return {"NONE"}


def alarm_problems(widgets):
    """Widgets that draw an alarm (border) their PV does not deserve, or do not draw
    one it does."""
    problems = []
    values = {pv["name"]: pv["value"] for w in widgets for pv in w["pvs"]}
    for w in widgets:
        if not (w["border_alarm"] and w.get("primary") and w["visible"]):
            continue
        pv = w["primary"]
        want = deserved(pv, values)
        if pv["severity"] not in want:
            problems.append(f"{w['path']}: {pv['name']} = {pv['value']!r} is {pv['severity']}"
                            f"/{pv['status']}, deserves {'/'.join(sorted(want))}")
    return problems


# What the Argo CD widgets show (alarm_problems() checks their severity): the demo
# beamline is not deployed by Argo CD, so "n/a" and empty; the Argo CD instance's
# child is OutOfSync and its root overrides its revision (argo_beamline).
NOT_ARGO = {":ARGO_APP": "", ":SYNC": "n/a", ":HEALTH": "n/a", ":REVISION": "",
            ":OVERRIDE": "From git", ":SYNC_MSG": ""}
ARGO = {f"{ARGO_INST.upper()}:ARGO_APP": f"{APPS}/{ARGO_INST}", f"{ARGO_INST.upper()}:SYNC": "OutOfSync",
        f"{ARGO_INST.upper()}:HEALTH": "Healthy", f"{ARGO_INST.upper()}:REVISION": "2024.4.1",
        f"{ARGO_INST.upper()}:OVERRIDE": "Overridden",
        f"{ARGO_INST.upper()}:SYNC_MSG": "Succeeded: successfully synced (all tasks run)"}


def argo_problems(widgets, shown, required):
    """Argo CD widgets (by the end of their PV name) that show other than shown, and
    the required ones (ends of PV names) no widget shows."""
    problems, seen = [], set()
    for w in widgets:
        pv = w.get("primary")
        if w["type"] != "textupdate" or not pv:
            continue
        name = pv["name"].split(".")[0]
        key = next((k for k in shown if name.endswith(k)), None)
        if key is None:
            continue
        seen.add(key)
        if (w["text"] or "") != shown[key]:
            problems.append(f"{w['path']}: {name} shows {w['text']!r}, not {shown[key]!r}")
    return problems + [f"no widget shows {k}" for k in sorted(set(required) - seen)]


def text_problem(w):
    """What is wrong with what a text widget shows for its PV: a placeholder, a value
    other than the PV's, or anything at all for an empty array; None if nothing."""
    if w["type"] != "textupdate" or not w.get("primary"):
        return None
    pv, text = w["primary"], w["text"] or ""
    value = pv["value"]
    if text.startswith("<") and text.endswith(">"):
        return f"{w['path']}: shows the placeholder {text!r}"
    if isinstance(value, str) and value.startswith("array[0]") and text:
        return f"{w['path']}: an empty array shows {text!r}"
    if isinstance(value, str) and not value.startswith("array[") and text != value:
        try:
            if float(text) == float(value):
                return None
        except ValueError:
            pass
        return f"{w['path']}: shows {text!r}, the PV holds {value!r}"
    return None


def text_problems(phoebus, key, widgets):
    """text_problem() of every widget; a widget's text follows a new value a moment
    later (UPTIME of a crash-looping pod resets), so a mismatch is looked at again."""
    problems = []
    for w in widgets:
        for _ in range(3):
            problem = text_problem(w)
            if not problem:
                break
            time.sleep(0.5)
            w = phoebus.ok(f"widget {key} {w['path']}")["widget"]
        else:
            problems.append(problem)
    return problems


def long_string_problems(phoebus, key, widgets, managers):
    """Long strings (.VAL$, a char array) shown as another CA client, caget -S,
    reads them: an empty one must show nothing, not bytes the server did not send.
    Values change (MESSAGE counts restarts), so a mismatch is read again twice."""
    problems = []
    for w in widgets:
        pv = w.get("primary")
        if w["type"] not in ("textupdate", "textentry") or not pv or not pv["name"].endswith(".VAL$"):
            continue
        ioc = {P_RO: managers[1], P_ARGO: managers[3]}.get(pv["name"].split(":")[0] + ":", managers[0])
        for _ in range(3):
            # caget -S escapes quotes, backslashes and unprintable bytes
            truth = ioc.ca.get(pv["name"], string=True).encode("latin-1").decode("unicode_escape")
            shown = phoebus.ok(f"widget {key} {w['path']}")["widget"]["text"] or ""
            if shown == truth:
                break
            time.sleep(0.5)
        else:
            problems.append(f"{w['path']}: shows {shown!r}, caget -S reads {truth!r}")
    return problems


@pytest.mark.parametrize("key", list(SCREENS))
def test_screen(phoebus, managers, argo_beamline, key):
    _, _, name, state = SCREENS[key]
    if key == ARGO_KEY and argo_beamline:
        pytest.skip(argo_beamline)
    widgets = phoebus.wait_report(key, all_connected, 60, "every PV connected")
    # Pending turns MAJOR after IOCMGR_PENDING_GRACE (3 s): wait for that, and show the
    # instance in the state this screen is about.
    wait_until(lambda: managers[0].get("STATUS.SEVR", PENDING) == "MAJOR", 30, step=0.2,
               what="Pending past its grace (MAJOR)")
    if state:
        wait_text(phoebus, key, "Status", lambda t: t == state, 45, state)
    widgets = phoebus.report(key)
    n = len({pv["name"] for w in widgets for pv in w["pvs"]})
    png = picture(phoebus, key, name)
    json.dump(widgets, open(os.path.join(OUT, name + ".json"), "w"), indent=1)
    write_numbers(**{f"pvs_connected.{name}": n, "phoebus_start_s": round(phoebus.started, 1)})
    print(f"{name}: {n} PVs connected, picture {png}")
    assert all_connected(widgets), summary(widgets)
    problems = alarm_problems(widgets)
    shown = ARGO if key == ARGO_KEY else NOT_ARGO
    # the instance screen has them all, the header (alone or in the overview) the root's
    required = (set(shown) if SCREENS[key][0] == "iocmgr-instance.bob" else
                {":ARGO_APP", ":SYNC", ":HEALTH"} if SCREENS[key][0] != "iocmgr-row.bob" else set())
    problems += argo_problems(widgets, shown, required)
    problems += text_problems(phoebus, key, widgets)
    problems += long_string_problems(phoebus, key, widgets, managers)
    assert not problems, "\n".join(problems)


def confirm(phoebus, question):
    """The confirmation dialog the button opened: check its question, press Yes."""
    deadline = time.monotonic() + 15
    while not (dialogs := phoebus.ok("dialogs")["dialogs"]):
        assert time.monotonic() < deadline, "no confirmation dialog within 15 s of the click"
        time.sleep(0.2)
    assert len(dialogs) == 1 and dialogs[0]["header"] == question, dialogs
    assert dialogs[0]["buttons"] == ["Yes", "No"], dialogs
    phoebus.ok("press Yes")
    while phoebus.ok("dialogs")["dialogs"]:
        assert time.monotonic() < deadline + 5, "the dialog did not close after Yes"
        time.sleep(0.2)


def wait_text(phoebus, key, path, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        w = phoebus.ok(f"widget {key} {path}")["widget"]
        if pred(w["text"] or ""):
            return w
        assert time.monotonic() < deadline, f"{key} {path}: {what} not within {timeout} s; shows {w['text']!r}"
        time.sleep(0.3)


def pod_uid(cluster, name):
    return cluster.kubectl("-n", NAMESPACE, "get", "pod", f"{name}-0", "-o", "jsonpath={.metadata.uid}",
                           check=False)


def in_order(seen, wanted):
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def test_restart_button_on_overview(phoebus, cluster):
    key, row = "iocmgr-overview.bob", RUNNING
    wait_text(phoebus, key, f"{row}/Status", lambda t: t == "Running", 60, "Running")
    uid0 = pod_uid(cluster, row)
    assert uid0
    phoebus.ok(f"record {key} {row}/Status")
    t0 = time.monotonic()
    phoebus.ok(f"click {key} {row}/Restart")
    confirm(phoebus, f"Restart {row}? (deletes its pod; Kubernetes starts a new one)")
    deadline = time.monotonic() + 60
    while (uid := pod_uid(cluster, row)) in ("", uid0):
        assert time.monotonic() < deadline, "the pod kept its uid 60 s after Restart was confirmed"
        time.sleep(0.1)
    t_uid = time.monotonic() - t0
    wait_text(phoebus, key, f"{row}/Status", lambda t: t == "Running", 90, "Running again")
    t_running = time.monotonic() - t0
    seen = phoebus.ok(f"recorded {key} {row}/Status")["values"]
    assert in_order(seen, ["Terminating", "Starting", "Running"]), seen
    write_numbers(restart_click_to_new_uid_s=round(t_uid, 2), restart_click_to_running_s=round(t_running, 2),
                  restart_states_seen=seen)
    print(f"Restart: click -> new pod uid {t_uid:.2f} s, -> Running {t_running:.2f} s; row showed {seen}")


def test_fetch_log_fills_console_log(phoebus):
    key = f"iocmgr-instance.bob|I={RUNNING.upper()}|P={P}"
    # the IOC's own console, as its container wrote it (generic test IOC: start.sh, softIoc).
    # A fetch is a snapshot: the pod restarted by the tests above may still be booting,
    # so click again, as an operator would, until the boot is complete in it.
    deadline = time.monotonic() + 30
    while True:
        phoebus.ok(f"click {key} Fetch log")
        w = wait_text(phoebus, key, "Log", lambda t: f"Starting IOC {RUNNING} (prefix {RUNNING.upper()}" in t,
                      30, "the console log")
        if "iocRun: All initialization complete" in w["text"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "iocRun: All initialization complete" in w["text"], w["text"][-300:]
    assert "iocInit" in w["text"] and w["primary"]["severity"] == "NONE", w
    # the booted IOC answers its UPTIME: ALIVE's LED shows it (the picture shows it lit)
    deadline = time.monotonic() + 30
    while (alive := phoebus.ok(f"widget {key} Alive")["widget"]["primary"])["value"] != "Alive":
        assert time.monotonic() < deadline, f"ALIVE not Alive 30 s after the boot: {alive}"
        time.sleep(0.3)
    picture(phoebus, key, "iocmgr-instance-log")


def test_fetch_previous_shows_the_crashed_boot(phoebus):
    """The crash-looping IOC's previous container: its console up to the exit, through
    the kubelet (kept while the container is dead; just after a crash, until the kubelet
    has moved on to waiting, the one before it is already gone: fetch again)."""
    key = f"iocmgr-instance.bob|I={CRASHLOOP.upper()}|P={P}"
    ended = "start.sh: the IOC exited with status 1"
    deadline = time.monotonic() + 60
    text = ""
    while ended not in text:
        assert time.monotonic() < deadline, f"no crashed boot in Previous log within 60 s: {text[-300:]!r}"
        phoebus.ok(f"click {key} Fetch previous log")
        shown_by = time.monotonic() + 5       # the fetch's answer reaches the widget
        while ended not in text and time.monotonic() < shown_by:
            time.sleep(0.3)
            text = phoebus.ok(f"widget {key} Previous log")["widget"]["text"] or ""
    assert f"Starting IOC {CRASHLOOP} (prefix {CRASHLOOP.upper()}, behaviour exit:0)" in text, text[-300:]
    assert "iocRun: All initialization complete" in text and "the IOC exited with status 1" in text, text[-300:]
    picture(phoebus, key, "iocmgr-instance-previous-log")


def test_stop_and_start_on_detail_screen(phoebus, cluster, managers):
    key = f"iocmgr-instance.bob|I={RUNNING.upper()}|P={P}"
    wait_text(phoebus, key, "Status", lambda t: t == "Running", 60, "Running")
    try:
        phoebus.ok(f"click {key} Stop")
        confirm(phoebus, f"Stop {RUNNING}? (scales its StatefulSet to 0; the IOC goes off the network)")
        wait_text(phoebus, key, "Status", lambda t: t == "Stopped", 60, "Stopped")
        assert cluster.jsonpath("statefulset", RUNNING, "{.spec.replicas}") == "0"
        wait_text(phoebus, key, "Command message", lambda t: "stop" in t.lower(), 10, "the command's result")
        # and back, as an operator would
        phoebus.ok(f"click {key} Start")
        confirm(phoebus, f"Start {RUNNING}? (scales its StatefulSet to 1)")
        wait_text(phoebus, key, "Status", lambda t: t == "Running", 90, "Running again")
    finally:
        # the beamline is left as it was found, whatever failed above
        if cluster.jsonpath("statefulset", RUNNING, "{.spec.replicas}") == "0":
            managers[0].ca.put(managers[0].pv("START", RUNNING), 1)


def test_readonly_manager_refuses_with_message(phoebus, cluster):
    uid0 = pod_uid(cluster, RUNNING)
    pods = ApiWatch(cluster.dir, int(cluster.env["IOCMGR_API_URL"].rsplit(":", 1)[1]),
                    f"/api/v1/namespaces/{NAMESPACE}/pods?fieldSelector=metadata.name%3D{RUNNING}-0")
    phoebus.ok(f"click {RO_KEY} Restart")
    confirm(phoebus, f"Restart {RUNNING}? (deletes its pod; Kubernetes starts a new one)")
    w = wait_text(phoebus, RO_KEY, "Command message", lambda t: "refused" in t, 15, "the refusal")
    assert w["text"] == "RESTART refused: the manager is read-only", w
    status = phoebus.ok(f"widget {RO_KEY} Command status")["widget"]
    assert status["text"] == "Error", status
    picture(phoebus, RO_KEY, "iocmgr-instance-refused")
    # never deleted: read once the pod's raw watch has settled (no fixed sleep)
    try:
        settled(lambda: len(pods.events), 5, 60, what=f"events of {RUNNING}-0")
    finally:
        pods.close()
    assert pods.events and not any(e[1] == "DELETED" or e[5]["metadata"].get("deletionTimestamp")
                                   for e in pods.events), [(e[1], e[3]) for e in pods.events]
    assert pod_uid(cluster, RUNNING) == uid0, "a read-only manager's Restart deleted the pod"
