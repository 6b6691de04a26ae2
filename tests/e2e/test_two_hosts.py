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
import mounts
import shared_mailboxes
from conftest import MESSAGES
from fault_pump import FaultPump
from test_dovecot import LOST_REPLY_OPS
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
    assert mailstack.dovecot_problems(dovecot.log()) == []


# --- one host per mailbox (ownership=) ----------------------------------------
# Dovecot's LMTP on host A and IMAP clients on host B serve the same users: the
# setup Dovecot's documents warn about (the same user on two servers at once
# corrupts its indexes). Both hosts cache as a sole writer would
# (cache=pinned); with ownership each mailbox is served by one host at a time,
# the other's requests wait and are refused (LMTP 4xx, a failed IMAP
# session), and a takeover drops what the new owner had cached.
OWNERSHIP_KINDS = ["maildir", "maildir"]


def ownership_options(host, run_dir):
    # ownership_idle=1: shared_mailboxes pauses 2.5 s, so mailboxes change hands
    return ("cache=pinned", "ownership=home/*", f"ownership_host={host}", "ownership_wait=500",
            "ownership_idle=1", f"run_dir={run_dir}", "stats_interval=100")


def ownership_stats(run_dir, point):
    data, said = mounts.read_stats(run_dir, point)
    assert data is not None, said
    return data["ownership"]


def lmtp_on_a_imap_on_b(scratch, stack, users, services, options_a, options_b, tag):
    host_a, host_b = stack.mail, scratch / "mail-b"
    host_b.mkdir()
    made = users(OWNERSHIP_KINDS, host_a)
    mailstack.prepare_mail_root(stack.export, made)  # before the mounts: no host owns it
    stack.start_nfsguard(stack.export, host_a, *options_a)
    stack.start_nfsguard(stack.export, host_b, *options_b)
    dovecot_a = services(mailstack.Dovecot(scratch / "dovecot-a", made, host_a))
    dovecot_b = services(mailstack.Dovecot(scratch / "dovecot-b", made, host_b))
    outcome = shared_mailboxes.run(stack.export, made, [dovecot_a], [dovecot_b], tag,
                                   max(MESSAGES // 4, 40))
    mailcheck.report(outcome.line())
    for line in outcome.refusals[:2] + outcome.trouble[:6]:
        mailcheck.report(f"[e2e]     {line[:160]}")
    return outcome


def test_one_host_per_mailbox_keeps_lmtp_on_one_host_and_imap_on_another_apart(
        scratch, stack, users, services):
    run_dir = scratch / "run"
    run_dir.mkdir()
    outcome = lmtp_on_a_imap_on_b(scratch, stack, users, services,
                                  ownership_options("A", run_dir),
                                  ownership_options("B", run_dir), "ownership")
    a, b = ownership_stats(run_dir, stack.mail), ownership_stats(run_dir, scratch / "mail-b")
    mailcheck.report(f"[e2e] ownership: host A {a}")
    mailcheck.report(f"[e2e] ownership: host B {b}")
    assert outcome.summary.perfect, outcome.summary
    assert outcome.wrong == [], outcome.wrong[:10]
    assert outcome.trouble == [], outcome.trouble[:10]
    # The mailboxes went back and forth, and the other host was kept out.
    assert a["takeovers"] >= 1 and b["takeovers"] >= 1, (a, b)
    assert a["waits"] + b["waits"] > 0, (a, b)


def test_without_ownership_two_hosts_on_one_mailbox_go_wrong(scratch, stack, users, services):
    """The control: the same hosts, the same caching, no ownership. It must
    show what Dovecot warns of, or the test above proves nothing."""
    outcome = lmtp_on_a_imap_on_b(scratch, stack, users, services, ("cache=pinned",),
                                  ("cache=pinned",), "no-ownership")
    assert not outcome.clean, "two hosts on one mailbox did not bite"
