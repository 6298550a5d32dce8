#!/usr/bin/env bash
# The alarm tests (tests/alarm/test_alarm_server.py): Kafka and the real Phoebus
# alarm server against iocmgr and the local control plane. Ends with pytest's own
# summary; tools/run-tests.sh reads the junit XML written to $IOCMGR_TEST_JUNIT.
# Without a Phoebus Maven repository ($PHOEBUS_REPO, or <repo top>/../shared/phoebus/m2)
# every test is reported skipped with the sentence saying what to set (pytest runs
# them with IOCMGR_ALARM_SKIP, so each one is counted). Needs the cluster of
# tests/cluster/up.sh (IOCMGR_CLUSTER_DIR and its ports in the environment), the
# built IOC, java 17 and mvn. Ports: IOCMGR_ALARM_KAFKA_PORT (default 16640, and
# +1) and IOCMGR_ALARM_CA_PORT (default 16642, and +1, +2), all on 127.0.0.1.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

setup=$("$here/setup.sh")
rc=$?
if [ "$rc" -eq 77 ]; then
    export IOCMGR_ALARM_SKIP=${setup#skip }
    echo "# SKIP alarm-server tests: $IOCMGR_ALARM_SKIP"
elif [ "$rc" -ne 0 ]; then
    echo "not ok - tests/alarm/setup.sh failed (exit $rc): see above"
    exit 1
else
    export IOCMGR_ALARM_KAFKA_CP=$(echo "$setup" | sed -n 's/^kafka //p')
    export IOCMGR_ALARM_PHOEBUS_CP=$(echo "$setup" | sed -n 's/^phoebus //p')
fi
exec python3 -m pytest -p no:cacheprovider -v -rA -s --rootdir "$here" \
    ${IOCMGR_TEST_JUNIT:+--junitxml="$IOCMGR_TEST_JUNIT"} "$here/test_alarm_server.py" \
    "$here/test_alarm_pva.py" "$@"
