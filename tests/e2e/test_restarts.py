"""Restarts without unmount under load (issue 17): Postfix and Dovecot
deliver through nfsguard while it restarts in place (SIGUSR1, as `systemctl
reload` and a package upgrade do), while it is restarted (`systemctl
restart`: SIGTERM with a restart job queued, and a new start) and while it
is killed (SIGKILL), taken up again from a stand-in for systemd's
descriptor store. Every message must arrive exactly once, intact, and no
mail process may see the mount go away (ENOTCONN, "Transport endpoint is
not connected")."""

import re
import signal
import threading
import time

import pytest

import mailcheck
import mounts
from conftest import MESSAGES
from service_store import ServiceStore
from test_dovecot import run_dovecot_scenario
from test_postfix import deliver_through_postfix, postfix_problems

RESTARTS = 10


class RestartedGuard:
    """nfsguard on the mail root, run by the stand-in store, restarted by a
    thread of its own `count` times, every `every` seconds: in place
    ("planned"), by a stop and a start with the store kept ("restart"), or
    by a SIGKILL and a new start that takes the mount up ("crash")."""

    def __init__(self, stack, how, count=RESTARTS, every=1.5):
        argv = [mounts.NFSGUARD, "-f", "-o", "backing_fs=any", stack.export, stack.mail]
        self.store = ServiceStore(argv, stack.scratch / f"nfsguard-{how}.log")
        self.mail, self.how, self.count, self.every = stack.mail, how, count, every
        self.done = 0
        self.stop = threading.Event()
        self.store.start()
        assert self.store.wait_ready(1), self.store.log()
        assert self.store.wait_for(lambda: "fuse-record" in self.store.stored), self.store.log()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while self.done < self.count and not self.stop.wait(self.every):
            readies = self.store.count("READY")
            if self.how == "planned":
                self.store.kill(signal.SIGUSR1)
            elif self.how == "restart":  # systemctl restart
                self.store.restart()
            else:
                self.store.kill(signal.SIGKILL)
                self.store.wait_exit()
                self.store.start()
            if not self.store.wait_ready(readies + 1, timeout=20):
                return
            self.done += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)

    def close(self):
        self.store.close()
        if str(self.mail) in mounts.fuse_mounts():
            mounts.lazy_unmount(self.mail)
        print(f"--- nfsguard ({self.how}) ---\n{self.store.log()[-6000:]}")


def not_connected(log):
    return [line for line in log.splitlines()
            if re.search(r"not connected|ENOTCONN", line, re.IGNORECASE)]


def clock_warnings_aside(problems):
    """Postfix's problem lines less its clock check of a queue file written
    just before a restart: the stamp nfsguard owed it (client clock, coarse)
    went with the process, and the file keeps the backing's mtime, which a
    6.13+ kernel's ext4 takes from its fine-grained clock, ahead of the
    coarse time() Postfix compares it with by under a jiffy: "1 seconds
    ahead" across a second's boundary. Postfix resets the stamps itself;
    straight on that ext4 it warns alike."""
    clock = re.compile(r"file system clock is 1 seconds ahead|resetting file time stamps")
    return [line for line in problems if not clock.search(line)]


def finish_restarts(guard, seconds=60):
    """Lets the restarts that did not fall within the delivery happen too."""
    deadline = time.monotonic() + seconds
    while guard.done < guard.count and time.monotonic() < deadline:
        time.sleep(0.1)


HOW = {"planned": "planned restarts", "restart": "systemctl restarts", "crash": "crashes"}


@pytest.mark.parametrize("how", ["planned", "restart", "crash"])
def test_restarts_under_dovecot_lmtp_and_imap_lose_nothing(scratch, stack, users, services, how):
    guard = RestartedGuard(stack, how, every=0.3)
    try:
        with guard:
            run = run_dovecot_scenario(scratch, stack.mail, stack.export, users, services,
                                       f"{how}-dovecot", max(MESSAGES // 2, 20))
            finish_restarts(guard)
        mailcheck.report(f"[e2e] {how}-dovecot: {guard.done} {HOW[how]}")
        assert guard.done == RESTARTS, guard.store.log()
        assert run.summary.perfect, run.summary
        # Nothing of what Dovecot holds goes: no refusal, no error.
        assert run.refused == [] and run.client_errors == [], (run.refused, run.client_errors)
        assert run.wrong == [] and run.problems() == {}, (run.wrong[:10], run.problems())
        assert not_connected(run.dovecot.log()) == []
        if how == "restart":
            assert guard.store.log().count("leaving the mount") == RESTARTS
    finally:
        guard.close()


@pytest.mark.parametrize("how", ["planned", "crash"])
def test_restarts_under_postfix_lose_nothing(scratch, stack, users, services, how):
    guard = RestartedGuard(stack, how, every=0.5 if how == "planned" else 0.3)
    try:
        with guard:
            summary, postfix = deliver_through_postfix(scratch, stack.mail, stack.export, users,
                                                       services, f"{how}-postfix", MESSAGES)
            finish_restarts(guard)
        seen = clock_warnings_aside(postfix_problems(postfix.log()))
        mailcheck.report(f"[e2e] {how}-postfix: {guard.done} {HOW[how]}; Postfix saw "
                         f"{len(seen)} problem line(s) {seen[:2]}")
        assert guard.done == RESTARTS, guard.store.log()
        assert summary.perfect, (summary, seen)
        # The tables were handed over or taken up from the mirror:
        # deliveries in flight went on, none was deferred.
        assert seen == []
        assert not_connected(postfix.log()) == []
    finally:
        guard.close()
