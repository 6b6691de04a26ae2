#!/usr/bin/env python3
"""lanecheck.py -- the real-NFS lane's checks that need more than a shell.

Runs inside the nfsvm guest (Debian's python3), called by in-vm.sh. Each
subcommand prints its detail lines, then one last line "RESULT ok|BAD <summary>".

  locks NG LOCAL OTHER
      NG, LOCAL, OTHER: the same file through nfsguard, on the server's local
      filesystem (the export's path) and through a second NFS client. For
      fcntl and flock taken through nfsguard: a holder through nfsguard makes
      a try on LOCAL and on OTHER fail (EAGAIN); a holder on LOCAL and on
      OTHER makes a try through nfsguard fail, and a blocking lock through
      nfsguard is granted once that holder lets go. The server's local side
      always uses fcntl: nfsd takes POSIX locks for its clients, and local
      flock locks do not conflict with POSIX ones; the NFS client emulates
      flock with whole-file POSIX locks, so flock from a client conflicts.
  closeerr PATH SIZE [fsync]
      write SIZE bytes to PATH in one write(), fsync() if asked, close();
      prints which call failed with which errno.
  heldfd PATH
      ESTALE control: opens PATH (a file or directory), waits for "go" on
      stdin, then uses the descriptor (fstat+read, or an openat in the
      directory) and prints the result.
  cache OTHER NG RAW LIMIT
      OTHER: a directory through a second NFS client; NG: the same through
      nfsguard; RAW: the same on the NFS mount under nfsguard (a bind mount
      of it: the same client and cache). Changes made through OTHER; prints
      when each is seen through NG and RAW (polling, at most LIMIT s).
  doctor NFSGUARD VERS GOOD BAD
      `nfsguard doctor --json` on GOOD (nfsguard on a hard NFS mount with
      local_lock=none) and on BAD (a soft mount asked for local_lock=all,
      without nfsguard): every check that judges those passes on GOOD and
      fails on BAD, with the exit status to match. NFSv4 keeps locks on the
      server whatever local_lock says (the mount shows none): there only
      soft and the missing nfsguard fail.
  appender PATH
      ownership: a mail process holding PATH open (O_WRONLY|O_APPEND).
      Prints "open" (or "open ERRNO" and exits), then for each line "TAG
      TEXT" on stdin writes "TEXT\n" and fsyncs, and prints "TAG ok|ERRNO
      SECONDS". At the end of stdin prints "close ok|ERRNO".
  fenceprobe VARIANT ADIR BDIR SDIR LEASE CUT UNCUT
      fence-probe (an experiment, README): does an OFD lock on the writing
      descriptor keep a write A made while cut off from landing after B
      took the file over? ADIR, BDIR, SDIR: one directory through host A's
      mount, host B's, and on the server; CUT, UNCUT: bash functions that
      cut and restore A's traffic. VARIANT N (no lock on the file), L (an
      OFD read lock at 2**62 on the writing descriptor), L2 (the same on
      another descriptor). Prints what A's calls returned and what the
      server's file holds.
"""
import errno
import fcntl
import os
import signal
import struct
import sys
import time


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno))


# --- locks -------------------------------------------------------------------

def lock(fd, kind, wait):
    if kind == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    else:
        fcntl.fcntl(fd, fcntl.F_SETLKW if wait else fcntl.F_SETLK,
                    struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))


def holder(path, kind, settle=0.0):
    """Forks a process that takes the lock and holds it until told; returns
    (pid, to_child, result, seconds) where result is "L" or an errno name.
    settle: for that long a conflict is tried again, for a lock let go by a
    close through FUSE, whose RELEASE the kernel sends without waiting."""
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r1)
        os.close(w2)
        try:
            fd = os.open(path, os.O_RDWR)
            while True:
                try:
                    lock(fd, kind, False)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() - t0 >= settle:
                        raise
                    time.sleep(0.02)
            os.write(w1, b"L")
        except OSError as e:
            os.write(w1, ename(e).encode())
            os._exit(1)
        msg = os.read(r2, 16)  # "R<seconds>": release after that long
        if msg.startswith(b"R"):
            time.sleep(float(msg[1:] or b"0"))
        os.close(fd)  # lets go (close drops fcntl and flock locks)
        os._exit(0)
    os.close(w1)
    os.close(r2)
    res = os.read(r1, 64).decode() or "holder died"
    os.close(r1)
    return pid, w2, res, time.monotonic() - t0


