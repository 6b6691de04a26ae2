#!/usr/bin/python3
"""The systemd lane's mail, in the guest (guest.sh runs it).

  mail.py send smtp|lmtp USER TAG COUNT [DELAY]
      sends COUNT messages to USER by SMTP to Postfix (127.0.0.1:25) or by
      LMTP to Dovecot (127.0.0.1:24), each with the subject "lane TAG-N";
      prints one line: "ok=N temporary=N permanent=N error=N", and the
      failed numbers as "failed=1,5,..." (what the mail software answered)
  mail.py count USER TAG COUNT
      how often each "lane TAG-N" is in USER's mail (alice: the mbox
      /var/mail/alice, bob: the Maildir /var/mail/bob.d); prints
      "once=N missing=N twice=N", exit 0 only when every one is there once
  mail.py hold PATH STOPFILE ERRORS
      a process with its cwd in PATH's directory, PATH open and locked
      (fcntl), that writes a line and reads it back every 0.2 s until
      STOPFILE exists; every error goes to ERRORS as a line
  mail.py probe PATH
      tries PATH's fcntl lock without waiting: prints "free" or "held"
"""
import fcntl
import mailbox
import os
import re
import smtplib
import sys
import time
from email.message import EmailMessage

USERS = {"alice": ("mbox", "/var/mail/alice"), "bob": ("maildir", "/var/mail/bob.d")}


def send(how, user, tag, count, delay=0.0):
    ok, temporary, permanent, error, failed = 0, 0, 0, 0, []
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = "lane@nfsvm"
        msg["To"] = f"{user}@nfsvm"
        msg["Subject"] = f"lane {tag}-{n}"
        msg["Message-ID"] = f"<{tag}-{n}@lane.nfsvm>"
        msg.set_content(f"message {tag}-{n}\n" + "x" * 200 + "\n")
        try:
            if how == "smtp":
                with smtplib.SMTP("127.0.0.1", 25, timeout=60) as s:
                    s.send_message(msg)
            else:
                with smtplib.LMTP("127.0.0.1", 24, timeout=60) as s:
                    refused = s.send_message(msg)
                    if refused:
                        raise smtplib.SMTPRecipientsRefused(refused)
            ok += 1
        except smtplib.SMTPRecipientsRefused as e:
            code = list(e.recipients.values())[0][0]
            if 400 <= code < 500:
                temporary += 1
            else:
                permanent += 1
            failed.append(n)
        except smtplib.SMTPResponseException as e:
            if 400 <= e.smtp_code < 500:
                temporary += 1
            else:
                permanent += 1
            failed.append(n)
        except (OSError, smtplib.SMTPException):
            error += 1
            failed.append(n)
        if delay:
            time.sleep(delay)
    print(f"ok={ok} temporary={temporary} permanent={permanent} error={error}")
    print("failed=" + ",".join(map(str, failed)))


def subjects(user):
    kind, path = USERS[user]
    if kind == "mbox":
        if not os.path.exists(path):
            return []
        box = mailbox.mbox(path, create=False)
    else:
        if not os.path.isdir(os.path.join(path, "cur")):
            return []
        box = mailbox.Maildir(path, factory=None, create=False)
    return [str(m["Subject"]) for m in box]


def count(user, tag, n):
    seen = {}
    pattern = re.compile(rf"^lane {re.escape(tag)}-(\d+)$")
    for subject in subjects(user):
        m = pattern.match(subject)
        if m:
            seen[int(m.group(1))] = seen.get(int(m.group(1)), 0) + 1
    once = sum(1 for i in range(n) if seen.get(i) == 1)
    missing = sum(1 for i in range(n) if i not in seen)
    twice = sum(1 for v in seen.values() if v > 1)
    print(f"once={once} missing={missing} twice={twice}")
    return once == n and twice == 0


def hold(path, stopfile, errors):
    os.chdir(os.path.dirname(path))
    f = open(path, "a+")
    fcntl.lockf(f, fcntl.LOCK_EX)
    n = 0
    with open(errors, "a") as log:
        log.write("")
        while not os.path.exists(stopfile):
            n += 1
            try:
                f.write(f"line {n}\n")
                f.flush()
                os.fsync(f.fileno())
                f.seek(0)
                if f"line {n}\n" not in f.read():
                    log.write(f"line {n} not read back\n")
                os.listdir(".")
            except OSError as e:
                log.write(f"line {n}: {e}\n")
            log.flush()
            time.sleep(0.2)


def probe(path):
    with open(path, "a") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print("free")
        except OSError:
            print("held")


def main(argv):
    if argv[1] == "send":
        send(argv[2], argv[3], argv[4], int(argv[5]), float(argv[6]) if len(argv) > 6 else 0.0)
    elif argv[1] == "count":
        return 0 if count(argv[2], argv[3], int(argv[4])) else 1
    elif argv[1] == "hold":
        hold(argv[2], argv[3], argv[4])
    elif argv[1] == "probe":
        probe(argv[2])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
