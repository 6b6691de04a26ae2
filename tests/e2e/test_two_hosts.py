"""Scenario 5: two nfsguard mounts over one export stand for two hosts.
Postfix delivers through one (mbox with fcntl + dot-lock, Maildir), Dovecot's
LMTP through the other, into the same mailboxes at the same time, with
faults at a steady rate; every message arrives once, intact, and no mbox is
interleaved."""

import os
import threading
import time

import mailcheck
import mailstack
from conftest import MESSAGES
from fault_pump import FaultPump
from test_dovecot import LOST_REPLY_OPS, dovecot_problems
from test_postfix import postfix_problems

KINDS = ["mbox", "maildir", "mbox", "maildir"]
FAULTS = os.environ.get("NFSGUARD_E2E_TWO_HOSTS_FAULTS", "1") == "1"


def test_two_hosts_deliver_into_the_same_mailboxes(scratch, stack, users, services):
    ffs = stack.start_faultfs()
    host_a = stack.mail
    host_b = scratch / "mail-b"
    host_b.mkdir()
    stack.start_nfsguard(stack.fault, host_a)
    stack.start_nfsguard(stack.fault, host_b)
    made = users(KINDS, host_a)  # Postfix finds the homes through host A
    mailstack.prepare_mail_root(host_a, made)
    postfix = services(mailstack.Postfix(scratch / "postfix", spool=host_a))
    dovecot = services(mailstack.Dovecot(scratch / "dovecot", made, host_b))

    count = max(MESSAGES // 2, 40)
    via_postfix = mailcheck.plan_messages(made, count, "host-a")
    via_lmtp = mailcheck.plan_messages(made, count, "host-b")
    refused = {}
    start = time.monotonic()
    with FaultPump(ffs.control, lost_reply_ops=LOST_REPLY_OPS, enabled=FAULTS) as pump:
        lmtp = threading.Thread(
            target=lambda: refused.setdefault("lmtp", mailcheck.send_all(via_lmtp, dovecot.lmtp_port,
                                                                         lmtp=True)))
        lmtp.start()
        refused["smtp"] = mailcheck.send_all(via_postfix, postfix.port)
        lmtp.join(timeout=600)
        mailcheck.wait_until(lambda: postfix.queued() == 0 and
                             mailcheck.delivered_count(made, stack.export) >= 2 * count, 300)
        injected = pump.injected()
    assert refused == {"smtp": [], "lmtp": []}, refused
    expected = {u.name: via_postfix.by_user[u.name] + via_lmtp.by_user[u.name] for u in made}
    summary = mailcheck.compare("two-hosts", expected, mailcheck.census_of(made, stack.export),
                                time.monotonic() - start)
    mailcheck.report(summary.line() + f", injected {injected}")
    assert summary.perfect, summary
    assert postfix_problems(postfix.log()) == []
    assert dovecot_problems(dovecot.log()) == []
