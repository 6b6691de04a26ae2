#!/usr/bin/env python3
"""An ordinary Maildir delivery agent, as unaware of NFS as most are.

usage: maildir_deliver.py MAILDIR COUNT link|rename [TAG]

For each message: create tmp/UNIQUE exclusively, write, fsync, close; then
either link it into new/ and unlink tmp/UNIQUE (Dovecot's way) or rename it
into new/ (Postfix's way). An error is recorded and that message skipped,
as a real agent would defer it. Prints JSON: {"delivered": [...], "errors": [...]}.
"""

import json
import os
import sys


def deliver(maildir, count, mode, tag):
    delivered, errors = [], []
    for i in range(count):
        name = f"1700000000.{tag}{i}.{os.getpid()}.host"
        tmp = os.path.join(maildir, "tmp", name)
        new = os.path.join(maildir, "new", name)
        body = f"Message-ID: <{tag}{i}@test>\nSubject: {i}\n\nbody of message {i}\n".encode()
        step = "create"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            step = "write"
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            if mode == "link":
                step = "link"
                os.link(tmp, new)
                step = "unlink"
                os.unlink(tmp)
            else:
                step = "rename"
                os.rename(tmp, new)
            delivered.append(name)
        except OSError as e:
            errors.append(f"{step} {name}: {os.strerror(e.errno)}")
    return {"delivered": delivered, "errors": errors}


if __name__ == "__main__":
    tag = sys.argv[4] if len(sys.argv) > 4 else "m"
    json.dump(deliver(sys.argv[1], int(sys.argv[2]), sys.argv[3], tag), sys.stdout)
