"""iocmgr on a newer EPICS Base than 7.0.3.1 (docs/building.md "Newer EPICS Base"): the
support library, the IOC test and, with the local cluster, the IOC and the live-binding
suite, built and run on PyPI's epicscorelibs wheels either side of Base 7.0.8.1 (no
registry carries 7.0.8.1 itself). Each version: tests/base-compat/run.sh VERSION."""
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("version", ["7.0.7.99.1.2", "7.0.10.99.0.2"])
def test_builds_and_passes_on_a_newer_base(version):
    if not os.environ.get("IOCMGR_CLUSTER_DIR"):
        pytest.fail("IOCMGR_CLUSTER_DIR is not set: the live-binding suite needs the local cluster")
    r = subprocess.run([str(HERE / "run.sh"), version], capture_output=True, text=True, timeout=1800)
    print(r.stdout[-4000:], r.stderr[-2000:])
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert r.returncode == 0 and last.startswith("base-compat: ") and last.endswith(" 0 failed"), last
    assert "the live-binding suite against it" in r.stdout
