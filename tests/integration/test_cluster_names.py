"""Names as long as Kubernetes allows, against EPICS' 60-character record names
and 40-character strings: an instance whose records cannot exist is skipped and
reported (UNMANAGED, LAST_ERROR) while the manager serves the rest; names, pod
names and logs of long-named instances survive whole (NAMES, UNMANAGED, POD,
LOG_FETCH of a Deployment's pod); VERSION is the IOC's version, not the chart's."""
import pytest

from beds import deployment, namespace, pod_names, statefulset
from iocmgrtest import run_ioc, wait_until

# with the shipped prefix (19 characters) the longest record, $(P)$(I):LOG_PREV_FETCH,
# leaves 60 - 19 - 15 = 26 characters for a name
DEFAULT_PREFIX = "BL46P-CS-IOCMGR-01:"
FITS_26 = "dioc-ea-ioc-twenty-six-ch1"
TOO_LONG_27 = "dioc-ea-ioc-twenty-seven-c1"
LONG_52 = "bl46p-ea-ioc-with-a-name-kubernetes-allows-but-epics"   # StatefulSet names stop at 52
SHORT_1, SHORT_2 = "dioc-ea-ioc-01", "dioc-ea-ioc-02"

# with the prefix "T:", 43 characters fit: longer than a DBF_STRING (39)
LONG_43 = "dioc-ea-ioc-with-a-forty-three-char-name-01"
TAGGED = "dioc-ea-ioc-03"
DEPLOYED = "dioc-va-deployment-ioc-01"        # its pod: <name>-<10>-<5>, 42 characters

assert (len(FITS_26), len(TOO_LONG_27), len(LONG_52), len(LONG_43)) == (26, 27, 52, 43)


def caget_s(ioc, pv):
    r = ioc.ca.run("caget", "-t", "-S", "-w", "3", pv)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


def test_a_name_too_long_for_epics_skips_only_that_instance(cluster, tmp_path):
    objects = [statefulset(n, "dioc-long") for n in (SHORT_1, FITS_26, TOO_LONG_27, LONG_52)]
    objects.append(statefulset(SHORT_2, "dioc-long", replicas=0))
    with namespace(cluster, "dioc-long", *objects, wait_ready=(SHORT_1,)):
        env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": "dioc-long"}
        with run_ioc(tmp_path, env, prefix=DEFAULT_PREFIX) as ioc:
            ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
            ioc.ca.wait_value(ioc.pv("STATUS", SHORT_1), "Running", timeout=30)
            assert ioc.get("STATUS", SHORT_2) == "Stopped"
            assert ioc.get("STATUS", FITS_26) in ("Running", "Starting")
            longest = ioc.pv("LOG_PREV_FETCH", FITS_26)
            assert len(longest) == 60 and ioc.get("LOG_PREV_FETCH", FITS_26) == "Idle"
            assert ioc.get("COUNT") == "3"
            unmanaged = caget_s(ioc, ioc.pv("UNMANAGED")).split()
            assert sorted(unmanaged) == sorted([TOO_LONG_27, LONG_52]), unmanaged
            err = ioc.get("LAST_ERROR", string=True)
            assert LONG_52 in err and TOO_LONG_27 in err and "60" in err, err
            assert LONG_52 in ioc.get("UNMANAGED_TEXT", string=True)
            # the manager works: a command on a managed instance
            ioc.ca.put(ioc.pv("START", SHORT_2), 1)
            ioc.ca.wait_value(ioc.pv("ENABLED", SHORT_2), "Enabled", timeout=20)
            log = ioc.logtext()
            print("BOOT TRANSCRIPT (52-character name beside short ones)")
            print("\n".join(line for line in log.splitlines() if "iocmgr:" in line and "k8s:" not in line))
            for pv in ("CONNECTED", "COUNT", "RUNNING_COUNT", "FAULT_COUNT"):
                print(f"caget {ioc.pv(pv)}: {ioc.get(pv)}")
            print(f"caget -S {ioc.pv('UNMANAGED')}: {' '.join(unmanaged)}")
            print(f"caget -S {ioc.pv('LAST_ERROR')}: {err}")
            print(f"caget {ioc.pv('STATUS', SHORT_1)}: {ioc.get('STATUS', SHORT_1)}")


@pytest.fixture(scope="module")
def names_ioc(cluster, tmp_path_factory):
    objects = [statefulset(LONG_43, "dioc-names"),
               statefulset(TAGGED, "dioc-names", image="ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1",
                           labels={"helm.sh/chart": "ioc-instance-4.0.0", "app.kubernetes.io/managed-by": "Helm"}),
               deployment(DEPLOYED, "dioc-names")]
    with namespace(cluster, "dioc-names", *objects, wait_ready=(LONG_43, TAGGED, DEPLOYED)):
        env = {"KUBECONFIG": cluster.kubeconfig, "IOCMGR_NAMESPACE": "dioc-names"}
        with run_ioc(tmp_path_factory.mktemp("names"), env, prefix="T:") as ioc:
            ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
            for i in (LONG_43, TAGGED, DEPLOYED):
                ioc.ca.wait_value(ioc.pv("STATUS", i), "Running", timeout=30)
            yield ioc


def test_names_and_pods_survive_whole(names_ioc, cluster):
    ioc = names_ioc
    assert caget_s(ioc, ioc.pv("NAMES")).split() == sorted([LONG_43, TAGGED, DEPLOYED])
    assert ioc.get("NAMES.NELM") != "1000"          # sized from the instance count, not a default
    assert ioc.get("POD", LONG_43, string=True) == LONG_43 + "-0"
    pod = pod_names(cluster, "dioc-names", DEPLOYED)[0]
    assert len(pod) > 40
    assert ioc.get("POD", DEPLOYED, string=True) == pod


def test_log_of_a_deployment_pod_with_a_long_name(names_ioc):
    ioc = names_ioc
    with ioc.ca.monitor(ioc.pv("CMD_STAT", DEPLOYED)) as stat:
        r = ioc.ca.put(ioc.pv("LOG_FETCH", DEPLOYED), 1)
        assert r.returncode == 0, r.stdout + r.stderr
        stat.wait(lambda v, s: v in ("OK", "Error"), timeout=20)
    msg = ioc.get("CMD_MSG", DEPLOYED, string=True)
    assert ioc.get("CMD_STAT", DEPLOYED) == "OK", msg
    assert "log read" in msg
    wait_until(lambda: len(ioc.get("LOG", DEPLOYED, string=True)) > 0, 10, what="LOG filled")


def test_version_is_the_iocs_not_the_charts(names_ioc):
    ioc = names_ioc
    assert ioc.get("VERSION", TAGGED) == "2024.4.1"
