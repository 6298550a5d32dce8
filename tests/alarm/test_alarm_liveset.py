"""An instance deployed after iocmgr booted raises its alarm at the real alarm server
without re-importing the configuration (issue 16): the configuration written at boot
covers the spare slots; the new instance is bound to one, crash-loops, and the slot's
STATUS raises one MAJOR; the free slots raise nothing. Same Kafka, alarm server and
iocmgr as test_alarm_server.py (conftest.py), its default pool of 16 slots."""
import time

from conftest import CONFIG, NAMESPACE, PREFIX

from iocmgrtest import wait_until

NEW = "alarm-live-01"
STS = f"""
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {NEW}
  namespace: {NAMESPACE}
  labels: {{app: {NEW}, ioc: "true", location: bl46p, domain: bl46p, enabled: "true"}}
spec:
  replicas: 1
  serviceName: {NEW}
  selector: {{matchLabels: {{app: {NEW}}}}}
  template:
    metadata:
      labels: {{app: {NEW}, ioc: "true", iocmgr.test/crash-loop: "true"}}
      annotations:
        ioc-crash.stage.kwok.x-k8s.io/delay: "3s"
        ioc-crash-restart.stage.kwok.x-k8s.io/delay: "6s"
    spec:
      terminationGracePeriodSeconds: 3
      tolerations: [{{key: beamline, operator: Equal, value: bl46p, effect: NoSchedule}}]
      containers: [{{name: ioc, image: "ghcr.io/epics-containers/ioc-adsimdetector-runtime:2024.4.1"}}]
"""


def slot_path(slot, field):
    return f"/{CONFIG}/spare-slots/{slot}/{PREFIX}{slot}:{field}"


def test_a_crash_loop_deployed_after_boot_raises_without_reimport(alarm_server, beamline, ioc, tmp_path):
    rec = alarm_server.recording
    free_before = int(ioc.get("SPARE_FREE"))
    slot = f"SPARE_{int(ioc.get('SPARE_SLOTS')) - free_before + 1:03d}"
    # the configuration the server runs on, imported at boot, has the slot: nothing re-imported
    assert rec.config(slot_path(slot, "STATUS")), f"{slot} is not in the imported configuration"
    manifest = tmp_path / "live.yaml"
    manifest.write_text(STS)
    t0 = time.time()
    beamline.kubectl("apply", "-f", str(manifest))
    try:
        ioc.ca.wait_value(ioc.pv("NAME", slot), lambda v, s: v == NEW, timeout=30)
        path = slot_path(slot, "STATUS")
        first, sevr, value, msg = rec.wait_state(path, lambda s, v: s == "MAJOR", 90, after=t0)
        assert value == "CrashLoop", (value, msg)
        # two more crash cycles (9 s each): still one alarm
        wait_until(lambda: int(beamline.kubectl("-n", NAMESPACE, "get", "pod", f"{NEW}-0", "-o",
                                                "jsonpath={.status.containerStatuses[0].restartCount}")
                               or 0) >= 3, 60, step=0.5, what="three restarts")
        states = [s for s in rec.states(path) if s[0] >= t0]
        print(f"\nalarm states of {path} ({NEW} applied at 0.0 s):")
        for t, s, v, m in states:
            print(f"  {t - t0:8.1f} s  {s:8s} {v:12s} {m}")
        raised = [i for i in range(len(states)) if states[i][1] == "MAJOR"
                  and (i == 0 or states[i - 1][1] != "MAJOR")]
        assert len(raised) == 1, states
        assert ioc.get("STATUS", NEW) == "CrashLoop"
        # the free slots raised nothing, on STATUS or ALIVE, from the start
        for k in range(int(ioc.get("SPARE_SLOTS"))):
            other = f"SPARE_{k + 1:03d}"
            if other == slot:
                continue
            for field in ("STATUS", "ALIVE"):
                bad = [s for s in rec.states(slot_path(other, field)) if s[1] not in ("OK", None)]
                assert not bad, (other, field, bad)
    finally:
        beamline.kubectl("-n", NAMESPACE, "delete", "statefulset", NEW, "--wait=false", check=False)
