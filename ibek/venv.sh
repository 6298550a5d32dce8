#!/usr/bin/env bash
# Create (once) a virtualenv with ibek, pinned below, under
# $IOCMGR_CACHE/ibek/<version>-py<X.Y>/, and print the path of its `ibek`
# executable on stdout. Used by the ibek tests (tests/integration/test_ibek.py)
# and by anyone who wants to generate iocmgr's st.cmd from ibek/ioc.yaml by hand.
#
# ibek 4.8.2 needs Python >= 3.13. Debian 12 ships 3.11 and only registries are
# reachable here (no python.org downloads: `pyenv install` and `uv python
# install` cannot fetch an interpreter), so the script uses an interpreter the
# machine already has, first found of:
#   $IOCMGR_PYTHON (a python3 >= 3.13), python3.14 / python3.13 on PATH,
#   the newest 3.13+ under pyenv's versions directory (`pyenv root`, else
#   $PYENV_ROOT or ~/.pyenv), /usr/bin/python3.13.
# Without one it exits 2 with a sentence saying what to install or set.
#
# Environment: IOCMGR_CACHE, IOCMGR_PYTHON.
set -euo pipefail
ibek_version=4.8.2
die() { echo "ibek venv: error: $1" >&2; exit "${2:-1}"; }
say() { echo "ibek venv: $*" >&2; }

new_enough() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; }

find_python() {
    local c root
    if [ -n "${IOCMGR_PYTHON:-}" ]; then
        new_enough "$IOCMGR_PYTHON" || die "IOCMGR_PYTHON=$IOCMGR_PYTHON is not a Python >= 3.13"
        echo "$IOCMGR_PYTHON"; return
    fi
    for c in python3.14 python3.13; do
        c=$(command -v "$c" 2>/dev/null) || continue
        # pyenv's shims exist for every installed version but fail unless it is selected
        new_enough "$c" && { echo "$c"; return; }
    done
    # pyenv's versions, also when pyenv itself is not on PATH (a CI shell)
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    for c in $(ls -d "$root"/versions/3.1[3-9]* "$root"/versions/3.[2-9][0-9]* 2>/dev/null | sort -V -r); do
        [ -x "$c/bin/python3" ] && new_enough "$c/bin/python3" && { echo "$c/bin/python3"; return; }
    done
    [ -x /usr/bin/python3.13 ] && new_enough /usr/bin/python3.13 && { echo /usr/bin/python3.13; return; }
    die "no Python >= 3.13 found for ibek $ibek_version (looked at \$IOCMGR_PYTHON, python3.14/python3.13 on PATH, pyenv versions, /usr/bin/python3.13): install one (a pyenv 3.13, or python3.13 from a newer Debian release) and set IOCMGR_PYTHON to it" 2
}

python=$(find_python)
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache=${IOCMGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iocmgr}
venv=$cache/ibek/$ibek_version-py$pyver
if [ -x "$venv/bin/ibek" ] && [ "$("$venv/bin/ibek" --version 2>/dev/null)" = "$ibek_version" ]; then
    echo "$venv/bin/ibek"
    exit 0
fi
mkdir -p "$cache/ibek"
exec 9>"$cache/ibek/.lock"
flock -w 600 9 || die "another run holds $cache/ibek/.lock"
if [ ! -x "$venv/bin/ibek" ] || [ "$("$venv/bin/ibek" --version 2>/dev/null)" != "$ibek_version" ]; then
    t0=$SECONDS
    say "creating $venv with $python and ibek==$ibek_version from PyPI"
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "$python -m venv $venv failed"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "ibek==$ibek_version" >&2 ||
        { rm -rf "$venv"; die "pip install ibek==$ibek_version failed (see pip's message above)"; }
    got=$("$venv/bin/ibek" --version 2>&1) || die "ibek --version failed: $got"
    [ "$got" = "$ibek_version" ] || die "installed ibek says '$got', expected $ibek_version"
    say "ibek $ibek_version ready in $((SECONDS - t0))s"
fi
echo "$venv/bin/ibek"
