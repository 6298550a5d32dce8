#!/usr/bin/env bash
# Run a command against a fresh local cluster with the demo beamline loaded, then
# stop the cluster whatever happened: the entry point for integration tests and CI.
#   tests/cluster/with-cluster.sh [COMMAND [ARGS...]]    (default: tests/cluster/smoke.sh)
# COMMAND runs with the cluster's env file sourced (KUBECONFIG, IOCMGR_API_URL,
# IOCMGR_NAMESPACE, IOCMGR_*_KUBECONFIG, PATH with kubectl). Exit status: COMMAND's,
# or up/demo's when those fail. IOCMGR_KEEP_LOGS=DIR keeps the component logs there.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -gt 0 ] || set -- "$here/smoke.sh"
trap '"$here/down.sh" >&2' EXIT
"$here/up.sh" || exit $?
"$here/demo.sh" || exit $?
( . "$IOCMGR_CLUSTER_DIR/env" && "$@" )
