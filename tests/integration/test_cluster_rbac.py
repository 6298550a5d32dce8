"""With rights too small for a command, the API's own 403 reaches CMD_MSG."""
import subprocess

from conftest import NAMESPACE
from iocmgrtest import run_ioc

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
