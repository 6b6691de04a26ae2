"""One host per unit (ownership=): two nfsguard mounts over one backing stand
for two hosts, the backing's own locks for the NFS server's (README, design:
"One host per mailbox")."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import faultfs_control
import mounts

NFSGUARD = str(mounts.NFSGUARD)
WAIT_MS = 300
IDLE_S = 2
LEASE_S = 2  # the heartbeat confirms for half of it


def ownership_options(host, run, *extra):
    return ("ownership=*", f"ownership_host={host}", f"ownership_wait={WAIT_MS}",
            f"ownership_idle={IDLE_S}", f"ownership_lease={LEASE_S}", f"run_dir={run}",
            "stats_interval=100", *extra)


class Hosts:
    """Host A and host B: nfsguard with ownership on `back`, at scratch/a and scratch/b."""

    def __init__(self, scratch, mount_factory, back, *extra):
        self.back = back
        self.run = scratch / "run"
        self.run.mkdir(exist_ok=True)
        self.a, self.b = scratch / "a", scratch / "b"
        self.mounts = {}
        for name, point in (("A", self.a), ("B", self.b)):
            point.mkdir()
            self.mounts[name] = mount_factory(back, point, *ownership_options(name, self.run, *extra))

    def stats(self, point, holds=lambda s: True):
        """The ownership stats of mount `point` once `holds` is true of them
        (they are written every 100 ms), or after 5 s."""
        deadline = time.monotonic() + 5
        while True:
            data, said = mounts.read_stats(self.run, point)
            s = data["ownership"] if data is not None else None
            if (s is not None and holds(s)) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert data is not None, said
        return s


@pytest.fixture
def hosts(scratch, mount_factory):
    back = scratch / "back"
    back.mkdir()
    for user in ("alice", "bob"):
        (back / user).mkdir()
        (back / user / "inbox").write_text(f"mail of {user}\n")
    return Hosts(scratch, mount_factory, back)


def refused(call):
    """The errno `call` fails with (None if it does not), and how long it took."""
    start = time.monotonic()
    try:
        call()
    except OSError as e:
        return e.errno, time.monotonic() - start
    return None, time.monotonic() - start


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def owns(point, unit):
    """Whether the host of mount `point` may read in `unit` now."""
    return refused(lambda: (point / unit / "inbox").read_text())[0] is None


def test_a_unit_one_host_uses_is_refused_to_the_other_after_a_bounded_wait(hosts):
    held = open(hosts.a / "alice" / "inbox")  # A keeps alice while B tries
    assert held.read() == "mail of alice\n"
    err, took = refused(lambda: (hosts.b / "alice" / "inbox").read_text())
    assert err == errno.ESTALE  # the guard's errno: mail software defers
    # The kernel looks an ESTALE name up once more: two waits at most.
    assert WAIT_MS / 1000 <= took < 2 * WAIT_MS / 1000 + 1.5
    err, _ = refused(lambda: (hosts.b / "alice" / "new").write_text("x"))
    assert err == errno.ESTALE
    assert not (hosts.back / "alice" / "new").exists()
    # Another unit is B's, and A's is still A's.
    (hosts.b / "bob" / "new").write_text("from B\n")
    assert (hosts.a / "alice" / "inbox").read_text() == "mail of alice\n"
    held.close()
    s = hosts.stats(hosts.b, lambda s: s["acquired"] >= 1)
    assert s["refused"]["held"] >= 2 and s["waits"] >= 2
    assert s["acquired"] >= 1


def test_what_lies_in_no_unit_and_the_units_themselves_are_free_to_look_at(hosts):
    (hosts.a / "alice" / "inbox").read_text()
    # The root's listing and a unit's attributes need no unit; .nfsguard is hidden.
    assert sorted(os.listdir(hosts.b)) == ["alice", "bob"]
    assert os.stat(hosts.b / "alice").st_ino == os.stat(hosts.back / "alice").st_ino


def test_what_lies_above_the_units_is_free_to_every_host(scratch, mount_factory):
    back = scratch / "back"
    (back / "home" / "alice").mkdir(parents=True)
    run = scratch / "run"
    run.mkdir()
    a, b = scratch / "a", scratch / "b"
    for name, point in (("A", a), ("B", b)):
        point.mkdir()
        mount_factory(back, point, *ownership_options(name, run)[1:], "ownership=home/*")
    (a / "home" / "alice" / "mail").write_text("A's\n")
    (b / "shared").write_text("free\n")
    assert (a / "shared").read_text() == "free\n"
    assert sorted(os.listdir(b / "home")) == ["alice"]
    assert refused(lambda: (b / "home" / "alice" / "mail").read_text())[0] == errno.ESTALE


def test_the_lease_files_are_out_of_the_callers_reach(hosts):
    (hosts.a / "alice" / "inbox").read_text()
    assert (hosts.back / ".nfsguard" / "owners" / "alice").exists()
    assert not (hosts.a / ".nfsguard").exists()
    err, _ = refused(lambda: (hosts.a / ".nfsguard").mkdir())
    assert err == errno.EACCES
    assert ".nfsguard" not in os.listdir(hosts.a)


def test_a_unit_left_idle_is_let_go_and_the_other_host_takes_it_over(hosts):
    (hosts.a / "alice" / "inbox").read_text()
    assert not owns(hosts.b, "alice")
    assert wait_until(lambda: owns(hosts.b, "alice"), IDLE_S + 5)
    (hosts.b / "alice" / "from-b").write_text("B was here\n")
    assert not owns(hosts.a, "alice")
    assert hosts.stats(hosts.a, lambda s: s["released"] >= 1)["released"] >= 1
    assert hosts.stats(hosts.b, lambda s: s["takeovers"] >= 1)["takeovers"] >= 1


def test_a_unit_with_an_open_file_is_not_let_go(hosts):
    with open(hosts.a / "alice" / "inbox") as held:
        time.sleep(IDLE_S + 1.5)
        assert not owns(hosts.b, "alice")
        assert held.read() == "mail of alice\n"
    assert wait_until(lambda: owns(hosts.b, "alice"), IDLE_S + 5)


def test_a_killed_holders_units_are_taken_over(hosts):
    held = os.open(hosts.a / "alice" / "inbox", os.O_RDONLY)
    assert not owns(hosts.b, "alice")
    hosts.mounts["A"].proc.send_signal(signal.SIGKILL)
    hosts.mounts["A"].proc.wait(timeout=10)
    # Its locks went with it (on NFS: when the server's lease expires).
    assert wait_until(lambda: owns(hosts.b, "alice"), 5)
    with pytest.raises(OSError):
        os.close(held)  # the dead mount's


def test_owners_lists_every_hosts_units_from_any_host(hosts):
    # Both kept busy by an open file while they are listed.
    a_held = open(hosts.a / "alice" / "inbox")
    b_held = open(hosts.b / "bob" / "inbox")
    time.sleep(LEASE_S / 6 + 0.3)  # a heartbeat with the units in it
    for point in (hosts.a, hosts.b):
        r = subprocess.run([NFSGUARD, "owners", "--json", str(point)], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        listed = json.loads(r.stdout)
        units = {u["unit"]: u for u in listed["units"]}
        assert units["alice"]["host"] == "A" and units["bob"]["host"] == "B"
        assert units["alice"]["pid"] == hosts.mounts["A"].pid
        assert units["alice"]["idle_seconds"] is not None
        assert {h["host"] for h in listed["hosts"]} == {"A", "B"}
    text = subprocess.run([NFSGUARD, "owners", str(hosts.a)], capture_output=True, text=True,
                          timeout=10).stdout
    assert "alice" in text and "bob" in text
    a_held.close()
    b_held.close()


def can_read(point, name):
    return refused(lambda: read_pinned(point, name))[0] is None


def read_pinned(point, name):
    with open(point / name) as f:
        return f.read()


@pytest.mark.parametrize("ownership", [True, False], ids=["owned", "control"])
def test_pinned_caches_are_dropped_when_another_host_had_the_unit(scratch, mount_factory,
                                                                  ownership):
    back = scratch / "back"
    (back / "alice").mkdir(parents=True)
    (back / "alice" / "index").write_text("version 1\n")
    if ownership:
        hosts = Hosts(scratch, mount_factory, back, "cache=pinned")
        a, b = hosts.a, hosts.b
    else:
        a, b = scratch / "a", scratch / "b"
        a.mkdir()
        b.mkdir()
        mount_factory(back, a, "cache=pinned")
        mount_factory(back, b, "cache=pinned")
    assert os.stat(a / "alice" / "index").st_size == 10
    if ownership:  # B waits for A to let alice go
        assert wait_until(lambda: can_read(b, "alice/index"), IDLE_S + 5)
    with open(b / "alice" / "index", "a") as f:
        f.write("version 2\n")
    if ownership:
        assert wait_until(lambda: can_read(a, "alice/index"), IDLE_S + 5)
    # Pinned without ownership, A's kernel answers from what it cached: the
    # size before B's append.
    assert os.stat(a / "alice" / "index").st_size == (20 if ownership else 10)
    if ownership:
        assert (a / "alice" / "index").read_text() == "version 1\nversion 2\n"


@pytest.fixture
def hosts_on_faultfs(scratch, mount_factory):
    back, fault = scratch / "back", scratch / "fault"
    back.mkdir()
    fault.mkdir()
    (back / "alice").mkdir()
    (back / "alice" / "inbox").write_text("mail of alice\n")
    ffs = faultfs_control.start_faultfs(back, fault, scratch / "ff.sock", scratch / "ff.log")
    mount_factory.started.append(ffs)
    hosts = Hosts(scratch, mount_factory, fault)
    hosts.control = ffs.control
    return hosts


def test_a_host_that_cannot_confirm_its_leases_is_fenced_and_the_other_takes_over(
        hosts_on_faultfs):
    hosts = hosts_on_faultfs
    inbox = hosts.back / "alice" / "inbox"
    held = os.open(hosts.a / "alice" / "inbox", os.O_RDWR)
    try:
        assert os.pread(held, 100, 0) == b"mail of alice\n"
        # A's heartbeat on its own lease file fails from now on (a partition).
        hosts.control.estale("A", -1)
        time.sleep(LEASE_S / 2 + 0.6)
        # Nothing is written in alice: neither through what A had open nor anew.
        assert refused(lambda: os.pwrite(held, b"LATE", 0))[0] == errno.ESTALE
        assert refused(lambda: (hosts.a / "alice" / "late").write_text("x"))[0] == errno.ESTALE
        assert wait_until(lambda: owns(hosts.b, "alice"), 5)
        (hosts.b / "alice" / "from-b").write_text("B owns it\n")
        b_reading = open(hosts.b / "alice" / "from-b")  # B keeps alice busy
        # A, back, finds it B's and writes nothing.
        hosts.control.clear()
        time.sleep(LEASE_S / 6 + 0.3)
        assert refused(lambda: (hosts.a / "alice" / "late").write_text("x"))[0] == errno.ESTALE
        assert hosts.stats(hosts.a, lambda s: s["fenced"] == 1)["fenced"] == 1
        b_reading.close()
        # Once B lets it go, A takes it anew; what it had open stays ended.
        assert wait_until(lambda: owns(hosts.a, "alice"), IDLE_S + 5)
        assert refused(lambda: os.pwrite(held, b"LATE", 0))[0] == errno.EIO
        assert (hosts.a / "alice" / "from-b").read_text() == "B owns it\n"
        assert inbox.read_text() == "mail of alice\n"
        assert not (hosts.back / "alice" / "late").exists()
    finally:
        try:
            os.close(held)
        except OSError:
            pass  # its flush is refused: the file belongs to an ended tenure


@pytest.fixture
def owner_under_store(scratch, mount_factory):
    """Host A run by the stand-in service manager (its store keeps the
    mount and the leases), host B a plain mount; both over scratch/back."""
    from service_store import ServiceStore
    from test_restart import started

    back, run = scratch / "back", scratch / "run"
    back.mkdir()
    run.mkdir()
    (back / "alice").mkdir()
    (back / "alice" / "inbox").write_text("mail of alice\n")
    a, b = scratch / "a", scratch / "b"
    a.mkdir()
    b.mkdir()
    argv = [NFSGUARD, "-f", "-o", ",".join(("backing_fs=any",) + ownership_options("A", run)),
            back, a]
    store = ServiceStore(argv, scratch / "nfsguard-a.log")
    store.back, store.mnt, store.run = back, a, run
    mount_factory(back, b, *ownership_options("B", run))
    store.started = lambda: started(store)
    yield store, b
    store.close()
    if a.resolve().as_posix() in mounts.fuse_mounts():
        mounts.lazy_unmount(a)
    print(f"--- nfsguard-a.log ---\n{store.log()}")


APPENDER = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND)
print("open", flush=True)
for line in sys.stdin:
    try:
        os.write(fd, line.encode())
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""


@pytest.mark.parametrize("restart", ["planned", "crash"])
def test_a_restart_keeps_the_units_and_what_is_open_in_them(owner_under_store, restart):
    store, b = owner_under_store
    store.started()
    # A mail process with the mailbox open across the restarts: in a process
    # of its own, so that no wait of it can hold the test.
    appender = subprocess.Popen([sys.executable, "-c", APPENDER, str(store.mnt / "alice" / "inbox")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert appender.stdout.readline().strip() == "open"
        # The store takes in what it is sent on a thread of its own.
        assert store.wait_for(lambda: "lease-alice" in store.stored, 5), store.stored
        for n in range(3):
            if restart == "planned":
                store.kill(signal.SIGUSR1)
                assert store.wait_ready(2 + n), store.log()
            else:
                store.kill(signal.SIGKILL)
                store.wait_exit()
                # Between the two processes the unit stays A's.
                assert not owns(b, "alice")
                store.started()
            assert not owns(b, "alice")
            appender.stdin.write(f"line {n}\n")
            appender.stdin.flush()
            assert appender.stdout.readline().strip() == "ok"
        assert (store.back / "alice" / "inbox").read_text() == \
            "mail of alice\n" + "".join(f"line {n}\n" for n in range(3))
    finally:
        appender.stdin.close()
        appender.wait(timeout=10)
    # Let go once idle, by the last process, and the store forgets it.
    assert wait_until(lambda: owns(b, "alice"), IDLE_S + 5)
    assert store.wait_for(lambda: "lease-alice" not in store.stored, 5)
