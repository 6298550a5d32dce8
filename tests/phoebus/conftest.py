"""The Phoebus suite reuses the integration tests' fixtures (the local control
plane, one caRepeater) and helpers (iocmgrtest)."""
import importlib.util
import sys
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
sys.path.insert(0, str(INTEGRATION))
_spec = importlib.util.spec_from_file_location("iocmgr_integration_conftest", INTEGRATION / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

cluster = _fixtures.cluster
ca_repeater = _fixtures.ca_repeater
NAMESPACE = _fixtures.NAMESPACE
