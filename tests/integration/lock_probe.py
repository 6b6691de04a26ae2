#!/usr/bin/env python3
"""Small lock actions for the lock tests, made with libc calls (ctypes), as a
C program makes them: CPython would retry an fcntl that a signal interrupted.

usage: lock_probe.py setlkw FILE ALARM   block in F_SETLKW under alarm(ALARM); print the outcome
       lock_probe.py hold FILE           F_SETLKW a write lock, print the outcome, hold it until killed
       lock_probe.py holdwrite FILE      hold, and for each line read write a byte under the lock
                                         and print the outcome
       lock_probe.py trylock FILE        F_SETLK a write lock; print the outcome
       lock_probe.py tryflock FILE       flock LOCK_EX|LOCK_NB; print the outcome
       lock_probe.py getlk FILE          print the pid F_GETLK names for a write lock (or "none")
"""

import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import struct
import sys

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
FLOCK = "hhqqi"  # struct flock on x86-64: type, whence, start, len, pid (+ padding)


def outcome(rc):
    return "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()]


def main():
    action, path = sys.argv[1], sys.argv[2]
    fd = os.open(path, os.O_RDWR)
    lock = ctypes.create_string_buffer(struct.pack(FLOCK, fcntl.F_WRLCK, 0, 0, 0, 0), 32)
    if action == "setlkw":
        signal.signal(signal.SIGALRM, lambda *a: None)
        signal.alarm(int(sys.argv[3]))
        print(outcome(LIBC.fcntl(fd, fcntl.F_SETLKW, lock)), flush=True)
    elif action == "hold":
        print(outcome(LIBC.fcntl(fd, fcntl.F_SETLKW, lock)), flush=True)
        signal.pause()
    elif action == "holdwrite":
        print(outcome(LIBC.fcntl(fd, fcntl.F_SETLKW, lock)), flush=True)
        for _ in sys.stdin:
            print(outcome(0 if LIBC.pwrite(fd, b"x", 1, 0) == 1 else -1), flush=True)
    elif action == "trylock":
        print(outcome(LIBC.fcntl(fd, fcntl.F_SETLK, lock)), flush=True)
    elif action == "tryflock":
        print(outcome(LIBC.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)), flush=True)
    elif action == "getlk":
        if LIBC.fcntl(fd, fcntl.F_GETLK, lock) != 0:
            print(outcome(-1))
        else:
            ltype, _, _, _, pid = struct.unpack(FLOCK, lock.raw[:struct.calcsize(FLOCK)])
            print("none" if ltype == fcntl.F_UNLCK else pid)


if __name__ == "__main__":
    main()
