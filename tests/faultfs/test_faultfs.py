"""nfsguard-faultfs on its own: it passes calls through, and fails like NFS when told.

Each test mounts faultfs over scratch/back at scratch/fault and works through
the mount with plain os calls; the backing directory shows what really
happened. The faults and their errnos are described in tests/faultfs/README.md.
"""

import errno
import os
import subprocess
import sys
import time
from collections import namedtuple

import pytest

import faultfs_control

Fault = namedtuple("Fault", "back mnt ctl mount")

HOUR = 3600
CLOCK_SLACK = 60  # seconds: generous, the tests only need "about an hour ahead"
USER = 4242
TEAM = 4444  # a supplementary group of USER in some tests


@pytest.fixture
def fault(scratch):
    back = scratch / "back"
    mnt = scratch / "fault"
    back.mkdir()
    mnt.mkdir()
    back.chmod(0o755)
    m = faultfs_control.start_faultfs(back, mnt, scratch / "faultfs.sock",
                                      scratch / "faultfs.log")
    try:
        yield Fault(back, mnt, m.control, m)
    finally:
        m.close()


def write(path, data=b"data"):
    with open(path, "wb") as f:
        f.write(data)


def errno_of(fn, *args):
    """The errno fn(*args) fails with; None when it succeeds."""
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return None


# --- passthrough -------------------------------------------------------------

def test_written_data_reads_back_and_lands_in_the_backing(fault):
    data = os.urandom(1 << 20)
    write(fault.mnt / "big", data)
    assert (fault.mnt / "big").read_bytes() == data
    assert (fault.back / "big").read_bytes() == data


def test_append_goes_to_the_end(fault):
    write(fault.mnt / "log", b"one\n")
    with open(fault.mnt / "log", "ab") as f:
        f.write(b"two\n")
    assert (fault.back / "log").read_bytes() == b"one\ntwo\n"


def test_rename_link_mkdir_and_readdir_pass_through(fault):
    os.mkdir(fault.mnt / "d")
    write(fault.mnt / "d" / "a")
    os.rename(fault.mnt / "d" / "a", fault.mnt / "d" / "b")
    os.link(fault.mnt / "d" / "b", fault.mnt / "c")
    assert sorted(os.listdir(fault.mnt)) == ["c", "d"]
    assert os.listdir(fault.mnt / "d") == ["b"]
    assert sorted(os.listdir(fault.back / "d")) == ["b"]
    assert os.stat(fault.back / "c").st_nlink == 2


def test_a_listing_longer_than_one_reply_is_complete(fault):
    names = {f"message-{i:04d}-with-a-long-name-like-maildir" for i in range(2000)}
    for name in names:
        (fault.back / name).touch()
    assert set(os.listdir(fault.mnt)) == names


def test_inode_numbers_are_the_backing_ones(fault):
    write(fault.mnt / "f")
    os.mkdir(fault.mnt / "d")
    for name in ("f", "d"):
        assert os.stat(fault.mnt / name).st_ino == os.stat(fault.back / name).st_ino
    listed = {e.name: e.inode() for e in os.scandir(fault.mnt)}
    assert listed["f"] == os.stat(fault.back / "f").st_ino


def test_symlink_truncate_chmod_utime_and_rmdir(fault):
    os.symlink("target", fault.mnt / "s")
    assert os.readlink(fault.mnt / "s") == "target"
    assert os.readlink(fault.back / "s") == "target"
    write(fault.mnt / "f", b"0123456789")
    os.truncate(fault.mnt / "f", 4)
    assert (fault.back / "f").read_bytes() == b"0123"
    os.chmod(fault.mnt / "f", 0o640)
    assert os.stat(fault.back / "f").st_mode & 0o7777 == 0o640
    os.utime(fault.mnt / "f", (1000, 2000))
    assert os.stat(fault.back / "f").st_mtime == 2000
    os.mkdir(fault.mnt / "d")
    os.rmdir(fault.mnt / "d")
    assert not (fault.back / "d").exists()


