#!/usr/bin/env bash
# The alarm tests (tests/alarm/test_alarm_server.py): Kafka and the real Phoebus
# alarm server against iocmgr and the local control plane. Ends with
#   alarm: N passed, N failed, N skipped
# Without a Phoebus Maven repository ($PHOEBUS_REPO, or <repo top>/../shared/phoebus/m2)
# every test is skipped with one line saying what to set. Needs the cluster of
# tests/cluster/up.sh (IOCMGR_CLUSTER_DIR and its ports in the environment), the
# built IOC, java 17 and mvn. Ports: IOCMGR_ALARM_KAFKA_PORT (default 16640, and
# +1) and IOCMGR_ALARM_CA_PORT (default 16642, and +1, +2), all on 127.0.0.1.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# test_alarm_pva.py: the same server reading pva:// PVs (IOCMGR_ALARM_PROTOCOL=pva, docs/pva.md)
# test_alarm_liveset.py: an instance deployed after boot, in a spare slot (docs/alarms.md)
files="$here/test_alarm_server.py $here/test_alarm_pva.py $here/test_alarm_liveset.py"
tests=$(cat $files | grep -c '^def test_')

setup=$("$here/setup.sh")
rc=$?
if [ "$rc" -eq 77 ]; then
    echo "# SKIP alarm-server tests: ${setup#skip }"
    echo "alarm: 0 passed, 0 failed, $tests skipped"
    exit 0
fi
if [ "$rc" -ne 0 ]; then
    echo "not ok - tests/alarm/setup.sh failed (exit $rc): see above"
    echo "alarm: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
export IOCMGR_ALARM_KAFKA_CP=$(echo "$setup" | sed -n 's/^kafka //p')
export IOCMGR_ALARM_PHOEBUS_CP=$(echo "$setup" | sed -n 's/^phoebus //p')

log=$(mktemp)
python3 -m pytest -p no:cacheprovider -v -s --rootdir "$here" $files "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
last=$(grep -E '^=+ .*(passed|failed|error|skipped).* in [0-9.]+s' "$log" | tail -1)
rm -f "$log"
count() { echo "$last" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}'; }
p=$(count passed); f=$(( $(count failed) + $(count 'errors?') )); s=$(count skipped)
# a run that ends without pytest's summary (a crash, a hang killed) is a failure
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
echo "alarm: $p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
