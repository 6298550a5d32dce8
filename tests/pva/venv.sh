#!/usr/bin/env bash
# p4p (PyPI), an independent pvAccess client: its own client (pvxs) and its own
# EPICS libraries (the pvxslibs/epicscorelibs wheels), nothing from the Base iocmgr
# is built against. For the PVA suite (tests/integration/test_pva.py) and the
# benchmark (tests/bench).
#
#   tests/pva/venv.sh            make it if missing; print the path of its python
#
# Cached under $IOCMGR_CACHE/p4p/, keyed by the p4p version, the Python version and
# the hash of tests/pva/constraints.txt. Python: Debian's python3, P4P_PYTHON to
# choose another. Needs python3-venv (tools/deps.sh) and PyPI once. A failed install
# leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
version=4.3.0
python=${P4P_PYTHON:-/usr/bin/python3}
say() { echo "p4p venv: $*" >&2; }

[ -x "$python" ] || { say "no $python: set P4P_PYTHON to a Python 3"; exit 1; }
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pins=$(sha256sum "$here/constraints.txt" | cut -c1-12)
venv=$cache/p4p/p4p-$version-py$pyver-$pins

# .complete marks a finished install: an interrupted one is removed and redone
if [ ! -f "$venv/.complete" ]; then
    say "installing p4p $version into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" || { rm -rf "$venv"; say "python3 -m venv failed: install python3-venv (tools/deps.sh)"; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input \
        -c "$here/constraints.txt" "p4p==$version" >&2 ||
        { rm -rf "$venv"; say "pip install p4p==$version failed (PyPI reachable?)"; exit 1; }
    touch "$venv/.complete"
fi
"$venv/bin/python" -c 'import p4p.client.thread' 2>/dev/null || { say "$venv: p4p does not import: delete $venv"; exit 1; }
echo "$venv/bin/python"
