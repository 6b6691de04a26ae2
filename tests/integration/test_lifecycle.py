"""Starting, stopping and mounting nfsguard the ways administrators do."""

import os
import signal
import subprocess
import time

import pytest

import mounts

NFSGUARD = str(mounts.NFSGUARD)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


def assert_one_line_failure(result, *words):
    assert result.returncode != 0
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nfsguard: "), lines[0]
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def dirs(scratch):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    (back / "mail").write_text("kept")
    return back, mnt


def test_version_and_help():
    v = run([NFSGUARD, "--version"])
    assert v.returncode == 0 and v.stdout.startswith("nfsguard ")
    h = run([NFSGUARD, "--help"])
    assert h.returncode == 0 and "BACKING MOUNTPOINT" in h.stdout and "fstab" in h.stdout


def test_a_bad_option_is_one_line_and_nothing_is_mounted(dirs):
    back, mnt = dirs
    assert_one_line_failure(run([NFSGUARD, "-o", "cache=fast", str(back), str(mnt)]), "cache")
    assert_one_line_failure(run([NFSGUARD, "-o", "nonsense", str(back), str(mnt)]), "nonsense")
    assert not mounts.is_mounted(mnt)


def test_a_missing_backing_directory_is_one_line(dirs):
    back, mnt = dirs
    r = run([NFSGUARD, "-f", str(back / "absent"), str(mnt)])
    assert_one_line_failure(r, "backing", "absent")
    assert not mounts.is_mounted(mnt)


def test_a_missing_mount_point_is_one_line(dirs):
    back, mnt = dirs
    r = run([NFSGUARD, "-f", str(back), str(mnt / "absent")])
    assert_one_line_failure(r, "mount point")


def test_without_dev_fuse_it_says_so(dirs):
    back, mnt = dirs
    # A private mount namespace whose /dev has no fuse device.
    r = run(["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs none /dev && exec {NFSGUARD} -f -o backing_fs=any {back} {mnt}"])
    assert_one_line_failure(r, "/dev/fuse")
    assert not mounts.is_mounted(mnt)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_unmounts_cleanly(dirs, mount_factory, sig):
    back, mnt = dirs
    m = mount_factory(back, mnt)
    assert (mnt / "mail").read_text() == "kept"
    m.proc.send_signal(sig)
    assert m.proc.wait(timeout=15) == 0
    assert not mounts.is_mounted(mnt)


def test_mounted_over_its_own_backing_path(dirs, mount_factory):
    """The production setup: nfsguard on top of the NFS mount point itself."""
    back, _ = dirs
    mount_factory(back, back)
    assert mounts.is_mounted(back)
    assert (back / "mail").read_text() == "kept"  # what was there, seen through nfsguard
    (back / "new").write_text("through")
    os.rename(back / "new", back / "renamed")
    assert sorted(os.listdir(back)) == ["mail", "renamed"]
    mount_factory.started[-1].close()
    assert not mounts.is_mounted(back)
    assert (back / "renamed").read_text() == "through"  # landed in the backing directory


def test_without_f_it_returns_once_mounted_and_exits_when_unmounted(dirs):
    back, mnt = dirs
    try:
        r = run([NFSGUARD, "-o", "fsname=nfsguard-daemon-test,backing_fs=any", str(back), str(mnt)])
        assert r.returncode == 0, r.stderr
        assert mounts.is_mounted(mnt)
        assert (mnt / "mail").read_text() == "kept"
        pid = int(run(["pgrep", "-f", "nfsguard -o fsname=nfsguard-daemon-test"]).stdout.split()[0])
    finally:
        mounts.lazy_unmount(mnt)
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}"), "the daemon outlived its mount"


def test_an_fstab_line_mounts_with_mount_t_fuse_nfsguard(dirs, scratch):
    """mount(8) runs mount.fuse3, which runs `nfsguard` from the default PATH;
    a private mount namespace puts the fresh build there without installing it."""
    back, mnt = dirs
    bindir = scratch / "bin"
    bindir.mkdir()
    (bindir / "nfsguard").symlink_to(mounts.NFSGUARD)
    fstab = scratch / "fstab"
    fstab.write_text(f"{back} {mnt} fuse.nfsguard _netdev,nofail,noauto,nosuid,log_level=warn,backing_fs=any 0 0\n")
    script = f"""
        set -e
        mount --bind {bindir} /usr/local/sbin
        mount -T {fstab} {mnt}
        findmnt -n -o FSTYPE,SOURCE {mnt}
        cat {mnt}/mail; echo
        umount {mnt}
        mount -t fuse.nfsguard -o nosuid,backing_fs=any {back} {mnt}
        findmnt -n -o FSTYPE {mnt}
        umount {mnt}
    """
    r = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [f"fuse.nfsguard {back}", "kept", "fuse.nfsguard"]
