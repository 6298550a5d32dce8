"""The beamline's services on the real node (docs/node.md, "iocmgr as a pod"): the
beamline's volumes as epics-containers' install-pvcs.sh makes them, bound to directories
of the bed; the OPI server of install-opis.sh, Debian's nginx in the bed's image, serving
the opis claim over HTTP at the node's address; and iocmgr itself installed with
`helm install deploy/helm/iocmgr` from its own image: a real pod with the ServiceAccount
token the kubelet mounts, the in-cluster configuration, its PVs answering the machine
from the node's address, its screens in its subdirectory of the opis claim, managing its
sibling IOC pods and never itself, and its chart's liveness probe restarting it when it
hangs. Then Phoebus opens the overview from the OPI server's URL, as operators do.

The namespace is the suite's own (IOCMGR_TEST_NODE_BEAMLINE_NS, default bl46p-beamline):
the chart makes its ServiceAccount `iocmgr` there, and the claims have their usual names.
helm: IOCMGR_HELM, else tests/helm/build.sh. Phoebus (skipped, saying so, without its
jars): display IOCMGR_TEST_NODE_PHOEBUS_DISPLAY (default :67); the screenshot goes to
IOCMGR_TEST_NODE_OUT (default tests/results/node) and, with IOCMGR_TEST_NODE_DOCS=1,
to docs/images/iocmgr-overview-node.png."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from iocmgrtest import helm_executable
from nodebed import TOP, ioc_instance

sys.path.insert(0, str(TOP / "tests/phoebus"))
from phoebus import Phoebus, Xvfb, all_connected, classpath, phoebus_repo, summary  # noqa: E402

NS = os.environ.get("IOCMGR_TEST_NODE_BEAMLINE_NS", "bl46p-beamline")
DOMAIN = "bl46p"
RELEASE = "bl46p-cs-iocmgr-01"
P = RELEASE.upper() + ":"
POD = f"{RELEASE}-0"
CLAIMS = ("runtime", "opi", "autosave")
# the siblings iocmgr manages: running, driven by caput, crash-looping, stopped
RUNNING, DRIVEN, CRASHING, STOPPED = (f"{DOMAIN}-ea-svc-0{i}" for i in range(1, 5))
SIBLINGS = {RUNNING: ("run", 1, "Running"), DRIVEN: ("run", 1, "Running"),
            CRASHING: ("exit:0", 1, "CrashLoop"), STOPPED: ("run", 0, "Stopped")}
OUT = Path(os.environ.get("IOCMGR_TEST_NODE_OUT") or TOP / "tests/results/node")
# The chart's probe, as it renders it, with shorter timings so that a hang is caught in
# seconds rather than the default's 60 s + 3 x 30 s (values.yaml livenessProbe)
PROBE = ["--set", "livenessProbe.initialDelaySeconds=5", "--set", "livenessProbe.periodSeconds=3",
         "--set", "livenessProbe.failureThreshold=2"]


def exports(bed):
    """where the claims' volumes are on the machine"""
    return Path(bed.dir, "node", "exports", DOMAIN)


def claims(bed):
    """PersistentVolumes under the bed's directory (the node sees the machine's file
    system there; down.sh removes it), and the claims as install-pvcs.sh names them
    (epics-containers' epics-pvcs chart: <domain>-runtime-claim, -opi-claim,
    -autosave-claim, ReadWriteMany), bound to them"""
    objs = []
    for c in CLAIMS:
        objs += [
            {"apiVersion": "v1", "kind": "PersistentVolume",
             "metadata": {"name": f"{NS}-{c}", "labels": {"beamline": DOMAIN}},
             "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                      "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                      "hostPath": {"path": str(exports(bed) / c), "type": "DirectoryOrCreate"},
                      "claimRef": {"namespace": NS, "name": f"{DOMAIN}-{c}-claim"}}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": f"{DOMAIN}-{c}-claim", "namespace": NS,
                          "labels": {"app": "pvcs", "location": DOMAIN, "domain": DOMAIN}},
             "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": f"{NS}-{c}",
                      "resources": {"requests": {"storage": "1Gi"}}}}]
    return objs


