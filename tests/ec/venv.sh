#!/usr/bin/env bash
# The real `ec` CLI (PyPI edge-containers-cli) in a virtualenv outside the work tree,
# for the interop tests (tests/integration/test_ec_*.py) and the benchmark (tests/bench).
#
#   tests/ec/venv.sh            make it if missing; print the path of its `ec`
#
# Cached under $IOCMGR_CACHE/ec/, keyed by the ec version, the Python version and the
# hash of tests/ec/constraints.txt (every dependency pinned, so two machines measure the
# same tool). Python: Debian's python3 (edge-containers-cli 5.5.2 needs >= 3.11; Debian 12
# has 3.11), EC_PYTHON to choose another. Needs the python3-venv package (tools/deps.sh)
# and PyPI. A failed install leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
version=5.5.2
python=${EC_PYTHON:-/usr/bin/python3}
say() { echo "ec venv: $*" >&2; }

[ -x "$python" ] || { say "no $python: set EC_PYTHON to a Python >= 3.11"; exit 1; }
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    { say "edge-containers-cli $version needs Python >= 3.11; $python is $pyver (set EC_PYTHON)"; exit 1; }
pins=$(sha256sum "$here/constraints.txt" | cut -c1-12)
venv=$cache/ec/edge-containers-cli-$version-py$pyver-$pins

# .complete marks a finished install: an interrupted one is removed and redone
if [ ! -f "$venv/.complete" ]; then
    say "installing edge-containers-cli $version into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" || { rm -rf "$venv"; say "python3 -m venv failed: install python3-venv (tools/deps.sh)"; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input \
        -c "$here/constraints.txt" "edge-containers-cli==$version" >&2 ||
        { rm -rf "$venv"; say "pip install edge-containers-cli==$version failed (PyPI reachable?)"; exit 1; }
    touch "$venv/.complete"
fi
"$venv/bin/ec" --version >/dev/null 2>&1 || { say "$venv/bin/ec does not run: delete $venv"; exit 1; }
echo "$venv/bin/ec"
