"""RBAC: the shared `ioc` fixture runs as the chart's ServiceAccount (not an admin);
with rights too small for a command, the API's own 403 reaches CMD_MSG; the Roles the
chart renders (iocmgrtest.chart_identity) have exactly DESIGN.md's rules, Argo CD
Applications included, and its identity reaches nothing beyond them."""
import json
import subprocess

import pytest

from conftest import NAMESPACE
from iocmgrtest import CHART_SA, chart_identity, run_ioc

ROLE = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: iocmgr-viewer, namespace: %(ns)s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: iocmgr-viewer, namespace: %(ns)s}
rules:
- apiGroups: ["apps"]
  resources: ["statefulsets", "deployments"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods", "events"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: iocmgr-viewer, namespace: %(ns)s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: iocmgr-viewer}
subjects:
- {kind: ServiceAccount, name: iocmgr-viewer, namespace: %(ns)s}
"""


def test_the_shared_ioc_runs_as_the_charts_service_account_not_an_admin(ioc, cluster):
    """What the restart/stop/image/log tests of test_cluster_ioc.py run as: the API
    server's own answer (SelfSubjectReview) for the `ioc` fixture's credentials."""
    def as_ioc(*args):
        return subprocess.run(["kubectl", "--kubeconfig", str(ioc.kubeconfig), *args], env=cluster.env,
                              capture_output=True, text=True, timeout=30)
    who = json.loads(as_ioc("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    print(f"the ioc fixture runs as {who['username']}, groups {who.get('groups')}")
    assert who["username"] == f"system:serviceaccount:{NAMESPACE}:{CHART_SA}"
    assert "system:masters" not in who.get("groups", [])
    bound = [b["metadata"]["name"] for b in json.loads(cluster.kubectl("get", "rolebindings,clusterrolebindings",
                                                                       "-A", "-o", "json"))["items"]
             for s in b.get("subjects") or [] if s.get("kind") == "ServiceAccount"
             and s.get("name") == CHART_SA and s.get("namespace") == NAMESPACE]
    assert bound == [CHART_SA], f"bound by {bound}: only the chart's RoleBinding may give it rights"
    assert as_ioc("auth", "can-i", "delete", "pods", "-n", NAMESPACE).stdout.strip() == "yes"
    assert as_ioc("auth", "can-i", "get", "secrets", "-n", NAMESPACE).stdout.strip() == "no"
    assert as_ioc("auth", "can-i", "list", "pods", "-n", "default").stdout.strip() == "no"


def test_forbidden_restart_shows_the_api_message(cluster, tmp_path):
    subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"],
                   input=ROLE % {"ns": NAMESPACE}, text=True, env=cluster.env, check=True,
                   capture_output=True)
    token = cluster.kubectl("-n", NAMESPACE, "create", "token", "iocmgr-viewer", "--duration=10m")
    server = cluster.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
    kubeconfig = tmp_path / "viewer.kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
current-context: v
clusters:
- name: c
  cluster:
    server: {server}
    certificate-authority: {cluster.dir / 'ca.crt'}
users:
- name: viewer
  user:
    token: {token}
contexts:
- name: v
  context: {{cluster: c, user: viewer, namespace: {NAMESPACE}}}
""")
    env = {"IOCMGR_KUBECONFIG": str(kubeconfig)}
    with run_ioc(tmp_path, env, prefix="TST-VIEWER-01:") as ioc:
        i = "bl46p-ea-ioc-01"
        ioc.ca.wait_value(ioc.pv("CONNECTED"), "Connected", timeout=30)
        ioc.ca.put(ioc.pv("RESTART", i), 1)
        assert ioc.get("CMD_STAT", i) == "Error"
        msg = ioc.get("CMD_MSG", i, string=True)
        assert "403" in msg and "forbidden" in msg and "iocmgr-viewer" in msg, msg
        assert ioc.get("RESTART.SEVR", i) == "MAJOR"


# The chart's Roles (deploy/helm/iocmgr/templates/rbac.yaml with rbac.deployments and
# argocd.enabled, as applied by chart_identity), rule for rule: what iocmgr may do and
# nothing more (DESIGN.md, Kubernetes access). A rule added or widened fails here.
EXPECTED_RULES = {
    ("apps", "statefulsets"): {"get", "list", "watch", "patch"},
    ("apps", "statefulsets/scale"): {"patch"},
    ("apps", "deployments"): {"get", "list", "watch"},
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"list", "watch"},
    ("argoproj.io", "applications"): {"get", "list", "watch", "patch"},
}


@pytest.fixture(scope="module")
def argo_identity(cluster, tmp_path_factory):
    return chart_identity(cluster, tmp_path_factory.mktemp("argo-identity"), NAMESPACE,
                          values=["rbac.deployments=true", "argocd.enabled=true"])


def test_role_has_exactly_the_shipped_rules(cluster, argo_identity):
    name = f"{CHART_SA}-argo"
    got = {}
    for role_name in (name, f"{name}-argocd"):
        role = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "role", role_name, "-o", "json"))
        for rule in role["rules"]:
            assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    got.setdefault((g, r), set()).update(rule["verbs"])
    assert got == EXPECTED_RULES
    # and no cluster-wide binding gives the ServiceAccount more
    sa = f"system:serviceaccount:{NAMESPACE}:{name}"
    crbs = json.loads(cluster.kubectl("get", "clusterrolebindings", "-o", "json"))["items"]
    bound = [b["metadata"]["name"] for b in crbs for s in b.get("subjects") or []
             if s.get("kind") == "ServiceAccount" and s.get("name") == name
             and s.get("namespace") == NAMESPACE]
    assert bound == [], f"{sa} is bound cluster-wide by {bound}"


def test_limited_identity_reaches_applications_in_its_namespace_only(cluster, argo_identity):
    """The API server's own answer for the chart's ServiceAccount (Argo CD mode):
    Argo CD Applications readable and patchable here (the root's Helm parameters),
    not creatable, not deletable, not replaceable, and nothing in any other namespace."""
    limited = str(argo_identity)

    def can(verb, resource, *where):
        r = subprocess.run(["kubectl", "--kubeconfig", limited, "auth", "can-i", verb, resource, *where],
                           env=cluster.env, capture_output=True, text=True, timeout=30)
        assert r.stdout.strip() in ("yes", "no"), r.stdout + r.stderr
        return r.stdout.strip() == "yes"

    apps = "applications.argoproj.io"
    here = ("-n", NAMESPACE)
    for verb in ("get", "list", "watch", "patch"):
        assert can(verb, apps, *here), f"{verb} {apps} in {NAMESPACE} refused"
    for verb in ("create", "delete", "update", "deletecollection"):
        assert not can(verb, apps, *here), f"{verb} {apps} in {NAMESPACE} allowed"
    for ns in ("argocd", "default", "kube-system"):
        for verb in ("get", "list", "patch"):
            assert not can(verb, apps, "-n", ns), f"{verb} {apps} in {ns} allowed"
    assert not can("list", apps, "--all-namespaces")
    assert not can("patch", "appprojects.argoproj.io", *here)
    assert not can("get", "secrets", *here)
