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
import signal
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


def mtime_offsets(root):
    """How far from this host's clock the times of objects made and changed under root are."""
    now = time.time()
    (root / "file").write_text("created")
    (root / "dir").mkdir()
    os.symlink("file", root / "link")
    with open(root / "file", "a") as f:
        f.write(" and appended")
    appended = os.stat(root / "file").st_mtime
    (root / "touched").write_text("")
    os.utime(root / "touched", None)  # touch: UTIME_NOW
    return {
        "created": os.stat(root / "dir").st_mtime - now,
        "symlink": os.lstat(root / "link").st_mtime - now,
        "written": appended - now,
        "touched": os.stat(root / "touched").st_mtime - now,
    }


@pytest.mark.parametrize("offset", [300, -300])
def test_times_follow_this_hosts_clock_whatever_the_servers(stack, offset):
    _, fault, mnt, control, guard = stack
    control.clock_offset(offset)
    through = mtime_offsets(mnt)
    (fault / "control").mkdir()
    straight = mtime_offsets(fault / "control")
    control.clock_offset(0)
    assert all(abs(v) < 5 for v in through.values()), through
    assert all(abs(v - offset) < 5 for v in straight.values()), straight  # the fault is real
    guard.close()
    direction = "ahead of" if offset > 0 else "behind"
    assert re.search(rf"server's clock is 30\d\.\d s {direction}", guard.log()), guard.log()
    skew = float(re.search(r"server clock skew: ([-+]\d+\.\d+) s", guard.log()).group(1))
    assert abs(skew - offset) < 2


@pytest.mark.parametrize("offset", [300, -300])
def test_ctimes_read_on_this_hosts_clock(stack, offset):
    # ctime cannot be set; Dovecot warns of every dot-lock whose ctime is off
    # its clock. nfsguard takes the measured skew, in whole seconds, off.
    _, fault, mnt, control, _ = stack
    control.clock_offset(offset)
    try:
        (mnt / "first").write_text("")  # the skew is measured on a new object
        (mnt / "lock").write_text("1")
        through = os.stat(mnt / "lock").st_ctime - time.time()
        listed = {e.name: e.stat(follow_symlinks=False).st_ctime for e in os.scandir(mnt)}
        straight = os.stat(fault / "lock").st_ctime - time.time()
    finally:
        control.clock_offset(0)
    assert abs(through) < 5, through
    assert abs(listed["lock"] - time.time()) < 5, listed
    assert abs(straight - offset) < 5, straight  # the fault is real


CLOCK_REALTIME_COARSE = 5  # Linux; what time() and the kernel's own file stamps read


def test_a_stamped_mtime_is_never_ahead_of_this_hosts_time(stack):
    # Postfix's cleanup compares a queue file's mtime after fsync with time()
    # and warns "file system clock is 1 seconds ahead" when it is greater: a
    # stamp from the precise clock is ahead of the coarse one time() reads.
    _, _, mnt, control, _ = stack
    control.clock_offset(300)
    ahead = []
    try:
        for i in range(50):
            with open(mnt / f"q{i}", "wb") as f:
                f.write(b"message")
                os.fsync(f.fileno())
                mtime = os.fstat(f.fileno()).st_mtime_ns
                now = time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
            if mtime > now:
                ahead.append(mtime - now)
    finally:
        control.clock_offset(0)
    assert ahead == []


def written_then_closed(path, pause=1.5):
    """mtime of a file written, then closed `pause` s later, less the write's time."""
    with open(path, "wb") as f:
        f.write(b"x")
        f.flush()
        written = time.time()
        time.sleep(pause)
    return os.stat(path).st_mtime - written


def test_adaptive_timestamps_stamp_only_while_the_clocks_disagree(guard_on_faultfs):
    _, _, mnt, control, _ = guard_on_faultfs("timestamps=adaptive")
    (mnt / "first").write_text("")  # the skew is measured: 0
    # Clocks agree: the server's mtime of the write stays (client mode would
    # stamp it at close, 1.5 s later).
    assert abs(written_then_closed(mnt / "agree")) < 0.5
    control.clock_offset(300)
    try:
        (mnt / "second").write_text("")  # measured again: 300 s
        off = written_then_closed(mnt / "disagree")
    finally:
        control.clock_offset(0)
    assert 1.0 < off < 5, off  # this host's clock, at close