def test_xattrs_pass_through(fault):
    write(fault.mnt / "f")
    os.setxattr(fault.mnt / "f", "user.flag", b"seen")
    assert os.getxattr(fault.back / "f", "user.flag") == b"seen"
    assert "user.flag" in os.listxattr(fault.mnt / "f")
    os.removexattr(fault.mnt / "f", "user.flag")
    assert "user.flag" not in os.listxattr(fault.back / "f")


def test_an_unlinked_open_file_stays_usable_like_an_nfs_silly_rename(fault):
    with open(fault.mnt / "f", "w+b") as f:
        os.unlink(fault.mnt / "f")
        f.write(b"still here")
        f.flush()
        f.seek(0)
        assert f.read() == b"still here"
        assert os.fstat(f.fileno()).st_size == len(b"still here")
        assert [n.startswith(".fuse_hidden") for n in os.listdir(fault.back)] == [True]
    # The kernel sends the release after close() has returned.
    deadline = time.monotonic() + 10
    while os.listdir(fault.back) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.listdir(fault.back) == []


# --- lost replies ------------------------------------------------------------

def lost_rename(f):
    write(f.mnt / "a")
    assert errno_of(os.rename, f.mnt / "a", f.mnt / "b") == errno.ENOENT
    assert (f.back / "b").exists() and not (f.back / "a").exists()


def lost_link(f):
    write(f.mnt / "a")
    assert errno_of(os.link, f.mnt / "a", f.mnt / "b") == errno.EEXIST
    assert os.stat(f.back / "b").st_ino == os.stat(f.back / "a").st_ino


def lost_mkdir(f):
    assert errno_of(os.mkdir, f.mnt / "b") == errno.EEXIST
    assert (f.back / "b").is_dir()


def lost_symlink(f):
    assert errno_of(os.symlink, "target", f.mnt / "b") == errno.EEXIST
    assert os.readlink(f.back / "b") == "target"


def lost_unlink(f):
    write(f.mnt / "b")
    assert errno_of(os.unlink, f.mnt / "b") == errno.ENOENT
    assert not (f.back / "b").exists()


def lost_rmdir(f):
    os.mkdir(f.mnt / "b")
    assert errno_of(os.rmdir, f.mnt / "b") == errno.ENOENT
    assert not (f.back / "b").exists()


def lost_create_excl(f):
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
    assert errno_of(os.open, f.mnt / "b", flags, 0o600) == errno.EEXIST
    assert (f.back / "b").is_file()


def test_lost_reply_on_rename_closed_spares_a_file_held_open(fault):
    write(fault.mnt / "a")
    fault.ctl.lost_reply("rename_closed", "b", 1)
    with open(fault.mnt / "a", "rb"):
        os.rename(fault.mnt / "a", fault.mnt / "b")  # held open: not hit
    assert fault.ctl.stats()["lost_reply"]["rename_closed"] == 0
    os.rename(fault.mnt / "b", fault.mnt / "a")
    assert errno_of(os.rename, fault.mnt / "a", fault.mnt / "b") == errno.ENOENT  # closed: hit
    assert (fault.back / "b").exists() and not (fault.back / "a").exists()
    assert fault.ctl.stats()["lost_reply"]["rename_closed"] == 1


LOST_REPLY = {
    "rename": lost_rename,
    "link": lost_link,
    "mkdir": lost_mkdir,
    "symlink": lost_symlink,
    "unlink": lost_unlink,
    "rmdir": lost_rmdir,
    "create_excl": lost_create_excl,
}


@pytest.mark.parametrize("op", sorted(LOST_REPLY))
def test_lost_reply_reports_the_retransmission_error_after_doing_the_call(fault, op):
    fault.ctl.lost_reply(op, "b", 1)
    LOST_REPLY[op](fault)
    assert fault.ctl.stats()["lost_reply"][op] == 1


