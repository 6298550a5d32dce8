"""Small namespaces of IOC instances for one test module, shaped like the
ioc-instance chart's objects (labels ioc/location/domain/enabled, the kwok
node's toleration), created and deleted by the module that uses them. Every
pod gets a console log from the cluster's default kwok ClusterLogs."""
import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest

from iocmgrtest import ca_tools_for_any_user, wait_until

IMAGE = "ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1"
TOLERATIONS = "[{key: beamline, operator: Equal, value: bl46p, effect: NoSchedule}]"


def _labels(name, extra):
    labels = {"app": name, "ioc": "true", "location": "bl46p", "domain": "bl46p", "enabled": "true"}
    labels.update(extra or {})
    return "{" + ", ".join(f'{k}: "{v}"' for k, v in labels.items()) + "}"


def statefulset(name, ns, replicas=1, image=IMAGE, labels=None, node_selector=None):
    selector = ("nodeSelector: {" + ", ".join(f'{k}: "{v}"' for k, v in node_selector.items()) + "}"
                if node_selector else "")
    return f"""
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
  namespace: {ns}
  labels: {_labels(name, labels)}
spec:
  replicas: {replicas}
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, ioc: "true"}}}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: {TOLERATIONS}
      {selector}
      containers: [{{name: ioc, image: "{image}"}}]
"""


def deployment(name, ns, image=IMAGE):
    """The oldest charts: a Deployment labelled is_ioc, whose pod is <name>-<hash>-<5>."""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}, is_ioc: "true", beamline: bl46p}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, is_ioc: "true"}}}}
    spec:
      terminationGracePeriodSeconds: 0
      tolerations: {TOLERATIONS}
      containers: [{{name: ioc, image: "{image}"}}]
"""


def apply(cluster, text):
    r = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"], input=text,
                       text=True, env=cluster.env, capture_output=True, timeout=60)
    assert r.returncode == 0, f"kubectl apply: {r.stderr}\n{text}"


def pod_names(cluster, ns, app):
    return cluster.kubectl("-n", ns, "get", "pods", "-l", f"app={app}", "-o",
                           "jsonpath={.items[*].metadata.name}").split()


def ready(cluster, ns, app):
    out = cluster.kubectl("-n", ns, "get", "pods", "-l", f"app={app}", "-o",
                          'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}', check=False)
    return out.strip() == "True"


@contextmanager
def namespace(cluster, ns, *objects, wait_ready=()):
    """A fresh namespace with the objects applied; the apps in wait_ready have a Ready
    pod before the block runs. Deleted afterwards."""
    fresh_namespaces(cluster, ns)
    try:
        for obj in objects:
            apply(cluster, obj)
        for app in wait_ready:
            wait_until(lambda: ready(cluster, ns, app), 60, step=0.3, what=f"{app} Ready")
        yield ns
    finally:
        drop_namespaces(cluster, ns)


def fresh_namespaces(cluster, *namespaces):
    for ns in namespaces:
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=90s")
        cluster.kubectl("create", "namespace", ns)


def drop_namespaces(cluster, *namespaces):
    for ns in namespaces:
        cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


# setpriv (a CA client outside the user group) needs root (CI and the dev VM run as root)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setpriv needs root")


@pytest.fixture(scope="module")
def ca_tools():
    """The CA tools any user can run (iocmgrtest.ca_tools_for_any_user)."""
    d, extra = ca_tools_for_any_user()
    yield d, extra
    shutil.rmtree(d, ignore_errors=True)
