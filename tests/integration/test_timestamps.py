"""Times through nfsguard read on this host's clock, whatever the server's:
new files, writes and utime(NOW) are stamped from this host's clock (one
call per file made and written), ctimes are shown on it, a writer never sees
the server's mtime turn into ours, and times a program sets stay.

    backing dir  <-  nfsguard-faultfs (server clock off)  <-  nfsguard  <-  program
"""

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture
def stack(guard_on_faultfs):
    return guard_on_faultfs()


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
