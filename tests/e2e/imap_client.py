"""An IMAP client that works a mailbox while mail is delivered into it.

For each new message it decides by the message's id (so that the expected
end state is known): expunge it, MOVE it to Archive, flag it, or leave it.
"""

import hashlib
import imaplib
import re
import time


def action_for(msg_id):
    n = int(hashlib.sha256(msg_id.encode()).hexdigest(), 16) % 10
    return "expunge" if n < 2 else "move" if n < 4 else "flag" if n < 6 else "keep"


def wrong_states(state, done):
    """What is not as the client left it: `state` as Dovecot sees it
    (Dovecot.mail_state), `done` the changes it acknowledged (id -> action)."""
    wrong = []
    for msg_id, action in done.items():
        got = state.get(msg_id)
        want_box = None if action == "expunge" else "Archive" if action == "move" else "INBOX"
        if (got and got[0]) != want_box or (action == "flag" and "\\Flagged" not in got[1]):
            wrong.append(f"{msg_id} {action} acknowledged, now {got}")
    return wrong


class MailboxWorker:
    def __init__(self, port, user, password, mine=lambda msg_id: True):
        self.port, self.user, self.password = port, user, password
        self.mine = mine  # the messages this client works (two clients share a mailbox)
        self.done = {}  # id -> action taken
        self.errors = []

    def _new_messages(self, imap):
        typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (X-E2E-ID)])")
        if typ != "OK":
            raise RuntimeError(f"FETCH: {typ} {data}")
        found = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = re.search(rb"UID (\d+)", item[0])
            ident = re.search(rb"X-E2E-Id:\s*(\S+)", item[1], re.I)
            if uid and ident:
                found.append((uid.group(1).decode(), ident.group(1).decode()))
        return [(u, i) for u, i in found if i not in self.done and self.mine(i)]

    def work_once(self, imap):
        typ, data = imap.select("INBOX")
        if typ != "OK":
            raise RuntimeError(f"SELECT: {typ} {data}")
        expunge, taken = [], {}
        for uid, msg_id in self._new_messages(imap):
            action = action_for(msg_id)
            if action == "move":
                typ, data = imap.uid("MOVE", uid, "Archive")
            elif action == "flag":
                typ, data = imap.uid("STORE", uid, "+FLAGS", r"(\Flagged)")
            elif action == "expunge":
                typ, data = imap.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
                expunge.append(uid)
            else:
                typ, data = "OK", None
            if typ != "OK":
                raise RuntimeError(f"{action} {msg_id}: {typ} {data}")
            if action == "expunge":
                taken[msg_id] = action  # once the EXPUNGE is acknowledged too
            else:
                self.done[msg_id] = action
        if expunge:
            typ, data = imap.uid("EXPUNGE", ",".join(expunge))
            if typ != "OK":
                raise RuntimeError(f"EXPUNGE: {typ} {data}")
        for msg_id, action in taken.items():  # acknowledged, all of it
            self.done[msg_id] = action
        imap.close()

    def run(self, stop_event, pause=0.2):
        """Works the mailbox until stop_event is set, then once more."""
        try:
            imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=120)
            imap.login(self.user, self.password)
            while not stop_event.is_set():
                self.work_once(imap)
                time.sleep(pause)
            self.work_once(imap)
            imap.logout()
        except Exception as e:  # reported by the test
            self.errors.append(f"{self.user}: {e!r}")

    def run_in_sessions(self, stop_event, expected, pause, give_up=120):
        """As a client of a host that may refuse it: a session (log in, work,
        log out) every `pause` seconds, a failed one tried again at the next;
        until stop_event is set and `expected` messages were seen, or
        `give_up` seconds after stop_event. Failed sessions are counted in
        self.retried, with what failed."""
        self.retried = []
        deadline = None
        while True:
            if stop_event.is_set():
                deadline = deadline or time.monotonic() + give_up
                if len(self.done) >= expected or time.monotonic() > deadline:
                    break
            try:
                imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
                try:
                    imap.login(self.user, self.password)
                    self.work_once(imap)
                finally:
                    try:
                        imap.logout()
                    except (imaplib.IMAP4.error, OSError):
                        pass
            except (imaplib.IMAP4.error, OSError, RuntimeError) as e:
                self.retried.append(f"{self.user}: {e!r}"[:200])
            time.sleep(pause)
        if len(self.done) < expected:
            self.errors.append(f"{self.user}: saw {len(self.done)} of {expected} messages "
                               f"after {len(self.retried)} failed sessions")
