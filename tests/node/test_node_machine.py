"""The node leaves the machine as it found it (docs/node.md): two beds with real nodes run
side by side (the CI run and a developer's), one is killed half-way (kill -9 of every
process) and the next `up` cleans up after it; after both are down the machine's kernel
settings, iptables, mounts, cgroups, links, routes and the directories the kubelet and
containerd would write to are as before.

Beds of their own, beside the suite's: IOCMGR_TEST_NODE_MACHINE_PORTS gives the first
port of each (default "16710 16720"; eight ports from each: apiserver, etcd client and
peer, controller-manager, scheduler, kwok, kubelet, kubelet healthz)."""
import os
import signal
import subprocess
import time
from pathlib import Path

from iocmgrtest import CACHE
from nodebed import NodeBed, ioc_instance, TOP

SYSCTLS = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
           "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
           "net/bridge/bridge-nf-call-iptables"]
DIRS = ["/run", "/var/lib", "/var/log", "/etc", "/opt", "/usr/libexec", "/var/run"]


def sh(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else f"({' '.join(cmd)}: exit {r.returncode})"


def machine_state():
    """What a node could change on the machine, as text lines per topic"""
    state = {}
    state["sysctl"] = [f"{s} {Path('/proc/sys', s).read_text().strip()}" for s in SYSCTLS
                       if Path("/proc/sys", s).exists()]
    for tool in ("iptables-save", "ip6tables-save"):
        state[tool] = [line for line in sh(tool).splitlines()
                       if not line.startswith("#")]
    state["mounts"] = sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    cgroups = []
    for root in sorted(Path("/sys/fs/cgroup").iterdir()):
        if root.is_dir():
            cgroups += [f"{root.name}/{d.name}" for d in sorted(root.iterdir()) if d.is_dir()]
    state["cgroups"] = cgroups
    state["links"] = sorted(line.split()[0] for line in sh("ip", "-br", "link").splitlines())
    state["routes"] = sorted(sh("ip", "route").splitlines())
    state["dirs"] = [f"{d}/{n}" for d in DIRS if Path(d).is_dir() for n in sorted(os.listdir(d))]
    return state


def diff(before, after):
    out = []
    for topic in before:
        gone = sorted(set(before[topic]) - set(after[topic]))
        new = sorted(set(after[topic]) - set(before[topic]))
        out += [f"{topic}: - {x}" for x in gone] + [f"{topic}: + {x}" for x in new]
    return out


class Bed:
    """A bed of its own: its cluster dir and eight ports from `base`"""

    def __init__(self, name, base):
        self.dir = CACHE / f"cluster-test-node-{name}"
        names = ["APISERVER", "ETCD_CLIENT", "ETCD_PEER", "CM", "SCHEDULER", "KWOK", "KUBELET",
                 "KUBELET_HEALTHZ"]
        self.env = dict(os.environ, IOCMGR_CLUSTER_DIR=str(self.dir), IOCMGR_REAL_NODE="1",
                        IOCMGR_NODE_IMAGES="pause ioc",
                        **{f"IOCMGR_{n}_PORT": str(base + k) for k, n in enumerate(names)})
        self.env.pop("IOCMGR_NODE_NET", None)
        self.env.pop("IOCMGR_NODE_POD_NET", None)

    def run(self, script, timeout=300):
        t0 = time.monotonic()
        r = subprocess.run([str(TOP / "tests/cluster" / script)], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        assert r.returncode == 0, f"{script} ({self.dir}): {r.stderr[-3000:]}"
        return r.stderr, time.monotonic() - t0

    def node(self):
        return NodeBed(self.dir)

    def kill_everything(self):
        """kill -9 of every process of the bed, as a killed CI job would leave it"""
        pids = set()
        for f in (self.dir / "pids").glob("*.pid"):
            pids.add(int(f.read_text()))
        node = self.node()
        for procs in Path("/sys/fs/cgroup/pids", node.cgroup).rglob("cgroup.procs"):
            pids.update(int(p) for p in procs.read_text().split())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids


def run_ioc_pod(node, name):
    node.apply(*ioc_instance(name, node.image))
    return node.answering(name)


def test_two_beds_a_killed_one_and_the_machine_as_found():
    bases = [int(p) for p in os.environ.get("IOCMGR_TEST_NODE_MACHINE_PORTS", "16710 16720").split()]
    a, b = Bed("a", bases[0]), Bed("b", bases[1])
    for bed in (a, b):                       # a previous run of this test killed half-way
        bed.run("down.sh")
    before = machine_state()
    try:
        _, t_up = a.run("up.sh")
        node_a = a.node()
        run_ioc_pod(node_a, "bl46p-ea-mach-01")
        # the machine's kernel settings stay as they were while the kubelet runs
        assert machine_state()["sysctl"] == before["sysctl"]

        b.run("up.sh")
        node_b = b.node()
        assert node_b.cgroup != node_a.cgroup and node_b.ip != node_a.ip
        run_ioc_pod(node_b, "bl46p-ea-mach-01")     # the same IOC name in both beds
        assert node_a.uptime("bl46p-ea-mach-01") and node_b.uptime("bl46p-ea-mach-01")

        killed = a.kill_everything()
        assert len(killed) > 8
        node_a.wait(lambda: not Path("/sys/fs/cgroup/pids", node_a.cgroup, "cgroup.procs").exists()
                    or not any(p.read_text().split() for p in
                               Path("/sys/fs/cgroup/pids", node_a.cgroup).rglob("cgroup.procs")),
                    15, "bed a's processes gone")
        assert node_b.uptime("bl46p-ea-mach-01"), "bed b lost its IOC when bed a was killed"

        # the next up finds the killed bed's remains and starts clean
        err, _ = a.run("up.sh")
        assert "found a partial cluster" in err and "killed" in err, err[-2000:]
        node_a = a.node()
        run_ioc_pod(node_a, "bl46p-ea-mach-02")
        print(f"bed a up with its node in {t_up:.1f}s; killed {len(killed)} processes; "
              f"nodes {node_a.ip} and {node_b.ip}")
    finally:
        a.run("down.sh")
        b.run("down.sh")
    after = machine_state()
    changes = diff(before, after)
    assert not changes, "\n".join(changes)