def test_a_writer_never_sees_the_servers_mtime_change_into_ours(stack):
    # Dovecot keeps the mbox mtime it saw after its own write and takes any
    # later change for another writer's: the mtime may not move at close.
    _, _, mnt, control, _ = stack
    control.clock_offset(300)
    try:
        seen = {}
        fd = os.open(mnt / "mbox", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            os.write(fd, b"From a\n\nbody\n" * 100)
            seen["write"] = os.fstat(fd).st_mtime_ns
            seen["path"] = os.stat(mnt / "mbox").st_mtime_ns
            time.sleep(0.05)
            os.ftruncate(fd, 700)
            seen["truncate"] = os.fstat(fd).st_mtime_ns
            time.sleep(0.05)
            seen["open"] = os.fstat(fd).st_mtime_ns
        finally:
            os.close(fd)
        seen["closed"] = os.stat(mnt / "mbox").st_mtime_ns
    finally:
        control.clock_offset(0)
    assert abs(seen["write"] / 1e9 - time.time()) < 5, seen  # this host's clock
    assert seen["path"] == seen["write"], seen
    assert seen["truncate"] >= seen["write"], seen
    assert seen["open"] == seen["truncate"] == seen["closed"], seen


def test_a_lock_files_mtime_holds_while_others_look_at_it(stack):
    # Dovecot's dot-lock: create, write the pid, close, lstat and keep the
    # mtime; at unlock an mtime that moved means "modified under us". Other
    # processes waiting for the lock lstat it all the while.
    _, _, mnt, control, _ = stack
    lock = mnt / "mbox.lock"
    stop = threading.Event()

    def look():
        while not stop.is_set():
            try:
                os.lstat(lock)
            except FileNotFoundError:
                pass

    lookers = [threading.Thread(target=look) for _ in range(3)]
    control.clock_offset(300)
    for t in lookers:
        t.start()
    moved = []
    try:
        for i in range(150):
            fd = os.open(lock, os.O_RDWR | os.O_EXCL | os.O_CREAT, 0o666)
            os.write(fd, b"%d\n" % os.getpid())
            os.close(fd)
            kept = os.lstat(lock).st_mtime_ns
            later = os.lstat(lock).st_mtime_ns
            os.unlink(lock)
            if later != kept or abs(kept / 1e9 - time.time()) > 5:
                moved.append((i, kept, later))
    finally:
        stop.set()
        for t in lookers:
            t.join()
        control.clock_offset(0)
    assert moved == []


def test_a_file_made_then_written_reads_as_new_mail(stack):
    # mutt and biff tell an mbox with new mail by its atime before its mtime.
    # nfsguard stamps a file it created once, at its first look or its close:
    # atime when it was made, mtime when it was last written.
    _, _, mnt, control, _ = stack
    control.clock_offset(300)
    try:
        made = time.time()
        fd = os.open(mnt / "mbox", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        time.sleep(1.5)
        os.write(fd, b"From a\n\nbody\n")
        written = time.time()
        os.close(fd)
        mbox = os.stat(mnt / "mbox")
        os.close(os.open(mnt / "empty", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        empty_made = time.time()
        time.sleep(1.5)
        empty = os.stat(mnt / "empty")
    finally:
        control.clock_offset(0)
    assert abs(mbox.st_atime - made) < 1, (mbox.st_atime, made)
    assert abs(mbox.st_mtime - written) < 1, (mbox.st_mtime, written)
    assert mbox.st_mtime - mbox.st_atime > 1
    # Made and never written: both times are the making's.
    assert empty.st_atime_ns == empty.st_mtime_ns
    assert abs(empty.st_mtime - empty_made) < 1, (empty.st_mtime, empty_made)


def test_times_a_program_sets_on_a_new_file_stay(stack):
    # Dovecot sets a message's received date with utime() on the file it
    # made; a later append must not bring back the time of its making.
    _, _, mnt, control, _ = stack
    control.clock_offset(300)
    try:
        fd = os.open(mnt / "msg", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.write(fd, b"message")
        os.utime(fd, (1_000_000, 2_000_000))  # no lookup first, as futimens
        os.close(fd)
        chosen = os.stat(mnt / "msg")
        with open(mnt / "msg", "ab") as f:
            f.write(b" appended")
        appended = os.stat(mnt / "msg")
    finally:
        control.clock_offset(0)
    assert (chosen.st_atime, chosen.st_mtime) == (1_000_000, 2_000_000)
    assert appended.st_atime == 1_000_000
    assert abs(appended.st_mtime - time.time()) < 5  # the append's, on this host's clock


def utimensat_calls(pid, action):
    """The utimensat calls process pid makes while action() runs (strace)."""
    out = Path(f"/tmp/nfsguard-strace-{pid}.txt")
    tracer = subprocess.Popen(["strace", "-f", "-e", "trace=utimensat", "-o", str(out), "-p",
                               str(pid)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while "attached" not in tracer.stderr.readline():  # one line a thread
            assert time.monotonic() < deadline and tracer.poll() is None, "strace did not attach"
        time.sleep(0.5)  # the other threads
        action()
        time.sleep(0.3)  # the last close's reply is written after the stamp
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
    calls = [line for line in out.read_text().splitlines() if "utimensat(" in line]
    out.unlink()
    return calls


def test_a_file_made_and_written_is_stamped_with_one_call(stack):
    # Timestamps cost at most one backing call (an NFS round trip) per file
    # made or written: a Maildir delivery (create, write, fsync, close) is
    # stamped once, at its close, not at its create and again after the write.
    _, _, mnt, control, guard = stack
    control.clock_offset(300)

    def deliver():
        for i in range(10):
            fd = os.open(mnt / f"m{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, b"From a\n\nbody\n")
            os.fsync(fd)
            os.close(fd)

    try:
        calls = utimensat_calls(guard.pid, deliver)
        mtimes = [os.stat(mnt / f"m{i}").st_mtime for i in range(10)]
    finally:
        control.clock_offset(0)
    assert len(calls) == 10, calls
    assert all(abs(t - time.time()) < 5 for t in mtimes), mtimes  # this host's clock


def test_server_times_can_be_kept(guard_on_faultfs):
    _, _, mnt, control, _ = guard_on_faultfs("timestamps=server")
    control.clock_offset(300)
    offsets = mtime_offsets(mnt)
    control.clock_offset(0)
    assert all(abs(v - 300) < 5 for v in offsets.values()), offsets