def test_lost_reply_spends_its_count_then_calls_succeed(fault):
    fault.ctl.lost_reply("mkdir", "d*", 2)
    assert errno_of(os.mkdir, fault.mnt / "d1") == errno.EEXIST
    assert errno_of(os.mkdir, fault.mnt / "d2") == errno.EEXIST
    os.mkdir(fault.mnt / "d3")
    assert sorted(os.listdir(fault.back)) == ["d1", "d2", "d3"]


def test_lost_reply_minus_one_lasts_until_cleared(fault):
    fault.ctl.lost_reply("unlink", "*", -1)
    for i in range(5):
        # Made in the backing: a file just closed through the mount may wait
        # for its release, and its unlink would be a hidden rename.
        write(fault.back / f"f{i}")
        assert errno_of(os.unlink, fault.mnt / f"f{i}") == errno.ENOENT
    fault.ctl.clear()
    write(fault.mnt / "g")
    os.unlink(fault.mnt / "g")


def test_lost_reply_matches_the_new_name_only(fault):
    fault.ctl.lost_reply("rename", "*.lock", 1)
    write(fault.mnt / "x.lock")
    os.rename(fault.mnt / "x.lock", fault.mnt / "x.done")  # old name matches: no fault
    write(fault.mnt / "tmp")
    assert errno_of(os.rename, fault.mnt / "tmp", fault.mnt / "y.lock") == errno.ENOENT
    assert (fault.back / "y.lock").exists()


def test_lost_reply_any_hits_every_op(fault):
    fault.ctl.lost_reply("any", "*", -1)
    assert errno_of(os.mkdir, fault.mnt / "d") == errno.EEXIST
    assert errno_of(os.symlink, "t", fault.mnt / "s") == errno.EEXIST
    assert errno_of(os.rmdir, fault.mnt / "d") == errno.ENOENT
    assert os.listdir(fault.back) == ["s"]


def test_a_call_that_really_fails_spends_no_lost_reply(fault):
    fault.ctl.lost_reply("rename", "*", 1)
    assert errno_of(os.rename, fault.mnt / "missing", fault.mnt / "b") == errno.ENOENT
    assert fault.ctl.stats()["lost_reply"]["rename"] == 0
    write(fault.mnt / "a")
    assert errno_of(os.rename, fault.mnt / "a", fault.mnt / "b") == errno.ENOENT


