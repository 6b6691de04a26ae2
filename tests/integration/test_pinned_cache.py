"""cache=pinned: the kernel keeps names, attributes and data, and nfsguard
drops what it changes behind the kernel's back.

What the whole suite checks in shared mode it also passes with
NFSGUARD_CACHE=pinned (README, "Caching"); these tests are what only pinned
mode has: that the kernel really caches (a change made on the backing
directly, against the pinning rule, stays unseen), that its caches follow
every change made through the mount, that permissions hold although cached
dentries skip nfsguard's lookup, and that what nfsguard itself changes (times
at close, false errors, a re-attached backing) is dropped from the kernel.

    backing dir  [<-  nfsguard-faultfs]  <-  nfsguard (cache=pinned)  <-  program
"""

import errno
import os
import subprocess
import sys
import time

import pytest


NOBODY = 65534


@pytest.fixture
def pinned(scratch, mount_factory):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    m = mount_factory(back, mnt, "cache=pinned")
    return back, mnt, m


@pytest.fixture
def pinned_on_faultfs(guard_on_faultfs):
    return guard_on_faultfs("cache=pinned")


def as_user(uid, code, *args):
    """Runs Python `code` as uid (and gid) `uid`; returns the completed process."""
    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], preexec_fn=drop,
                          capture_output=True, text=True, timeout=60)


