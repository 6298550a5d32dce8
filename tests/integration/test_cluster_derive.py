"""One thread derives what the records show (iocmgrDeriver.c): a derivation that
read the cache before a change can never overwrite the one made after it.

The interleaving that lost before: a time-based derivation (a Pending grace
running out) reads the cache; the pod becomes Running and Ready; the network
thread's derivation stores Running; the time-based one then stores its older
Pending (MAJOR), and nothing corrects it while the pod stays steady. The fault
injection knob iocmgrDueHold (docs/iocsh.md) holds the time-based derivation
between reading the cache and storing, so that the change lands inside it every
time."""
from beds import namespace, ready, statefulset
from iocmgrtest import fault, run_ioc, wait_until

NS = "dioc-race"
NAME = "race-ioc-01"
LABEL = "iocmgr-race"
NODE = "kwok-node-0"
HOLD = 8


def test_a_derivation_from_before_a_change_never_wins(cluster, tmp_path):
    fault("restart.sh", "--if-dead", "kube-scheduler")     # an earlier apiserver restart may have ended it
    sts = statefulset(NAME, NS, replicas=0, node_selector={LABEL: "yes"})
    cluster.kubectl("label", "node", NODE, f"{LABEL}-", check=False)
    with namespace(cluster, NS, sts):
        env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": NS, "IOCMGR_PENDING_GRACE": "3"}
        try:
            with run_ioc(tmp_path, env, prefix="TST-RACE-01:", post_iocsh=[f"var iocmgrDueHold {HOLD}"]) as ioc:
                ioc.ca.wait_value(ioc.pv("STATUS", NAME), "Stopped", timeout=30)
                cluster.kubectl("-n", NS, "scale", "statefulset", NAME, "--replicas=1")
                ioc.ca.wait_value(ioc.pv("STATUS", NAME), lambda v, s: v == "Pending" and s == "MINOR", timeout=30)
                # the grace runs out: the time-based derivation reads the cache (Pending) and is held
                wait_until(lambda: f"holding the time-based derivation of {NAME}" in ioc.logtext(), 30,
                           what="the time-based derivation held")
                cluster.kubectl("label", "node", NODE, f"{LABEL}=yes", "--overwrite")
                wait_until(lambda: ready(cluster, NS, NAME), 30, what="the pod Running and Ready")
                assert f"{NAME} released" not in ioc.logtext(), \
                    f"the pod became Ready after the {HOLD} s hold: the interleaving was not forced"
                wait_until(lambda: f"{NAME} released" in ioc.logtext(), HOLD + 10, what="the hold released")
                # the pod is Running and Ready and stays so: the records must say so
                value, sevr = ioc.ca.wait_value(ioc.pv("STATUS", NAME), lambda v, s: v == "Running", timeout=10)
                assert sevr == "NO_ALARM"
                assert ioc.get("READY", NAME) == "Yes"
                assert ioc.get("FAULT_COUNT") == "0"
        finally:
            cluster.kubectl("label", "node", NODE, f"{LABEL}-", check=False)