def test_a_create_without_o_excl_is_not_an_exclusive_create(fault):
    fault.ctl.lost_reply("create_excl", "*", -1)
    fd = os.open(fault.mnt / "f", os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    assert fault.ctl.stats()["lost_reply"]["create_excl"] == 0


# --- ESTALE ------------------------------------------------------------------

def test_estale_fails_calls_on_the_named_object_until_cleared(fault):
    write(fault.mnt / "victim", b"v")
    write(fault.mnt / "bystander", b"b")
    fault.ctl.estale("victim", -1)
    assert errno_of(os.stat, fault.mnt / "victim") == errno.ESTALE
    assert errno_of(os.open, fault.mnt / "victim", os.O_RDONLY) == errno.ESTALE
    assert errno_of(os.unlink, fault.mnt / "victim") == errno.ESTALE
    assert (fault.mnt / "bystander").read_bytes() == b"b"
    assert (fault.back / "victim").exists()
    fault.ctl.clear()
    assert (fault.mnt / "victim").read_bytes() == b"v"


def test_estale_on_an_open_file_fails_its_reads(fault):
    write(fault.mnt / "victim", b"v")
    with open(fault.mnt / "victim", "rb", buffering=0) as f:
        fault.ctl.estale("victim", -1)
        assert errno_of(f.read) == errno.ESTALE
        fault.ctl.clear()
        assert f.read() == b"v"


def test_estale_count_is_spent(fault):
    write(fault.mnt / "victim")
    fault.ctl.estale("victim", 1)
    # The kernel may retry a lookup that got ESTALE (LOOKUP_REVAL), so one
    # stat may or may not see the fault; what counts is that it fires once.
    for _ in range(3):
        if errno_of(os.stat, fault.mnt / "victim") is None:
            break
    assert errno_of(os.stat, fault.mnt / "victim") is None
    assert fault.ctl.stats()["estale"] == 1


# --- server clock ------------------------------------------------------------

def assert_about(actual, expected):
    assert abs(actual - expected) < CLOCK_SLACK, f"{actual} is not about {expected}"


def test_clock_offset_stamps_new_files_with_server_time(fault):
    fault.ctl.clock_offset(HOUR)
    write(fault.mnt / "f")
    now = time.time()
    st = os.stat(fault.mnt / "f")
    assert_about(st.st_mtime, now + HOUR)
    assert_about(st.st_ctime, now + HOUR)
    assert_about(os.stat(fault.back / "f").st_mtime, now + HOUR)
    assert_about(os.stat(fault.mnt).st_mtime, now + HOUR)  # its directory changed


def test_clock_offset_stamps_mkdir_symlink_and_the_directory(fault):
    os.mkdir(fault.mnt / "d")
    fault.ctl.clock_offset(-HOUR)
    os.mkdir(fault.mnt / "d" / "sub")
    os.symlink("t", fault.mnt / "d" / "s")
    now = time.time()
    assert_about(os.stat(fault.mnt / "d" / "sub").st_mtime, now - HOUR)
    assert_about(os.lstat(fault.mnt / "d" / "s").st_mtime, now - HOUR)
    assert_about(os.stat(fault.mnt / "d").st_mtime, now - HOUR)


def test_clock_offset_stamps_writes_truncates_and_utime_now(fault):
    write(fault.mnt / "f")
    os.utime(fault.mnt / "f", (1000, 1000))
    fault.ctl.clock_offset(HOUR)
    write(fault.mnt / "f", b"new data")
    assert_about(os.stat(fault.mnt / "f").st_mtime, time.time() + HOUR)
    os.utime(fault.mnt / "f", (1000, 1000))
    os.truncate(fault.mnt / "f", 1)
    assert_about(os.stat(fault.mnt / "f").st_mtime, time.time() + HOUR)
    os.utime(fault.mnt / "f", (1000, 1000))
    os.utime(fault.mnt / "f")  # utimes(NULL): "server, use your time"
    st = os.stat(fault.mnt / "f")
    assert_about(st.st_mtime, time.time() + HOUR)
    assert_about(st.st_atime, time.time() + HOUR)


def test_clock_offset_keeps_explicit_times(fault):
    fault.ctl.clock_offset(HOUR)
    write(fault.mnt / "f")
    os.utime(fault.mnt / "f", (1000, 2000))
    st = os.stat(fault.mnt / "f")
    assert (st.st_atime, st.st_mtime) == (1000, 2000)


def test_clock_offset_zero_turns_it_off(fault):
    fault.ctl.clock_offset(HOUR)
    fault.ctl.clock_offset(0)
    write(fault.mnt / "f")
    st = os.stat(fault.mnt / "f")
    assert_about(st.st_mtime, time.time())
    assert_about(st.st_ctime, time.time())


# --- vanished export ---------------------------------------------------------

def test_vanish_fails_every_call_until_the_export_returns(fault):
    write(fault.mnt / "f", b"kept")
    fault.ctl.vanish("EIO")
    assert errno_of(os.stat, fault.mnt / "f") == errno.EIO
    assert errno_of(os.listdir, fault.mnt) == errno.EIO
    assert errno_of(os.open, fault.mnt / "new", os.O_CREAT | os.O_WRONLY) == errno.EIO
    assert not (fault.back / "new").exists()
    fault.ctl.restore()
    assert (fault.mnt / "f").read_bytes() == b"kept"
    assert fault.ctl.stats()["vanished_calls"] >= 3


def test_vanish_takes_any_errno(fault):
    write(fault.mnt / "f")
    fault.ctl.vanish(errno.ENOTCONN)
    assert errno_of(os.stat, fault.mnt / "f") == errno.ENOTCONN
    fault.ctl.restore()
    os.stat(fault.mnt / "f")


def test_an_open_file_can_be_closed_while_the_export_is_gone(fault):
    f = open(fault.mnt / "f", "wb")
    fault.ctl.vanish("EIO")
    with pytest.raises(OSError) as e:
        f.close()  # the flush fails; the release still happens
    assert e.value.errno == errno.EIO
    fault.ctl.restore()


# --- errors at close ---------------------------------------------------------

def test_close_error_is_reported_by_close_after_the_data_reached_the_backing(fault):
    fault.ctl.close_error("EDQUOT", "msg*", 1)
    fd = os.open(fault.mnt / "msg1", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"body")
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EDQUOT
    assert (fault.back / "msg1").read_bytes() == b"body"
    write(fault.mnt / "msg2")  # the count is spent


def test_close_error_is_reported_by_fsync(fault):
    fault.ctl.close_error("ENOSPC", "msg*", 1)
    fd = os.open(fault.mnt / "msg1", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.write(fd, b"body")
        assert errno_of(os.fsync, fd) == errno.ENOSPC
    finally:
        os.close(fd)
    assert (fault.back / "msg1").read_bytes() == b"body"


def test_close_error_spares_files_opened_read_only(fault):
    write(fault.mnt / "msg1", b"body")
    fault.ctl.close_error("EDQUOT", "msg*", -1)
    assert (fault.mnt / "msg1").read_bytes() == b"body"
    assert fault.ctl.stats()["close_error"] == 0


def test_close_error_spares_other_names(fault):
    fault.ctl.close_error("EIO", "msg*", -1)
    write(fault.mnt / "other")
    fd = os.open(fault.mnt / "other", os.O_WRONLY)
    os.fsync(fd)
    os.close(fd)
    assert fault.ctl.stats()["close_error"] == 0


# --- latency -----------------------------------------------------------------

def test_latency_delays_each_call(fault):
    write(fault.mnt / "f")
    fault.ctl.latency(20000)
    start = time.monotonic()
    os.stat(fault.mnt / "f")
    assert time.monotonic() - start >= 0.020
    fault.ctl.latency(0)
    os.stat(fault.mnt / "f")


# --- control -----------------------------------------------------------------

def test_clear_disarms_everything(fault):
    write(fault.mnt / "f")
    fault.ctl.lost_reply("any", "*", -1)
    fault.ctl.estale("f", -1)
    fault.ctl.close_error("EIO", "*", -1)
    fault.ctl.clock_offset(HOUR)
    fault.ctl.latency(1000)
    fault.ctl.vanish("EIO")
    fault.ctl.clear()
    write(fault.mnt / "f", b"x")
    os.mkdir(fault.mnt / "d")
    os.rename(fault.mnt / "d", fault.mnt / "e")
    assert_about(os.stat(fault.mnt / "f").st_mtime, time.time())


def test_stats_count_what_was_injected(fault):
    fault.ctl.lost_reply("rename", "*", 2)
    fault.ctl.lost_reply("link", "*", 1)
    fault.ctl.close_error("EIO", "*", 1)
    assert errno_of(write, fault.mnt / "a") == errno.EIO  # at close
    assert errno_of(os.rename, fault.mnt / "a", fault.mnt / "b") == errno.ENOENT
    assert errno_of(os.rename, fault.mnt / "b", fault.mnt / "a") == errno.ENOENT
    os.rename(fault.mnt / "a", fault.mnt / "b")
    assert errno_of(os.link, fault.mnt / "b", fault.mnt / "c") == errno.EEXIST
    assert fault.ctl.stats() == {
        "lost_reply": {"rename": 2, "link": 1, "mkdir": 0, "symlink": 0, "unlink": 0,
                       "rmdir": 0, "create_excl": 0, "rename_closed": 0},
        "estale": 0, "close_error": 1, "vanished_calls": 0}


def test_bad_commands_are_answered_with_error(fault):
    for bad in ("explode", "lost_reply chmod * 1", "estale x many", "vanish ENOPE"):
        with pytest.raises(faultfs_control.FaultFSError):
            fault.ctl.send(bad)
    write(fault.mnt / "f")  # and nothing was armed


# --- identity ----------------------------------------------------------------

def as_user(script, *args, groups=()):
    """Runs python `script` as uid/gid 4242 with only the supplementary `groups`."""
    group_option = f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"
    return subprocess.run(
        ["setpriv", f"--reuid={USER}", f"--regid={USER}", group_option,
         sys.executable, "-c", script, *map(str, args)],
        cwd="/", capture_output=True, text=True, timeout=60)


USER_CREATES = """
import os, sys
base = sys.argv[1]
with open(os.path.join(base, "file"), "w") as f:
    f.write("mine")
os.mkdir(os.path.join(base, "dir"))
os.symlink("file", os.path.join(base, "link"))
os.setxattr(os.path.join(base, "file"), "user.owner", b"4242")
"""

USER_CREATES_FILE = """
import os, sys
try:
    open(sys.argv[1], "w").close()
except PermissionError:
    sys.exit(13)
"""

USER_WRITES_ROOTS_FILE = """
import os, sys
try:
    os.open(sys.argv[1], os.O_WRONLY)
except PermissionError:
    sys.exit(13)
sys.exit(0)
"""


def test_files_made_by_a_user_belong_to_that_user(fault):
    shared = fault.mnt / "shared"
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    r = as_user(USER_CREATES, shared)
    assert r.returncode == 0, r.stderr
    for name in ("file", "dir", "link"):
        st = os.lstat(fault.back / "shared" / name)
        assert (st.st_uid, st.st_gid) == (USER, USER), name
    assert os.getxattr(fault.back / "shared" / "file", "user.owner") == b"4242"


def test_a_user_gets_that_users_permissions(fault):
    shared = fault.mnt / "shared"
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    write(shared / "roots")
    os.chmod(shared / "roots", 0o644)
    r = as_user(USER_WRITES_ROOTS_FILE, shared / "roots")
    assert r.returncode == 13, r.stderr


def test_a_users_supplementary_groups_grant_access(fault):
    team = fault.mnt / "team"
    os.mkdir(team)
    os.chown(team, 0, TEAM)
    os.chmod(team, 0o770)
    r = as_user(USER_CREATES_FILE, team / "without-group")
    assert r.returncode == 13, r.stderr
    r = as_user(USER_CREATES_FILE, team / "with-group", groups=[TEAM])
    assert r.returncode == 0, r.stderr
    assert os.stat(fault.back / "team" / "with-group").st_uid == USER


OPENS_THEN_CHANGES_EUID = """
import os, sys
path, other = sys.argv[1], int(sys.argv[2])
os.seteuid(other)
try:
    os.stat(path)
    sys.exit("a stranger could stat a file in a 0700 directory")
except PermissionError:
    pass
os.seteuid(0)
os.seteuid(4242)
fd = os.open(path, os.O_RDONLY)
os.seteuid(0)
os.seteuid(other)
print(os.fstat(fd).st_size, os.read(fd, 100).decode())
"""


def test_an_open_file_answers_getattr_to_any_euid_as_an_nfs_handle_does(fault):
    # Postfix's local opens ~/.forward as the user, then reads it with its own
    # euid. (While the file is open a stranger's stat by path succeeds too:
    # libfuse's path API cannot tell a lookup from an fstat.)
    home = fault.mnt / "home"
    os.mkdir(home, 0o700)
    os.chown(home, USER, USER)
    write(home / ".forward", b"/home/Maildir/")
    r = subprocess.run([sys.executable, "-c", OPENS_THEN_CHANGES_EUID, str(home / ".forward"),
                        "4343"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["14", "/home/Maildir/"]
