"""Mounting the real binaries for tests, and getting rid of them again.

A FUSE mount left behind by a failed test blocks the machine (and CI), so
every mount made here is unmounted with `fusermount3 -u -z` whatever happens:
by the fixture's teardown, and at the end of the session by a sweep over
everything still mounted below the test's scratch directories.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("NFSGUARD_BUILD", REPO / "build"))
NFSGUARD = Path(os.environ.get("NFSGUARD_BIN", BUILD / "nfsguard"))
FAULTFS = Path(os.environ.get("FAULTFS_BIN", BUILD / "tests" / "faultfs" / "nfsguard-faultfs"))
CACHE_MODE = os.environ.get("NFSGUARD_CACHE", "")

SCRATCH_PREFIX = "nfsguard-it-"
MOUNT_TIMEOUT = 15  # seconds for a mount to appear
UNMOUNT_TIMEOUT = 15


def read_stats(run_dir, mountpoint):
    """`nfsguard stats --json` of a mount: (the stats, "") or (None, what it said)."""
    r = subprocess.run([str(NFSGUARD), "stats", "--json", "--run-dir", str(run_dir),
                        str(mountpoint)], capture_output=True, text=True, timeout=10)
    return (json.loads(r.stdout), "") if r.returncode == 0 else (None, r.stderr)


def fuse_mounts():
    """Mount points of every FUSE filesystem now mounted."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype = right.split()[0]
            if fstype == "fuse" or fstype.startswith("fuse."):
                points.append(left.split()[4].replace("\\040", " "))
    return points


def is_mounted(path):
    return str(Path(path).resolve()) in fuse_mounts()


def lazy_unmount(path):
    subprocess.run(["fusermount3", "-u", "-z", str(path)], timeout=UNMOUNT_TIMEOUT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


# Scratch directories this process made: the sweep touches nothing else, so
# that two test runs on one machine do not unmount each other's filesystems.
_our_scratch = []


def sweep_scratch_mounts():
    """Unmounts whatever tests of this run left mounted below its scratch directories."""
    for point in fuse_mounts():
        if any(point == str(d) or point.startswith(f"{d}/") for d in _our_scratch):
            lazy_unmount(point)


def scratch_dir():
    """A fresh directory that every user may traverse (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir="/tmp"))
    path.chmod(0o755)
    _our_scratch.append(path)
    return path


@pytest.fixture
def scratch():
    """A scratch directory every user can traverse, removed after the test,
    and nothing left mounted below it. A fixture for the conftests to import."""
    path = scratch_dir()
    yield path
    sweep_scratch_mounts()
    shutil.rmtree(path, ignore_errors=True)


class Mount:
    """One running filesystem process (nfsguard or faultfs) in the foreground."""

    def __init__(self, argv, mountpoint, log_path, env=None, preexec_fn=None):
        self.mountpoint = Path(mountpoint)
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, preexec_fn=preexec_fn)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not is_mounted(self.mountpoint):
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"{argv[0]} exited with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{argv[0]} did not mount within {MOUNT_TIMEOUT}s: {self.log()}")
            time.sleep(0.02)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self):
        """Unmounts (lazily, so a busy mount cannot hold us) and reaps the process."""
        if is_mounted(self.mountpoint):
            lazy_unmount(self.mountpoint)
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=UNMOUNT_TIMEOUT)
            except subprocess.TimeoutExpired:
                stop_process(self.proc, 5)
        self._log.close()
        return self.proc.returncode


def stop_process(proc, timeout):
    """SIGTERM, `timeout` seconds to end, then SIGKILL; reaps it."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def start_nfsguard(backing, mountpoint, *options, log_path=None, binary=None, **kw):
    """nfsguard in the foreground. Tests mount over local directories and
    FUSE mounts, so the backing guard accepts any filesystem unless told."""
    argv = [str(binary or NFSGUARD), "-f"]
    if not any(o.startswith("backing_fs=") for o in options):
        options = ("backing_fs=any",) + options
    # NFSGUARD_CACHE=pinned runs the suite in another cache mode.
    if CACHE_MODE and not any(o.startswith("cache=") for o in options):
        options = (f"cache={CACHE_MODE}",) + options
    argv += ["-o", ",".join(options)]
    argv += [str(backing), str(mountpoint)]
    log_path = log_path or Path(mountpoint).parent / f"nfsguard-{Path(mountpoint).name}.log"
    return Mount(argv, mountpoint, log_path, **kw)
