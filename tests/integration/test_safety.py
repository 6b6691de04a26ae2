"""nfsguard itself never follows a symlink: a name swapped for a symlink
between the kernel's lookup and nfsguard's call cannot make nfsguard, with its
root privileges, touch a file outside the backing tree.

Another client (standing for another NFS host) swaps a name in the backing
directory between a regular file and a symlink to a file outside, as fast as
it can, while a root process works on the name through the mount with calls
that must not follow symlinks. A passthrough that re-opened the name by path
would truncate or chown the outside file; nfsguard must leave it untouched.
"""

import multiprocessing
import os
import time

import pytest

import mounts

SWAP_SECONDS = 3


def swapper(directory, target, stop):
    """Replaces directory/victim by a file or a symlink to target, atomically, in turns."""
    n = 0
    while not stop.is_set():
        tmp = os.path.join(directory, f".swap{n % 2}")
        try:
            if n % 2:
                os.symlink(target, tmp)
            else:
                with open(tmp, "w") as f:
                    f.write("decoy")
            os.rename(tmp, os.path.join(directory, "victim"))
        except OSError:
            pass
        n += 1


@pytest.fixture
def race(scratch, guarded):
    back, mnt, _ = guarded
    outside = scratch / "outside"
    outside.mkdir()
    precious = outside / "precious"
    precious.write_text("precious contents")
    os.chmod(precious, 0o644)
    os.utime(precious, ns=(1_000_000_000, 1_000_000_000))
    (back / "spool").mkdir()
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=swapper, args=(back / "spool", str(precious), stop))
    proc.start()
    yield mnt / "spool" / "victim", precious
    stop.set()
    proc.join(10)


def hammer(victim, action):
    """Runs action(victim) for SWAP_SECONDS; returns how often it succeeded."""
    done = 0
    deadline = time.monotonic() + SWAP_SECONDS
    while time.monotonic() < deadline:
        try:
            action(victim)
            done += 1
        except OSError:
            pass
    return done


def assert_untouched(precious):
    st = precious.stat()
    assert precious.read_text() == "precious contents"
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o644)
    assert st.st_mtime_ns == 1_000_000_000


def truncate_nofollow(path):
    os.close(os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW))


def test_open_with_o_trunc_never_truncates_outside(race):
    victim, precious = race
    # With cache=pinned the swaps, made on the backing behind the kernel's
    # back, may leave the kernel's dentry a symlink throughout (ELOOP).
    reached = hammer(victim, truncate_nofollow)
    assert reached > 0 or mounts.CACHE_MODE == "pinned", "the race never reached the file"
    assert_untouched(precious)


def test_lchown_never_changes_the_owner_outside(race):
    victim, precious = race
    assert hammer(victim, lambda p: os.chown(p, 4242, 4242, follow_symlinks=False)) > 0
    assert_untouched(precious)


def test_utime_nofollow_never_changes_times_outside(race):
    victim, precious = race
    assert hammer(victim, lambda p: os.utime(p, ns=(5, 5), follow_symlinks=False)) > 0
    assert_untouched(precious)


def test_removing_and_renaming_the_name_never_touches_outside(race):
    victim, precious = race
    hammer(victim, os.unlink)
    hammer(victim, lambda p: os.rename(p, p.with_name("moved")))
    assert_untouched(precious)
