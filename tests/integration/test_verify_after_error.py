"""Verify after error, end to end: nfsguard mounted over the fault-injecting
filesystem hides lost-reply false errors from unmodified programs, and passes
every true error on. Each case also runs straight on faultfs, where the
program must see the error: that is what nfsguard adds.

    backing dir  <-  nfsguard-faultfs (control socket)  <-  nfsguard  <-  program
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultfs"))
import faultfs_control  # noqa: E402

DELIVER = Path(__file__).with_name("maildir_deliver.py")
MESSAGES = int(os.environ.get("NFSGUARD_VERIFY_MESSAGES", "2000"))
HIDDEN = re.compile(r"hid a false (\w+) from (\w+) of (\S+):")


class Stack:
    def __init__(self, scratch, mount_factory):
        self.back = scratch / "back"
        self.fault = scratch / "fault"
        self.mnt = scratch / "mnt"
        for d in (self.back, self.fault, self.mnt):
            d.mkdir()
        self.back.chmod(0o755)
        self.faultfs = faultfs_control.start_faultfs(self.back, self.fault, scratch / "faultfs.sock",
                                                     scratch / "faultfs.log")
        mount_factory.started.append(self.faultfs)  # unmounted last, after nfsguard
        self.nfsguard = mount_factory(self.fault, self.mnt)
        self.control = self.faultfs.control

    def hidden(self):
        """(errno, op, path) for every false error nfsguard reported hiding."""
        return HIDDEN.findall(self.nfsguard.log())


@pytest.fixture
def stack(scratch, mount_factory):
    return Stack(scratch, mount_factory)


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


# Each case: how to set it up (on the backing dir), the fault, the command
# (run in the directory under test), and what must be true afterwards.
CASES = {
    "rename": (lambda b: (b / "a").write_text("A"), ("rename", "b"), ["mv", "a", "b"],
               lambda b: (b / "b").read_text() == "A" and not (b / "a").exists()),
    "link": (lambda b: (b / "a").write_text("A"), ("link", "b"), ["ln", "a", "b"],
             lambda b: (b / "b").stat().st_ino == (b / "a").stat().st_ino),
    "mkdir": (lambda b: None, ("mkdir", "d"), ["mkdir", "d"], lambda b: (b / "d").is_dir()),
    "symlink": (lambda b: None, ("symlink", "s"), ["ln", "-s", "target", "s"],
                lambda b: os.readlink(b / "s") == "target"),
    "unlink": (lambda b: (b / "f").write_text(""), ("unlink", "f"), ["rm", "f"],
               lambda b: not (b / "f").exists()),
    "rmdir": (lambda b: (b / "d").mkdir(), ("rmdir", "d"), ["rmdir", "d"],
              lambda b: not (b / "d").exists()),
}
EXCLUSIVE_CREATE = [sys.executable, "-c",
                    "import os; os.close(os.open('x', os.O_WRONLY|os.O_CREAT|os.O_EXCL, 0o600))"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lost_reply_is_hidden_from_an_unmodified_program(stack, case):
    setup, (op, glob), command, done = CASES[case]
    setup(stack.back)
    stack.control.lost_reply(op, glob, 1)
    r = run(command, cwd=stack.mnt)
    assert r.returncode == 0, f"{command} saw: {r.stderr}"
    assert done(stack.back)
    assert stack.control.stats()["lost_reply"][op] == 1, "the fault was not injected"
    assert [(op, f"/{glob}")] == [(o, p) for _, o, p in stack.hidden()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_lost_reply_straight_on_faultfs_reaches_the_program(stack, case):
    setup, (op, glob), command, done = CASES[case]
    setup(stack.back)
    stack.control.lost_reply(op, glob, 1)
    r = run(command, cwd=stack.fault)
    assert r.returncode != 0, f"{command} saw no error without nfsguard"
    assert done(stack.back), "faultfs did perform the call"


TRUE_ERRORS = {
    # (setup, command, what the program must say)
    "rename of a missing file": (lambda b: None, ["mv", "missing", "x"], "No such file"),
    "link onto an existing file": (lambda b: [(b / "a").write_text("A"), (b / "b").write_text("B")],
                                   ["ln", "a", "b"], "File exists"),
    "mkdir of an existing directory": (lambda b: (b / "d").mkdir(), ["mkdir", "d"], "File exists"),
    "symlink onto an existing name": (lambda b: (b / "s").write_text(""), ["ln", "-s", "t", "s"],
                                      "File exists"),
    "rm of a missing file": (lambda b: None, ["rm", "missing"], "No such file"),
    "rmdir of a missing directory": (lambda b: None, ["rmdir", "missing"], "No such file"),
}


@pytest.mark.parametrize("case", sorted(TRUE_ERRORS))
def test_a_true_error_passes_on(stack, case):
    setup, command, message = TRUE_ERRORS[case]
    setup(stack.back)
    r = run(command, cwd=stack.mnt)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert stack.hidden() == []


def test_an_exclusive_create_eexist_is_passed_on_by_design(stack):
    # nfsguard never guesses here: an empty file of the caller's made a moment
    # ago is what another process's lock looks like. (Real NFS clients cover
    # exclusive create with a verifier; dot-locks get the link protocol.)
    stack.control.lost_reply("create_excl", "x", 1)
    r = run(EXCLUSIVE_CREATE, cwd=stack.mnt)
    assert r.returncode != 0 and "File exists" in r.stderr
    assert stack.hidden() == []


def test_a_real_eexist_under_an_armed_fault_is_not_hidden(stack):
    # The fault is armed, but the name already exists: the mkdir fails for
    # real (faultfs hits only calls that succeed), and nfsguard keeps EEXIST.
    (stack.back / "lock").mkdir()
    stack.control.lost_reply("mkdir", "lock", 1)
    r = run(["mkdir", "lock"], cwd=stack.mnt)
    assert r.returncode != 0 and "File exists" in r.stderr
    assert stack.hidden() == []


def deliver(maildir, count, mode, tag):
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    r = run([sys.executable, str(DELIVER), str(maildir), str(count), mode, tag], timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# The delivery's calls that NFS answers falsely after a lost reply; its
# exclusive create is covered by the NFS client's verifier (see above).
DELIVERY_FAULTS = ("rename", "link", "unlink")


def arm_every_delivery_call(control):
    for op in DELIVERY_FAULTS:
        control.lost_reply(op, "*", -1)


@pytest.mark.parametrize("mode", ["link", "rename"])
def test_maildir_delivery_with_every_non_idempotent_call_failing_loses_nothing(stack, mode):
    arm_every_delivery_call(stack.control)
    result = deliver(stack.mnt / "Maildir", MESSAGES, mode, "m")
    injected = stack.control.stats()["lost_reply"]
    stack.control.clear()

    assert result["errors"] == [], result["errors"][:5]
    delivered = sorted(os.listdir(stack.back / "Maildir" / "new"))
    assert delivered == sorted(result["delivered"]) and len(delivered) == MESSAGES
    # The last tmp/ file may still be open in nfsguard for a moment (the
    # kernel sends release after close() returns), so faultfs shows it under
    # a hidden name, as NFS would under .nfsXXXX, until then.
    tmp = stack.back / "Maildir" / "tmp"
    deadline = time.monotonic() + 5
    while os.listdir(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(tmp) == []
    for name in delivered[:: max(1, MESSAGES // 50)]:
        i = int(name.split(".")[1][1:])
        assert (stack.back / "Maildir" / "new" / name).read_text().endswith(
            f"body of message {i}\n")

    # Every false error injected was hidden, and counted as such.
    hidden = {}
    for _, op, _ in stack.hidden():
        hidden[op] = hidden.get(op, 0) + 1
    expected = {op: n for op, n in injected.items() if n}
    # a false error on each: one link and one unlink, or one rename, a message
    assert expected == ({"link": MESSAGES, "unlink": MESSAGES} if mode == "link"
                        else {"rename": MESSAGES})
    assert hidden == expected
    stack.nfsguard.close()
    summary = re.search(r"false errors hidden: (\d+)", stack.nfsguard.log())
    assert summary and int(summary.group(1)) == sum(expected.values())
    print(f"\n{mode}: {len(delivered)}/{MESSAGES} delivered, 0 errors seen; "
          f"false errors injected {expected}, hidden {hidden}")


@pytest.mark.parametrize("mode", ["link", "rename"])
def test_the_same_delivery_straight_on_faultfs_fails(stack, mode):
    count = max(1, MESSAGES // 10)
    arm_every_delivery_call(stack.control)
    result = deliver(stack.fault / "Maildir", count, mode, "c")
    # Every message meets a false error at its link or rename and the agent
    # gives it up (and tries again later: a duplicate when it was in fact
    # delivered, as it was).
    step = "link" if mode == "link" else "rename"
    assert len(result["errors"]) == count
    assert all(e.startswith(f"{step} ") for e in result["errors"]), result["errors"][:3]
    assert result["delivered"] == []
    assert len(os.listdir(stack.back / "Maildir" / "new")) == count, "yet every one was done"
    print(f"\n{mode} straight on faultfs: {len(result['errors'])}/{count} messages failed "
          f"with a false error, all of them in fact delivered")
