"""Commands around PACT, over real CA against a slow API (slowproxy's delay holds a
command in flight): a second write to a command record whose command is in flight is
refused in words ("busy: ... in flight") and logged with its writer, never lost and
never run later without its CA user, for a plain put (caput) and a put with
completion (caput -c) alike."""
import pwd
import socket
import subprocess

import pytest

from beds import ca_tools, needs_root  # noqa: F401 (a fixture)
from conftest import NAMESPACE
from iocmgrtest import SlowProxy, run_ioc, timed_monitor, write_kubeconfig

RUNNING = "bl46p-ea-ioc-01"
HOST = socket.gethostname()


@pytest.fixture
def slow_ioc(cluster, tmp_path):
    """root and nobody may both write commands; the API is behind slowproxy."""
    pki = cluster.dir / "pki"
    port = int(cluster.env["IOCMGR_API_URL"].rsplit(":", 1)[1])
    with SlowProxy(port) as proxy:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{proxy.port}",
                                      ca_file=cluster.dir / "ca.crt", client_cert=pki / "admin.crt",
                                      client_key=pki / "admin.key")
        env = {"IOCMGR_KUBECONFIG": str(kubeconfig), "IOCMGR_NAMESPACE": NAMESPACE,
               "IOCMGR_USERS": "root,nobody", "IOCMGR_HOSTS": f"{HOST},localhost"}
        with run_ioc(tmp_path, env, prefix="TST-CMD-01:") as ioc:
            ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
            ioc.ca.wait_value(ioc.pv("STATUS", RUNNING), "Running", timeout=60)
            try:
                yield ioc, proxy
            finally:
                proxy.cmd("delay 0")
                ioc.ca.wait_value(ioc.pv("STATUS", RUNNING), "Running", timeout=60)


def as_nobody(ioc, tools, *args, background=False):
    d, extra = tools
    gid = pwd.getpwnam("nobody").pw_gid
    cmd = ["setpriv", "--reuid", "nobody", "--regid", str(gid), "--clear-groups", str(d / "caput"), *args]
    if background:
        return subprocess.Popen(cmd, env={**ioc.ca.env, **extra}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    r = subprocess.run(cmd, env={**ioc.ca.env, **extra}, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def requested(ioc):
    return [line for line in ioc.logtext().splitlines() if f"RESTART {RUNNING} requested by" in line
            or f"RESTART {RUNNING} by" in line]


@needs_root
@pytest.mark.parametrize("completion", [False, True], ids=["caput", "caput -c"])
def test_second_write_while_in_flight_is_refused_with_its_writer(slow_ioc, ca_tools, completion):
    ioc, proxy = slow_ioc
    pv = ioc.pv("RESTART", RUNNING)
    proxy.cmd("delay 1.5")
    with timed_monitor(ioc.ca, ioc.lpv("CMD_MSG", RUNNING), string=True) as msg, \
            ioc.ca.monitor(ioc.pv("BUSY", RUNNING)) as busy:
        first = subprocess.Popen([str(ca_tools[0] / "caput"), *(["-c", "-w", "30"] if completion else []), pv, "1"],
                                 env={**ioc.ca.env, **ca_tools[1]}, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        busy.wait("Busy", timeout=10)
        rc, out = as_nobody(ioc, ca_tools, *(["-c", "-w", "30"] if completion else []), pv, "1")
        assert rc == 0 and "denied" not in out.lower(), out
        first.communicate(timeout=60)
        busy.wait("Idle", timeout=30)
        proxy.cmd("delay 0")
        t = msg.wait_after(lambda v, s: "busy" in v, 0, timeout=15)
    texts = [v for _, v, _ in msg.timeline]
    print("CMD_MSG:", texts)
    refusal = [v for _, v, _ in msg.timeline if "busy" in v][0]
    assert "in flight" in refusal, refusal
    lines = requested(ioc)
    print("\n".join(lines))
    log = ioc.logtext()
    assert "local (not through CA access security)" not in log, lines
    sent = [line for line in lines if "requested by" in line]
    assert len(sent) == 1 and f"root@{HOST}" in sent[0], lines
    refused = [line for line in lines if "refused" in line]
    assert len(refused) == 1 and f"nobody@{HOST}" in refused[0] and "busy" in refused[0], lines
    assert t > 0
