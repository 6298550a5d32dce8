"""Fixtures of the real-node suites (tests/node, docs/node.md); helpers in nodebed.py.

Tests marked `alive_string` judge ALIVE from a real iocStats UPTIME string ("00:01:02");
they need iocmgr's ALIVE to follow a changing string (issue 18 item 1, fixed on another
branch): before that fix they fail."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "integration"))
from nodebed import bed_of_this_run, integration, ioc_instance  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "alive_string: needs ALIVE to judge iocStats' UPTIME string (issue 18 item 1)")


# one caRepeater for the session, with no hold on any test's output (the integration suites')
ca_repeater = integration.ca_repeater


@pytest.fixture(scope="session")
def bed():
    return bed_of_this_run()


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


