"""NFS failures nfsguard absorbs or passes on faithfully, on the
fault-injecting filesystem: ESTALE in the middle of a Maildir delivery, quota
and space errors that NFS reports only at close or fsync, and the NFS client's
silly-rename placeholders.

    backing dir  <-  nfsguard-faultfs  <-  nfsguard  <-  program
"""

import errno
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


DELIVER = Path(__file__).with_name("maildir_deliver.py")
SILLY = ".nfs000000000001e24000000017"


@pytest.fixture
def stack(guard_on_faultfs):
    return guard_on_faultfs()


def deliver(maildir, count, tag):
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, str(DELIVER), str(maildir), str(count), "rename", tag],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_estale_in_the_middle_of_a_maildir_delivery_is_retried(stack):
    back, _, mnt, control, guard = stack
    deliver(mnt / "Maildir", 5, "warm")  # directory descriptors now cached
    # The next calls on one message's name fail with ESTALE (the kernel of the
    # faultfs mount retries once by itself, so 6 faults outlast it).
    control.estale("1700000000.s3.*", 6)
    result = deliver(mnt / "Maildir", 10, "s")
    assert result["errors"] == []
    assert len(os.listdir(back / "Maildir" / "new")) == 15
    assert control.stats()["estale"] == 6
    guard.close()
    retries = int(re.search(r"ESTALE retries: (\d+)", guard.log()).group(1))
    assert retries >= 1


def test_the_same_estale_straight_on_faultfs_reaches_the_program(stack):
    back, fault, _, control, _ = stack
    deliver(fault / "Maildir", 5, "warm")
    control.estale("1700000000.s3.*", 6)
    result = deliver(fault / "Maildir", 10, "s")
    assert result["errors"] and all("Stale file handle" in e for e in result["errors"])


def test_a_listing_goes_on_after_its_directory_handle_went_stale(stack):
    back, _, mnt, control, guard = stack
    names = {f"1700000000.M{i:05d}P4242.host-with-a-long-name,S=4096" for i in range(3000)}
    (back / "cur").mkdir()
    for name in names:
        (back / "cur" / name).touch()
    listed = []
    with os.scandir(mnt / "cur") as it:
        listed.append(next(it).name)  # the stream is open and has read a first batch
        # The next calls naming the directory (nfsguard's reads further into
        # it) fail with ESTALE, as from a server that came back with new
        # handles; the listing must go on where it stood, not start over.
        control.estale("cur", 3)
        listed.extend(e.name for e in it)
    assert control.stats()["estale"] == 3
    assert len(listed) == len(names) and set(listed) == names
    guard.close()
    assert int(re.search(r"ESTALE retries: (\d+)", guard.log()).group(1)) >= 1


def test_a_directory_another_host_replaced_is_estale_without_ten_retries(stack):
    # Its old handle stays stale for good and its name holds another
    # directory now: resolving from the root tells so at once, and ESTALE is
    # the answer. Ten retries each, and a warning each, were all waste.
    _, fault, mnt, control, guard = stack
    (mnt / "cur").mkdir()
    fd = os.open(mnt / "cur", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.listdir(mnt / "cur")
        os.rename(fault / "cur", fault / "cur.old")  # another host, at the server
        (fault / "cur").mkdir()
        control.estale("cur.old", -1)
        for _ in range(5):
            with pytest.raises(OSError) as e:
                os.fstat(fd)
            assert e.value.errno == errno.ESTALE
        assert control.stats()["estale"] >= 1, "the old handle was asked"
    finally:
        os.close(fd)
        control.clear()
    assert sorted(os.listdir(mnt)) == ["cur", "cur.old"]
    guard.close()
    log = guard.log()
    assert int(re.search(r"ESTALE retries: (\d+)", log).group(1)) <= 5, log
    assert "persists" not in log
    assert len(re.findall("another host removed or replaced", log)) == 1, log


def test_estale_that_persists_is_warned_of_once_a_while(stack):
    _, _, mnt, control, guard = stack
    (mnt / "cur").mkdir()
    os.stat(mnt / "cur")
    control.estale("cur", -1)
    try:
        for _ in range(4):
            with pytest.raises(OSError):
                os.listdir(mnt / "cur")
    finally:
        control.clear()
    guard.close()
    log = guard.log()
    assert len(re.findall("ESTALE persists after 10 retries", log)) == 1, log


def test_an_open_file_renamed_with_a_lost_reply_can_be_locked_and_opened_again(stack):
    # Dovecot renames files it holds open and locked (dovecot.index.log).
    # The backing's client keeps the old name after a rename it was told
    # failed, and reopens by that name (NFSv4.0 does, as faultfs does).
    _, _, mnt, control, guard = stack
    (mnt / "index.log").write_bytes(b"log")
    with open(mnt / "index.log", "r+b") as f:
        control.lost_reply("rename", "[!.]*", 1)
        os.rename(mnt / "index.log", mnt / "index.log.2")
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a descriptor of its own
        with open(mnt / "index.log.2", "rb") as again:
            assert again.read() == b"log"
        fcntl.lockf(f, fcntl.LOCK_UN)
    assert sum(control.stats()["lost_reply"].values()) == 1
    assert os.listdir(mnt) == ["index.log.2"]


@pytest.mark.parametrize("err", ["EDQUOT", "ENOSPC", "EIO"])
def test_an_error_at_close_reaches_the_writer(stack, err):
    _, _, mnt, control, _ = stack
    control.close_error(err, "msg", 1)
    fd = os.open(mnt / "msg", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"mail the server will refuse")
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == getattr(errno, err)


def test_an_error_at_fsync_reaches_the_writer(stack):
    _, _, mnt, control, _ = stack
    control.close_error("EDQUOT", "msg", 1)
    fd = os.open(mnt / "msg", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"mail")
        with pytest.raises(OSError) as e:
            os.fsync(fd)
        assert e.value.errno == errno.EDQUOT
    finally:
        os.close(fd)


def test_silly_renames_are_hidden_and_do_not_block_rmdir(stack):
    back, _, mnt, _, _ = stack
    (back / "cur").mkdir()
    (back / "cur" / SILLY).write_text("open but deleted")
    (back / "cur" / "msg").write_text("a message")
    assert os.listdir(mnt / "cur") == ["msg"]
    assert not (mnt / "cur" / SILLY).exists()
    os.unlink(mnt / "cur" / "msg")

    def nfs_client_at_last_close():
        time.sleep(0.3)
        os.unlink(back / "cur" / SILLY)

    t = threading.Thread(target=nfs_client_at_last_close)
    t.start()
    os.rmdir(mnt / "cur")  # waits for the placeholder, then succeeds
    t.join()
    assert not (back / "cur").exists()


def test_silly_renames_can_be_shown(scratch, mount_factory):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    (back / SILLY).write_text("")
    mount_factory(back, mnt, "silly_renames=show")
    assert os.listdir(mnt) == [SILLY]
