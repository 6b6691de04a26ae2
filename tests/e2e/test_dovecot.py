"""Scenarios 2 and 3 for Dovecot: LMTP delivery into Maildir and mbox while
IMAP clients flag, expunge and move the messages, through nfsguard, clean
and with faults at a steady rate. The end state is checked with doveadm and
every message's body straight from the export."""

import re
import threading
import time

import pytest

import mailcheck
import mailstack
from conftest import MESSAGES
from fault_pump import FaultPump
from imap_client import MailboxWorker, action_for, wrong_states

KINDS = ["maildir", "mbox"]

# Lost replies on renames of files no one holds open: Dovecot renames files
# it keeps open (dovecot.index.log), and faultfs, a libfuse path filesystem,
# then answers an fstat of the open file by its old name (ENOENT) where an NFS
# client asks by file handle (tests/faultfs/README.md, rename_closed). The
# reopen of such a file for a lock is covered in the integration tests.
LOST_REPLY_OPS = ("rename_closed", "link", "mkdir", "symlink", "unlink", "rmdir")


class Run:
    """What one Dovecot run left: the census, and every sign of trouble."""

    def __init__(self, summary, dovecot, refused, deferred, client_errors, wrong):
        self.summary, self.dovecot = summary, dovecot
        self.refused, self.deferred = refused, deferred
        self.client_errors, self.wrong = client_errors, wrong

    def problems(self):
        """Trouble by kind, counted: what a user or an administrator would see."""
        kinds = {}
        for line in mailstack.dovecot_problems(self.dovecot.log()):
            m = re.search(r": (Error|Panic|Fatal|Warning): (.*)", line)
            text = re.sub(r"/tmp/\S+|\d+", "N", m.group(2)) if m else line
            key = f"log {m.group(1) if m else ''}: {text[:70]}"
            kinds[key] = kinds.get(key, 0) + 1
        for what, items in (("LMTP refused", self.refused), ("LMTP deferred (4xx)", self.deferred),
                            ("IMAP client error", self.client_errors),
                            ("wrong end state", self.wrong)):
            if items:
                kinds[what] = len(items)
        return kinds


def run_dovecot_scenario(scratch, mail_root, export, make_users, services, tag, count):
    users = make_users(KINDS, mail_root)
    mailstack.prepare_mail_root(mail_root, users)
    dovecot = services(mailstack.Dovecot(scratch / "dovecot", users, mail_root))
    plan = mailcheck.plan_messages(users, count, tag)
    stop = threading.Event()
    workers = [MailboxWorker(dovecot.imap_port, u.name, u.password) for u in users]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    start = time.monotonic()
    for t in threads:
        t.start()
    deferred = []
    try:
        refused = mailcheck.send_all(plan, dovecot.lmtp_port, lmtp=True, deferred=deferred)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    seconds = time.monotonic() - start

    # Expected: every message not expunged, once; Dovecot's view agrees.
    expected = {u: [i for i in ids if action_for(i) != "expunge"]
                for u, ids in plan.by_user.items()}
    summary = mailcheck.compare(tag, expected, mailcheck.census_of(users, export), seconds)
    mailcheck.report(summary.line())
    wrong = []
    for u, w in zip(users, workers):
        if len(w.done) != len(plan.by_user[u.name]):
            wrong.append(f"{u.name}: the client saw {len(w.done)} of {len(plan.by_user[u.name])}")
        try:
            state = dovecot.mail_state(u.name)
        except RuntimeError as e:  # without nfsguard doveadm meets the faults too
            wrong.append(f"{u.name}: doveadm fetch failed: {str(e).splitlines()[-1][:120]}")
            continue
        planned = {i: action_for(i) for i in plan.by_user[u.name]}
        wrong += [f"{u.name}:{line}" for line in wrong_states(state, planned)]
    client_errors = [e for w in workers for e in w.errors]
    return Run(summary, dovecot, refused, deferred, client_errors, wrong)


@pytest.mark.parametrize("faults", [pytest.param(False, id="clean"), pytest.param(True, id="faults")])
def test_dovecot_lmtp_and_imap_keep_every_message(scratch, stack, users, services, faults):
    ffs = stack.start_faultfs()
    stack.start_nfsguard()
    count = max(MESSAGES // 2, 20)
    tag = "dovecot-faults" if faults else "dovecot"
    if faults:
        with FaultPump(ffs.control, lost_reply_ops=LOST_REPLY_OPS) as pump:
            run = run_dovecot_scenario(scratch, stack.mail, stack.export, users, services, tag, count)
            injected = pump.injected()
        mailcheck.report(f"[e2e] {tag}: injected {injected}")
        assert injected["lost_reply"] > 0 or "lost" not in pump.kinds, injected
        assert injected["estale"] > 0 or "estale" not in pump.kinds, injected
    else:
        run = run_dovecot_scenario(scratch, stack.mail, stack.export, users, services, tag, count)
    assert run.summary.perfect, run.summary
    assert run.refused == [] and run.client_errors == [], (run.refused[:5], run.client_errors)
    assert run.wrong == [], run.wrong[:10]
    assert run.problems() == {}, run.problems()


def test_without_nfsguard_the_same_faults_reach_dovecot(scratch, stack, users, services):
    """The control: Dovecot straight on faultfs with the same steady faults.
    What it shows is what nfsguard hides; it must show something, or the
    faults of the test above prove nothing."""
    ffs = stack.start_faultfs()
    count = max(MESSAGES // 4, 20)  # bites at any scale; each deferral costs a retry
    with FaultPump(ffs.control, lost_reply_ops=LOST_REPLY_OPS) as pump:
        run = run_dovecot_scenario(scratch, stack.fault, stack.export, users, services,
                                   "bare-dovecot", count)
        injected = pump.injected()
    kinds = run.problems()
    s = run.summary
    mailcheck.report(f"[e2e] bare-dovecot: injected {injected}; {sum(kinds.values())} problems, "
                     f"{len(s.missing)} missing, {len(s.duplicates)} duplicated, "
                     f"{len(s.unexpected)} unexpected")
    for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
        mailcheck.report(f"[e2e]   {n:5d}  {key}")
    assert kinds or not s.perfect, "the faults did not bite: the test above proves nothing"
