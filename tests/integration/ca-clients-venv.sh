#!/usr/bin/env bash
# Two Python Channel Access clients from PyPI, for the live-binding suite
# (tests/integration/test_cluster_liveset.py): pyepics, on the libca its wheel
# ships (not the Base iocmgr is built with), and caproto, a pure-Python
# implementation of the CA protocol (no libca at all).
#
#   tests/integration/ca-clients-venv.sh    make it if missing; print its python
#
# Cached under $IOCMGR_CACHE/ca-clients/, keyed by the versions and the Python
# version. Python: Debian's python3, CA_CLIENTS_PYTHON to choose another. Needs
# python3-venv (tools/deps.sh) and PyPI once. A failed install leaves nothing.
set -euo pipefail
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
pyepics=3.5.10
caproto=1.3.0
python=${CA_CLIENTS_PYTHON:-/usr/bin/python3}
say() { echo "ca-clients venv: $*" >&2; }

[ -x "$python" ] || { say "no $python: set CA_CLIENTS_PYTHON to a Python 3"; exit 1; }
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=$cache/ca-clients/pyepics-$pyepics-caproto-$caproto-py$pyver

if [ ! -f "$venv/.complete" ]; then
    say "installing pyepics $pyepics and caproto $caproto into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" || { rm -rf "$venv"; say "python3 -m venv failed: install python3-venv (tools/deps.sh)"; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input \
        "pyepics==$pyepics" "caproto==$caproto" >&2 ||
        { rm -rf "$venv"; say "pip install pyepics==$pyepics caproto==$caproto failed (PyPI reachable?)"; exit 1; }
    touch "$venv/.complete"
fi
"$venv/bin/python" -c 'import epics, caproto.threading.client' 2>/dev/null ||
    { say "$venv: pyepics or caproto does not import: delete $venv"; exit 1; }
echo "$venv/bin/python"
