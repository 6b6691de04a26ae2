"""Fixtures for tests that mount the real nfsguard binary."""

import shutil

import pytest

import mounts


def pytest_sessionfinish(session, exitstatus):
    mounts.sweep_scratch_mounts()


@pytest.fixture
def scratch():
    """A scratch directory every user can traverse, removed after the test."""
    path = mounts.scratch_dir()
    yield path
    mounts.sweep_scratch_mounts()
    shutil.rmtree(path, ignore_errors=True)


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
