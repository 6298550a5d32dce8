"""Fixtures of the real-node suites (tests/node, docs/node.md); helpers in nodebed.py.

Tests marked `alive_string` judge ALIVE from a real iocStats UPTIME string ("00:01:02");
they need iocmgr's ALIVE to follow a changing string (issue 18 item 1, fixed on another
branch): before that fix they fail."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "integration"))
from iocmgrtest import CACHE  # noqa: E402
from nodebed import NodeBed, integration, ioc_instance  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "alive_string: needs ALIVE to judge iocStats' UPTIME string (issue 18 item 1)")


# one caRepeater for the session, with no hold on any test's output (the integration suites')
ca_repeater = integration.ca_repeater


@pytest.fixture(scope="session")
def bed():
    run_dir = os.environ.get("IOCMGR_CLUSTER_DIR", str(CACHE / "cluster-run"))
    if not Path(run_dir, "env").exists():
        pytest.fail(f"no cluster in {run_dir}: IOCMGR_REAL_NODE=1 tests/cluster/up.sh (make test does)")
    return NodeBed(run_dir)


@pytest.fixture
def instances(bed):
    """Make IOC instances (ioc_instance's arguments); removed after the test."""
    made = []

    def make(name, **kw):
        bed.apply(*ioc_instance(name, kw.pop("image", bed.image), **kw))
        made.append(name)
        return name
    yield make
    for name in made:
        bed.delete_instance(name)
    for name in made:
        bed.wait(lambda: bed.pod(name) is None, 60, f"{name}-0 gone")