def mount_options(mountpoint):
    """The mount's options as the kernel shows them (mount and superblock)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if left.split()[4] == str(mountpoint):
                return set(left.split()[5].split(",")) | set(right.split()[2].split(","))
    raise AssertionError(f"{mountpoint} not mounted")


def test_the_kernel_checks_permissions_itself_in_pinned_mode(pinned, scratch, mount_factory):
    _, mnt, _ = pinned
    assert "default_permissions" in mount_options(mnt)
    back2, mnt2 = scratch / "back2", scratch / "mnt2"
    back2.mkdir()
    mnt2.mkdir()
    mount_factory(back2, mnt2, "cache=shared")
    assert "default_permissions" not in mount_options(mnt2)


def test_the_kernel_keeps_attributes_in_pinned_mode(pinned):
    # Against the pinning rule, on purpose: a change made on the backing
    # directly is not seen while the kernel may trust what it has.
    back, mnt, _ = pinned
    (mnt / "f").write_bytes(b"12345")
    assert os.stat(mnt / "f").st_size == 5
    (back / "f").write_bytes(b"1234567890")
    assert os.stat(mnt / "f").st_size == 5


def test_the_kernel_keeps_listings_in_pinned_mode(pinned):
    # Against the pinning rule, on purpose: a folder listed once is listed
    # again by the kernel (FOPEN_CACHE_DIR), and a name added on the backing
    # directly does not show. (The kernel compares the folder's mtime before
    # it serves a kept listing: put back, so that it cannot tell.)
    back, mnt, _ = pinned
    (mnt / "d").mkdir()
    (mnt / "d" / "a").write_bytes(b"")
    assert sorted(os.listdir(mnt / "d")) == ["a"]
    before = os.stat(back / "d")
    (back / "d" / "behind").write_bytes(b"")
    os.utime(back / "d", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert sorted(os.listdir(mnt / "d")) == ["a"]


def test_listings_follow_every_change_made_through_the_mount(pinned):
    _, mnt, _ = pinned
    d = mnt / "d"
    d.mkdir()
    assert os.listdir(d) == []
    (d / "a").write_bytes(b"x")
    assert sorted(os.listdir(d)) == ["a"]
    os.rename(d / "a", d / "b")
    assert sorted(os.listdir(d)) == ["b"]
    os.link(d / "b", d / "c")
    assert sorted(os.listdir(d)) == ["b", "c"]
    os.mkdir(d / "sub")
    os.symlink("b", d / "s")
    assert sorted(os.listdir(d)) == ["b", "c", "s", "sub"]
    os.unlink(d / "b")
    os.rmdir(d / "sub")
    assert sorted(os.listdir(d)) == ["c", "s"]
    os.rename(d / "c", mnt / "moved")
    assert sorted(os.listdir(d)) == ["s"]
    assert "moved" in os.listdir(mnt)


def test_the_kernel_keeps_nothing_in_shared_mode(scratch, mount_factory):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    mount_factory(back, mnt, "cache=shared")
    (mnt / "f").write_bytes(b"12345")
    assert os.stat(mnt / "f").st_size == 5
    (back / "f").write_bytes(b"1234567890")
    assert os.stat(mnt / "f").st_size == 10


def test_rename_over_an_existing_name_is_seen_at_once(pinned):
    _, mnt, _ = pinned
    (mnt / "a").write_bytes(b"aaa")
    (mnt / "b").write_bytes(b"bbbbbb")
    ino_a = os.stat(mnt / "a").st_ino
    os.stat(mnt / "b")  # both names cached
    os.rename(mnt / "a", mnt / "b")
    assert not (mnt / "a").exists()
    st = os.stat(mnt / "b")
    assert (st.st_ino, st.st_size) == (ino_a, 3)
    assert (mnt / "b").read_bytes() == b"aaa"


def test_link_counts_follow_link_and_unlink(pinned):
    _, mnt, _ = pinned
    (mnt / "f").write_bytes(b"x")
    assert os.stat(mnt / "f").st_nlink == 1
    os.link(mnt / "f", mnt / "g")
    assert os.stat(mnt / "f").st_nlink == 2
    os.unlink(mnt / "g")
    assert os.stat(mnt / "f").st_nlink == 1


def test_data_written_is_read_back_through_the_kept_page_cache(pinned):
    _, mnt, _ = pinned
    (mnt / "f").write_bytes(b"first version")
    assert (mnt / "f").read_bytes() == b"first version"
    with open(mnt / "f", "r+b") as f:
        f.write(b"FIRST")
    assert (mnt / "f").read_bytes() == b"FIRST version"
    os.truncate(mnt / "f", 5)
    assert (mnt / "f").read_bytes() == b"FIRST"


def test_a_cached_path_does_not_let_another_user_through(pinned):
    # Root walks into a directory only root may search; the dentries stay
    # cached, so without the kernel's own permission check nobody could walk
    # the same path without nfsguard ever being asked.
    _, mnt, _ = pinned
    private = mnt / "private"
    private.mkdir(mode=0o700)
    (private / "inbox").write_bytes(b"secret")
    os.chmod(private / "inbox", 0o644)
    assert (private / "inbox").read_bytes() == b"secret"
    r = as_user(NOBODY, "import os,sys; open(sys.argv[1]).read()", private / "inbox")
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
    r = as_user(NOBODY, "import os,sys; os.stat(sys.argv[1])", private / "inbox")
    assert "Permission denied" in r.stderr, r.stderr


def test_a_user_may_use_what_the_modes_allow(pinned):
    _, mnt, _ = pinned
    shared = mnt / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o1777)
    r = as_user(NOBODY, "import sys; open(sys.argv[1], 'w').write('mine')", shared / "n")
    assert r.returncode == 0, r.stderr
    st = os.stat(shared / "n")
    assert (st.st_uid, (shared / "n").read_text()) == (NOBODY, "mine")
    r = as_user(NOBODY, "import os,sys; os.chmod(sys.argv[1], 0o600)", shared)
    assert "Operation not permitted" in r.stderr, r.stderr


def test_the_time_stamped_at_close_is_seen_after_close(pinned_on_faultfs):
    # The server's clock is 300 s ahead: a stat between write and close
    # caches the server's mtime, which nfsguard replaces at close.
    _, _, mnt, control, _ = pinned_on_faultfs
    control.clock_offset(300)
    try:
        with open(mnt / "mbox", "wb") as f:
            f.write(b"From a\n")
            f.flush()
            os.fstat(f.fileno())
            os.stat(mnt / "mbox")
        now = time.time()
        assert abs(os.stat(mnt / "mbox").st_mtime - now) < 5
    finally:
        control.clock_offset(0)


def test_a_hidden_false_error_leaves_the_kernel_right(pinned_on_faultfs):
    _, _, mnt, control, guard = pinned_on_faultfs
    (mnt / "tmp").mkdir()
    (mnt / "new").mkdir()
    (mnt / "tmp" / "m").write_bytes(b"message")
    os.stat(mnt / "tmp" / "m")
    control.lost_reply("rename", "*", 1)
    os.rename(mnt / "tmp" / "m", mnt / "new" / "m")
    assert not (mnt / "tmp" / "m").exists()
    assert (mnt / "new" / "m").read_bytes() == b"message"
    assert os.listdir(mnt / "tmp") == []


def test_listings_are_right_after_a_hidden_false_error(pinned_on_faultfs):
    # Both folders listed (and kept by the kernel) before the rename that
    # the server ran twice.
    _, _, mnt, control, _ = pinned_on_faultfs
    (mnt / "tmp").mkdir()
    (mnt / "new").mkdir()
    (mnt / "tmp" / "m").write_bytes(b"message")
    assert os.listdir(mnt / "tmp") == ["m"]
    assert os.listdir(mnt / "new") == []
    control.lost_reply("rename", "*", 1)
    os.rename(mnt / "tmp" / "m", mnt / "new" / "m")
    assert os.listdir(mnt / "tmp") == []
    assert os.listdir(mnt / "new") == ["m"]
    control.lost_reply("unlink", "*", 1)
    os.unlink(mnt / "new" / "m")
    assert os.listdir(mnt / "new") == []


def test_a_hidden_false_eexist_from_link_leaves_the_link_count_right(pinned_on_faultfs):
    # The link was done twice on the server; the kernel is told it succeeded
    # once, and nfsguard drops the names and attributes involved.
    _, _, mnt, control, _ = pinned_on_faultfs
    (mnt / "f").write_bytes(b"x")
    os.stat(mnt / "f")
    control.lost_reply("link", "*", 1)
    os.link(mnt / "f", mnt / "g")  # false EEXIST, hidden
    assert os.stat(mnt / "g").st_ino == os.stat(mnt / "f").st_ino
    assert os.stat(mnt / "f").st_nlink == 2


def test_estale_drops_what_the_kernel_holds(pinned_on_faultfs):
    _, _, mnt, control, guard = pinned_on_faultfs
    (mnt / "d").mkdir()
    (mnt / "d" / "f").write_bytes(b"x")
    os.stat(mnt / "d" / "f")
    control.estale("d", 1)
    (mnt / "d" / "g").write_bytes(b"y")
    assert sorted(os.listdir(mnt / "d")) == ["f", "g"]
    assert (mnt / "d" / "f").read_bytes() == b"x"


def visible(path):
    """Whether a name shows; detached, a lookup answers guard_errno (ESTALE)."""
    try:
        os.stat(path)
        return True
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ESTALE):
            return False
        raise


def test_a_detached_backing_hides_what_the_kernel_had_cached(guard_on_faultfs):
    _, _, mnt, control, _ = guard_on_faultfs("cache=pinned", "backing_fs=fuse",
                                             "guard_interval=100")
    (mnt / "inbox").write_bytes(b"mail")
    assert os.stat(mnt / "inbox").st_size == 4  # cached for a minute
    control.vanish("EIO")
    try:
        deadline = time.monotonic() + 10
        while visible(mnt / "inbox"):
            assert time.monotonic() < deadline, "the cached name stayed visible while detached"
            time.sleep(0.1)
        with pytest.raises(OSError) as e:
            (mnt / "new").write_bytes(b"lost")
        assert e.value.errno == errno.ESTALE
    finally:
        control.restore()
    deadline = time.monotonic() + 10
    while not visible(mnt / "inbox"):
        assert time.monotonic() < deadline, "the name did not come back after re-attach"
        time.sleep(0.1)
    assert (mnt / "inbox").read_bytes() == b"mail"
