"""The images the node runs, built without a registry by tests/images/build.sh (docs/node.md):
iocmgr's from its one recipe (tools/image-rootfs.sh, which the Dockerfile runs too),
reproducible, without build or test packages, and running as a real pod with the
in-cluster configuration."""
import json
import os
import re
import subprocess
import tarfile

from nodebed import NAMESPACE, TOP


def dockerfile_final_stage():
    """ENV, WORKDIR and CMD of the Dockerfile's last stage, and its lines"""
    text = (TOP / "Dockerfile").read_text()
    logical = re.sub(r"\\\n\s*", " ", text).splitlines()
    last = max(k for k, line in enumerate(logical) if line.startswith("FROM "))
    stage = logical[last:]
    env, workdir, cmd = [], None, None
    for line in stage:
        word, _, rest = line.partition(" ")
        if word == "ENV":
            env += rest.split()
        elif word == "WORKDIR":
            workdir = rest.strip()
        elif word == "CMD":
            cmd = " ".join(json.loads(rest))
    return env, workdir, cmd, logical


def test_the_dockerfile_and_the_test_node_use_one_recipe():
    env, workdir, cmd, lines = dockerfile_final_stage()
    out = subprocess.run([str(TOP / "tools/image-rootfs.sh"), "--config"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    recipe = dict(line.split("=", 1) for line in out if not line.startswith("ENV="))
    assert sorted(line[4:] for line in out if line.startswith("ENV=")) == sorted(env)
    assert recipe["WORKDIR"] == workdir
    assert recipe["CMD"] == cmd
    # the image is what the recipe assembles, and nothing else
    assert any("tools/image-rootfs.sh /rootfs" in line for line in lines)
    assert lines[[k for k, line in enumerate(lines) if line.startswith("FROM ")][-1]] == "FROM scratch"
    assert "COPY --from=build /rootfs/ /" in lines


def build(name):
    out = subprocess.run([str(TOP / "tests/images/build.sh"), name], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    n, ref, archive = out.stdout.split()
    return ref, archive


def image_files(archive):
    with tarfile.open(archive) as outer:
        index = json.load(outer.extractfile("index.json"))
        manifest = json.load(outer.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        layer = outer.extractfile("blobs/sha256/" + manifest["layers"][0]["digest"][7:])
        with tarfile.open(fileobj=layer) as inner:
            return inner.getnames()


def test_the_images_are_reproducible_and_hold_no_build_or_test_files():
    for name in ("pause", "ioc", "iocmgr"):
        first = build(name)
        assert build(name) == first, f"{name}: a second build gave another image"
    files = image_files(build("iocmgr")[1])
    assert "epics/iocmgr/bin/linux-x86_64/iocmgr" in files
    assert "epics/epics-base/bin/linux-x86_64/caget" in files
    assert "epics/iocmgr/opi/iocmgr-manager.bob" in files
    unwanted = re.compile(r"(^|/)(gcc|cc1|ld|as|make|perl|python3?|valgrind|java|mvn|clang|pytest)(-[\d.]+)?$"
                          r"|^usr/include/|\.a$|\.h$|^usr/share/doc/(build-essential|valgrind|python3|"
                          r"openjdk|maven|clang|gcc|libcmocka)")
    assert not [f for f in files if unwanted.search(f)], [f for f in files if unwanted.search(f)]
    docs = sorted({f.split("/")[3] for f in files if f.startswith("usr/share/doc/") and f.count("/") >= 4})
    print(f"iocmgr image: {len(files)} files; Debian packages it carries files of: {docs}")


def test_iocmgr_runs_from_its_image_as_a_pod_with_the_in_cluster_config(bed, instances):
    # IOCMGR_TEST_IOCMGR_IMAGE: another iocmgr image on the node (e.g. the Dockerfile's,
    # tests/images/dockerfile.sh, imported with ctr)
    image = os.environ.get("IOCMGR_TEST_IOCMGR_IMAGE") or bed.env.get("IOCMGR_IMAGE_IOCMGR")
    assert image, "the node has no iocmgr image (make, then tests/cluster/node.sh import iocmgr)"
    i = instances("bl46p-ea-test-30")
    prefix = "TST-NODE-POD-01:"
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "iocmgr-image-test", "namespace": NAMESPACE, "labels": {"app": "iocmgr-image-test"}},
        "spec": {
            "serviceAccountName": "iocmgr", "hostNetwork": True, "terminationGracePeriodSeconds": 5,
            "tolerations": [{"key": "beamline", "operator": "Equal", "value": "bl46p", "effect": "NoSchedule"}],
            "containers": [{
                "name": "iocmgr", "image": image, "imagePullPolicy": "Never", "stdin": True, "tty": True,
                "env": [{"name": "IOCMGR_PREFIX", "value": prefix},
                        {"name": "IOCMGR_KUBECONFIG", "value": "incluster"},
                        {"name": "IOCMGR_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "IOCMGR_ARGO_NAMESPACE", "value": "none"}],
                "livenessProbe": {"exec": {"command": ["/bin/sh", "-c", 'caget -w 5 "${IOCMGR_PREFIX}HEARTBEAT"']},
                                  "initialDelaySeconds": 2, "periodSeconds": 3, "timeoutSeconds": 10},
            }],
        },
    }
    try:
        bed.apply(pod)
        bed.wait(lambda: (bed.get("pod", "iocmgr-image-test") or {}).get("status", {}).get("phase") == "Running",
                 60, "the iocmgr pod Running")
        # its PVs answer from the machine, over the node's address
        connected = bed.wait(lambda: bed.caget(prefix + "CONNECTED") == "Connected", 60,
                             f"{prefix}CONNECTED from the machine")
        assert connected
        bed.wait(lambda: i in (bed.caget(prefix + "NAMES", string=True) or "").split(), 30,
                 "the instance in NAMES")
        bed.wait(lambda: bed.caget(f"{prefix}{i.upper()}:STATUS") == "Running", 60, "the instance Running")
        # the chart's liveness probe ran in the container, and passed
        events = bed.kubectl("-n", NAMESPACE, "get", "events", "--field-selector",
                             "involvedObject.name=iocmgr-image-test", "-o", "jsonpath={.items[*].reason}")
        status = bed.get("pod", "iocmgr-image-test")["status"]["containerStatuses"][0]
        assert status["restartCount"] == 0 and "Unhealthy" not in events, (status, events)
        log = bed.kubectl("-n", NAMESPACE, "logs", "iocmgr-image-test")
        assert "iocInit" in log
    finally:
        bed.kubectl("-n", NAMESPACE, "delete", "pod", "iocmgr-image-test", "--ignore-not-found", "--wait=false",
                    check=False)
