#!/usr/bin/env python3
"""Runs a fixed sequence of filesystem operations under ROOT and prints, as
JSON, what a process observed: results, errnos, modes, owners, link counts,
sizes, contents, directory listings and the relations between inode numbers.

The differential tests run it once on a raw directory and once through
nfsguard over another directory of the same filesystem: the two outputs must
be identical. Absolute inode numbers and times differ between two trees, so
only what must be equal is recorded (explicitly set times exactly, times that
the filesystem set as "recent").

usage: fsprobe.py SCENARIO ROOT      (SCENARIO: root | user)
"""

import ctypes
import errno
import json
import mmap
import os
import stat
import sys
import time

LIBC = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

log = []


def record(what, fn, *args, **kw):
    """Calls fn and records its value or its errno name."""
    try:
        value = fn(*args, **kw)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        log.append([what, "ok", value])
        return value
    except OSError as e:
        log.append([what, "err", errno.errorcode.get(e.errno, str(e.errno))])
        return None


def st_view(path, follow=False):
    st = os.stat(path, follow_symlinks=follow)
    return {
        "type": stat.S_IFMT(st.st_mode),
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "nlink": st.st_nlink,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size if not stat.S_ISDIR(st.st_mode) else None,
        "recent_mtime": abs(time.time() - st.st_mtime) < 120,
    }


def read_file(path):
    with open(path, "rb") as f:
        return f.read().decode("latin-1")


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        return os.write(fd, data.encode())
    finally:
        os.close(fd)


def listing(path):
    entries = []
    with os.scandir(path) as it:
        for e in it:
            entries.append([e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False),
                            e.is_symlink()])
    return sorted(entries)


