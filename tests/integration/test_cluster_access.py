"""CA access security (iocBoot/iociocmgr/iocmgr.acf), audited with the real cainfo
and caput: every derived record (state, counts, messages, ALIVE, HEARTBEAT) is
read-only for everybody, its fields too (.DISA, .SCAN, .PROC...); the command and
setpoint records are writable (VAL only) by the users and hosts of IOCMGR_USERS /
IOCMGR_HOSTS; LOG_FETCH and LOG_PREV_FETCH (VAL only) by anybody (docs/pvs.md says
why). A client outside the groups is `nobody` (setpriv); one inside is root on this
host."""
import pwd
import re
import socket
import subprocess

import pytest

from beds import ca_tools, needs_root  # noqa: F401 (a fixture)
from conftest import NAMESPACE
from iocmgrtest import run_ioc

RUNNING = "bl46p-ea-ioc-01"
STOPPED = "bl46p-ea-ioc-02"
# writable VAL by the groups; everything else of theirs read-only
CONTROL = {"START", "STOP", "RESTART", "IMAGE_SP", "REVISION_SP", "REBOOT"}
# writable VAL by anybody: reading a log changes nothing in the cluster
FETCH = {"LOG_FETCH", "LOG_PREV_FETCH"}
# the fields of dbCommon a client could use to silence or fake a record, and VAL
FIELDS = ("", ".VAL", ".DISA", ".DISV", ".SDIS", ".SCAN", ".PINI", ".PHAS", ".PROC", ".DESC",
          ".TPRO", ".FLNK", ".PRIO", ".DTYP", ".UDFS", ".ACKT")


@pytest.fixture(scope="module")
def acs_ioc(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("access")
    env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NAMESPACE, "IOCMGR_USERS": "root",
           "IOCMGR_HOSTS": f"{socket.gethostname()},localhost"}
    with run_ioc(tmp, env, prefix="TST-ACC-01:", post_iocsh=[f"dbl > {tmp}/records.txt"]) as ioc:
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        ioc.records = sorted((tmp / "records.txt").read_text().split())
        yield ioc


def run_as(ioc, tools, tool, *args, user=None):
    d, extra = tools
    cmd = [str(d / tool), *args]
    if user:
        gid = pwd.getpwnam(user).pw_gid
        cmd = ["setpriv", "--reuid", user, "--regid", str(gid), "--clear-groups", *cmd]
    r = subprocess.run(cmd, env={**ioc.ca.env, **extra}, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert "setpriv:" not in out and "error while loading shared libraries" not in out, out
    return r.returncode, out


def access(ioc, tools, pvs, user=None):
    """cainfo of every PV at once: {pv: "read, write" | "read, no write" | ...}."""
    _, out = run_as(ioc, tools, "cainfo", "-w", "5", *pvs, user=user)
    result, current = {}, None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = line.strip()
        m = re.match(r"\s+Access:\s+(.*)", line)
        if m and current:
            result[current] = m.group(1).strip()
    missing = [pv for pv in pvs if pv not in result]
    assert not missing, f"cainfo gave no access rights for {missing[:5]}: {out[-2000:]}"
    return result


def denied(out):
    """caput reached the IOC and CA refused the write."""
    return "write access denied" in out.lower() or "no write access" in out.lower()


def suffix(ioc, record):
    return record.rsplit(":", 1)[-1]


def audit(ioc, tools, user):
    pvs = [rec + f for rec in ioc.records for f in FIELDS]
    rights = access(ioc, tools, pvs, user=user)
    writable = sorted(pv for pv, a in rights.items() if a != "read, no write")
    return pvs, rights, writable


@needs_root
def test_audit_from_outside_the_groups(acs_ioc, ca_tools):
    ioc = acs_ioc
    pvs, rights, writable = audit(ioc, ca_tools, "nobody")
    names = ioc.records
    name_writable = [rec for rec in names if rights[rec] != "read, no write"]
    print(f"AUDIT outside the groups (nobody): {len(names)} record names, "
          f"{len(names) - len(name_writable)} read-only; {len(pvs)} names and fields, "
          f"{len(pvs) - len(writable)} read-only; writable: {writable}")
    assert all(rights[pv].startswith("read") for pv in pvs)
    # only LOG_FETCH / LOG_PREV_FETCH take a write from anybody, and only their VAL
    assert all(suffix(ioc, pv.split(".")[0]) in FETCH and pv.endswith(("FETCH", ".VAL")) for pv in writable), writable


@needs_root
def test_audit_from_inside_the_groups(acs_ioc, ca_tools):
    ioc = acs_ioc
    pvs, rights, writable = audit(ioc, ca_tools, None)
    expected = sorted(rec + f for rec in ioc.records for f in ("", ".VAL")
                      if suffix(ioc, rec) in CONTROL | FETCH)
    print(f"AUDIT inside the groups (root@{socket.gethostname()}): {len(pvs)} names and fields, "
          f"{len(pvs) - len(writable)} read-only, writable: {len(writable)}")
    assert writable == expected, (sorted(set(writable) - set(expected)), sorted(set(expected) - set(writable)))


@needs_root
@pytest.mark.parametrize("user", [None, "nobody"])
def test_derived_state_cannot_be_written(acs_ioc, ca_tools, cluster, user):
    """What the issue tried: a Running IOC made to read Stopped, CONNECTED 0, a record
    silenced for good. Refused for root (inside the groups) and nobody alike."""
    ioc = acs_ioc
    ioc.ca.wait_value(ioc.pv("STATUS", RUNNING), "Running", timeout=60)
    for pv, value in ((ioc.pv("STATUS", RUNNING), 3), (ioc.pv("CONNECTED"), 0),
                      (ioc.pv("STATUS", RUNNING) + ".DISA", 1), (ioc.pv("STATUS", RUNNING) + ".SCAN", "Passive"),
                      (ioc.pv("FAULT_COUNT"), 0), (ioc.pv("ALIVE", RUNNING) + ".PROC", 1),
                      (ioc.pv("HEARTBEAT") + ".DISA", 1)):
        rc, out = run_as(ioc, ca_tools, "caput", "-w", "5", pv, str(value), user=user)
        assert denied(out), (pv, out)
    assert ioc.get("STATUS", RUNNING) == "Running"
    assert ioc.get("STATUS.DISA", RUNNING) == "0"
    assert ioc.get("STATUS.SCAN", RUNNING) == "I/O Intr"
    assert ioc.get("CONNECTED") == "Connected"


@needs_root
def test_commands_only_from_inside_the_groups(acs_ioc, ca_tools, cluster):
    ioc = acs_ioc
    rc, out = run_as(ioc, ca_tools, "caput", "-c", "-w", "10", ioc.pv("STOP", STOPPED), "1")
    assert rc == 0 and "denied" not in out.lower(), out            # root: allowed (a no-op here)
    assert denied(run_as(ioc, ca_tools, "caput", "-w", "5", ioc.pv("START", STOPPED), "1", user="nobody")[1])
    for field in (".DISA", ".SCAN", ".PROC"):                     # a command record cannot be silenced either
        _, out = run_as(ioc, ca_tools, "caput", "-w", "5", ioc.pv("START", STOPPED) + field, "1")
        assert denied(out), (field, out)
    assert cluster.jsonpath("statefulset", STOPPED, "{.spec.replicas}") == "0"
    # anybody may ask for a log
    rc, out = run_as(ioc, ca_tools, "caput", "-c", "-w", "10", ioc.pv("LOG_FETCH", RUNNING), "1", user="nobody")
    assert rc == 0 and "denied" not in out.lower(), out
