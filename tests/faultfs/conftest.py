"""Fixtures for the tests of faultfs itself (test_faultfs.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import mounts  # noqa: E402
from mounts import scratch  # noqa: E402,F401  (the fixture)


def pytest_sessionfinish(session, exitstatus):
    mounts.sweep_scratch_mounts()
