#!/usr/bin/env python3
"""A mail process at work inside a mount, for the restart tests.

usage: busy_client.py DIR SECONDS

Changes into DIR and, for SECONDS, goes on: appending a numbered line to a
file it keeps open, reading it back through that same descriptor, making and
renaming a file by relative paths (its cwd is inside the mount), listing the
directory, and reading an open directory stream bit by bit. Prints one JSON
line: the rounds done and every error seen, with its errno name.
"""

import errno
import json
import os
import sys
import time


def main():
    os.chdir(sys.argv[1])
    deadline = time.monotonic() + float(sys.argv[2])
    errors = []
    rounds = 0
    log = open("journal", "a+")
    listing = os.scandir(".")
    while time.monotonic() < deadline:
        try:
            log.write(f"{rounds}\n")
            log.flush()
            log.seek(0)
            lines = log.read().split()
            if lines[-1] != str(rounds):
                errors.append(f"round {rounds}: journal ends with {lines[-1:]}")
            with open(f"tmp.{rounds}", "w") as f:
                f.write("x" * 100)
            os.rename(f"tmp.{rounds}", f"msg.{rounds}")
            if f"msg.{rounds}" not in os.listdir("."):
                errors.append(f"round {rounds}: msg.{rounds} not listed")
            if next(listing, None) is None:
                listing.close()
                listing = os.scandir(".")
        except OSError as e:
            errors.append(f"round {rounds}: {errno.errorcode.get(e.errno, e.errno)} {e}")
        rounds += 1
        time.sleep(0.005)
    print(json.dumps({"rounds": rounds, "errors": errors[:20], "error_count": len(errors)}),
          flush=True)


if __name__ == "__main__":
    main()
