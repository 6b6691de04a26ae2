"""A stand-in for systemd's service manager, as nfsguard@.service uses it.

It runs one nfsguard with $NOTIFY_SOCKET, reads its notifications (READY=1,
RELOADING=1, STOPPING=1), keeps the descriptors it stores (FDSTORE=1 with
SCM_RIGHTS, FDSTOREREMOVE=1, named by FDNAME=) and, when asked to start it
again after it died, passes them back as $LISTEN_FDS and $LISTEN_FDNAMES,
from descriptor 3 on, with $LISTEN_PID the new process's pid: what systemd
does with FileDescriptorStoreMax= and Restart=. Its `systemctl` (first on
the service's PATH) lists the job under way, for nfsguard to tell the stop
of a restart (`restart()`) from the unit's end, as the unit names itself in
$NFSGUARD_UNIT.
"""

import errno
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import mounts

MAX_FDS = 253  # SCM_MAX_FD


def refused_by_systemd(fd):
    """Whether systemd's store would refuse `fd`: it polls what it keeps for a
    hangup, and an O_PATH descriptor fails epoll with EBADF ("Failed to add
    fd to store"); regular files and directories (EPERM) it keeps."""
    poll = select.epoll()
    try:
        poll.register(fd, 0)
    except OSError as e:
        return e.errno != errno.EPERM
    finally:
        poll.close()
    return False
MAX_STORED = 4096  # the unit's FileDescriptorStoreMax=, unless $FDSTORE says
UNIT = "nfsguard@stand-in.service"


class ServiceStore:
    def __init__(self, argv, log_path, env=None):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self._dir = tempfile.mkdtemp(prefix="nfsguard-notify-")
        self._jobs = os.path.join(self._dir, "jobs")
        systemctl = os.path.join(self._dir, "systemctl")
        with open(systemctl, "w") as f:
            f.write(f'#!/bin/sh\n[ "$1" = list-jobs ] && cat {self._jobs} 2>/dev/null\nexit 0\n')
        os.chmod(systemctl, 0o755)
        self.env = dict(env or os.environ, NFSGUARD_UNIT=UNIT)
        self.env["PATH"] = self._dir + os.pathsep + self.env.get("PATH", "")
        self.socket_path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.socket_path)
        self._sock.settimeout(0.2)
        self.stored = {}  # name -> descriptor
        self.refused = []  # names of descriptors systemd would not keep
        self.messages = []  # every notification, in order
        self._barriers_seen = 0
        self._cv = threading.Condition()
        self._stop = False
        self.proc = None
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    # --- the notify socket
    def _receive(self):
        while not self._stop:
            try:
                data, ancdata, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(4 * MAX_FDS))
            except socket.timeout:
                continue
            except OSError:
                return
            fds = []
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    usable = len(payload) - len(payload) % 4
                    fds += list(memoryview(payload[:usable]).cast("i"))
            for fd in fds:
                os.set_inheritable(fd, False)
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cv:
                if "BARRIER" in fields:
                    self._barriers_seen += 1
                    self._cv.notify_all()
                    continue
                full = len(self.stored) >= int(self.env.get("FDSTORE", MAX_STORED))
                if fields.get("FDSTORE") == "1" and fds and \
                        fields.get("FDNAME", "stored") not in self.stored and full:
                    for fd in fds:  # as systemd's full store: dropped without a word
                        os.close(fd)
                elif fields.get("FDSTORE") == "1" and fds and refused_by_systemd(fds[0]):
                    self.refused.append(fields.get("FDNAME", "stored"))
                    for fd in fds:
                        os.close(fd)
                elif fields.get("FDSTORE") == "1" and fds:
                    name = fields.get("FDNAME", "stored")
                    if name in self.stored:
                        os.close(self.stored[name])
                    self.stored[name] = fds[0]
                    for extra in fds[1:]:
                        os.close(extra)
                else:
                    for fd in fds:
                        os.close(fd)
                if fields.get("FDSTOREREMOVE") == "1":
                    fd = self.stored.pop(fields.get("FDNAME", ""), None)
                    if fd is not None:
                        os.close(fd)
                self.messages.append(fields)
                self._cv.notify_all()

    def count(self, key, value="1"):
        with self._cv:
            return sum(1 for m in self.messages if m.get(key) == value)

    def wait_for(self, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def wait_ready(self, readies, timeout=15):
        """Waits until READY=1 has come `readies` times in all."""
        return self.wait_for(lambda: self.count("READY") >= readies, timeout)

    def _take_in_everything_sent(self):
        """Handles every notification already sent before going on, as
        systemd does before it acts on a process's death (its notify socket
        comes before SIGCHLD): a descriptor stored just before a crash is
        in the store when the next start is given it."""
        with self._cv:
            awaited = self._barriers_seen + 1
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"BARRIER=1", self.socket_path)
        assert self.wait_for(lambda: self._barriers_seen >= awaited, timeout=10)

    # --- the service
    def start(self):
        """Starts the service, passing it what the store holds."""
        self._take_in_everything_sent()
        names = sorted(self.stored)
        fds = [self.stored[n] for n in names]
        env = dict(self.env, NOTIFY_SOCKET=self.socket_path)
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_FDNAMES", None)
        if fds:
            env["LISTEN_FDS"] = str(len(fds))
            env["LISTEN_FDNAMES"] = ":".join(names)

        def place_descriptors():
            # Copies above everything first: a stored descriptor may sit at
            # one of the numbers 3.. it moves to.
            high = [os.dup2(fd, 200 + i, inheritable=False) for i, fd in enumerate(fds)]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
                os.close(fd)

        # $LISTEN_PID is the pid of the process that execs nfsguard.
        argv = ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', "sh"] + self.argv
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=place_descriptors, close_fds=False)
        log.close()
        return self.proc

    def restart(self, timeout=15):
        """What `systemctl restart` does: SIGTERM while a restart job is
        queued, the store kept, then a new start. Returns the exit status
        of the process stopped."""
        with open(self._jobs, "w") as f:
            f.write(f"1 {UNIT} restart running\n")
        try:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=timeout)
        finally:
            os.unlink(self._jobs)
        self.start()
        return rc

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=15):
        return self.proc.wait(timeout=timeout)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self):
        """Stops the service if it runs, and empties the store (as systemd
        does when a unit stops for good)."""
        if self.proc and self.proc.poll() is None:
            mounts.stop_process(self.proc, 10)
        self._stop = True
        self._thread.join(timeout=2)
        with self._cv:
            for fd in self.stored.values():
                os.close(fd)
            self.stored.clear()
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)
