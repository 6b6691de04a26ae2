#!/usr/bin/env python3
"""Appends COUNT messages to an mbox under a lock, the way mail software does.

usage: mbox_append.py STYLE MBOX COUNT TAG

STYLE is how the mailbox is locked around each append:
  fcntl        fcntl F_SETLKW on the mailbox (Dovecot, Postfix's fcntl)
  flock        flock LOCK_EX on the mailbox (Postfix's flock)
  excl         open("MBOX.lock", O_CREAT|O_EXCL), unlink to release (many MDAs)
  lockfile     procmail's lockfile(1) on MBOX.lock, one try at a time
  dotlockfile  liblockfile's dotlockfile(1) on MBOX.lock, one try at a time
The lock tools are asked for one attempt each and retried here after a few
milliseconds: their own retry loops sleep whole seconds.

Each message is written in several write() calls with pauses between them,
so that writers without a working lock interleave. Exits non-zero on any
error other than waiting for the lock.
"""

import fcntl
import os
import subprocess
import sys
import time


def message_parts(tag, i):
    yield f"From {tag}-{i}@test Thu Nov 26 10:00:00 2026\n"
    yield f"X-Seq: {tag}-{i}\n\n"
    for k in range(4):
        yield f"line {k} of {tag}-{i}\n"
    yield "\n"


def wait_for(attempt):
    delay = 0.001
    while not attempt():
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def excl_lock(lock):
    def attempt():
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return True
    wait_for(attempt)


def tool_lock(argv):
    wait_for(lambda: subprocess.run(argv, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0)


def append(style, mbox, count, tag):
    lock = mbox + ".lock"
    for i in range(count):
        fd = os.open(mbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if style == "fcntl":
            fcntl.lockf(fd, fcntl.LOCK_EX)
        elif style == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX)
        elif style == "excl":
            excl_lock(lock)
        elif style == "lockfile":
            tool_lock(["lockfile", "-r", "0", lock])
        elif style == "dotlockfile":
            tool_lock(["dotlockfile", "-l", "-r", "0", lock])
        else:
            raise SystemExit(f"unknown style {style}")
        for part in message_parts(tag, i):
            os.write(fd, part.encode())
            time.sleep(0.0002)
        if style in ("fcntl", "flock"):
            os.close(fd)  # the close releases the lock, after the data went out
        else:
            os.close(fd)
            if style == "dotlockfile":
                subprocess.run(["dotlockfile", "-u", lock], check=True)
            else:
                os.unlink(lock)


if __name__ == "__main__":
    append(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
