"""Fixtures of the end-to-end tests: the fault-injecting filesystem standing
for the NFS export, nfsguard mounted over it as the mail root, test users,
and private Postfix and Dovecot instances. Teardown unmounts, stops and
removes all of it, also when a test fails."""

import fcntl
import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "faultfs"))
import faultfs_control  # noqa: E402
import mailstack  # noqa: E402
import mounts  # noqa: E402
from mounts import scratch  # noqa: E402,F401  (the fixture)

# Scaled down for CI; a manual run sets NFSGUARD_E2E_MESSAGES=2000.
MESSAGES = int(os.environ.get("NFSGUARD_E2E_MESSAGES", "400"))


_machine_lock = None


def keep_log(path):
    """Copies a whole log to NFSGUARD_E2E_LOGS (a directory), when it is set."""
    keep = os.environ.get("NFSGUARD_E2E_LOGS")
    if keep and Path(path).exists():
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / Path(path).name)


def pytest_sessionstart(session):
    # The test users (ngmail1, ...) are the machine's: two runs at once
    # would delete and remake each other's. They take turns.
    global _machine_lock
    _machine_lock = open("/run/lock/nfsguard-e2e.lock", "w")
    fcntl.flock(_machine_lock, fcntl.LOCK_EX)


def pytest_terminal_summary(terminalreporter):
    import mailcheck
    if mailcheck.REPORT:
        terminalreporter.section("end-to-end summary")
        for line in mailcheck.REPORT:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    mounts.sweep_scratch_mounts()
    mailstack.remove_test_users()


class Stack:
    """export (local dir, the NFS server's disk) -> faultfs -> nfsguard (mail root)."""

    def __init__(self, scratch):
        self.scratch = scratch
        self.export = scratch / "export"
        self.fault = scratch / "fault"
        self.mail = scratch / "mail"
        for d in (self.export, self.fault, self.mail):
            d.mkdir()
        self.mounts = []
        self.faultfs = None

    def start_faultfs(self, at=None):
        at = at or self.fault
        self.faultfs = faultfs_control.start_faultfs(
            self.export, at, self.scratch / "faultfs.sock", self.scratch / "faultfs.log")
        self.mounts.insert(0, self.faultfs)  # unmounted last
        return self.faultfs

    def start_nfsguard(self, over=None, at=None, *options):
        m = mounts.start_nfsguard(over or self.fault, at or self.mail, *options)
        self.mounts.append(m)
        return m

    def close(self):
        for m in reversed(self.mounts):
            rc = m.close()
            print(f"--- {m.log_path.name} (exit {rc}) ---\n{m.log()[-4000:]}")
            keep_log(m.log_path)


@pytest.fixture
def stack(scratch):
    s = Stack(scratch)
    yield s
    s.close()


@pytest.fixture
def users():
    made = []

    def make(kinds, mail_root):
        made.extend(mailstack.create_test_users(kinds, mail_root))
        return list(made)

    yield make
    mailstack.remove_test_users()


@pytest.fixture
def services():
    """Starts Postfix/Dovecot instances; all are stopped at teardown."""
    started = []

    def start(service):
        started.append(service)
        service.start()
        return service

    yield start
    for service in reversed(started):
        service.stop()
        print(f"--- {service.log_path} ---\n{service.log()[-6000:]}")
        keep_log(service.log_path)
