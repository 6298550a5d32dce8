"""iocmgr configured as an epics-containers IOC instance: ibek (4.8.2, from
PyPI, in the venv ibek/venv.sh makes) generates st.cmd and ioc.subst from the
example config/ioc.yaml and iocmgr.ibek.support.yaml, msi from the built Base
expands the subst (ibek/start.sh --generate), and the built IOC `ioc` boots
from the result against the local control plane and serves the demo beamline.

IOCMGR_IBEK names the ibek executable (tools/run-tests.sh sets it from
ibek/venv.sh); without it the tests are skipped and say so."""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import NAMESPACE
from iocmgrtest import ARCH, TOP, chart_identity, run_ioc

IBEK = os.environ.get("IOCMGR_IBEK", "")
EXAMPLE = TOP / "ibek/example/config"
PREFIX = "TST-IBEK-01:"
ROOT = "bl46p"

pytestmark = pytest.mark.skipif(
    not (IBEK and Path(IBEK).is_file()),
    reason="ibek not available: set IOCMGR_IBEK to the ibek 4.8.2 executable "
           "(IOCMGR_IBEK=$(ibek/venv.sh); tools/run-tests.sh does this)")


def records_in(template):
    return len(re.findall(r"^\s*record\(", (TOP / "iocmgrApp/Db" / template).read_text(), re.M))


