"""pvAccess (issue #17, docs/pva.md) against the local control plane, with real PVA
clients: Base's pvget/pvput/pvmonitor (built with the pvAccess modules) and p4p from
PyPI (tests/pva/venv.sh), an independent client with its own libraries. Every record
and alias over PVA with CA's values and alarms, $(P)TABLE as an NTTable and as CA
columns, commands over PVA under the same access security as CA with the writer in
the audit log, the ibek `ioc` binary serving PVA too, and the CA-only build against a
Base without the pvAccess modules.

PVA ports: each IOC gets a TCP and a UDP port of its own from IOCMGR_TEST_PVA_PORTS
(default 25064-25089, iocmgr's PVA test block), never PVA's 5075/5076; CA ports are
free ones as in every suite."""
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import NAMESPACE
from iocmgrtest import (ARCH, BASE_BIN, EPICS_BASE, TOP, ca_env, free_port, pva_env, run_ioc,
                        wait_until, write_unreachable_kubeconfig)

RUNNING = "bl46p-ea-ioc-01"
STOPPED = "bl46p-ea-ioc-02"
CRASHING = "bl46p-ea-ioc-04"
DEMO = ["bl46p-di-dcam-01", "bl46p-ea-ioc-01", "bl46p-ea-ioc-02", "bl46p-ea-ioc-03",
        "bl46p-ea-ioc-04", "bl46p-ea-ioc-05", "bl46p-mo-ioc-01", "bl46p-mo-ioc-02", "bl46p-va-ioc-01"]
COLUMNS = ["name", "status", "severity", "ready", "enabled", "restarts", "version", "node", "message"]
CA_COLUMNS = ["NAME", "STATUS", "SEVERITY", "READY", "ENABLED", "RESTARTS", "VERSION", "NODE"]
SEVERITIES = {"NO_ALARM": 0, "MINOR": 1, "MAJOR": 2, "INVALID": 3}

_lo, _hi = (int(x) for x in os.environ.get("IOCMGR_TEST_PVA_PORTS", "25064-25089").split("-"))
_taken = set()

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setpriv/unshare need root")


def pva_ports():
    """A free TCP (server) and UDP (search) port pair of the suite's block."""
    server = free_port([p for p in range(_lo, _hi + 1) if p not in _taken])
    _taken.add(server)
    bcast = free_port([p for p in range(_lo, _hi + 1) if p not in _taken])
    _taken.add(bcast)
    return server, bcast


