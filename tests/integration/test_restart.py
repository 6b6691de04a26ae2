"""Restarts without unmount: a planned restart (SIGUSR1, systemctl reload)
and a crash (SIGKILL) under a stand-in for systemd's descriptor store keep
the mount, and what mail processes hold in it (README, design: "Restart
without unmount")."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import faultfs_control
import mounts
from service_store import ServiceStore

HERE = Path(__file__).resolve().parent
NFSGUARD = str(mounts.NFSGUARD)


def mounted_here(path):
    """Whether a FUSE mount is on `path`, without looking at it: a lookup
    would wait for a crashed nfsguard."""
    return str(path) in mounts.fuse_mounts()


@pytest.fixture
def service(scratch):
    """nfsguard over scratch/back on scratch/mnt, run by the stand-in store."""
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    for d in (back, mnt, run):
        d.mkdir()
    back.chmod(0o1777)
    argv = [NFSGUARD, "-f", "-o", f"backing_fs=any,run_dir={run},stats_interval=100", back, mnt]
    store = ServiceStore(argv, scratch / "nfsguard.log")
    store.back, store.mnt, store.run = back, mnt, run
    yield store
    store.close()
    if mounted_here(mnt):
        mounts.lazy_unmount(mnt)
    print(f"--- nfsguard.log ---\n{store.log()}")


STORED = {"fuse", "fuse-record", "backing-root", "tables"}


def started(store):
    store.start()
    assert store.wait_ready(store.count("READY") + 1), store.log()
    # The record follows the kernel's FUSE_INIT, which may come after READY.
    assert store.wait_for(lambda: STORED <= set(store.stored)), store.stored
    assert store.refused == [], f"systemd would not keep {store.refused}"
    return store


def busy_client(directory, seconds):
    return subprocess.Popen([sys.executable, str(HERE / "busy_client.py"), str(directory),
                             str(seconds)], stdout=subprocess.PIPE, text=True)


def outcome(client):
    out, _ = client.communicate(timeout=60)
    return json.loads(out)


def stats(store):
    data, said = mounts.read_stats(store.run, store.mnt)
    assert data is not None, said
    return data


def wait_for_stats(store, predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        s = stats(store)
        if predicate(s) or time.monotonic() > deadline:
            return s
        time.sleep(0.05)


PROBE = [sys.executable, str(HERE / "lock_probe.py")]


def trylock(path):
    """What an F_SETLK write lock on `path` gets: "ok" or the errno's name."""
    return subprocess.run(PROBE + ["trylock", str(path)], capture_output=True, text=True,
                          timeout=10).stdout.strip()


def another_host(service, scratch, mount_factory):
    """A second nfsguard on the same backing (another host), and an empty
    mbox to lock; returns its mount point."""
    other = scratch / "other"
    other.mkdir()
    mount_factory(service.back, other)
    (service.back / "mbox").write_text("")
    return other


def test_a_planned_restart_keeps_the_mount_and_what_processes_hold_in_it(service):
    started(service)
    pid = service.proc.pid
    client = busy_client(service.mnt, 6)
    time.sleep(0.5)
    for n in range(5):
        service.kill(signal.SIGUSR1)
        assert service.wait_ready(2 + n), service.log()
        assert service.proc.poll() is None and service.proc.pid == pid  # in place
        time.sleep(0.3)
    result = outcome(client)
    assert result["error_count"] == 0, result
    assert result["rounds"] > 100
    journal = (service.back / "journal").read_text().split()
    assert journal == [str(i) for i in range(result["rounds"])]
    s = wait_for_stats(service, lambda s: s["restarts"]["planned"] == 5)
    assert s["restarts"]["planned"] == 5 and s["restarts"]["crashes"] == 0
    assert s["restarts"]["handover_lost"] == 0
    assert "restarting in place" in service.log()


