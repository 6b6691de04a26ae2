"""Driving nfsguard-faultfs from tests: start it, arm faults, read its counts.

    m = start_faultfs(back, mnt, scratch / "faultfs.sock", scratch / "faultfs.log")
    try:
        m.control.lost_reply("rename", "*.lock")
        ...
    finally:
        m.close()

The control protocol is described in README.md next to this file.
"""

import errno
import json
import socket
import sys
from pathlib import Path

TIMEOUT = 10  # seconds for one command


class FaultFSError(RuntimeError):
    """faultfs answered a command with "error ..."."""


class FaultFS:
    """A client of one faultfs control socket. Each command is one connection."""

    def __init__(self, control_path, timeout=TIMEOUT):
        self.control_path = str(control_path)
        self.timeout = timeout

    def send(self, command):
        """Sends one command line; returns the answer ("ok ...") without newline."""
        if "\n" in command:
            raise ValueError("one command per call")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            s.connect(self.control_path)
            s.sendall(command.encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        answer = answer.decode(errors="replace").rstrip("\n")
        if not answer.startswith("ok"):
            raise FaultFSError(f"{command!r}: {answer or 'no answer'}")
        return answer

    def lost_reply(self, op, glob, count=1):
        """Next COUNT calls of OP on names matching GLOB are done, then fail."""
        return self.send(f"lost_reply {op} {glob} {count}")

    def estale(self, glob, count=1):
        """Next COUNT calls on objects named GLOB fail with ESTALE, undone."""
        return self.send(f"estale {glob} {count}")

    def clock_offset(self, seconds):
        """The server clock runs SECONDS ahead (negative: behind; 0: off)."""
        return self.send(f"clock_offset {int(seconds)}")

    def vanish(self, err="EIO"):
        """Every call fails with ERR (a name like "EIO" or a number) until restore()."""
        return self.send(f"vanish {_errno_text(err)}")

    def restore(self):
        """The export is back."""
        return self.send("return")

    def close_error(self, err, glob, count=1):
        """Next COUNT flush/fsync calls on files named GLOB fail with ERR after syncing."""
        return self.send(f"close_error {_errno_text(err)} {glob} {count}")

    def latency(self, us):
        """Every call first sleeps US microseconds (0: off)."""
        return self.send(f"latency {int(us)}")

    def clear(self):
        """Disarms every fault (the counts stay)."""
        return self.send("clear")

    def stats(self):
        """The counts of injected faults, e.g. {"lost_reply": {"rename": 1, ...}, "estale": 0, ...}."""
        return json.loads(self.send("stats")[len("ok "):])


def _errno_text(err):
    if isinstance(err, int):
        return errno.errorcode.get(err, str(err))
    return str(err)


def start_faultfs(backing, mountpoint, control_path, log_path, *options, binary=None, **kw):
    """Mounts faultfs over BACKING at MOUNTPOINT, in the foreground.

    Returns the mounts.Mount, with a FaultFS client as its `control`
    attribute. The caller must close() it (a fixture's finally).
    """
    integration = str(Path(__file__).resolve().parents[1] / "integration")
    if integration not in sys.path:
        sys.path.insert(0, integration)
    import mounts  # noqa: E402  (tests/integration/mounts.py)

    opts = [f"control={control_path}", *options]
    argv = [str(binary or mounts.FAULTFS), "-f", "-o", ",".join(opts),
            str(backing), str(mountpoint)]
    m = mounts.Mount(argv, mountpoint, log_path, **kw)
    m.control = FaultFS(control_path)
    return m
