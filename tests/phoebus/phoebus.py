"""Drives tests/phoebus's Harness: the real Phoebus 5.0.5 product under Xvfb, opening
screens the way the launcher does (-resource with macros), and answering what its
display runtime shows. setup.sh resolves the jars and compiles the harness once
into $IOCMGR_CACHE/phoebus-<version> and prints its class path."""
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent


def phoebus_repo():
    """The Maven repository with the org.phoebus jars, or None (the tests then skip)."""
    repo = os.environ.get("PHOEBUS_REPO") or str(TOP.parent / "shared" / "phoebus" / "m2")
    return repo if Path(repo, "org", "phoebus").is_dir() else None


def needs_phoebus():
    """A suite's pytestmark: skipped, with what to set, without Phoebus' jars."""
    import pytest
    return pytest.mark.skipif(
        phoebus_repo() is None, reason="Phoebus 5.0.5 not found: set PHOEBUS_REPO to a Maven repository "
        "holding its jars (shared/phoebus/m2 beside the repository has them)")


def classpath(repo):
    r = subprocess.run([str(HERE / "setup.sh")], env={**os.environ, "PHOEBUS_REPO": repo},
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"tests/phoebus/setup.sh failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout.strip().splitlines()[-1]


def resource(path, **macros):
    """A -resource argument as an operator's launcher passes it; each display in a
    window of its own."""
    query = "".join(f"{k}={quote(v, safe=':')}&" for k, v in macros.items())
    return f"file:{path}?{query}target=window"


class Xvfb:
    def __init__(self, display):
        self.display = display
        if not shutil.which("Xvfb") or not shutil.which("xdotool"):
            raise RuntimeError("Xvfb or xdotool missing: run tools/deps.sh")
        self.proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            time.sleep(0.3)
            # An Xvfb that finds the display taken exits at once: never use another's.
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Xvfb {display} did not come up (display in use? "
                                   "IOCMGR_PHOEBUS_DISPLAY chooses another)")
            if subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0:
                break

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def java_repeaters(port):
    """Pids of Phoebus' detached CA repeaters on that port (they outlive the JVM)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return {int(line.split()[0]) for line in out.splitlines()
            if "com.cosylab.epics.caj.CARepeater" in line and f"-p {port}" in line}


class Phoebus:
    """One Phoebus JVM with some displays open; cmd() talks to the harness in it."""

    def __init__(self, cp, workdir, display, ca_ports, repeater_port, resources, log, pva_broadcast_port=None,
                 addr_list=None):
        """addr_list: the CA addresses to search (e.g. a test node's broadcast address)
        instead of 127.0.0.1 on each of ca_ports; ca_ports[0] is then their port"""
        self.workdir = Path(workdir)
        self.repeater_port = repeater_port
        self.repeaters_before = java_repeaters(repeater_port)
        settings = self.workdir / "settings.ini"
        settings.write_text(
            "org.phoebus.pv.ca/addr_list=" + (addr_list or " ".join(f"127.0.0.1:{p}" for p in ca_ports)) + "\n"
            "org.phoebus.pv.ca/auto_addr_list=false\n"
            f"org.phoebus.pv.ca/server_port={ca_ports[0]}\n"
            f"org.phoebus.pv.ca/repeater_port={repeater_port}\n"
            "org.phoebus.pv.ca/max_array_bytes=1000000\n"
            # pvAccess on loopback, searching the one IOC's UDP port (docs/pva.md)
            + ("org.phoebus.pv.pva/epics_pva_addr_list=127.0.0.1\n"
               "org.phoebus.pv.pva/epics_pva_auto_addr_list=false\n"
               f"org.phoebus.pv.pva/epics_pva_broadcast_port={pva_broadcast_port}\n"
               "org.phoebus.pv.pva/epics_pva_enable_ipv6=false\n" if pva_broadcast_port else ""))
        (self.workdir / "user").mkdir(exist_ok=True)
        # C1 only: a short-lived JVM on 2 shared cores starts much faster without C2.
        args = ["java", "-Xmx768m", "-XX:TieredStopAtLevel=1", f"-Dphoebus.user={self.workdir / 'user'}",
                f"-Dphoebus.install={self.workdir}", "-cp", cp, "org.iocmgr.phoebus.Harness",
                "-nosplash", "-settings", str(settings)]
        for r in resources:
            args += ["-resource", r]
        self.log = open(log, "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env={**os.environ, "DISPLAY": display},
                                     start_new_session=True)
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                self.answers.put(json.loads(line[3:]))
            else:
                self.log.write(line)
        self.answers.put(None)

    def cmd(self, line, timeout=90):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"Phoebus harness did not answer '{line}' in {timeout} s")
        if answer is None:
            raise AssertionError(f"Phoebus exited (see {self.log.name})")
        return answer

    def ok(self, line, timeout=90):
        answer = self.cmd(line, timeout)
        assert answer["ok"], f"{line}: {answer.get('error')}"
        return answer

    def report(self, key):
        return self.ok(f"report {key}")["widgets"]

    def wait_report(self, key, pred, timeout, what):
        """Reports until pred(widgets) holds; the last report if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.cmd(f"report {key}")
            if answer["ok"] and pred(answer["widgets"]):
                return answer["widgets"]
            if time.monotonic() > deadline:
                raise AssertionError(f"{key}: {what} not within {timeout} s: "
                                     f"{answer.get('error') or summary(answer['widgets'])}")
            time.sleep(0.5)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for pid in java_repeaters(self.repeater_port) - self.repeaters_before:
            os.kill(pid, signal.SIGTERM)
        self.log.close()


def pvs(widgets):
    return [pv for w in widgets for pv in w["pvs"]]


def summary(widgets):
    bad = [f"{pv['name']}={pv['severity']}" for pv in pvs(widgets) if not pv["connected"]]
    return f"{len(pvs(widgets))} PVs, not connected: {bad[:20]}"


def all_connected(widgets):
    return bool(pvs(widgets)) and all(pv["connected"] for pv in pvs(widgets))
