"""The backing-mount guard: mail never lands in the local directory under a
failed or vanished NFS mount.

The real export is played by a faultfs mount (filesystem type fuse), so the
guard is told `backing_fs=fuse`; an empty local directory (ext4) is what a
failed NFS mount leaves behind.
"""

import errno
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultfs"))
import faultfs_control  # noqa: E402

GUARD = ("backing_fs=fuse", "guard_interval=200")


def eventually(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def write_refused(mnt, name="msg"):
    """Tries a delivery; returns the errno it met, or 0."""
    try:
        fd = os.open(mnt / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        return e.errno
    os.write(fd, b"Subject: hi\n\nbody\n")
    os.close(fd)
    return 0


def test_an_absent_backing_at_start_refuses_writes_then_attaches_when_it_appears(
        scratch, mount_factory):
    export, backing, mnt = scratch / "export", scratch / "backing", scratch / "mnt"
    for d in (export, backing, mnt):
        d.mkdir()
    (backing / "stray").write_text("in the local directory before the mount")
    m = mount_factory(backing, mnt, *GUARD)  # the NFS mount failed: backing is local
    assert "backing NOT attached" in m.log()
    assert os.listdir(mnt) == []  # nothing it cannot vouch for
    assert write_refused(mnt) == errno.ESTALE
    with pytest.raises(OSError) as e:
        os.mkdir(mnt / "Maildir")
    assert e.value.errno == errno.ESTALE
    assert sorted(os.listdir(backing)) == ["stray"], "mail landed on the local disk"

    # The NFS mount comes up on the backing path: nfsguard takes it by itself.
    ffs = faultfs_control.start_faultfs(export, backing, scratch / "ff.sock", scratch / "ff.log")
    mount_factory.started.insert(0, ffs)  # unmounted after nfsguard
    assert eventually(lambda: write_refused(mnt, "msg2") == 0), m.log()
    assert (export / "msg2").read_text() == "Subject: hi\n\nbody\n"
    assert "stray" not in os.listdir(mnt)
    assert "backing attached" in m.log()


def test_a_backing_that_vanishes_under_a_running_mount_is_guarded_and_comes_back(
        scratch, mount_factory):
    export, fault, mnt = scratch / "export", scratch / "fault", scratch / "mnt"
    for d in (export, fault, mnt):
        d.mkdir()
    ffs = faultfs_control.start_faultfs(export, fault, scratch / "ff.sock", scratch / "ff.log")
    mount_factory.started.append(ffs)
    m = mount_factory(fault, mnt, *GUARD)
    assert write_refused(mnt, "before") == 0

    ffs.control.vanish("EIO")  # the server is gone (a soft mount answers EIO)
    assert eventually(lambda: "backing NOT attached" in m.log())
    assert write_refused(mnt, "during") == errno.ESTALE
    assert os.listdir(mnt) == []

    ffs.control.restore()
    assert eventually(lambda: write_refused(mnt, "after") == 0), m.log()
    assert sorted(os.listdir(export)) == ["after", "before"]
    m.close()
    refused = int(re.search(r"writes refused while the backing was not attached: (\d+)",
                            m.log()).group(1))
    assert refused >= 1


def test_one_stale_answer_to_the_health_check_does_not_refuse_mail(scratch, mount_factory):
    # A busy NFS mount gives an ESTALE now and then; the guard must not take
    # one for a gone backing (it did, and refused mail for whole intervals).
    export, fault, mnt = scratch / "export", scratch / "fault", scratch / "mnt"
    for d in (export, fault, mnt):
        d.mkdir()
    ffs = faultfs_control.start_faultfs(export, fault, scratch / "ff.sock", scratch / "ff.log")
    mount_factory.started.append(ffs)
    m = mount_factory(fault, mnt, *GUARD)
    for i in range(15):  # idle mount: the next call, often the check's, gets it
        ffs.control.estale("*", 1)
        time.sleep(0.25)
    assert ffs.control.stats()["estale"] >= 10
    assert "NOT attached" not in m.log()
    assert write_refused(mnt, "msg") == 0


def test_a_missing_sentinel_keeps_the_guard_shut(scratch, mount_factory):
    backing, mnt = scratch / "backing", scratch / "mnt"
    backing.mkdir()
    mnt.mkdir()
    m = mount_factory(backing, mnt, "backing_fs=any", "sentinel=.export-ok",
                      "guard_interval=200")
    assert write_refused(mnt) == errno.ESTALE
    (backing / ".export-ok").write_text("")
    assert eventually(lambda: write_refused(mnt) == 0), m.log()


def test_the_refusal_errno_is_chosen_by_option(scratch, mount_factory):
    backing, mnt = scratch / "backing", scratch / "mnt"
    backing.mkdir()
    mnt.mkdir()
    mount_factory(backing, mnt, "backing_fs=nfs", "guard_errno=EAGAIN")
    assert write_refused(mnt) == errno.EAGAIN


def test_by_default_only_nfs_is_vouched_for(scratch, mount_factory):
    backing, mnt = scratch / "backing", scratch / "mnt"
    backing.mkdir()
    mnt.mkdir()
    m = mount_factory(backing, mnt, "backing_fs=nfs")
    assert "on ext4, not on nfs" in m.log() or "not on nfs" in m.log()
    assert write_refused(mnt) == errno.ESTALE
