"""FIFOs and UNIX sockets keep their permissions through the mount. The
kernel opens a FIFO and connects to a socket without asking nfsguard, and
in shared mode (no default_permissions) checks no mode itself: nfsguard's
lookup asks the backing for the access the caller's system call wants.
What the backing directory answers the same caller is the reference."""

import os
import socket
import subprocess

import pytest

NOBODY = 65534
PROBE = r"""
import errno, os, socket, sys
def outcome(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def opens(path, flags):
    os.close(os.open(path, flags))
def connects(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    finally:
        s.close()
kind, paths = sys.argv[1], sys.argv[2:]
for path in paths:
    if kind == "fifo":
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK, os.O_RDWR):
            print(path, flags, outcome(lambda: opens(path, flags)))
    else:
        print(path, outcome(lambda: connects(path)))
"""


def as_nobody(kind, *paths):
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                        "/usr/bin/python3", "-c", PROBE, kind, *map(str, paths)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split()[-1] for line in r.stdout.splitlines()]


OWNERS = {"root": (0, 0), "the caller": (NOBODY, 0), "the caller's group": (0, NOBODY)}
MODES = [0o600, 0o604, 0o606, 0o640, 0o660, 0o444, 0o222]


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("mode", MODES, ids=oct)
def test_a_fifo_opens_through_the_mount_exactly_as_on_the_backing(guarded, mode, owner):
    back, mnt, _ = guarded
    os.mkfifo(back / "fifo")
    os.chown(back / "fifo", *OWNERS[owner])
    os.chmod(back / "fifo", mode)
    outcomes = as_nobody("fifo", back / "fifo", mnt / "fifo")
    on_backing, through_mount = outcomes[:3], outcomes[3:]
    assert through_mount == on_backing
    if mode == 0o600 and owner == "root":
        assert on_backing == ["EACCES"] * 3, "the reference must refuse"


def test_a_fifo_made_through_the_mount_keeps_its_mode(guarded):
    back, mnt, _ = guarded
    os.mkfifo(mnt / "fifo", 0o600)
    os.chmod(mnt / "fifo", 0o600)
    assert as_nobody("fifo", mnt / "fifo") == ["EACCES"] * 3
    os.chmod(mnt / "fifo", 0o606)
    assert as_nobody("fifo", mnt / "fifo") == ["ok", "ENXIO", "ok"]


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("mode", [0o600, 0o602, 0o620, 0o666, 0o444], ids=oct)
def test_a_socket_connects_through_the_mount_exactly_as_on_the_backing(guarded, mode, owner):
    back, mnt, _ = guarded
    # One listener bound through the mount (a socket is the inode it was
    # bound on), its twin bound on the backing as the reference.
    listeners = []
    for path in (mnt / "sock", back / "twin"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen()
        listeners.append(s)
        os.chown(back / path.name, *OWNERS[owner])
        os.chmod(back / path.name, mode)
    try:
        reference, through_mount = as_nobody("socket", back / "twin", mnt / "sock")
    finally:
        for s in listeners:
            s.close()
    assert through_mount == reference
    # The owner's, the group's or the others' bits, whichever class the caller is in.
    write_bit = {"the caller": 0o200, "the caller's group": 0o020, "root": 0o002}[owner]
    assert reference == ("ok" if mode & write_bit else "EACCES")
