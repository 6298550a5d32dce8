"""Argo CD Applications of a shared namespace, with Argo CD's own Application CRD
and no Argo CD running (as test_cluster_argo_ioc.py): Applications of another
beamline never make the manager re-derive its instances (each of their reconciles
would otherwise rescan the whole beamline), while its own child still does; and
REVISION keeps a 40-hex commit SHA whole."""
import pytest

from beds import apply, drop_namespaces, fresh_namespaces
from iocmgrtest import run_ioc, wait_until
from test_cluster_argo_ioc import APP, STS, application_crd, tracking

APPS, IOCS, ROOT = "argof-beamline", "argof-iocs", "argof"
CHILD, PLAIN = "argof-ea-ioc-01", "argof-ea-ioc-02"
OTHER_ROOT, OTHERS = "other", ("other-ea-ioc-01", "other-ea-ioc-02", "other-ea-ioc-03")
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def bed(cluster):
    missing = application_crd(cluster)
    if missing:
        pytest.fail(missing)
    fresh_namespaces(cluster, APPS, IOCS)
    apply(cluster, APP.format(name=ROOT, ns=APPS, iocs=APPS, annotations="", repo="deploy", path="apps",
                              rev="main", params='[{name: other.thing, value: "x"}]'))
    apply(cluster, APP.format(name=CHILD, ns=APPS, iocs=IOCS, repo="services", path=f"services/{CHILD}",
                              rev=SHA, params='[{name: global.enabled, value: "true"}]',
                              annotations=tracking(f"{APPS}_{ROOT}:argoproj.io/Application:{APPS}/{CHILD}")))
    apply(cluster, STS.format(name=CHILD, ns=IOCS, labels="",
                              annotations=tracking(f"{APPS}_{CHILD}:apps/StatefulSet:{IOCS}/{CHILD}")))
    apply(cluster, STS.format(name=PLAIN, ns=IOCS, labels="", annotations=""))
    # another beamline deployed from the same Argo CD namespace
    apply(cluster, APP.format(name=OTHER_ROOT, ns=APPS, iocs=APPS, annotations="", repo="deploy2", path="apps",
                              rev="main", params='[{name: other.thing, value: "y"}]'))
    for other in OTHERS:
        apply(cluster, APP.format(name=other, ns=APPS, iocs="other-iocs", repo="services2",
                                  path=f"services/{other}", rev="2024.4.1",
                                  params='[{name: global.enabled, value: "true"}]',
                                  annotations=tracking(f"{APPS}_{OTHER_ROOT}:argoproj.io/Application:{APPS}/{other}")))
    yield cluster
    drop_namespaces(cluster, APPS, IOCS)


@pytest.fixture(scope="module")
def ioc(bed, tmp_path_factory):
    env = {"KUBECONFIG": bed.kubeconfig, "IOCMGR_NAMESPACE": IOCS, "EC_TARGET": f"{APPS}/{ROOT}"}
    with run_ioc(tmp_path_factory.mktemp("argof"), env, prefix="TST-ARGOF-01:",
                 post_iocsh=["var iocmgrDebug 1"]) as booted:
        booted.ca.wait_value(booted.pv("CONNECTED"), "Connected", timeout=30)
        booted.ca.wait_value(booted.pv("ARGO_APP", CHILD), f"{APPS}/{CHILD}", timeout=20)
        yield booted


def test_revision_keeps_a_commit_sha_whole(ioc):
    assert ioc.get("REVISION", CHILD, string=True) == SHA


def derivations(ioc, since, name):
    return [line for line in ioc.logtext()[since:].splitlines() if f"iocmgr: {name} -> " in line]


def test_other_beamlines_applications_derive_nothing(ioc, bed):
    since = len(ioc.logtext())
    for n in range(5):
        for other in OTHERS + (OTHER_ROOT,):
            bed.kubectl("-n", APPS, "annotate", "application", other, f"touched=n{n}", "--overwrite")
    # then our own child changes: the manager re-derives its instance, after all the above
    bed.kubectl("-n", APPS, "annotate", "application", CHILD, "touched=yes", "--overwrite")
    wait_until(lambda: derivations(ioc, since, CHILD), 20, what=f"{CHILD} re-derived")
    plain = derivations(ioc, since, PLAIN)
    print(f"{len(plain)} derivations of {PLAIN} after 20 changes of another beamline's Applications")
    assert plain == [], plain[:3]
    assert len(derivations(ioc, since, CHILD)) <= 2, derivations(ioc, since, CHILD)
