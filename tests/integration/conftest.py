"""Fixtures for tests that mount the real nfsguard binary."""

import sys
from pathlib import Path

import pytest

import mounts
from mounts import scratch  # noqa: F401  (the fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultfs"))
import faultfs_control  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    mounts.sweep_scratch_mounts()


@pytest.fixture
def mount_factory(scratch):
    """Starts filesystems; every one of them is unmounted at teardown."""
    started = []

    def start(backing, mountpoint, *options, **kw):
        m = mounts.start_nfsguard(backing, mountpoint, *options, **kw)
        started.append(m)
        return m

    start.started = started
    yield start
    for m in reversed(started):
        rc = m.close()
        # Shown by pytest only when the test failed: what the filesystem said.
        print(f"--- {m.log_path.name} (exit {rc}) ---\n{m.log()}")


@pytest.fixture
def guarded(scratch, mount_factory):
    """nfsguard mounted over scratch/back at scratch/mnt; yields (backing, mountpoint, mount)."""
    back = scratch / "back"
    mnt = scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    back.chmod(0o755)
    m = mount_factory(back, mnt)
    return back, mnt, m


@pytest.fixture
def guard_on_faultfs(scratch, mount_factory):
    """Starts faultfs over scratch/back at scratch/fault, and nfsguard over it
    at scratch/mnt with the options given; returns (back, fault, mnt, faultfs
    control, nfsguard mount). Both are unmounted at teardown."""

    def start(*options):
        back, fault, mnt = scratch / "back", scratch / "fault", scratch / "mnt"
        for d in (back, fault, mnt):
            d.mkdir()
        ffs = faultfs_control.start_faultfs(back, fault, scratch / "ff.sock", scratch / "ff.log")
        mount_factory.started.append(ffs)
        return back, fault, mnt, ffs.control, mount_factory(fault, mnt, *options)

    return start