def renameat2(old, new, flags):
    if LIBC.renameat2(-100, old.encode(), -100, new.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return True


def same_inode(a, b):
    return os.lstat(a).st_ino == os.lstat(b).st_ino


def scenario_files(r):
    """Creation, reading and writing of regular files."""
    record("create excl", write_file, f"{r}/f", "hello", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    record("create excl again", write_file, f"{r}/f", "x", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    record("stat f", st_view, f"{r}/f")
    record("append", write_file, f"{r}/f", " world", os.O_WRONLY | os.O_APPEND)
    record("read f", read_file, f"{r}/f")
    fd = os.open(f"{r}/f", os.O_RDWR)
    record("pread", os.pread, fd, 3, 2)
    record("pwrite", os.pwrite, fd, b"HE", 0)
    record("seek end", os.lseek, fd, 0, os.SEEK_END)
    record("ftruncate grow", os.ftruncate, fd, 1 << 20)
    record("seek data", os.lseek, fd, 0, os.SEEK_DATA)
    record("seek hole", os.lseek, fd, 0, os.SEEK_HOLE)
    record("fsync", os.fsync, fd)
    record("fdatasync", os.fdatasync, fd)
    record("fallocate", os.posix_fallocate, fd, 0, 8192)
    record("ftruncate", os.ftruncate, fd, 11)
    os.close(fd)
    record("read after", read_file, f"{r}/f")
    record("truncate path", os.truncate, f"{r}/f", 5)
    record("read truncated", read_file, f"{r}/f")
    record("o_trunc", write_file, f"{r}/f", "new")
    record("read o_trunc", read_file, f"{r}/f")
    src = os.open(f"{r}/f", os.O_RDONLY)
    dst = os.open(f"{r}/copy", os.O_WRONLY | os.O_CREAT, 0o600)
    record("copy_file_range", os.copy_file_range, src, dst, 3)
    os.close(src)
    os.close(dst)
    record("read copy", read_file, f"{r}/copy")
    # mmap, as Dovecot uses it when mmap_disable is off.
    fd = os.open(f"{r}/copy", os.O_RDWR)
    m = mmap.mmap(fd, 3)
    m[0:1] = b"N"
    m.flush()
    m.close()
    os.close(fd)
    record("read mmapped", read_file, f"{r}/copy")
    # An unlinked file stays readable through an open descriptor.
    fd = os.open(f"{r}/copy", os.O_RDONLY)
    record("unlink open", os.unlink, f"{r}/copy")
    record("fstat unlinked nlink", lambda: os.fstat(fd).st_nlink)
    record("read unlinked", os.pread, fd, 10, 0)
    os.close(fd)
    record("o_nofollow on file", lambda: os.close(os.open(f"{r}/f", os.O_RDONLY | os.O_NOFOLLOW)))
    os.symlink("f", f"{r}/f-link")
    record("o_nofollow on symlink", os.open, f"{r}/f-link", os.O_RDONLY | os.O_NOFOLLOW)
    record("o_path o_nofollow on symlink",
           lambda: os.close(os.open(f"{r}/f-link", os.O_PATH | os.O_NOFOLLOW)))
    record("open missing", os.open, f"{r}/missing", os.O_RDONLY)
    record("open file as dir", os.open, f"{r}/f", os.O_RDONLY | os.O_DIRECTORY)
    record("long name", write_file, f"{r}/" + "x" * 256, "")
    record("max name", write_file, f"{r}/" + "y" * 255, "")


def scenario_directories(r):
    record("mkdir", os.mkdir, f"{r}/d", 0o750)
    record("mkdir again", os.mkdir, f"{r}/d")
    record("stat d", st_view, f"{r}/d")
    record("open dir for write", os.open, f"{r}/d", os.O_WRONLY)
    for name in ("a", "b", "c"):
        write_file(f"{r}/d/{name}", name)
    os.mkdir(f"{r}/d/sub")
    os.symlink("a", f"{r}/d/sl")
    record("listing", listing, f"{r}/d")
    record("rmdir non-empty", os.rmdir, f"{r}/d")
    record("rmdir file", os.rmdir, f"{r}/d/a")
    record("unlink dir", os.unlink, f"{r}/d/sub")
    record("rmdir", os.rmdir, f"{r}/d/sub")
    fd = os.open(f"{r}/d", os.O_RDONLY | os.O_DIRECTORY)
    record("fsync dir", os.fsync, fd)
    os.close(fd)
    record("stat d nlink", lambda: os.stat(f"{r}/d").st_nlink)
    # A large directory read in several readdir batches.
    os.mkdir(f"{r}/big")
    for i in range(600):
        write_file(f"{r}/big/{i:05d}-" + "n" * 40, "")
    record("big listing count", lambda: len(os.listdir(f"{r}/big")))
    record("big listing sorted", lambda: sorted(os.listdir(f"{r}/big"))[::97])


def scenario_names(r):
    write_file(f"{r}/tmp-msg", "message")
    record("rename", os.rename, f"{r}/tmp-msg", f"{r}/new-msg")
    record("stat old name", os.stat, f"{r}/tmp-msg")
    record("read new", read_file, f"{r}/new-msg")
    write_file(f"{r}/other", "other")
    record("rename over", os.rename, f"{r}/other", f"{r}/new-msg")
    record("read replaced", read_file, f"{r}/new-msg")
    os.makedirs(f"{r}/full/x")
    os.mkdir(f"{r}/empty")
    record("rename dir onto non-empty", os.rename, f"{r}/empty", f"{r}/full")
    record("rename file onto dir", os.rename, f"{r}/new-msg", f"{r}/empty")
    record("rename dir onto file", os.rename, f"{r}/empty", f"{r}/new-msg")
    record("rename dir into itself", os.rename, f"{r}/full", f"{r}/full/x/y")
    write_file(f"{r}/p", "P")
    write_file(f"{r}/q", "Q")
    record("noreplace", renameat2, f"{r}/p", f"{r}/q", RENAME_NOREPLACE)
    record("exchange", renameat2, f"{r}/p", f"{r}/q", RENAME_EXCHANGE)
    record("read p after exchange", read_file, f"{r}/p")
    record("link", os.link, f"{r}/p", f"{r}/p2")
    record("link same inode", same_inode, f"{r}/p", f"{r}/p2")
    record("link nlink", lambda: os.stat(f"{r}/p").st_nlink)
    record("link existing", os.link, f"{r}/p", f"{r}/q")
    record("link dir", os.link, f"{r}/full", f"{r}/full2")
    record("unlink one link", os.unlink, f"{r}/p")
    record("nlink after", lambda: os.stat(f"{r}/p2").st_nlink)
    record("symlink", os.symlink, "full/../q", f"{r}/s")
    record("readlink", os.readlink, f"{r}/s")
    record("lstat symlink", st_view, f"{r}/s")
    record("read through symlink", read_file, f"{r}/s")
    record("symlink dangling", os.symlink, "nowhere", f"{r}/dangling")
    record("stat dangling", os.stat, f"{r}/dangling")
    record("symlink existing", os.symlink, "x", f"{r}/s")
    record("hard link of symlink", os.link, f"{r}/s", f"{r}/s2", follow_symlinks=False)
    record("hard link symlink type", st_view, f"{r}/s2")
    record("mkfifo", os.mkfifo, f"{r}/fifo", 0o600)
    record("fifo type", st_view, f"{r}/fifo")
    record("unlink missing", os.unlink, f"{r}/missing")
    record("unlink symlink keeps target", lambda: (os.unlink(f"{r}/s"), read_file(f"{r}/q"))[1])
    # Relative names from a cwd inside a directory that is then renamed: the
    # directory is reached by its nodeid, no longer by the old name.
    os.mkdir(f"{r}/cwd")
    old = os.getcwd()
    os.chdir(f"{r}/cwd")
    try:
        record("create in cwd", write_file, "one", "1")
        os.rename(f"{r}/cwd", f"{r}/cwd-moved")
        record("create in renamed cwd", write_file, "two", "2")
        record("list renamed cwd", lambda: sorted(os.listdir(".")))
    finally:
        os.chdir(old)
    record("list moved", lambda: sorted(os.listdir(f"{r}/cwd-moved")))


def scenario_attributes(r, as_root):
    write_file(f"{r}/attr", "abc")
    record("chmod", os.chmod, f"{r}/attr", 0o640)
    record("chmod setgid dir", lambda: (os.mkdir(f"{r}/g", 0o755), os.chmod(f"{r}/g", 0o2775)))
    record("mode after", st_view, f"{r}/attr")
    record("mode dir", st_view, f"{r}/g")
    record("utime explicit", os.utime, f"{r}/attr", ns=(1_000_000_123, 1_500_000_456))
    record("times", lambda: [os.stat(f"{r}/attr").st_atime_ns, os.stat(f"{r}/attr").st_mtime_ns])
    record("utime now", os.utime, f"{r}/attr", None)
    record("recent after now", st_view, f"{r}/attr")
    record("utime only mtime", lambda: os.utime(f"{r}/attr", ns=(os.stat(f"{r}/attr").st_atime_ns,
                                                                 2_000_000_000_000_000_000)))
    record("mtime", lambda: os.stat(f"{r}/attr").st_mtime_ns)
    os.symlink("attr", f"{r}/attr-link")
    record("utime symlink nofollow", os.utime, f"{r}/attr-link", ns=(5, 6), follow_symlinks=False)
    record("symlink times", lambda: os.lstat(f"{r}/attr-link").st_mtime_ns)
    record("target untouched", lambda: os.stat(f"{r}/attr").st_mtime_ns)
    for mode, name in ((os.R_OK, "r"), (os.W_OK, "w"), (os.X_OK, "x")):
        record(f"access {name}", os.access, f"{r}/attr", mode)
    record("access dir x", os.access, f"{r}/g", os.X_OK)
    if as_root:
        record("chown", os.chown, f"{r}/attr", 4242, 4343)
        record("owner", st_view, f"{r}/attr")
        record("lchown", os.chown, f"{r}/attr-link", 4244, 4244, follow_symlinks=False)
        record("link owner", lambda: os.lstat(f"{r}/attr-link").st_uid)
        record("target owner", lambda: os.stat(f"{r}/attr").st_uid)
    else:
        record("chown as user", os.chown, f"{r}/attr", 0, 0)
    record("setxattr", os.setxattr, f"{r}/attr", "user.k", b"v")
    record("getxattr", lambda: os.getxattr(f"{r}/attr", "user.k").decode())
    record("listxattr", lambda: sorted(os.listxattr(f"{r}/attr")))
    record("setxattr create existing", os.setxattr, f"{r}/attr", "user.k", b"v", os.XATTR_CREATE)
    record("removexattr", os.removexattr, f"{r}/attr", "user.k")
    record("getxattr missing", os.getxattr, f"{r}/attr", "user.k")
    record("xattr on symlink", os.setxattr, f"{r}/attr-link", "user.k", b"v",
           follow_symlinks=False)
    record("list xattr symlink", lambda: sorted(os.listxattr(f"{r}/attr-link",
                                                            follow_symlinks=False)))
    record("statvfs namemax", lambda: os.statvfs(r).f_namemax)


def scenario_user(r):
    """Run as an unprivileged user in a tree the test prepared as root."""
    record("read private", read_file, f"{r}/private")
    record("write private", write_file, f"{r}/private", "x", os.O_WRONLY)
    record("create in root-owned dir", write_file, f"{r}/locked/new", "x")
    record("list unreadable dir", os.listdir, f"{r}/noread")
    record("traverse unsearchable dir", os.stat, f"{r}/nosearch/inside")
    record("create in open dir", write_file, f"{r}/open/mine", "x")
    record("own file", st_view, f"{r}/open/mine")
    record("mkdir in open dir", os.mkdir, f"{r}/open/mydir")
    record("own dir", st_view, f"{r}/open/mydir")
    record("group spool write", write_file, f"{r}/spool/msg", "x")
    record("group spool owner", st_view, f"{r}/spool/msg")
    record("sticky unlink others", os.unlink, f"{r}/sticky/roots")
    record("sticky unlink own", lambda: (write_file(f"{r}/sticky/mine", ""),
                                         os.unlink(f"{r}/sticky/mine")))
    record("chmod others", os.chmod, f"{r}/open/roots", 0o777)
    record("utime others explicit", os.utime, f"{r}/open/roots", ns=(1, 1))
    record("utime others now writable", os.utime, f"{r}/open/writable", None)
    record("truncate readonly", os.truncate, f"{r}/open/roots", 0)
    record("link others protected", os.link, f"{r}/open/roots", f"{r}/open/mylink")
    record("rename in root-owned dir", os.rename, f"{r}/locked/file", f"{r}/locked/file2")
    record("access w private", os.access, f"{r}/private", os.W_OK)
    scenario_attributes(f"{r}/open", as_root=False)


def prepare_user_tree(r, uid, gid, spool_gid):
    """As root: the tree scenario_user runs in."""
    write_file(f"{r}/private", "secret", mode=0o600)
    os.chmod(f"{r}/private", 0o600)
    os.mkdir(f"{r}/locked", 0o755)
    write_file(f"{r}/locked/file", "x")
    os.mkdir(f"{r}/noread", 0o311)
    os.chmod(f"{r}/noread", 0o311)
    os.mkdir(f"{r}/nosearch", 0o700)
    os.chmod(f"{r}/nosearch", 0o700)
    write_file(f"{r}/nosearch/inside", "")
    os.mkdir(f"{r}/open")
    os.chmod(f"{r}/open", 0o777)
    write_file(f"{r}/open/roots", "root's", mode=0o644)
    os.chmod(f"{r}/open/roots", 0o644)
    write_file(f"{r}/open/writable", "", mode=0o666)
    os.chmod(f"{r}/open/writable", 0o666)
    os.mkdir(f"{r}/spool")
    os.chown(f"{r}/spool", 0, spool_gid)
    os.chmod(f"{r}/spool", 0o2770)
    os.mkdir(f"{r}/sticky")
    os.chmod(f"{r}/sticky", 0o1777)
    write_file(f"{r}/sticky/roots", "")


def main():
    scenario, root = sys.argv[1], sys.argv[2]
    os.umask(0o022)
    if scenario == "root":
        scenario_files(root)
        scenario_directories(root)
        scenario_names(root)
        scenario_attributes(root, as_root=True)
    elif scenario == "prepare-user":
        prepare_user_tree(root, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif scenario == "user":
        scenario_user(root)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    json.dump(log, sys.stdout, indent=0)


if __name__ == "__main__":
    main()