@pytest.fixture(scope="module")
def generated(cluster, tmp_path_factory):
    """ibek/start.sh --generate on the example, with the environment of a pod
    whose IOC_NAME, EC_TARGET and kubeconfig point at the test cluster."""
    runtime = tmp_path_factory.mktemp("runtime")
    # the chart's ServiceAccount and Roles, Argo CD mode on as EC_TARGET's form asks
    kubeconfig = chart_identity(cluster, tmp_path_factory.mktemp("identity"), NAMESPACE,
                                values=["rbac.deployments=true", "argocd.enabled=true"])
    opi = tmp_path_factory.mktemp("opi")     # not in runtime: ibek empties its output directory
    # EC_TARGET in ec's Argo CD form: it names the root Application, not the namespace
    env = dict(os.environ, IBEK=IBEK, RUNTIME_DIR=str(runtime), IOC_NAME="tst-ibek-01",
               IOCMGR_PREFIX=PREFIX, IOCMGR_KUBECONFIG=str(kubeconfig),
               EC_TARGET=f"{NAMESPACE}/{ROOT}",
               IOCMGR_OPI_DIR=str(opi), IOCMGR_ALARM_CONFIG=str(opi / "iocmgr-alarms.xml"))
    t0 = time.monotonic()
    r = subprocess.run([str(TOP / "ibek/start.sh"), "--generate", str(EXAMPLE)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"ibek/start.sh --generate failed:\n{r.stderr}"
    print(f"ibek generate + msi: {time.monotonic() - t0:.1f} s")
    assert Path(r.stdout.strip()) == runtime / "st.cmd"
    return runtime, opi


def test_ibek_generates_st_cmd_with_iocmgr_commands(generated):
    generated, _ = generated
    st = (generated / "st.cmd").read_text()
    lines = [l.strip() for l in st.splitlines()]
    # the Generic IOC frame ibek writes, then the Manager entity's pre_init
    assert f'cd "{TOP}"' in lines
    assert "dbLoadDatabase dbd/ioc.dbd" in lines and "ioc_registerRecordDeviceDriver pdbbase" in lines
    assert any(l.startswith('iocmgrConfigure("') and l.endswith('"", "")') for l in lines), st
    assert 'iocmgrExpect("bl46p-ea-ioc-01")' in lines
    load = [l for l in lines if l.startswith("iocmgrLoadInstances(")]
    assert load and load[0].startswith(f'iocmgrLoadInstances("{PREFIX}", "db/iocmgrInstance.template"')
    # the defaults: Argo CD from EC_TARGET, crash settle 120 s; before the instances load
    for line in ('iocmgrArgoCD("", "", "")', "iocmgrCrashSettle(120)"):
        assert line in lines and lines.index(line) < lines.index(load[0]), st
    assert lines.index(load[0]) < lines.index(f"dbLoadRecords {generated}/ioc.db") < lines.index("iocInit")
    assert (TOP / "dbd/ioc.dbd").exists() and (TOP / "bin" / ARCH / "ioc").exists()


def test_msi_expands_the_manager_template(generated):
    generated, _ = generated
    subst = (generated / "ioc.subst").read_text()
    assert 'file "iocmgrManager.template"' in subst and PREFIX in subst
    db = (generated / "ioc.db").read_text()
    assert "$(" not in db, "msi left a macro unexpanded"
    assert len(re.findall(r"^record\(", db, re.M)) == records_in("iocmgrManager.template")
    assert f'"{PREFIX}CONNECTED"' in db


def test_ibek_boot_serves_the_demo_beamline(cluster, generated, tmp_path):
    generated, opi = generated
    expected = {"bl46p-ea-ioc-01", "bl46p-mo-ioc-01"}     # the example's expected list
    for selector in ("ioc=true", "is_ioc=true"):
        for kind in ("statefulsets", "deployments"):      # the demo has one Deployment-based IOC
            expected |= set(cluster.kubectl("-n", NAMESPACE, "get", kind, "-l", selector, "-o",
                                            "jsonpath={.items[*].metadata.name}").split())
    dbl = tmp_path / "dbl.txt"
    t0 = time.monotonic()
    pod_env = {"EC_TARGET": f"{NAMESPACE}/{ROOT}"}     # iocmgr reads it at boot too
    with run_ioc(tmp_path, pod_env, prefix=PREFIX, binary=TOP / "bin" / ARCH / "ioc",
                 startup=generated / "st.cmd", post_iocsh=[f"dbl > {dbl}", f"aspuag > {tmp_path}/uag.txt",
                             f"asphag > {tmp_path}/hag.txt"]) as ioc:
        deadline = time.monotonic() + 30
        while ioc.ca.try_get(ioc.pv("CONNECTED")) != "Connected":
            if time.monotonic() > deadline:
                raise AssertionError(f"the ibek-booted iocmgr did not connect: LAST_ERROR "
                                     f"{ioc.get('LAST_ERROR', string=True)!r}\n{ioc.logtext()}")
            time.sleep(0.3)
        print(f"ibek boot to CONNECTED: {time.monotonic() - t0:.1f} s")
        assert ioc.get("NAMESPACE") == NAMESPACE
        # the root EC_TARGET names; this cluster has no Argo CD, so it is not found
        assert ioc.get("ARGO_APP") == f"{NAMESPACE}/{ROOT}" and ioc.get("HEALTH") == "Missing"
        count = int(ioc.get("COUNT"))
        assert count == len(expected)
        names = ioc.get("NAMES", string=True).split()
        assert all(n in names for n in expected), names
        # an instance of the demo beamline shows what the cluster has: Running
        ioc.ca.wait_value(ioc.pv("STATUS", "bl46p-ea-ioc-01"), "Running", timeout=60)
        records = dbl.read_text().split()
        print(f"ibek boot: dbl | wc -l = {len(records)} ({count} instances)")
        assert len(records) == records_in("iocmgrManager.template") \
            + count * records_in("iocmgrInstance.template") + records_in("iocmgrTable.template")
        # access security from users/hosts: every name of the comma-separated lists
        assert "UAG(IOCMGR_USERS) {bl46p-operator,root}" in (tmp_path / "uag.txt").read_text()
        # with each name's address for pvAccess (docs/pva.md): localhost's; the workstations
        # do not resolve here, and the log says so
        assert "HAG(IOCMGR_HOSTS) {bl46p-ws001,bl46p-ws002,localhost,127.0.0.1}" in (tmp_path / "hag.txt").read_text()
        assert "cannot resolve host 'bl46p-ws001'" in ioc.logtext()
        assert (opi / "iocmgr-overview.bob").exists()
        assert "BL46P" in (opi / "iocmgr-alarms.xml").read_text()


def test_ibek_schema_and_validation_follow_the_entity_model(tmp_path):
    """ibek's own model checks: the IOC schema it makes from our support YAML
    (what an editor validates ioc.yaml with) names the Manager and requires P,
    and a misspelt or missing parameter stops generation with its name."""
    schema_file = tmp_path / "iocmgr.ibek.ioc.schema.json"
    r = subprocess.run([IBEK, "ioc", "generate-schema", "--no-ibek-defs",
                        str(TOP / "ibek/iocmgr.ibek.support.yaml"), "--output", str(schema_file)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    schema = json.loads(schema_file.read_text())
    manager = [d for d in schema["$defs"].values()
               if d.get("properties", {}).get("type", {}).get("const") == "iocmgr.Manager"]
    assert manager and "P" in manager[0]["required"]
    for body, word in (('    P: "TST-IBEK-02:"\n    namespce: bl46p-iocs\n', "namespce"),
                       ("    namespace: bl46p-iocs\n", "P")):
        config = tmp_path / word / "config"
        config.mkdir(parents=True)
        (config / "ioc.yaml").write_text("ioc_name: tst-ibek-02\ndescription: bad\nentities:\n"
                                         "  - type: iocmgr.Manager\n" + body)
        r = generate2(config, tmp_path / word / "out", tmp_path)
        assert r.returncode != 0 and f"iocmgr.Manager`.{word}" in r.stdout + r.stderr, r.stderr[-2000:]
        assert not (tmp_path / word / "out/st.cmd").exists()


def generate2(config, out, runtime):
    """ibek runtime generate2 of a config directory with our support YAML."""
    return subprocess.run([IBEK, "runtime", "generate2", str(config), "--definitions",
                           str(TOP / "ibek/iocmgr.ibek.support.yaml"), "-o", str(out), "--no-pvi"],
                          env=dict(os.environ, IOC=str(TOP), RUNTIME_DIR=str(runtime)),
                          capture_output=True, text=True, timeout=120)


def test_ibek_passes_argo_cd_and_crash_settle(tmp_path):
    """The Argo CD parameters and the crash settle reach their iocsh commands."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "ioc.yaml").write_text(
        "ioc_name: tst-ibek-03\ndescription: argo\nentities:\n  - type: iocmgr.Manager\n"
        '    P: "TST-IBEK-03:"\n    argo_namespace: bl46p-beamline\n    argo_root: bl46p\n'
        '    argo_instance_label: "-"\n    crash_settle: 30\n')
    r = generate2(config, tmp_path / "out", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [l.strip() for l in (tmp_path / "out/st.cmd").read_text().splitlines()]
    assert 'iocmgrArgoCD("bl46p-beamline", "bl46p", "-")' in lines
    assert "iocmgrCrashSettle(30)" in lines