class Pva:
    """The real PVA clients against one IOC: Base's pv* tools and p4p."""

    def __init__(self, ca_port, server, bcast):
        self.server, self.bcast = server, bcast
        self.env = {**ca_env(ca_port), **pva_env(server, bcast)}

    def tool(self, name, *args, timeout=30, env=None):
        return subprocess.run([str(BASE_BIN / name), *args], env=env or self.env,
                              capture_output=True, text=True, timeout=timeout)

    def pvget(self, *args):
        r = self.tool("pvget", "-w", "5", *args)
        if r.returncode != 0:
            raise AssertionError(f"pvget {args}: {r.stdout}{r.stderr}")
        return r.stdout

    def p4p(self, *args, timeout=60):
        r = subprocess.run([P4P_PYTHON(), str(TOP / "tests/pva/p4pclient.py"), *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")], r.stderr

    def p4p_get(self, *pvs):
        rc, out, err = self.p4p("get", *pvs)
        assert rc == 0 and len(out) == len(pvs), err
        return out[0] if len(pvs) == 1 else out

    @contextmanager
    def p4p_monitor(self, pv, seconds):
        proc = subprocess.Popen([P4P_PYTHON(), str(TOP / "tests/pva/p4pclient.py"), "monitor", pv, str(seconds)],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        updates = []

        def read():
            for line in proc.stdout:
                if line.startswith("{"):
                    updates.append(json.loads(line))
        import threading
        t = threading.Thread(target=read, daemon=True)
        t.start()
        try:
            yield updates
        finally:
            proc.terminate()
            proc.wait(10)
            t.join(5)


_p4p = []


def P4P_PYTHON():
    if not _p4p:
        r = subprocess.run([str(TOP / "tests/pva/venv.sh")], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.fail(f"tests/pva/venv.sh (p4p from PyPI) failed: {r.stderr}")
        _p4p.append(r.stdout.strip().splitlines()[-1])
    return _p4p[0]


@contextmanager
def pva_ioc(tmp_path, env, prefix, binary=None, startup="st.cmd", **kw):
    server, bcast = pva_ports()
    port = free_port()
    extra = {**env, **pva_env(server, bcast)}
    args = {"binary": binary} if binary else {}
    with run_ioc(tmp_path, extra, prefix=prefix, port=port, startup=startup, **args, **kw) as ioc:
        ioc.pva = Pva(port, server, bcast)
        yield ioc


def ioc_env(cluster, **extra):
    return {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE,
            "IOCMGR_PENDING_GRACE": "3", **extra}


@pytest.fixture(scope="module")
def ioc(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pva")
    # an alias of a record, loaded like any other database before iocInit
    alias_db = tmp / "alias.db"
    alias_db.write_text(f'alias("TST-PVA-01:{RUNNING.upper()}:STATUS", "TST-PVA-01:ALIAS:STATUS")\n')
    startup = tmp / "st.cmd"
    st = (TOP / "iocBoot/iociocmgr/st.cmd").read_text()
    startup.write_text(st.replace("\niocInit", f'\ndbLoadRecords("{alias_db}")\niocInit'))
    with pva_ioc(tmp, ioc_env(cluster), "TST-PVA-01:", startup=startup) as booted:
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        wait_until(lambda: booted.ca.get(booted.pv("TABLE_ROWS")) == str(len(DEMO)), 30, what="TABLE_ROWS")
        yield booted


def caget_sevr(ioc, pv):
    """(value, severity) as caget -a reads them."""
    r = ioc.ca.run("caget", "-w", "3", "-F", "|", "-a", pv)
    parts = [p.strip() for p in r.stdout.strip().split("|")]
    # name|date time|value|status|severity (status/severity empty when NO_ALARM)
    return parts[2], (parts[4] if len(parts) > 4 and parts[4] else "NO_ALARM")


# ---------------------------------------------------------------- records and aliases

def pvget_value_sevr(ioc, pv):
    """(value, severity) as Base's pvget prints an NTEnum: NAME TIME [SEVR STAT MSG] (i) VALUE"""
    line = ioc.pva.pvget(pv).strip()
    m = re.match(rf"^{re.escape(pv)}\s+\S+ \S+\s+(?:(\w+) \w+ \w+ )?\(\d+\) (.*)$", line)
    assert m, line
    return m.group(2), m.group(1) or "NO_ALARM"


def test_pvget_serves_every_status_as_ca_does(ioc):
    """Base's pvget: each demo instance's STATUS over PVA has CA's value and severity
    (read until both protocols read the same moment: the crash-looping one changes)."""
    print(ioc.pva.pvget(*[ioc.pv("STATUS", n) for n in DEMO]))
    for n in DEMO:
        pv = ioc.pv("STATUS", n)
        seen = []
        wait_until(lambda: seen.append((pvget_value_sevr(ioc, pv), caget_sevr(ioc, pv))) or seen[-1][0] == seen[-1][1],
                   20, step=0.3, what=f"{pv}: PVA and CA agreeing; seen {seen[-3:]}")


def test_alias_and_fields_over_pva(ioc):
    """An alias answers over PVA like its record; fields (.DESC) too; a long string's
    VAL$ is its characters, as over CA."""
    rec, alias = ioc.pva.p4p_get(ioc.pv("STATUS", RUNNING), "TST-PVA-01:ALIAS:STATUS")
    assert alias["choice"] == rec["choice"] == "Running" and alias["severity"] == rec["severity"] == 0
    assert abs(alias["time"] - rec["time"]) < 1e-6
    desc = ioc.pva.p4p_get(ioc.pv("STATUS", RUNNING) + ".DESC")
    assert desc["value"] == ioc.ca.get(ioc.pv("STATUS", RUNNING) + ".DESC")
    msg = ioc.pva.p4p_get(ioc.pv("MESSAGE", STOPPED) + ".VAL$")
    text = bytes(msg["value"]).split(b"\0")[0].decode()
    assert text == ioc.get("MESSAGE", STOPPED, string=True) and text.startswith("stopped"), text


# ---------------------------------------------------------------- TABLE

def check_table(ioc, table):
    assert table["id"] == "epics:nt/NTTable:1.0"
    assert table["labels"] == ["Name", "Status", "Severity", "Ready", "Enabled", "Restarts",
                               "Version", "Node", "Message"]
    cols = table["columns"]
    assert list(cols) == COLUMNS
    assert cols["name"] == DEMO
    for i, n in enumerate(DEMO):
        value, sevr = caget_sevr(ioc, ioc.pv("STATUS", n))
        assert cols["status"][i] == value, (n, cols["status"][i], value)
        assert cols["severity"][i] == sevr, (n, cols["severity"][i], sevr)
        for col in ("READY", "ENABLED"):
            numeric = ioc.ca.run("caget", "-n", "-t", "-w", "3", ioc.pv(col, n)).stdout.strip()
            assert cols[col.lower()][i] == int(numeric), (n, col)
        assert cols["version"][i] == ioc.get("VERSION", n) and cols["node"][i] == ioc.get("NODE", n), n
        # caget -S escapes quotes (the scheduler's message has ', the kubelet's ")
        assert cols["message"][i] == ioc.get("MESSAGE", n, string=True).encode("latin-1").decode("unicode_escape"), n
    assert table["severity"] == 0


def consistent_table(ioc):
    """A TABLE that agrees with every instance's records, read until one does (the
    crash-looping instance changes between reads)."""
    last = []

    def attempt():
        table = ioc.pva.p4p_get(ioc.pv("TABLE"))
        try:
            check_table(ioc, table)
        except AssertionError as e:
            last[:] = [e]
            return None
        return table
    got = []
    wait_until(lambda: got.append(attempt()) or got[-1], 30, step=0.5, what=f"a consistent TABLE: {last}")
    return got[-1]


def test_table_is_an_nttable_of_every_instance(ioc):
    """p4p reads TABLE: the NTTable of every instance, rows agreeing with each instance's
    records; Base's pvget shows the same table."""
    table = consistent_table(ioc)
    i = DEMO.index(CRASHING)
    assert table["columns"]["severity"][i] in ("MINOR", "MAJOR")    # Starting, CrashLoop
    pending = DEMO.index("bl46p-ea-ioc-03")
    assert len(table["columns"]["message"][pending]) > 100               # whole, beyond 40 characters
    out = ioc.pva.pvget(ioc.pv("TABLE"))
    print(out)
    for n in DEMO:
        assert re.search(rf"^\s*{n}\s", out, re.M), (n, out)


def test_table_columns_over_ca(ioc):
    """The columns as CA arrays: one element per instance (NORD), the same snapshot
    (one time stamp), the same values as the NTTable (read until a snapshot stays put
    across both reads: the crash-looping instance changes)."""
    pvs = [ioc.pv(f"TABLE_{col}") for col in CA_COLUMNS]
    seen = []

    def attempt():
        table = ioc.pva.p4p_get(ioc.pv("TABLE"))
        # -c: a get with callback asks for the element count the record holds (NORD);
        # without it caget reads NELM, which has room for the spare slots' rows too
        r = ioc.ca.run("caget", "-c", "-w", "3", "-a", "-F", "|", *pvs)
        assert r.returncode == 0, r.stderr
        rows = [line.split("|") for line in r.stdout.strip().splitlines()]
        stamps = {row[1] for row in rows}
        # name|time|NORD|values...|status|severity
        cols = {col: [v.strip() for v in row[3:3 + int(row[2])]] for col, row in zip(CA_COLUMNS, rows)}
        seen[:] = [stamps, {c: v[:3] for c, v in cols.items()}]
        return (len(stamps) == 1 and all(int(row[2]) == len(DEMO) for row in rows)
                and all(cols[c] == [str(v)[:39] for v in table["columns"][c.lower()]] for c in CA_COLUMNS))
    wait_until(attempt, 30, step=0.5, what=f"CA columns of one snapshot matching TABLE: {seen}")
    assert ioc.ca.get(ioc.pv("TABLE_ROWS")) == str(len(DEMO))


def test_monitors_and_clients_that_go_away(ioc):
    """Base's pvmonitor and p4p subscribe to STATUS and TABLE and go away without closing
    (killed, exiting): the IOC stays up and serves the next client. Before the audit
    provider kept QSRV's channel until its own end, a client leaving with a monitor
    aborted the IOC (std::terminate in QSRV's ~PDBSingleMonitor)."""
    pvs = [ioc.pv("STATUS", RUNNING), ioc.pv("CMD_MSG", STOPPED), ioc.pv("TABLE")]
    mon = subprocess.Popen([str(BASE_BIN / "pvmonitor"), *pvs], env=ioc.pva.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        wait_until(lambda: lines.append(mon.stdout.readline()) or
                   all(any(line.startswith(pv + " ") for line in lines) for pv in pvs), 20,
                   what=f"pvmonitor's first update of each of {pvs}: {lines}")
    finally:
        mon.kill()
        mon.wait(10)
    print("".join(lines[:3]))
    rc, out, err = ioc.pva.p4p("monitor", ioc.pv("STATUS", CRASHING), "2")
    assert rc == 0 and out, err
    time.sleep(1)
    assert ioc.proc.poll() is None, ioc.logtext()[-2000:]
    assert ioc.pva.p4p_get(ioc.pv("TABLE"))["columns"]["name"] == DEMO


# ---------------------------------------------------------------- commands and access security

def pva_tools_for_any_user():
    """pvput and the EPICS libraries it loads, copied where another user can run them
    (the Base cache under /root is not readable to nobody)."""
    d = Path(tempfile.mkdtemp(prefix="iocmgr-pva-tools-"))
    d.chmod(0o755)
    shutil.copy2(BASE_BIN / "pvput", d / "pvput")
    for lib in (EPICS_BASE / "lib" / ARCH).glob("lib*.so*"):
        if lib.name.startswith(("libca.", "libCom.", "libpvData.", "libpvAccess.", "libpvAccessCA.")):
            shutil.copy2(lib, d / lib.name, follow_symlinks=True)
    for f in d.iterdir():
        f.chmod(0o755)
    return d


@pytest.fixture(scope="module")
def pva_tools():
    d = pva_tools_for_any_user()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pvput_as(ioc, tools, pv, value, user=None, hostname=None):
    cmd = [str(tools / "pvput"), "-w", "10", pv, str(value)]
    if user:
        gid = pwd.getpwnam(user).pw_gid
        cmd = ["setpriv", "--reuid", user, "--regid", str(gid), "--clear-groups", *cmd]
    if hostname:
        cmd = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *cmd]
    r = subprocess.run(cmd, env={**ioc.pva.env, "LD_LIBRARY_PATH": str(tools), "HOME": "/tmp"},
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert "setpriv:" not in out and "unshare:" not in out and "error while loading" not in out, out
    return r.returncode, out


def pod_uid(cluster, name):
    return cluster.kubectl("-n", NAMESPACE, "get", "pod", f"{name}-0", "-o", "jsonpath={.metadata.uid}",
                           check=False)


@needs_root
def test_restart_over_pvput_is_allowed_and_audited(ioc, cluster, pva_tools):
    """pvput RESTART 1 as root on this host (in the groups): the pod is deleted and
    recreated, CMD_MSG says so, and the log names the PVA writer; TABLE follows."""
    before = pod_uid(cluster, RUNNING)
    with ioc.pva.p4p_monitor(ioc.pv("TABLE"), 60) as updates:
        wait_until(lambda: updates, 20, what="the first TABLE update")
        rc, out = pvput_as(ioc, pva_tools, ioc.pv("RESTART", RUNNING), 1)
        print(out)
        assert rc == 0 and "not permitted" not in out, out
        wait_until(lambda: pod_uid(cluster, RUNNING) not in ("", before), 30, what="a new pod")
        assert "restart requested" in ioc.get("CMD_MSG", RUNNING, string=True)
        wait_until(lambda: f"RESTART {RUNNING} requested by root@127.0.0.1" in ioc.logtext(), 10,
                   what="the PVA writer in the log")
        i = DEMO.index(RUNNING)
        # the row left Running and came back, seen by the TABLE monitor
        wait_until(lambda: any(u.get("columns", {}).get("status", [""] * len(DEMO))[i] != "Running" for u in updates)
                   and updates[-1]["columns"]["status"][i] == "Running", 60, what="the row going round")
    print(f"TABLE updates during the restart: {len(updates)}")


@needs_root
def test_control_writes_over_pva_from_another_user_are_refused(ioc, cluster, pva_tools):
    """nobody is outside IOCMGR_USERS: pvput to every control PV is refused by QSRV,
    nothing reaches the cluster or the log; reads stay open."""
    uid = pod_uid(cluster, RUNNING)
    for pv, inst in (("START", STOPPED), ("STOP", RUNNING), ("RESTART", RUNNING), ("REBOOT", None)):
        rc, out = pvput_as(ioc, pva_tools, ioc.pv(pv, inst), 1, user="nobody")
        assert rc != 0 and "put not permitted" in out.lower(), (pv, out)
    print(f"nobody: {out.strip().splitlines()[-1]}")
    rc, out = pvput_as(ioc, pva_tools, ioc.pv("IMAGE_SP", STOPPED), "ghcr.io/evil/image:1", user="nobody")
    assert rc != 0 and "put not permitted" in out.lower(), out
    assert ioc.proc.poll() is None
    assert pod_uid(cluster, RUNNING) == uid
    assert cluster.jsonpath("statefulset", STOPPED, "{.spec.replicas}") == "0"
    assert "nobody@" not in ioc.logtext()


def test_p4p_put_is_audited_and_refusals_are_words(ioc, cluster):
    """p4p (not Base's client) writes RESTART: the same audit line; a write to a STOPPED
    instance's RESTART is refused by iocmgr with its reason in CMD_MSG."""
    rc, out, err = ioc.pva.p4p("put", ioc.pv("RESTART", STOPPED), "1")
    assert rc == 0, (out, err)
    wait_until(lambda: f"RESTART {STOPPED} by root@127.0.0.1" in ioc.logtext(), 10, what="the audit line")
    msg = ioc.get("CMD_MSG", STOPPED, string=True)
    print(f"CMD_MSG after a p4p RESTART of a stopped instance: {msg}")
    assert "RESTART" in msg or "restart" in msg


def test_pva_host_check_uses_the_address_not_a_claimed_name(cluster, tmp_path, pva_tools):
    """IOCMGR_HOSTS names another machine only: root on this one is refused over PVA as
    over CA, and claiming that machine's name (a UTS namespace) does not help over PVA,
    which identifies the host by its address."""
    env = ioc_env(cluster, IOCMGR_USERS="root", IOCMGR_HOSTS="opi-elsewhere.example")
    with pva_ioc(tmp_path, env, "TST-PVA-02:") as other:
        other.ca.wait_value(other.pv("CONNECTED"), "Connected", timeout=30)
        rc, out = pvput_as(other, pva_tools, other.pv("START", STOPPED), 1)
        assert rc != 0 and "put not permitted" in out.lower(), out
        if os.geteuid() == 0:
            rc, out = pvput_as(other, pva_tools, other.pv("START", STOPPED), 1, hostname="opi-elsewhere.example")
            assert rc != 0 and "put not permitted" in out.lower(), out
        assert cluster.jsonpath("statefulset", STOPPED, "{.spec.replicas}") == "0"
        assert "cannot resolve host 'opi-elsewhere.example'" in other.logtext()


# ---------------------------------------------------------------- the ibek binary, the CA-only build

def test_ioc_binary_serves_pva(cluster, tmp_path):
    """`ioc` (the name ibek's st.cmd runs) has QSRV and TABLE too."""
    st = (TOP / "iocBoot/iociocmgr/st.cmd").read_text()
    startup = tmp_path / "st.cmd"
    startup.write_text(st.replace('dbd/iocmgr.dbd', 'dbd/ioc.dbd')
                         .replace('iocmgr_registerRecordDeviceDriver', 'ioc_registerRecordDeviceDriver'))
    with pva_ioc(tmp_path, ioc_env(cluster), "TST-PVA-03:", binary=TOP / "bin" / ARCH / "ioc",
                 startup=startup) as booted:
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        wait_until(lambda: booted.pva.p4p_get(booted.pv("TABLE"))["columns"]["name"] == DEMO, 30,
                   what="TABLE from the ioc binary")
        assert "pvAccess: every record and alias through QSRV" in booted.logtext()


def test_ca_only_build_builds_and_boots(tmp_path):
    """Against a copy of the Base without its pvAccess modules (tests/pva/ca-only.sh) the
    IOC builds without QSRV, boots, says once that it serves CA only, serves its records
    and TABLE's columns over CA, and nothing over PVA."""
    r = subprocess.run([str(TOP / "tests/pva/ca-only.sh")], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr
    tree = Path(r.stdout.strip().splitlines()[-1])
    binary = tree / "bin" / ARCH / "iocmgr"
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    assert "libqsrv" not in ldd and "libpvAccess" not in ldd and "iocmgrPva" not in ldd, ldd
    kc = write_unreachable_kubeconfig(tmp_path / "kc.yaml")
    server, bcast = pva_ports()
    port = free_port()
    env = {**ca_env(port), **pva_env(server, bcast), "IOCMGR_KUBECONFIG": str(kc), "IOCMGR_PREFIX": "TST-PVA-04:",
           "IOCMGR_EXPECTED": ""}
    log = tmp_path / "ioc.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(binary), "st.cmd"], cwd=tree / "iocBoot/iociocmgr", env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        pva = Pva(port, server, bcast)
        wait_until(lambda: pva.tool("caget", "-w", "1", "TST-PVA-04:TABLE_ROWS").returncode == 0, 40,
                   what="the CA-only IOC")
        text = log.read_text()
        assert text.count("pvAccess: not built in, serving Channel Access only") == 1, text
        assert "through QSRV" not in text
        r = pva.tool("pvget", "-w", "3", "TST-PVA-04:TABLE_ROWS")
        assert r.returncode != 0, r.stdout
        ss = subprocess.run(["ss", "-lntup"], capture_output=True, text=True).stdout
        assert f":{server} " not in ss and f":{bcast} " not in ss, ss
    finally:
        proc.terminate()
        proc.wait(30)
