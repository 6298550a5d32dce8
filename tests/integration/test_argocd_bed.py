"""The Argo CD test bed itself (tests/argocd): the real application controller and
repo server keep the bl46p beamline as git and the root's Helm parameters say.
These are the facts iocmgr's Argo CD support rests on: a direct scale is put back
(so scaling cannot stop an instance), a parameter on the ROOT sticks, a change made
behind Argo CD's back shows OutOfSync and is healed."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "argocd"))
from bedtest import bed, clean_bed, record, services  # noqa: E402,F401  (fixtures)
from iocmgrtest import wait_until  # noqa: E402


def test_every_instance_comes_from_a_child_application(bed):
    root = bed.app(bed.root)
    assert root["spec"]["source"]["path"] == "apps"
    for name, image, enabled, desc in services():
        app = bed.app(name)
        assert app, f"no child Application {name}"
        # the child carries its root's tracking-id, the StatefulSet its child's
        tid = app["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
        assert tid == f"{bed.ns}_{bed.root}:argoproj.io/Application:{bed.ns}/{name}", tid
        sts = bed.sts(name)
        tid = sts["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
        assert tid == f"{bed.ns}_{name}:apps/StatefulSet:{bed.ns}/{name}", tid
        labels = sts["metadata"]["labels"]
        assert labels["ioc"] == "true" and labels["app"] == name and labels["description"] == desc
        assert labels["enabled"] == ("true" if enabled else "false")
        assert sts["spec"]["replicas"] == (1 if enabled else 0)
        assert ("STOPPED" in app["metadata"].get("labels", {})) == (not enabled)
        assert app["spec"]["source"]["targetRevision"] == "2024.4.1"


def test_direct_scale_is_reverted(clean_bed):
    """kubectl scale --replicas=0 on a managed StatefulSet: self-heal puts 1 back."""
    bed, name = clean_bed, "bl46p-mo-ioc-01"
    watch = bed.watch("statefulsets", name=name)
    try:
        wait_until(lambda: watch.of(name), 10, what="the watch's first event")
        t0 = time.monotonic()
        bed.kubectl("scale", "statefulset", name, "--replicas=0")
        wait_until(lambda: any(e[0] > t0 and e[5]["spec"]["replicas"] == 0 for e in watch.of(name)), 10,
                   what="the scale to 0 seen")
        wait_until(lambda: any(e[0] > t0 and e[5]["spec"]["replicas"] == 1 for e in watch.of(name)), 60,
                   what="self-heal scaling it back to 1")
        back = min(e[0] for e in watch.of(name) if e[0] > t0 and e[5]["spec"]["replicas"] == 1) - t0
    finally:
        watch.close()
    record("direct-scale-revert", f"kubectl scale --replicas=0 put back to 1 after {back:.2f} s")
    wait_until(lambda: bed.ready_pod(name), 60, what="the pod Ready again")
    assert bed.status(name)[0] == "Synced"


def test_root_parameter_stops_and_the_stop_sticks(clean_bed):
    """services.<svc>.enabled=false on the root: the child gets global.enabled=false and
    STOPPED, the StatefulSet replicas 0, the pod goes and stays gone; removed, it returns."""
    bed, name = clean_bed, "bl46p-ea-ioc-01"
    bed.set_root_params({f"services.{name}.enabled": "false"})
    took = wait_until(lambda: not bed.pods(name), 60, what="the pod gone")
    record("root-parameter-stop", f"root parameter set -> pod gone in {took:.2f} s (kubectl patch)")
    app = bed.app(name)
    assert app["metadata"]["labels"].get("STOPPED") == "1"
    assert {"name": "global.enabled", "value": "false"} in app["spec"]["source"]["helm"]["parameters"]
    assert bed.sts(name)["metadata"]["labels"]["enabled"] == "false"
    proved = bed.stays_gone(name)
    record("root-parameter-stop-sticks", f"still gone after Argo CD's next comparison ({proved:.1f} s)")
    assert bed.sts(name)["spec"]["replicas"] == 0
    assert bed.status(name) == ("Synced", "Healthy")
    bed.set_root_params({})
    wait_until(lambda: bed.ready_pod(name), 60, what="the pod back and Ready")


def test_child_parameter_is_reverted_by_the_root(clean_bed):
    """A parameter patched on the CHILD Application is put back by the root's self-heal."""
    bed, name = clean_bed, "bl46p-mo-ioc-01"
    bed.kubectl("patch", "applications.argoproj.io", name, "--type", "json", "-p",
                '[{"op": "replace", "path": "/spec/source/helm/parameters/0/value", "value": "false"}]')
    wait_until(lambda: {"name": "global.enabled", "value": "true"} in
               bed.app(name)["spec"]["source"]["helm"]["parameters"], 60, what="the root healing its child")
    wait_until(lambda: bed.ready_pod(name), 60, what="the pod Ready")


def test_revision_parameter_rolls_the_image(clean_bed):
    """services.<svc>.targetRevision=<tag> on the root: the child follows the services
    repo's tag, whose chart has the image of that release."""
    bed, name = clean_bed, "bl46p-di-dcam-01"
    bed.set_root_params({f"services.{name}.targetRevision": "2024.5.1"})

    def image():
        return bed.sts(name)["spec"]["template"]["spec"]["containers"][0]["image"]
    took = wait_until(lambda: image().endswith(":2024.5.1"), 90, what="the image of 2024.5.1")
    record("root-parameter-revision", f"targetRevision 2024.4.1 -> 2024.5.1: image rolled in {took:.2f} s")
    assert bed.app(name)["spec"]["source"]["targetRevision"] == "2024.5.1"
    wait_until(lambda: bed.status(name) == ("Synced", "Healthy") and bed.ready_pod(name), 90,
               what="Synced, Healthy and the new pod Ready")
    bed.set_root_params({})
    wait_until(lambda: image().endswith(":2024.4.1"), 90, what="the image of 2024.4.1 back")


def test_change_behind_argos_back_shows_out_of_sync_then_synced(clean_bed):
    """A label changed with kubectl on a managed StatefulSet: the Application is seen
    OutOfSync, self-heal syncs it, and it is Synced again with the label as git has it."""
    bed, name = clean_bed, "bl46p-mo-ioc-01"
    watch = bed.watch("applications", name=name)
    try:
        wait_until(lambda: watch.of(name), 10, what="the watch's first event")
        t0 = time.monotonic()
        bed.kubectl("label", "--overwrite", "statefulset", name, "description=changed-by-hand")

        def states():
            return [(e[0], e[5].get("status", {}).get("sync", {}).get("status")) for e in watch.of(name)
                    if e[0] > t0]
        wait_until(lambda: any(s == "OutOfSync" for _, s in states()), 60, what="OutOfSync")
        t_out = min(t for t, s in states() if s == "OutOfSync")
        wait_until(lambda: any(t > t_out and s == "Synced" for t, s in states()), 60, what="Synced again")
        t_in = min(t for t, s in states() if t > t_out and s == "Synced")
    finally:
        watch.close()
    record("out-of-sync-healed", f"OutOfSync seen {t_out - t0:.2f} s after the change, Synced {t_in - t0:.2f} s")
    wait_until(lambda: bed.sts(name)["metadata"]["labels"]["description"] != "changed-by-hand", 30,
               what="the label as git has it")