def opi_server(image):
    """install-opis.sh's server (epics-containers' epics-opis chart: a Deployment of nginx
    with the opis claim at /usr/share/nginx/html), on the node's network: the bed has no
    load balancer for the chart's Service, so the node's address stands for it"""
    labels = {"app": "opis", "location": DOMAIN, "domain": DOMAIN}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "opis", "namespace": NS, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "opis"}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "hostNetwork": True,
                         "tolerations": [{"key": "beamline", "operator": "Equal", "value": DOMAIN,
                                          "effect": "NoSchedule"}],
                         "containers": [{"name": "server", "image": image, "imagePullPolicy": "Never",
                                         "ports": [{"containerPort": 80}],
                                         "readinessProbe": {"httpGet": {"path": "/", "port": 80},
                                                            "periodSeconds": 2},
                                         "volumeMounts": [{"name": "html-volume", "readOnly": True,
                                                           "mountPath": "/usr/share/nginx/html"}]}],
                         "volumes": [{"name": "html-volume",
                                      "persistentVolumeClaim": {"claimName": f"{DOMAIN}-opi-claim"}}]}}}}


def clean(bed):
    """What this suite makes, and what a killed run of it left"""
    bed.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s",
                check=False, timeout=150)
    bed.kubectl("delete", "pv", *(f"{NS}-{c}" for c in CLAIMS), "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def beamline(bed):
    """The namespace with the claims, the OPI server and the sibling IOC instances
    (before iocmgr, which manages what it finds at boot)"""
    if not bed.env.get("IOCMGR_IMAGE_NGINX"):
        r = subprocess.run([str(TOP / "tests/cluster/node.sh"), "import", "nginx"], env=bed.env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"tests/cluster/node.sh import nginx: {r.stderr[-2000:]}"
        bed.env.update(line[7:].replace("'", "").split("=", 1) for line in Path(bed.dir, "node.env").read_text()
                       .splitlines() if line.startswith("export IOCMGR_IMAGE_"))
    clean(bed)
    bed.kubectl("create", "namespace", NS)
    bed.apply(*claims(bed), opi_server(bed.env["IOCMGR_IMAGE_NGINX"]))
    for name, (behaviour, replicas, _) in SIBLINGS.items():
        bed.apply(*ioc_instance(name, bed.image, behaviour=behaviour, replicas=replicas, namespace=NS,
                                claims=DOMAIN))
    bed.wait_running(RUNNING, 90, namespace=NS)
    bed.wait_running(DRIVEN, 90, namespace=NS)
    bed.kubectl("-n", NS, "rollout", "status", "deployment/opis", "--timeout=90s", timeout=120)
    yield bed
    clean(bed)


def helm(bed, *args, timeout=180):
    env = dict(bed.env, HELM_CACHE_HOME=str(Path(bed.dir, "helm/cache")),
               HELM_CONFIG_HOME=str(Path(bed.dir, "helm/config")), HELM_DATA_HOME=str(Path(bed.dir, "helm/data")))
    r = subprocess.run([helm_executable(), "--kubeconfig", bed.kubeconfig, *args], env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"helm {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def iocmgr_pid(bed):
    """iocmgr's process on the machine (in the node's pod cgroups), by its environment"""
    for pid in bed.processes(comm="iocmgr"):
        try:
            if f"IOCMGR_PREFIX={P}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def release(beamline):
    """helm install of the chart with iocmgr's image from tests/images, as a site installs
    it (image, pull policy, who may write); times to the pod Ready and to CONNECTED read
    from the machine"""
    bed = beamline
    image = bed.env.get("IOCMGR_IMAGE_IOCMGR")
    assert image, "the node has no iocmgr image (make, then tests/cluster/node.sh import iocmgr)"
    repo, tag = image.rsplit(":", 1)
    t0 = time.monotonic()
    helm(bed, "install", RELEASE, str(TOP / "deploy/helm/iocmgr"), "--namespace", NS,
         "--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
         "--set", f"accessSecurity.hosts={{{socket.gethostname()}}}", *PROBE)
    installed = time.monotonic() - t0
    bed.wait_running(RELEASE, 120, namespace=NS)
    ready = time.monotonic() - t0
    bed.wait(lambda: bed.caget(P + "CONNECTED") == "Connected", 120, f"{P}CONNECTED from the machine", step=0.1)
    connected = time.monotonic() - t0
    bed.times = {"helm install returned": installed, "pod Ready": ready, "CONNECTED from the machine": connected}
    print("helm install -> " + ", ".join(f"{k} {v:.1f} s" for k, v in bed.times.items()))
    yield bed
    subprocess.run([helm_executable(), "--kubeconfig", bed.kubeconfig, "uninstall", RELEASE, "--namespace", NS,
                    "--wait=false"], env=bed.env, capture_output=True, timeout=120)


def test_the_beamline_claims_are_bound_to_directories_of_the_bed(beamline):
    bed = beamline
    for c in CLAIMS:
        pvc = bed.get("pvc", f"{DOMAIN}-{c}-claim", NS)
        assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["volumeName"] == f"{NS}-{c}", pvc["status"]
        path = bed.get("pv", f"{NS}-{c}", "default")["spec"]["hostPath"]["path"]
        assert Path(path).resolve().is_relative_to(Path(bed.dir).resolve()), path
    # the IOC's volumes as the ioc-instance chart mounts them: each its own subdirectory,
    # written in the container, read on the machine
    for c, mount in (("runtime", "/epics/runtime"), ("opi", "/epics/opi"), ("autosave", "/autosave")):
        bed.kubectl("-n", NS, "exec", f"{RUNNING}-0", "--", "bash", "-c", f"echo {c} > {mount}/written-in-the-pod")
        assert (exports(bed) / c / RUNNING / "written-in-the-pod").read_text() == f"{c}\n"


def test_helm_install_runs_iocmgr_as_a_pod_in_cluster(release):
    bed = release
    pod = bed.get("pod", POD, NS)
    spec = pod["spec"]
    assert spec["nodeName"] == bed.node and spec["hostNetwork"] and pod["status"]["podIP"] == bed.ip
    assert spec["serviceAccountName"] == "iocmgr"
    assert bed.container(RELEASE, NS)["restartCount"] == 0
    # the token the kubelet mounted, read by iocmgr in its container
    token_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert any(m["mountPath"] == token_dir for m in spec["containers"][0]["volumeMounts"])
    files = bed.kubectl("-n", NS, "exec", POD, "-c", "iocmgr", "--", "ls", token_dir).split()
    assert {"ca.crt", "namespace", "token"} <= set(files), files
    # the in-cluster configuration: the kubernetes Service's address the kubelet gives pods
    assert bed.caget(P + "API_URL", string=True) == "https://10.96.0.1:443"
    assert bed.caget(P + "NAMESPACE") == NS
    # the line comes once every watch has listed (Events last), which may be a moment after
    # CONNECTED: wait for it, bounded
    line = (f'in sync with https://10.96.0.1:443 namespace {NS} (context "incluster", service account token '
            f'{token_dir}/token)')
    logs = []
    try:
        bed.wait(lambda: logs.append(bed.kubectl("-n", NS, "logs", POD, "-c", "iocmgr")) or line in logs[-1],
                 30, "iocmgr's log saying it is in sync in-cluster")
    except AssertionError as e:
        raise AssertionError(f"{e}: {logs[-1][-3000:] if logs else ''}") from None
    # iocmgr is a real process on the node, not on the machine's command line
    pid = iocmgr_pid(bed)
    assert pid and b"IOCMGR_KUBECONFIG=incluster" in Path(f"/proc/{pid}/environ").read_bytes()
    # it manages its siblings and never itself
    names = bed.caget(P + "NAMES", string=True).split()   # one string, names separated by a space
    assert sorted(names) == sorted(SIBLINGS) and RELEASE not in names
    for name, (_, _, status) in SIBLINGS.items():
        bed.wait(lambda: bed.caget(f"{P}{name.upper()}:STATUS") == status, 60, f"{name} {status}")
    print(f"iocmgr pod {POD} on {bed.node} ({bed.ip}), pid {pid} on this machine; manages {names}")


def test_iocmgr_in_its_pod_drives_its_sibling_pods(release):
    bed = release
    pv = f"{P}{DRIVEN.upper()}:"
    env = bed.ca_env()

    def caput(field):
        r = subprocess.run(["caput", "-t", "-w", "5", pv + field, "1"], env=env, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr

    uid = bed.pod(DRIVEN, NS)["metadata"]["uid"]
    caput("RESTART")
    bed.wait(lambda: (bed.pod(DRIVEN, NS) or {}).get("metadata", {}).get("uid") not in (None, uid), 60,
             f"a new pod of {DRIVEN}")
    bed.wait_running(DRIVEN, 60, namespace=NS)
    assert bed.caget(pv + "CMD_STAT") == "OK"
    caput("STOP")
    bed.wait(lambda: bed.pod(DRIVEN, NS) is None, 60, f"{DRIVEN} stopped: no pod")
    bed.wait(lambda: bed.caget(pv + "STATUS") == "Stopped", 30, f"{DRIVEN} Stopped")
    caput("START")
    bed.wait_running(DRIVEN, 60, namespace=NS)
    bed.wait(lambda: bed.caget(pv + "STATUS") == "Running", 30, f"{DRIVEN} Running")
    # the manager's own pod is untouched
    assert bed.container(RELEASE, NS)["restartCount"] == 0


def test_the_opi_server_serves_iocmgrs_screens_over_http(release):
    bed = release
    base = f"http://{bed.ip}/{RELEASE}/"
    listing = urllib.request.urlopen(base, timeout=10).read().decode()
    for screen in ("iocmgr-overview.bob", "iocmgr-manager.bob", "iocmgr-row.bob", "iocmgr-instance.bob",
                   "iocmgr-alarms.xml"):
        assert f'href="{screen}"' in listing, listing
    overview = urllib.request.urlopen(base + "iocmgr-overview.bob", timeout=10).read()
    assert overview == (exports(bed) / "opi" / RELEASE / "iocmgr-overview.bob").read_bytes()
    text = overview.decode()
    assert all(f"<I>{name.upper()}</I>" in text for name in SIBLINGS), text[:2000]
    assert f"<I>{RELEASE.upper()}</I>" not in text


def test_phoebus_opens_the_overview_from_the_opi_server(release, tmp_path_factory):
    repo = phoebus_repo()
    if repo is None:
        pytest.skip("Phoebus 5.0.5 not found: set PHOEBUS_REPO to a Maven repository holding its jars "
                    "(shared/phoebus/m2 beside the repository has them)")
    bed = release
    url = f"http://{bed.ip}/{RELEASE}/iocmgr-overview.bob?target=window"
    work = tmp_path_factory.mktemp("phoebus-node")
    display = os.environ.get("IOCMGR_TEST_NODE_PHOEBUS_DISPLAY", ":67")
    cp = classpath(repo)
    x = Xvfb(display)
    ph = None
    try:
        t0 = time.monotonic()
        ph = Phoebus(cp, work, display, [5064], int(os.environ["EPICS_CA_REPEATER_PORT"]), [url],
                     work / "phoebus.log", addr_list=bed.ca_addr)
        key = "iocmgr-overview.bob"
        widgets = ph.wait_report(key, all_connected, 240, "every PV of the overview connected")
        opened = time.monotonic() - t0
        shown = {w["primary"]["name"]: w["text"] for w in widgets
                 if w["type"] == "textupdate" and w.get("primary") and w["primary"]["name"].endswith(":STATUS")}
        for name, (_, _, status) in SIBLINGS.items():
            widgets = ph.wait_report(key, lambda ws: any(
                w.get("primary", {}) and w["primary"]["name"] == f"{P}{name.upper()}:STATUS" and w["text"] == status
                for w in ws), 60, f"{name} {status} on the overview")
        OUT.mkdir(parents=True, exist_ok=True)
        png = OUT / "iocmgr-overview-node.png"
        ph.ok(f"snap {key} {png}")
        if os.environ.get("IOCMGR_TEST_NODE_DOCS") == "1":
            shutil.copy(png, TOP / "docs/images/iocmgr-overview-node.png")
        print(f"Phoebus opened {url}: every PV connected {opened:.1f} s after its start; "
              f"{summary(widgets)}; STATUS shown: {shown}; picture {png}")
        access = bed.kubectl("-n", NS, "logs", "deployment/opis")
        assert f'"GET /{RELEASE}/iocmgr-overview.bob HTTP/1.1" 200' in access
        assert f'"GET /{RELEASE}/iocmgr-row.bob HTTP/1.1" 200' in access, access[-2000:]
    finally:
        if ph:
            ph.close()
        x.close()


def test_the_charts_liveness_probe_restarts_a_hung_iocmgr(release):
    """Last: it restarts the manager. SIGSTOP: iocmgr stops answering Channel Access;
    the chart's probe (caget of HEARTBEAT) fails, the kubelet kills the container and
    starts it again, and the new iocmgr answers the machine"""
    bed = release
    pid = iocmgr_pid(bed)
    assert pid, "iocmgr's process on the node"
    t0 = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        bed.wait(lambda: bed.container(RELEASE, NS).get("restartCount", 0) >= 1, 120,
                 "the kubelet restarting the hung iocmgr")
        restarted = time.monotonic() - t0
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGCONT)
    last = bed.container(RELEASE, NS)["lastState"]["terminated"]
    events = json.loads(bed.kubectl("-n", NS, "get", "events", "--field-selector", f"involvedObject.name={POD}",
                                    "-o", "json"))["items"]
    reasons = {e["reason"]: e["message"] for e in events}
    assert "Liveness probe failed" in reasons.get("Unhealthy", ""), reasons
    assert "failed liveness probe, will be restarted" in reasons.get("Killing", ""), reasons
    assert last["exitCode"] == 137, last          # SIGKILL after the grace period: a stopped process
    bed.wait(lambda: bed.caget(P + "CONNECTED") == "Connected", 120, "the new iocmgr CONNECTED")
    connected = time.monotonic() - t0
    new = iocmgr_pid(bed)
    assert new and new != pid
    print(f"SIGSTOP of iocmgr (pid {pid}): {reasons['Unhealthy']!r}; restarted after {restarted:.1f} s "
          f"(exit {last['exitCode']}), CONNECTED again after {connected:.1f} s (pid {new})")
