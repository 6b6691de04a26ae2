"""Messages that can be counted and checked, their sending, and the census of
what arrived.

Every message carries a unique X-E2E-Id and the SHA-256 of its body
(X-E2E-Sum): after a run, each mailbox is read straight from the backing
store (not through the mount under test) and every expected id must be
there exactly once with an intact body.
"""

import base64
import hashlib
import mailbox
import os
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

SEND_TIMEOUT = 120


def body_sum(body):
    # Line ends and trailing blank lines are the mailbox format's, not the message's.
    lines = body.replace("\r\n", "\n").rstrip("\n").split("\n")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def make_message(msg_id, sender, recipient, size=2048):
    raw = os.urandom(size)
    body = "\n".join(base64.b64encode(raw[i:i + 57]).decode() for i in range(0, size, 57))
    return (f"From: {sender}\r\nTo: {recipient}\r\nSubject: e2e {msg_id}\r\n"
            f"Message-ID: <{msg_id}@e2e.test>\r\nX-E2E-Id: {msg_id}\r\n"
            f"X-E2E-Sum: {body_sum(body)}\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n")


@dataclass
class Plan:
    """Which message goes to whom."""
    by_user: dict = field(default_factory=dict)  # user name -> [ids]

    def add(self, user, msg_id):
        self.by_user.setdefault(user, []).append(msg_id)

    @property
    def total(self):
        return sum(len(ids) for ids in self.by_user.values())


def plan_messages(users, count, tag):
    plan = Plan()
    for i in range(count):
        plan.add(users[i % len(users)].name, f"{tag}-{i:06d}")
    return plan


def _send_one(host, port, msg_id, recipient, lmtp, deferred, timeout):
    """One transaction; retried on a temporary failure (as any sending MTA
    would), each noted in `deferred`, for `timeout` seconds."""
    message = make_message(msg_id, "sender@e2e.test", recipient)
    deadline = time.monotonic() + timeout
    while True:
        try:
            cls = smtplib.LMTP if lmtp else smtplib.SMTP  # LMTP says LHLO
            with cls(host, port, timeout=60) as s:
                s.sendmail("sender@e2e.test", [recipient], message)
            return None
        except smtplib.SMTPResponseException as e:
            if 400 <= e.smtp_code < 500 and time.monotonic() < deadline:
                deferred.append(f"{msg_id}: {e.smtp_code} {e.smtp_error!r}")
                time.sleep(0.5)
                continue
            return f"{msg_id}: {e.smtp_code} {e.smtp_error!r}"
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            if 400 <= code < 500 and time.monotonic() < deadline:
                deferred.append(f"{msg_id}: {code} {text!r}")
                time.sleep(0.5)
                continue
            return f"{msg_id}: {code} {text!r}"


def send_all(plan, port, lmtp=False, concurrency=8, deferred=None, timeout=SEND_TIMEOUT):
    """Sends every planned message over SMTP (or LMTP); returns the refusals.
    Temporary failures, retried for `timeout` seconds a message, are added
    to `deferred` if given."""
    deferred = [] if deferred is None else deferred
    jobs = [(msg_id, f"{user}@e2e.test") for user, ids in plan.by_user.items() for msg_id in ids]
    jobs.sort(key=lambda j: j[0][::-1])  # interleave users
    with ThreadPoolExecutor(concurrency) as pool:
        results = pool.map(lambda j: _send_one("127.0.0.1", port, j[0], j[1], lmtp, deferred,
                                                         timeout), jobs)
        return [r for r in results if r]


