"""Scenario 4: the NFS mount failed at boot. nfsguard guards the empty local
directory: Postfix defers (the mail stays queued, nothing is written to the
local disk), Dovecot's LMTP answers with a temporary failure; the export
appears, nfsguard attaches by itself, the queue is flushed and everything
arrives."""

import smtplib
import time

import pytest

import mailcheck
import mailstack
from conftest import MESSAGES

KINDS = ["mbox", "maildir"]
GUARD = ("backing_fs=fuse", "guard_interval=200")


def local_files(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def lmtp_reply(port, recipient):
    """The code of Dovecot's answer to one delivery."""
    message = mailcheck.make_message("absent-lmtp", "sender@e2e.test", recipient)
    try:
        with smtplib.LMTP("127.0.0.1", port, timeout=60) as s:
            s.sendmail("sender@e2e.test", [recipient], message)
        return 250
    except smtplib.SMTPResponseException as e:
        return e.smtp_code
    except smtplib.SMTPRecipientsRefused as e:
        return next(iter(e.recipients.values()))[0]


@pytest.mark.parametrize("guard_errno", ["ESTALE"])
def test_mail_waits_in_the_queue_while_the_backing_is_absent(scratch, stack, users, services,
                                                             guard_errno):
    # The NFS mount failed: the backing path is an empty local directory.
    m = stack.start_nfsguard(stack.fault, stack.mail, *GUARD, f"guard_errno={guard_errno}")
    assert "backing NOT attached" in m.log()
    made = users(KINDS, stack.mail)
    mailstack.prepare_mail_root(stack.export, made)  # the export is ready on the server
    postfix = services(mailstack.Postfix(scratch / "postfix", spool=stack.mail))
    dovecot = services(mailstack.Dovecot(scratch / "dovecot", made, stack.mail))

    count = max(MESSAGES // 4, 20)
    plan = mailcheck.plan_messages(made, count, "absent")
    start = time.monotonic()
    assert mailcheck.send_all(plan, postfix.port) == []
    assert mailcheck.wait_until(lambda: "status=deferred" in postfix.log(), 60), postfix.log()
    time.sleep(2)  # more delivery attempts meet the guard
    log = postfix.log()
    assert "status=bounced" not in log, log
    assert "status=sent" not in log, log
    assert postfix.queued() == count, "every message is still queued"
    assert 400 <= lmtp_reply(dovecot.lmtp_port, made[0].address) < 500
    assert local_files(stack.fault) == [], "mail landed on the local disk"
    refused = log.count("status=deferred")

    # The NFS mount comes up on the backing path; nfsguard attaches by itself.
    stack.start_faultfs(at=stack.fault)
    assert mailcheck.wait_until(lambda: "backing attached" in m.log(), 30), m.log()
    # Writes stay refused for a second after an attach (fs/filesystem.hpp,
    # writes_refused_until_ns): a flush inside it defers a delivery again, for
    # Postfix's backoff of minutes (seen once in CI: 99 of 100 in 120 s).
    time.sleep(1.5)
    postfix.flush()
    # Both: a message between two queue directories is in neither for a moment.
    mailcheck.wait_until(lambda: postfix.queued() == 0 and
                         mailcheck.delivered_count(made, stack.export) >= plan.total, 120)
    summary = mailcheck.compare(f"absent-backing ({guard_errno})", plan.by_user,
                                mailcheck.census_of(made, stack.export), time.monotonic() - start)
    mailcheck.report(summary.line() + f", {refused} deliveries deferred while absent")
    assert summary.perfect, summary
    assert "status=bounced" not in postfix.log()