def attempt(path, kind, wait, timeout=60):
    """Returns ("GRANTED"|errno name, seconds). A blocking attempt is bounded
    by an alarm."""
    t0 = time.monotonic()
    fd = os.open(path, os.O_RDWR)
    try:
        if wait:
            signal.signal(signal.SIGALRM, lambda *a: None)
            signal.alarm(timeout)
        lock(fd, kind, wait)
        res = "GRANTED"
    except OSError as e:
        res = ename(e)
    finally:
        if wait:
            signal.alarm(0)
        os.close(fd)
    return res, time.monotonic() - t0


LET_GO_S = 5.0  # longest a close's lock release through nfsguard may take to reach the server


def cmd_locks(ng, local, other):
    ok = True
    notes = []
    for kind in ("fcntl", "flock"):
        okind = kind  # the second client uses the same call
        # 1. holder through nfsguard: the server's local fs and the other client conflict
        pid, tell, res, _ = holder(ng, kind)
        if res != "L":
            print(f"BAD {kind}: holder through nfsguard failed: {res}", flush=True)
            ok = False
            os.close(tell)
            os.waitpid(pid, 0)
            continue
        for name, path, k in (("server-local", local, "fcntl"), ("second client", other, okind)):
            r, t = attempt(path, k, False)
            good = r in ("EAGAIN", "EACCES")
            ok &= good
            print(f"{'ok ' if good else 'BAD'} {kind}: held through nfsguard; {k} try on {name}: "
                  f"{r} in {t:.1f}s (expect EAGAIN)", flush=True)
        os.write(tell, b"R0")
        os.close(tell)
        os.waitpid(pid, 0)
        # 2. holder on the server's local fs / the other client: nfsguard's try
        # fails, its blocking lock is granted when the holder lets go. The
        # lock nfsguard held a moment ago was let go by a close: a flock's
        # release reaches the server shortly after (bounded here, and shown)
        for name, path, k in (("server-local", local, "fcntl"), ("second client", other, okind)):
            pid, tell, res, took = holder(path, k, settle=LET_GO_S)
            if took > 0.5:
                notes.append(f"{kind}/{name} lock free after {took:.1f}s")
            if res != "L":
                print(f"BAD {kind}: {k} holder on {name} failed: {res} "
                      f"(tried for {took:.1f}s after nfsguard's close)", flush=True)
                ok = False
                os.close(tell)
                os.waitpid(pid, 0)
                continue
            r, t = attempt(ng, kind, False)
            good = r in ("EAGAIN", "EACCES")
            ok &= good
            os.write(tell, b"R2")  # lets go 2 s from now
            os.close(tell)
            rb, tb = attempt(ng, kind, True)
            os.waitpid(pid, 0)
            goodb = rb == "GRANTED" and tb >= 1.5
            ok &= goodb
            print(f"{'ok ' if good and goodb else 'BAD'} {kind}: {k} held on {name}; try through "
                  f"nfsguard: {r} in {t:.1f}s (expect EAGAIN); blocking lock through nfsguard: "
                  f"{rb} after {tb:.1f}s (holder let go after 2 s)", flush=True)
            notes.append(f"{kind}/{name} wait {tb:.1f}s")
    print(f"RESULT {'ok' if ok else 'BAD'} " + ", ".join(notes), flush=True)
    return 0 if ok else 1


# --- close errors ------------------------------------------------------------

