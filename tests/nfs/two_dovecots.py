#!/usr/bin/env python3
"""two_dovecots.py -- the real-NFS lane's two Dovecots on the same mailboxes
(check `dovecots`). Runs inside the nfsvm guest, called by in-vm.sh.

  two_dovecots.py TAG EXPORT ROOT_A ROOT_B WORK [MESSAGES [PAUSE]]

Two Dovecot instances, one per host: host A's on ROOT_A, host B's on ROOT_B
(each an NFS client's mount, straight or through nfsguard). They take LMTP
deliveries and their IMAP clients flag, MOVE and expunge, for the same users
at the same time (tests/e2e/shared_mailboxes.py, copied beside this file
under e2e/). The end state is read from EXPORT, the server's own directory.
Prints the outcome and the first lines of trouble, then one last line
"RESULT clean|TROUBLE <summary>" (the caller judges which it wanted).
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
import mailstack  # noqa: E402
import shared_mailboxes  # noqa: E402

KINDS = ["maildir", "maildir"]


def main(tag, export, root_a, root_b, work, messages=60, pause=2.5):
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    users = mailstack.create_test_users(KINDS, root_a)
    for u in users:  # an earlier run's mail (the same user names)
        shutil.rmtree(Path(export) / "home" / u.name, ignore_errors=True)
    mailstack.prepare_mail_root(export, users)  # on the server: no host owns it yet
    dovecots = []
    try:
        for name, root in (("a", root_a), ("b", root_b)):
            d = mailstack.Dovecot(work / f"dovecot-{name}", users, root)
            d.start()
            dovecots.append(d)
        outcome = shared_mailboxes.run(Path(export), users, dovecots, dovecots, tag,
                                       int(messages), pause=float(pause))
    finally:
        for d in dovecots:
            d.stop()
        mailstack.remove_test_users()
    print(outcome.line(), flush=True)
    for line in outcome.refusals[:3] + outcome.trouble[:8] + outcome.wrong[:8]:
        print(f"  {line[:200]}", flush=True)
    kinds = sorted({line.split(": ", 2)[-1][:60] for line in outcome.trouble})[:6]
    print(f"RESULT {'clean' if outcome.clean else 'TROUBLE'} {outcome.line()[len('[e2e] '):]}"
          + (f"; trouble like: {' | '.join(kinds)}" if kinds else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
