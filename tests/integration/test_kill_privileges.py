"""A write or truncate by a user without CAP_FSETID clears the set-user-ID and
set-group-ID bits, as on a local filesystem: through nfsguard the bits go
exactly as they go on the raw directory, in both cache modes.

(Who clears them: the FUSE kernel module, which sends a SETATTR of the mode
before the write, and the backing filesystem, which nfsguard writes to as the
caller. FUSE_CAP_HANDLE_KILLPRIV_V2, which would hand the job to nfsguard
alone, cannot be negotiated through libfuse 3.14: fs/handlers/op_table.cpp.)
"""

import os
import stat
import subprocess
import sys

import pytest

OWNER, OTHER = 4242, 4244

# Runs as the user: the operation on the file named by argv.
WRITE = "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b'x'); os.close(fd)"
APPEND = ("import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND); "
          "os.write(fd, b'more'); os.close(fd)")
TRUNC_OPEN = "import os, sys; os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC))"
TRUNCATE = "import os, sys; os.truncate(sys.argv[1], 1)"


def as_user(uid, code, path):
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
           code, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def mode_after(root, name, owner, mode, uid, code):
    """Makes root/name (owner, mode, some content), runs `code` on it as `uid`;
    returns the permission bits after, and the process's exit status."""
    path = root / name
    path.write_bytes(b"#!/bin/sh\n")
    os.chown(path, owner, owner)
    os.chmod(path, mode)
    if uid == 0:
        res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                             text=True, timeout=60)
    else:
        res = as_user(uid, code, path)
    return stat.S_IMODE(os.lstat(path).st_mode), res.returncode, res.stderr.strip()


CASES = [
    # (name, owner, mode, writer, operation)
    ("owner-write-suid", OWNER, 0o4755, OWNER, WRITE),
    ("owner-append-suid-sgid", OWNER, 0o6755, OWNER, APPEND),
    ("other-write-suid", 0, 0o4777, OTHER, WRITE),
    ("other-write-sgid", 0, 0o2777, OTHER, WRITE),
    ("owner-open-trunc-suid", OWNER, 0o4755, OWNER, TRUNC_OPEN),
    ("owner-truncate-suid", OWNER, 0o4755, OWNER, TRUNCATE),
    ("root-write-keeps-suid", OWNER, 0o4755, 0, WRITE),
]


@pytest.mark.parametrize("cache", ["shared", "pinned"])
def test_a_write_clears_set_id_bits_as_on_the_raw_directory(scratch, mount_factory, cache):
    raw, back, mnt = scratch / "raw", scratch / "back", scratch / "mnt"
    for d in (raw, back, mnt):
        d.mkdir()
        d.chmod(0o777)
    mount_factory(back, mnt, f"cache={cache}")
    for name, owner, mode, uid, code in CASES:
        expected = mode_after(raw, name, owner, mode, uid, code)
        through = mode_after(mnt, name, owner, mode, uid, code)
        assert through == expected, f"{name}: raw {expected}, through nfsguard {through}"
        on_backing = stat.S_IMODE(os.lstat(back / name).st_mode)
        assert on_backing == expected[0], f"{name}: backing has {oct(on_backing)}"
    # And what a local filesystem does, spelled out for the first cases.
    assert mode_after(mnt, "check", OWNER, 0o4755, OWNER, WRITE)[0] == 0o755
    assert mode_after(mnt, "check2", 0, 0o4777, OTHER, WRITE)[0] == 0o777
