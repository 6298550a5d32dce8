#!/usr/bin/env bash
# Run the fault tests N times (default 3) against the cluster named by
# IOCMGR_CLUSTER_DIR (and the IOCMGR_*_PORT variables) and print the median, min and
# max of every figure they report (tests/integration/test_cluster_faults.py).
#   tests/faults/measure.sh [N] [pytest -k expression]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-3}
expr=${2:-}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
fails=0
for i in $(seq 1 "$n"); do
    echo "measure: run $i of $n"
    IOCMGR_FAULT_RESULTS=$results timeout 1800 python3 -m pytest -p no:cacheprovider -q \
        "$top/tests/integration/test_cluster_faults.py" ${expr:+-k "$expr"} | tail -1
    [ "${PIPESTATUS[0]}" -eq 0 ] || fails=$((fails + 1))
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    runs.setdefault(d["name"], []).append(d["seconds"])
print(f"{'figure':55s} {'n':>2s} {'median':>8s} {'min':>8s} {'max':>8s}")
for name, v in runs.items():
    print(f"{name:55s} {len(v):2d} {statistics.median(v):8.2f} {min(v):8.2f} {max(v):8.2f}")
PY
echo "measure: $fails of $n runs had failures"
[ "$fails" -eq 0 ]