@dataclass
class Census:
    """What one user's mail store holds."""
    ids: dict = field(default_factory=dict)  # id -> count
    corrupted: list = field(default_factory=list)
    strays: list = field(default_factory=list)  # files that are not messages of ours

    def add(self, where, text):
        head, _, body = text.replace("\r\n", "\n").partition("\n\n")
        headers = {}
        for line in head.split("\n"):
            name, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                headers.setdefault(name.strip().lower(), value.strip())
        msg_id = headers.get("x-e2e-id")
        if msg_id is None:
            if "x-imap" in headers:  # Dovecot's folder-internal-data message in an mbox
                return
            self.corrupted.append(f"{where}: no X-E2E-Id")
            return
        self.ids[msg_id] = self.ids.get(msg_id, 0) + 1
        if body_sum(body) != headers.get("x-e2e-sum"):
            self.corrupted.append(f"{where}: {msg_id} body checksum differs")


def read_maildir(path, census):
    if not Path(path).is_dir():
        return
    for sub in ("new", "cur"):
        d = Path(path) / sub
        if d.is_dir():
            for f in sorted(d.iterdir()):
                census.add(str(f), f.read_text(errors="replace"))
    tmp = Path(path) / "tmp"
    if tmp.is_dir():
        census.strays += [str(f) for f in tmp.iterdir()]
    for sub in Path(path).iterdir():  # Maildir++ folders (.Archive)
        if sub.name.startswith(".") and sub.is_dir() and (sub / "cur").is_dir():
            read_maildir(sub, census)


def read_mbox(path, census):
    if not Path(path).exists():
        return
    box = mailbox.mbox(str(path), create=False)
    try:
        for key in box.iterkeys():
            census.add(f"{path}#{key}", box.get_string(key))
    finally:
        box.close()


def census_of(users, export):
    """Each user's store, read straight from the export (not through a mount):
    an mbox user's spool file and Dovecot's ~/mail/Archive, a Maildir user's
    ~/Maildir with its folders."""
    found = {}
    for u in users:
        c = Census()
        home = Path(export) / "home" / u.name
        if u.kind == "mbox":
            read_mbox(Path(export) / u.name, c)
            read_mbox(home / "mail" / "Archive", c)
        else:
            read_maildir(home / "Maildir", c)
        found[u.name] = c
    return found


def delivered_count(users, export):
    """Distinct messages of ours in the users' stores."""
    return sum(len(c.ids) for c in census_of(users, export).values())


@dataclass
class Summary:
    scenario: str
    expected: int
    delivered: int
    missing: list
    duplicates: list
    unexpected: list
    corrupted: list
    seconds: float

    def line(self):
        return (f"[e2e] {self.scenario}: delivered {self.delivered}/{self.expected}, "
                f"missing {len(self.missing)}, duplicates {len(self.duplicates)}, "
                f"unexpected {len(self.unexpected)}, corrupted {len(self.corrupted)}, "
                f"{self.seconds:.1f} s")

    @property
    def perfect(self):
        return not (self.missing or self.duplicates or self.unexpected or self.corrupted)


def compare(scenario, expected_by_user, found_by_user, seconds):
    """expected_by_user: user -> ids; found_by_user: user -> Census."""
    missing, duplicates, unexpected, corrupted = [], [], [], []
    delivered = 0
    expected = 0
    for user, ids in expected_by_user.items():
        census = found_by_user.get(user, Census())
        expected += len(ids)
        corrupted += census.corrupted
        want = set(ids)
        for msg_id in ids:
            n = census.ids.get(msg_id, 0)
            if n == 0:
                missing.append(f"{user}:{msg_id}")
            else:
                delivered += 1
            if n > 1:
                duplicates.append(f"{user}:{msg_id} x{n}")
        unexpected += [f"{user}:{i}" for i in census.ids if i not in want]
    return Summary(scenario, expected, delivered, missing, duplicates, unexpected, corrupted,
                   seconds)


# The summary lines of this run, shown together at its end (conftest.py).
REPORT = []


def report(line):
    """A summary line: printed (shown with the test when it fails) and kept."""
    if not line.startswith("[e2e]"):
        line = f"[e2e] {line}"
    print(line)
    REPORT.append(line)


def wait_until(condition, seconds, step=0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
