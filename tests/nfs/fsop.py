#!/usr/bin/env python3
"""fsop.py GOFILE OP ARGS -- do one namespace call once GOFILE exists.

Runs inside the nfsvm guest (Debian's python3). Python starts up, then polls
for GOFILE, so the interpreter's start-up (slow under TCG) is not inside the
window in which the NFS server's replies are blocked. Prints one line:
"OK (<s>s)" or "ERR <ERRNO> (<strerror>) (<s>s)"; exit status 0 / 1.

ops: rename A B | link A B | mkdir A | symlink TARGET A | unlink A | rmdir A
     deliver-link TMP NEW    Maildir delivery: link(TMP, NEW), then unlink(TMP)
     deliver-rename TMP NEW  Maildir delivery: rename(TMP, NEW)
(the message file TMP is written beforehand, outside the window).
"""
import errno
import os
import sys
import time


def deliver_link(tmp, new):
    # A plain Maildir delivery (no NFS workaround of its own): an error from
    # link() fails the delivery, and tmp/ keeps the file for a later retry.
    os.link(tmp, new, follow_symlinks=False)
    os.unlink(tmp)


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    go, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    calls = {
        "rename": lambda: os.rename(args[0], args[1]),
        "link": lambda: os.link(args[0], args[1], follow_symlinks=False),
        "mkdir": lambda: os.mkdir(args[0], 0o755),
        "symlink": lambda: os.symlink(args[0], args[1]),
        "unlink": lambda: os.unlink(args[0]),
        "rmdir": lambda: os.rmdir(args[0]),
        "deliver-link": lambda: deliver_link(args[0], args[1]),
        "deliver-rename": lambda: os.rename(args[0], args[1]),
    }
    if op not in calls:
        print(f"bad op {op}", file=sys.stderr)
        return 2
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            print("ERR NOGO (go file never appeared) (0.0s)", flush=True)
            return 1
        time.sleep(0.01)
    t0 = time.monotonic()
    try:
        calls[op]()
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        print(f"ERR {name} ({os.strerror(e.errno)}) ({time.monotonic() - t0:.1f}s)", flush=True)
        return 1
    print(f"OK ({time.monotonic() - t0:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