def test_a_lock_stays_held_across_planned_restarts(service, scratch, mount_factory):
    started(service)
    other = another_host(service, scratch, mount_factory)
    holder = subprocess.Popen(PROBE + ["hold", str(service.mnt / "mbox")], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "ok"
    try:
        for n in range(3):
            service.kill(signal.SIGUSR1)
            # At every moment in between, the other host is refused.
            while not service.wait_ready(2 + n, timeout=0.01):
                assert trylock(other / "mbox") == "EAGAIN"
            assert trylock(other / "mbox") == "EAGAIN"
        s = wait_for_stats(service, lambda s: s["restarts"]["planned"] == 3)
        assert s["restarts"]["lock_owners_kept"] == 1 and s["lock_owners_now"] == 1
    finally:
        holder.kill()
        holder.wait()
    # The holder's exit closed its file: the lock goes, through the new process.
    deadline = time.monotonic() + 5
    while trylock(other / "mbox") != "ok":
        assert time.monotonic() < deadline, "the lock outlived its holder"
        time.sleep(0.05)


def test_after_a_crash_the_mount_stays_and_what_processes_hold_in_it_too(service):
    started(service)
    (service.mnt / "box").mkdir()
    (service.mnt / "box" / "old").write_text("before")
    inside = busy_client(service.mnt / "box", 3)
    time.sleep(0.5)
    service.kill(signal.SIGKILL)
    service.wait_exit()
    assert mounted_here(service.mnt)  # no ENOTCONN, ever
    assert STORED <= set(service.stored)
    started(service)
    # A new process walks from the root: everything is there.
    assert (service.mnt / "box" / "old").read_text() == "before"
    (service.mnt / "box" / "new").write_text("after")
    assert (service.back / "box" / "new").read_text() == "after"
    # The process inside goes on: its current directory, its open file and
    # its directory stream were taken up from the mirror and the store.
    result = outcome(inside)
    assert result["error_count"] == 0, result
    journal = (service.back / "box" / "journal").read_text().split()
    assert journal == [str(i) for i in range(result["rounds"])]
    s = wait_for_stats(service, lambda s: s["restarts"]["crashes"] == 1)
    assert s["restarts"]["crashes"] == 1 and s["restarts"]["handover_lost"] == 0
    assert "took up the mount" in service.log()


def test_a_request_the_crashed_process_had_read_is_answered_by_the_next(service, scratch,
                                                                       mount_factory):
    started(service)
    other = another_host(service, scratch, mount_factory)
    holder = subprocess.Popen(PROBE + ["hold", str(other / "mbox")], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "ok"
    # A waiter blocks in F_SETLKW: its request is read, and waits.
    waiter = subprocess.Popen(PROBE + ["setlkw", str(service.mnt / "mbox"), "30"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    service.kill(signal.SIGKILL)
    service.wait_exit()
    started(service)
    # Sent again to the new process, which waits on with the descriptor the
    # dead one kept for the waiter: the lock is the waiter's once let go.
    s = wait_for_stats(service, lambda s: s["lock_waits_now"] == 1)
    assert s["lock_waits_now"] == 1
    holder.kill()
    holder.wait()
    out, _ = waiter.communicate(timeout=10)
    assert out.strip() == "ok"
    s = wait_for_stats(service, lambda s: s["restarts"]["requests_resent"] >= 1)
    assert s["restarts"]["requests_resent"] >= 1


def test_a_restart_by_the_service_manager_keeps_the_mount_and_the_locks(service, scratch,
                                                                        mount_factory):
    started(service)
    other = another_host(service, scratch, mount_factory)

    holder = subprocess.Popen(PROBE + ["hold", str(service.mnt / "mbox")], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "ok"
    client = busy_client(service.mnt, 5)
    time.sleep(0.5)
    for n in range(3):
        assert service.restart() == 0  # SIGTERM with a restart job queued, then a start
        assert mounted_here(service.mnt)  # no ENOTCONN, ever
        assert trylock(other / "mbox") == "EAGAIN"
        assert service.wait_ready(2 + n), service.log()
        time.sleep(0.3)
    result = outcome(client)
    assert result["error_count"] == 0, result
    journal = (service.back / "journal").read_text().split()
    assert journal == [str(i) for i in range(result["rounds"])]
    s = wait_for_stats(service, lambda s: s["restarts"]["planned"] == 3)
    assert s["restarts"]["planned"] == 3 and s["restarts"]["crashes"] == 0
    assert s["restarts"]["lock_owners_kept"] == 1 and s["restarts"]["handover_lost"] == 0
    assert service.log().count("leaving the mount") == 3
    assert trylock(other / "mbox") == "EAGAIN"
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 5
    while trylock(other / "mbox") != "ok":
        assert time.monotonic() < deadline, "the kept lock outlived its holder"
        time.sleep(0.05)


def test_a_stop_unmounts_and_empties_the_store(service):
    started(service)
    assert STORED <= set(service.stored)
    service.kill(signal.SIGTERM)
    assert service.wait_exit() == 0
    assert not mounted_here(service.mnt)
    assert service.wait_for(lambda: not service.stored, timeout=5), service.stored


def test_without_a_service_manager_sigusr1_restarts_in_place(scratch, mount_factory):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    m = mount_factory(back, mnt)
    client = busy_client(mnt, 3)
    time.sleep(0.5)
    m.proc.send_signal(signal.SIGUSR1)
    result = outcome(client)
    assert result["error_count"] == 0, result
    assert m.proc.poll() is None and "restarted in place" in m.log()


def test_the_dead_mount_of_a_crash_without_a_store_is_cleared_at_the_next_start(scratch,
                                                                               mount_factory):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    (back / "f").write_text("kept")
    m = mount_factory(back, mnt)
    m.proc.kill()
    m.proc.wait()
    with pytest.raises(OSError) as e:
        os.stat(mnt / "f")
    assert e.value.errno == 107  # ENOTCONN: what a plain FUSE daemon's crash leaves
    m2 = mount_factory(back, mnt)
    deadline = time.monotonic() + 10  # the dead mount counts as mounted until cleared
    while True:
        try:
            assert (mnt / "f").read_text() == "kept"
            break
        except OSError:
            assert time.monotonic() < deadline, m2.log()
            time.sleep(0.05)
    assert "cleared the dead mount" in m2.log()


def test_a_lock_stays_held_across_a_crash_until_its_holder_lets_go(service, scratch,
                                                                   mount_factory):
    started(service)
    other = another_host(service, scratch, mount_factory)

    holder = subprocess.Popen(PROBE + ["hold", str(service.mnt / "mbox")], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "ok"
    assert service.wait_for(lambda: any(n.startswith("lock-") for n in service.stored))
    service.kill(signal.SIGKILL)
    service.wait_exit()
    assert trylock(other / "mbox") == "EAGAIN"  # while no nfsguard runs
    started(service)
    assert trylock(other / "mbox") == "EAGAIN"
    s = wait_for_stats(service, lambda s: s["restarts"]["lock_owners_kept"] == 1)
    assert s["restarts"]["lock_owners_kept"] == 1
    holder.kill()  # its exit closes the file: the kept lock goes
    holder.wait()
    deadline = time.monotonic() + 5
    while trylock(other / "mbox") != "ok":
        assert time.monotonic() < deadline, "the kept lock outlived its holder"
        time.sleep(0.05)
    assert service.wait_for(lambda: not any(n.startswith("lock-") for n in service.stored))


def test_after_a_crash_a_file_whose_lock_the_store_refused_answers_eio(service, scratch,
                                                                      mount_factory):
    # A store with room for the connection's four and no more, as a full one.
    service.env["FDSTORE"] = str(len(STORED))
    started(service)
    other = another_host(service, scratch, mount_factory)
    holder = subprocess.Popen(PROBE + ["holdwrite", str(service.mnt / "mbox")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"

        def holder_writes():
            holder.stdin.write("w\n")
            holder.stdin.flush()
            return holder.stdout.readline().strip()

        assert holder_writes() == "ok"
        service.kill(signal.SIGKILL)
        service.wait_exit()
        # Not kept, the lock went with the dead process: another host gets it.
        assert trylock(other / "mbox") == "ok"
        started(service)
        # Its holder must not write on as if it still held it.
        assert holder_writes() == "EIO"
        assert "its lock is gone, and its handle answers EIO" in service.log()
    finally:
        holder.kill()
        holder.wait()


def test_a_file_replaced_while_open_stays_readable_across_a_crash(service):
    """Dovecot replaces dovecot.index by a rename while processes hold the old
    one open: after a crash no name leads to it, and the descriptor kept
    for it in the store does."""
    started(service)
    (service.mnt / "index").write_text("old index")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "f = open(sys.argv[1])\n"
         "print(f.read(), flush=True)\n"
         "sys.stdin.readline()\n"
         "f.seek(0)\n"
         "print(f.read(), flush=True)\n", str(service.mnt / "index")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "old index"
    (service.mnt / "index.tmp").write_text("new index")
    os.rename(service.mnt / "index.tmp", service.mnt / "index")
    assert service.wait_for(lambda: any(n.startswith("nameless-") for n in service.stored))
    service.kill(signal.SIGKILL)
    service.wait_exit()
    started(service)
    holder.stdin.write("\n")
    holder.stdin.flush()
    out, _ = holder.communicate(timeout=10)
    assert out.strip() == "old index"
    assert (service.mnt / "index").read_text() == "new index"
    # Its last close drops what the store kept for it.
    assert service.wait_for(lambda: not any(n.startswith("nameless-") for n in service.stored))


def test_a_file_renamed_while_open_stays_open_across_a_crash(service):
    """A Maildir message whose flags change is renamed while a reader has
    it open: after a crash its file handle finds it under its new name."""
    started(service)
    cur = service.mnt / "cur"
    cur.mkdir()
    (cur / "1.host:2,").write_text("a message")
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys\n"
         "f = open(sys.argv[1])\n"
         "print(f.read(), flush=True)\n"
         "sys.stdin.readline()\n"
         "f.seek(0)\n"
         "print(f.read(), flush=True)\n", str(cur / "1.host:2,")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "a message"
    os.rename(cur / "1.host:2,", cur / "1.host:2,S")
    service.kill(signal.SIGKILL)
    service.wait_exit()
    # Renamed again behind the mount's back: no name it knew leads to it.
    os.rename(service.back / "cur" / "1.host:2,S", service.back / "cur" / "1.host:2,RS")
    started(service)
    reader.stdin.write("\n")
    reader.stdin.flush()
    out, _ = reader.communicate(timeout=10)
    assert out.strip() == "a message"
    s = wait_for_stats(service, lambda s: s["restarts"]["crashes"] == 1)
    assert s["restarts"]["handover_lost"] == 0



CREATE_EXCL = ("import os, sys\n"
               "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)\n"
               "os.write(fd, b'mail')\n"
               "print('ok')\n")


def in_exclusive_create(pid):
    """Whether a thread of `pid` waits in openat(O_CREAT | O_EXCL)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:
            continue
        if fields and fields[0] == "257" and len(fields) > 3:  # openat(dirfd, path, flags)
            flags = int(fields[3], 16)
            if flags & (os.O_CREAT | os.O_EXCL) == os.O_CREAT | os.O_EXCL:
                return True
    return False


@pytest.mark.parametrize("name", ["msg", "user.lock"])
def test_an_exclusive_create_the_crashed_process_had_done_is_not_refused(scratch, mount_factory,
                                                                        name):
    """A plain exclusive create, and a dot-lock (the link protocol: Dovecot's
    mbox lock, which met EEXIST and waited two minutes for its own lock to
    go stale before this)."""
    # faultfs under nfsguard makes every call wait: the crash comes while the
    # create waits in the backing, which then makes the file.
    back, fault, mnt, run = (scratch / d for d in ("back", "fault", "mnt", "run"))
    for d in (back, fault, mnt, run):
        d.mkdir()
    ffs = faultfs_control.start_faultfs(back, fault, scratch / "ff.sock", scratch / "ff.log")
    mount_factory.started.append(ffs)
    store = ServiceStore([NFSGUARD, "-f", "-o", f"backing_fs=any,run_dir={run}", fault, mnt],
                         scratch / "nfsguard.log")
    try:
        started(store)
        # A dot-lock's crash comes as soon as its link is seen: 1 s a call is
        # enough, and its many calls (sanitizer builds) fit in the deadline.
        ffs.control.latency(1_000_000 if name.endswith(".lock") else 3_000_000)
        creator = subprocess.Popen([sys.executable, "-c", CREATE_EXCL, str(mnt / name)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not in_exclusive_create(store.proc.pid) and not name.endswith(".lock"):
            assert time.monotonic() < deadline, "no exclusive create reached the backing"
            time.sleep(0.05)
        if name.endswith(".lock"):
            # Killed once the lock name is linked to its file, before the
            # looks that follow come back.
            while not (back / name).exists():
                assert time.monotonic() < deadline, "the link never reached the backing"
                time.sleep(0.01)
        else:
            # Its lookup in faultfs takes 3 s, then the create 3 s: killed in between.
            time.sleep(4.5)
        store.kill(signal.SIGKILL)
        store.wait_exit()
        deadline = time.monotonic() + 10
        while not (back / name).exists():
            assert time.monotonic() < deadline, "the create never reached the backing"
            time.sleep(0.05)
        ffs.control.latency(0)
        started(store)
        out, err = creator.communicate(timeout=30)
        # Sent again, it meets the file the dead process made: given, not EEXIST.
        assert out.strip() == "ok", err
        assert (back / name).read_bytes() == b"mail"
        given = ("had taken was asked for again: it is given" if name.endswith(".lock") else
                 "was sent again: its file is given")
        assert given in store.log(), store.log()
        # No unique name left behind (faultfs hides one the dead process
        # still had open as .fuse_hidden* until that close reaches it).
        assert store.wait_for(lambda: sorted(p.name for p in back.iterdir()) == [name]), \
            sorted(p.name for p in back.iterdir())
    finally:
        store.close()
        if mounted_here(mnt):
            mounts.lazy_unmount(mnt)