def cmd_closeerr(path, size, do_fsync):
    out = {}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        n = os.write(fd, b"m" * size)
        out["write"] = "OK" if n == size else f"short {n}"
    except OSError as e:
        out["write"] = ename(e)
    if do_fsync:
        try:
            os.fsync(fd)
            out["fsync"] = "OK"
        except OSError as e:
            out["fsync"] = ename(e)
    try:
        os.close(fd)
        out["close"] = "OK"
    except OSError as e:
        out["close"] = ename(e)
    line = " ".join(f"{k}={v}" for k, v in out.items())
    seen = [k for k, v in out.items() if v in ("ENOSPC", "EDQUOT", "EIO")]
    print(f"RESULT {'ok' if seen else 'BAD'} {line}", flush=True)
    return 0 if seen else 1


# --- ESTALE control ----------------------------------------------------------

def cmd_heldfd(path):
    isdir = os.path.isdir(path)
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if isdir else 0))
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        if isdir:
            nfd = os.open("probe", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.close(nfd)
            res = "OK (created a name in the old directory)"
        else:
            os.fstat(fd)
            data = os.pread(fd, 64, 0)
            res = f"OK (read {data!r})"
    except OSError as e:
        res = ename(e)
    print(f"RESULT ok {res}", flush=True)
    return 0


# --- cache coherence -----------------------------------------------------------

def cmd_cache(other, ng, raw, limit):
    def w(p, data, mode="w"):
        with open(p, mode) as f:
            f.write(data)

    def exists(p):
        try:
            os.lstat(p)
            return True
        except FileNotFoundError:
            return False

    def read(p):
        try:
            with open(p) as f:
                return f.read()
        except OSError as e:
            return ename(e)

    def size(p):
        try:
            return os.stat(p).st_size
        except OSError:
            return -1

    # Each change in a directory of its own, and each poll looks only there:
    # a READDIRPLUS or a directory revalidation would refresh its neighbours.
    # name: (set-up through OTHER, change through OTHER, seen in dir D?, names to warm)
    items = {
        "size change (stat)": (lambda o: w(f"{o}/f", "x"), lambda o: w(f"{o}/f", "y" * 99, "a"),
                               lambda d: size(f"{d}/f") == 100, ["f"]),
        "new data (open+read)": (lambda o: w(f"{o}/f", "old"), lambda o: w(f"{o}/f", "new"),
                                 lambda d: read(f"{d}/f") == "new", ["f"]),
        "created name (lookup)": (lambda o: None, lambda o: w(f"{o}/new", "n"),
                                  lambda d: exists(f"{d}/new"), ["new"]),
        "created name (readdir)": (lambda o: None, lambda o: w(f"{o}/new", "n"),
                                   lambda d: "new" in os.listdir(d), []),
        "unlinked name (lookup)": (lambda o: w(f"{o}/gone", "g"), lambda o: os.unlink(f"{o}/gone"),
                                   lambda d: not exists(f"{d}/gone"), ["gone"]),
        "renamed (old gone, new there)": (
            lambda o: w(f"{o}/r1", "r"), lambda o: os.rename(f"{o}/r1", f"{o}/r2"),
            lambda d: not exists(f"{d}/r1") and exists(f"{d}/r2"), ["r1", "r2"]),
    }
    sub = {k: f"c{i}" for i, k in enumerate(items)}
    for k, (setup, _, _, _) in items.items():
        os.mkdir(f"{other}/{sub[k]}")
        setup(f"{other}/{sub[k]}")
    os.sync()
    time.sleep(1)
    # Warm this client's caches (through nfsguard and on the raw mount: one
    # client, one cache): every directory listed, every name looked up.
    for d in (ng, raw):
        for k, (_, _, _, names) in items.items():
            os.listdir(f"{d}/{sub[k]}")
            for n in names:
                exists(f"{d}/{sub[k]}/{n}")
                size(f"{d}/{sub[k]}/{n}")
        read(f"{d}/{sub['new data (open+read)']}/f")
    time.sleep(0.5)
    t0 = time.monotonic()
    for k, (_, change, _, _) in items.items():
        change(f"{other}/{sub[k]}")
    seen = {(k, d): None for k in items for d in ("ng", "raw")}
    while time.monotonic() - t0 < limit and None in seen.values():
        for (k, d), v in seen.items():
            if v is None and items[k][2](f"{ng if d == 'ng' else raw}/{sub[k]}"):
                seen[(k, d)] = time.monotonic() - t0
        time.sleep(0.2)
    ok = True
    worst = 0.0
    for k in items:
        a, b = seen[(k, "ng")], seen[(k, "raw")]
        fa = f"{a:5.1f}s" if a is not None else f">{limit:.0f}s"
        fb = f"{b:5.1f}s" if b is not None else f">{limit:.0f}s"
        # nfsguard must see it, and add nothing to the NFS client's own
        # staleness (a poll round of slack).
        good = a is not None and (b is None or a <= b + 1.5)
        ok &= good
        worst = max(worst, a if a is not None else limit)
        print(f"{'ok ' if good else 'BAD'} {k:30s} through nfsguard after {fa}; "
              f"on the NFS mount under it after {fb}", flush=True)
    print(f"RESULT {'ok' if ok else 'BAD'} every change seen through nfsguard within "
          f"{worst:.1f} s, as soon as on the NFS mount itself", flush=True)
    return 0 if ok else 1


def cmd_doctor(nfsguard, vers, good, bad):
    import json
    import subprocess
    ok = True
    expect = {  # check: (on GOOD, on BAD)
        "nfs.mount": ("ok", "ok"), "nfs.hard": ("ok", "fail"),
        "nfs.locks": ("ok", "fail" if vers == "3" else "ok"),
        "nfs.lock_taken": ("ok", None), "clock.skew": ("ok", None),
        "nfsguard.mounted": ("ok", "fail"), "nfsguard.attached": ("ok", None),
    }
    seen = {}
    for which, path in (("good", good), ("bad", bad)):
        r = subprocess.run([nfsguard, "doctor", "--json", path], capture_output=True, text=True,
                           timeout=120)
        try:
            report = json.loads(r.stdout)
        except ValueError:
            print(f"BAD {which}: not JSON (exit {r.returncode}): {r.stdout!r} {r.stderr!r}")
            return 1
        found = {f["check"]: f for f in report["findings"]}
        seen[which] = (r.returncode, found)
        for f in report["findings"]:
            print(f"  {which}: {f['level']:<4} {f['check']:<26} {f['reason']}", flush=True)
        if report["status"] != r.returncode:
            ok = False
            print(f"BAD {which}: status {report['status']}, exit {r.returncode}")
    for check, (on_good, on_bad) in expect.items():
        for which, want in (("good", on_good), ("bad", on_bad)):
            got = seen[which][1].get(check, {}).get("level")
            if want is not None and got != want:
                ok = False
                print(f"BAD {which}: {check} is {got}, not {want}")
    if seen["bad"][0] != 2:
        ok = False
        print(f"BAD the bad setup exits {seen['bad'][0]}, not 2")
    failed = ", ".join(c for c, f in seen["bad"][1].items() if f["level"] == "fail")
    print(f"RESULT {'ok' if ok else 'BAD'} good setup exits {seen['good'][0]}, bad setup exits "
          f"{seen['bad'][0]} with {failed} failed", flush=True)
    return 0 if ok else 1


# --- ownership: a mail process with a file open in a unit ---------------------

def cmd_appender(path):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as e:
        print(f"open {ename(e)}", flush=True)
        return 1
    print("open", flush=True)
    for line in sys.stdin:
        tag, _, text = line.rstrip("\n").partition(" ")
        t0 = time.monotonic()
        try:
            os.write(fd, (text + "\n").encode())
            os.fsync(fd)
            res = "ok"
        except OSError as e:
            res = ename(e)
        print(f"{tag} {res} {time.monotonic() - t0:.1f}", flush=True)
    try:
        os.close(fd)
        print("close ok", flush=True)
    except OSError as e:
        print(f"close {ename(e)}", flush=True)
    return 0


# --- fence-probe: does an OFD lock on the writing descriptor fence its writes? --

F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
FENCE_AT = 2 ** 62  # where the fencing read lock sits: no mail program locks there


def ofd(fd, kind, start=0, length=0):
    """F_OFD_SETLK (never waits); raises OSError (EAGAIN on a conflict)."""
    fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi4x", kind, 0, start, length, 0))


def nfs_rpcs():
    """The NFS client's RPC counts per procedure (this network namespace)."""
    import subprocess
    r = subprocess.run(["nfsstat", "-c", "-l"], capture_output=True, text=True, timeout=30)
    n = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and f[-1].isdigit() and f[-2].endswith(":") and f[-2] != "total:":
            n[f[-2][:-1]] = n.get(f[-2][:-1], 0) + int(f[-1])
    return n


class Bounded:
    """Runs fn in a thread (an NFS call on a cut mount may hang); keeps its
    outcome ("ok"/errno name, or fn's value) and when it ended."""

    def __init__(self, name, fn, clock):
        import threading
        self.name, self.res, self.at, self.clock = name, None, None, clock
        self.t0 = clock()
        self.th = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.th.start()

    def _run(self, fn):
        try:
            self.res = fn() or "ok"
        except OSError as e:
            self.res = ename(e)
        self.at = self.clock()

    def wait(self, limit):
        self.th.join(limit)
        return self.res is not None

    def text(self, ref=None):
        if self.res is None:
            return f"{self.name}: still blocked"
        when = f"at t={self.at:.1f}" if ref is None else f"{self.at - ref:.1f} s after the restore"
        return f"{self.name}: {self.res} after {self.at - self.t0:.1f} s ({when})"


def cmd_fenceprobe(variant, adir, bdir, sdir, lease, cut, uncut):
    """A (ADIR: host A's mount) writes into a file while its network to the
    server is cut (the shell function CUT, undone by UNCUT); B (BDIR: the
    other client) takes it over after the server expired A. Variant N: A's
    writing descriptor holds no lock; L: an OFD read lock on one byte at
    2**62 on that descriptor; L2: the same lock on another descriptor of the
    file. A second file ("dirty") gets a line from A just before the cut,
    without fsync, flushed only by its close after the restore (the same
    locks). In every variant A holds an OFD write lock on a "lease" file, as
    nfsguard does, which B's lock takes over (expiring A's courtesy state)."""
    import subprocess
    lease = float(lease)
    t_ref = time.monotonic()
    clock = lambda: time.monotonic() - t_ref  # noqa: E731
    out = []

    def say(msg):
        print(f"[{clock():6.1f}] {msg}", flush=True)

    def note(msg):
        out.append(msg)
        say(msg)

    # CUT and UNCUT run in a helper started before any NFS file is open: a
    # process forked later would flush A's file, cut off, as it closes the
    # descriptors it inherited (every close of a written NFS file flushes).
    helper = subprocess.Popen(["bash", "-c", 'while read -r c; do "$c"; echo "done $?"; done'],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def sh(fn):
        helper.stdin.write(fn + "\n")
        helper.stdin.flush()
        r = helper.stdout.readline().strip()
        if r != "done 0":
            raise RuntimeError(f"{fn}: {r or 'no answer'}")

    def server(name="data"):
        with open(f"{sdir}/{name}", "rb") as f:
            return f.read().decode(errors="replace")

    os.makedirs(sdir, exist_ok=True)
    for n, text in (("data", "start\n"), ("dirty", "start\n"), ("lease", ""), ("cost-N", ""), ("cost-L", "")):
        with open(f"{sdir}/{n}", "w") as f:
            f.write(text)
        os.chmod(f"{sdir}/{n}", 0o666)
    os.sync()
    try:
        with open("/sys/module/nfs/parameters/recover_lost_locks") as f:
            say(f"nfs.recover_lost_locks={f.read().strip()}; server lease time {lease:.0f} s; variant {variant}")
    except OSError:
        pass

    # What the fencing lock costs: open, append + fsync, close, with and
    # without it (A's RPCs; B's client counts in its own namespace).
    cost = {}
    for c in ("N", "L"):
        before = nfs_rpcs()
        fd = os.open(f"{adir}/cost-{c}", os.O_RDWR | os.O_APPEND)
        if c == "L":
            ofd(fd, fcntl.F_RDLCK, FENCE_AT, 1)
        os.write(fd, b"x\n")
        os.fsync(fd)
        os.close(fd)
        after = nfs_rpcs()
        cost[c] = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        say(f"RPCs of open, append + fsync, close {'with' if c == 'L' else 'without'} the lock: "
            + " ".join(f"{k}={v}" for k, v in sorted(cost[c].items())))
    extra = {k: cost["L"].get(k, 0) - cost["N"].get(k, 0) for k in set(cost["L"]) | set(cost["N"])}
    extra = " ".join(f"{k}{v:+d}" for k, v in sorted(extra.items()) if v)
    note(f"the lock's cost: {extra or 'nothing'}")

    # A: the lease, the file, the variant's lock; B tries a whole-file write lock.
    alease = os.open(f"{adir}/lease", os.O_RDWR)
    ofd(alease, fcntl.F_WRLCK)
    # "data": written after the cut (in flight); "dirty": written before
    # the cut without fsync, flushed only by its close after the restore.
    afd = os.open(f"{adir}/data", os.O_RDWR | os.O_APPEND)
    adfd = os.open(f"{adir}/dirty", os.O_RDWR | os.O_APPEND)
    afd2 = adfd2 = None
    if variant == "L":
        ofd(afd, fcntl.F_RDLCK, FENCE_AT, 1)
        ofd(adfd, fcntl.F_RDLCK, FENCE_AT, 1)
    elif variant == "L2":
        afd2 = os.open(f"{adir}/data", os.O_RDONLY)
        ofd(afd2, fcntl.F_RDLCK, FENCE_AT, 1)
        adfd2 = os.open(f"{adir}/dirty", os.O_RDONLY)
        ofd(adfd2, fcntl.F_RDLCK, FENCE_AT, 1)
    blease = os.open(f"{bdir}/lease", os.O_RDWR)
    bfd = os.open(f"{bdir}/data", os.O_RDWR | os.O_APPEND)
    bdfd = os.open(f"{bdir}/dirty", os.O_RDWR | os.O_APPEND)
    try:
        ofd(bfd, fcntl.F_WRLCK)
        r = "granted"
        ofd(bfd, fcntl.F_UNLCK)
    except OSError as e:
        r = ename(e)
    note(f"B's whole-file F_WRLCK (l_len=0) while A holds {'its lock' if variant != 'N' else 'no lock on the file'}: {r}")
    os.write(afd, b"A line 1\n")
    os.fsync(afd)
    os.write(adfd, b"A dirty before the cut\n")

    # The cut; A writes line 2 (no fsync), then line 3 and fsync.
    sh(cut)
    t_cut = clock()
    say("A's traffic to the server cut")
    seen = {}

    def timed_write(key, data):
        t = clock()
        try:
            os.write(afd, data)
            seen[key] = f"ok in {clock() - t:.1f} s"
        except OSError as e:
            seen[key] = f"{ename(e)} in {clock() - t:.1f} s"

    def a_writes():
        timed_write("write2", b"A line 2 (no fsync)\n")
        timed_write("write3", b"A line 3 (fsync)\n")
        return "fsync " + ("ok" if os.fsync(afd) is None else "?")
    aw = Bounded("A's fsync", a_writes, clock)

    # B: the lease, once the server expired A's courtesy state; the file; B's line.
    def retry_lock(fd, limit):
        n = 0
        while clock() - t_cut < limit:
            n += 1
            try:
                ofd(fd, fcntl.F_WRLCK)
                return f"granted {clock() - t_cut:.1f} s after the cut ({n} tries)"
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    return f"{ename(e)} {clock() - t_cut:.1f} s after the cut"
            time.sleep(0.5)
        return f"not granted within {limit:.0f} s of the cut"
    limit = 3 * lease + 20
    note(f"B's lock of the lease file: {retry_lock(blease, limit)}")
    note(f"B's whole-file lock of the data file: {retry_lock(bfd, limit)}")
    note(f"B's whole-file lock of the dirty file: {retry_lock(bdfd, limit)}")
    try:
        for fd in (bfd, bdfd):
            os.write(fd, b"B\n")
            os.fsync(fd)
        r = "ok"
    except OSError as e:
        r = ename(e)
    note(f"B's append + fsync: {r} ({clock() - t_cut:.1f} s after the cut); A's line 2 write: "
         f"{seen.get('write2', 'still blocked')}, line 3 write: {seen.get('write3', 'still blocked')}; "
         f"A's fsync {'still blocked' if aw.res is None else 'returned ' + aw.res}")
    before = server()
    say(f"the server's files before the restore: data {before!r}, dirty {server('dirty')!r}")

    sh(uncut)
    t_back = clock()
    say(f"A's traffic restored ({t_back - t_cut:.1f} s after the cut)")
    aw.wait(120)
    note(f"A's line 2 write: {seen.get('write2', 'still blocked')}; line 3 write: "
         f"{seen.get('write3', 'still blocked')}; {aw.text(t_back)}")
    for name, fd in (("A's close of the writing descriptor", afd), ("A's close of the other descriptor", afd2),
                     ("A's close of the dirty file's descriptor", adfd),
                     ("A's close of the dirty file's other descriptor", adfd2), ("A's close of the lease", alease)):
        if fd is None:
            continue
        c = Bounded(name, lambda fd=fd: os.close(fd), clock)
        c.wait(60)
        note(c.text(t_back))
    time.sleep(5)
    after, dirty = server(), server("dirty")
    landed = [ln for ln in ("A line 2", "A line 3") if ln in after]
    landed += [ln for ln in ("A dirty before the cut",) if ln in dirty]
    b_there = "B\n" in after and "B\n" in dirty
    note(f"the server's files 5 s later: data {after!r}, dirty {dirty!r}")
    for fd in (bfd, bdfd, blease):
        os.close(fd)
    helper.stdin.close()
    helper.wait(10)
    fenced = not landed and b_there
    print(f"RESULT ok variant {variant}: "
          + ("A's lines after the cut did NOT land, B's line intact" if fenced else
             f"A's {', '.join(repr(x) for x in landed) or 'nothing'} on the server, B's lines "
             f"{'there' if b_there else 'NOT ALL THERE (overwritten)'}")
          + "; " + "; ".join(out), flush=True)
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    if a[0] == "locks" and len(a) == 4:
        return cmd_locks(*a[1:])
    if a[0] == "closeerr" and len(a) in (3, 4):
        return cmd_closeerr(a[1], int(a[2]), len(a) == 4)
    if a[0] == "heldfd" and len(a) == 2:
        return cmd_heldfd(a[1])
    if a[0] == "cache" and len(a) == 5:
        return cmd_cache(a[1], a[2], a[3], float(a[4]))
    if a[0] == "doctor" and len(a) == 5:
        return cmd_doctor(*a[1:])
    if a[0] == "appender" and len(a) == 2:
        return cmd_appender(a[1])
    if a[0] == "fenceprobe" and len(a) == 8:
        return cmd_fenceprobe(*a[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
