"""Faults at a steady rate, while mail flows: what an NFS mount under load
does now and then, not once.

Every period the pump arms, in the fault-injecting filesystem, one lost reply
on the next non-idempotent call (rename, link, mkdir, symlink, unlink, rmdir:
the call is done, then the retransmission's error comes back) and one ESTALE
on the next call that names or uses a directory of the mail stores (another
host removed and made it again: the handle is stale, the path is fine), and
keeps the server's clock offset. ESTALE on an open file's read or write is
left out: on NFS it means the file is gone for good, and nfsguard rightly
passes it on. An
exclusive create is left out: real NFS clients send it with a verifier that
lets the server recognise the retransmission, so it has no false error to
hide (nfsguard passes EEXIST on as it is, see ops/namespace_ops).
"""

import os
import threading

LOST_REPLY_OPS = ("rename", "link", "mkdir", "symlink", "unlink", "rmdir")


class FaultPump:
    # Lost replies hit names that do not start with a dot: faultfs stands in
    # for the NFS client's silly rename by renaming an unlinked open file to
    # .fuse_hiddenXXXX, and a lost reply on that stand-in leaves libfuse's
    # own name table wrong (later calls on the open file answer ENOENT), a
    # fault of the imitation, not of NFS. Mail's names do not start with a
    # dot, nor do the new names of nfsguard's dot-lock links.
    def __init__(self, control, period=0.05, clock_offset=300, glob="[!.]*",
                 stale_dirs=("home", "Maildir", "tmp", "new", "cur", "mail", ".Archive"),
                 lost_reply_ops=LOST_REPLY_OPS, enabled=True):
        self.control = control
        self.period = period
        self.clock_offset = clock_offset
        self.glob = glob
        self.stale_dirs = stale_dirs
        self.lost_reply_ops = lost_reply_ops
        # To look for what a failure comes from: NFSGUARD_E2E_FAULTS=lost or estale.
        self.kinds = os.environ.get("NFSGUARD_E2E_FAULTS", "lost,estale").split(",")
        if not enabled:
            self.kinds, self.clock_offset = [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors = []

    def __enter__(self):
        self.control.clock_offset(self.clock_offset)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        self.control.clear()
        self.control.clock_offset(0)

    def _run(self):
        i = 0
        while not self._stop.wait(self.period):
            op = self.lost_reply_ops[i % len(self.lost_reply_ops)]
            i += 1
            try:
                if "lost" in self.kinds:
                    self.control.lost_reply(op, self.glob, 1)
                if "estale" in self.kinds:
                    self.control.estale(self.stale_dirs[i % len(self.stale_dirs)], 1)
            except Exception as e:  # a test failure, reported by injected()
                self.errors.append(repr(e))

    def injected(self):
        """What the filesystem says it injected so far."""
        assert not self.errors, self.errors
        stats = self.control.stats()
        return {"lost_reply": sum(stats["lost_reply"].values()), "estale": stats["estale"]}
