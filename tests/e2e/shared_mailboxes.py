"""Hosts serving the same mailboxes at once: a Dovecot per host takes LMTP
deliveries in batches while IMAP clients, a session at a time, flag, MOVE
and expunge. The end-to-end tests run it over two mounts of one directory,
the real-NFS lane over two NFS clients (tests/nfs/two_dovecots.py); no
pytest here.

With ownership= a host that does not hold a mailbox refuses (the guard's
ESTALE): LMTP answers 4xx and the sender tries again, an IMAP session fails
and the client tries again at its next session. The pauses are longer than
the ownership_idle the callers set, so mailboxes change hands.
"""

import hashlib
import subprocess
import threading
import time
from dataclasses import dataclass

import mailcheck
import mailstack
from imap_client import MailboxWorker, action_for, wrong_states

REFUSAL = "Stale file handle"  # the guard's errno, in Dovecot's log


def imap_share(msg_id, hosts):
    """Which host's IMAP client works a message (each message one client)."""
    return int(hashlib.sha256(f"imap {msg_id}".encode()).hexdigest(), 16) % hosts


@dataclass
class Outcome:
    summary: mailcheck.Summary
    wrong: list  # LMTP refusals, IMAP clients that gave up, acknowledged changes lost
    refusals: list  # Dovecot's lines about a request refused with the guard's errno
    trouble: list  # every other line of trouble in Dovecot's logs
    retried: int  # IMAP sessions that failed and were tried again
    deferred: int  # LMTP deliveries answered 4xx and sent again

    @property
    def clean(self):
        return self.summary.perfect and not self.wrong and not self.trouble

    def line(self):
        return (f"{self.summary.line()}, LMTP deferred {self.deferred}, IMAP sessions failed "
                f"and retried {self.retried}, Dovecot lines on refusals {len(self.refusals)}, "
                f"other trouble {len(self.trouble)}, wrong {len(self.wrong)}")


def run(export, users, lmtp_on, imap_on, tag, count, batches=8, pause=2.5, budget=240):
    """Delivers `count` messages by LMTP to the Dovecots `lmtp_on` (in turn)
    while IMAP clients of the Dovecots `imap_on` work them; reads the end
    state from `export` (the server's disk) and from Dovecot. Bounded: a
    message is retried for 30 s, batches are sent for `budget` seconds and
    the clients work on for a minute after the last (what is left undone
    is counted wrong), for a setup that goes wrong goes slowly too."""
    plan = mailcheck.plan_messages(users, count, tag)
    stop = threading.Event()
    workers, threads = [], []
    for u in users:
        for k, dovecot in enumerate(imap_on):
            def mine(msg_id, k=k):
                return imap_share(msg_id, len(imap_on)) == k
            w = MailboxWorker(dovecot.imap_port, u.name, u.password, mine)
            expected = sum(1 for i in plan.by_user[u.name] if mine(i))
            workers.append((u, w))
            threads.append(threading.Thread(target=w.run_in_sessions,
                                            args=(stop, expected, pause, 60)))
    start = time.monotonic()
    for t in threads:
        t.start()
    deferred, refused, unsent = [], [], []
    try:
        ids = [(u, i) for u, user_ids in plan.by_user.items() for i in user_ids]
        for b in range(batches):
            if time.monotonic() - start > budget:
                unsent += [i for _, i in ids[b::batches]]
                continue
            per_host = [mailcheck.Plan() for _ in lmtp_on]
            for n, (u, i) in enumerate(ids[b::batches]):
                per_host[n % len(lmtp_on)].add(u, i)
            senders = [threading.Thread(target=lambda p=p, d=d: refused.extend(
                mailcheck.send_all(p, d.lmtp_port, lmtp=True, concurrency=4, deferred=deferred,
                                   timeout=30)))
                for p, d in zip(per_host, lmtp_on)]
            for s in senders:
                s.start()
            for s in senders:
                s.join()
            time.sleep(pause)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    seconds = time.monotonic() - start

    expected = {u: [i for i in user_ids if action_for(i) != "expunge" and i not in unsent]
                for u, user_ids in plan.by_user.items()}
    summary = mailcheck.compare(tag, expected, mailcheck.census_of(users, export), seconds)
    wrong = [f"LMTP refused {r}" for r in refused] + [e for _, w in workers for e in w.errors]
    wrong += [f"not sent: {len(unsent)} messages after {budget} s"] if unsent else []
    for u in users:  # every change an IMAP server acknowledged, as Dovecot sees it now
        done = {i: a for v, w in workers if v is u for i, a in w.done.items()}
        state, attempt, until = None, 0, time.monotonic() + 60
        while state is None and time.monotonic() < until:  # a host may meet the other's lease
            try:
                state = imap_on[attempt % len(imap_on)].mail_state(u.name)
            except (RuntimeError, subprocess.TimeoutExpired):
                attempt += 1
                time.sleep(0.5)
        if state is None:
            wrong.append(f"{u.name}: doveadm fetch kept failing")
            continue
        wrong += [f"{u.name}:{line}" for line in wrong_states(state, done)]
    lines = [line for d in {id(d): d for d in lmtp_on + imap_on}.values()
             for line in mailstack.dovecot_problems(d.log())]
    return Outcome(summary, wrong, [x for x in lines if REFUSAL in x],
                   [x for x in lines if REFUSAL not in x],
                   sum(len(w.retried) for _, w in workers), len(deferred))
