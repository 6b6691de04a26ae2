#!/usr/bin/python3
"""The mail benchmark: nfsguard against the raw directory, in the same run.

    bash tests/bench/run.sh [--quick] [--rounds N] [--cache shared,pinned]
                            [--workloads a,b,...] [--no-faultfs] [--no-strace]
    bash tests/bench/run.sh --big-maildir [N] [--fd-limit 1024] [--cache shared]

Mounts nfsguard itself (the build in NFSGUARD_BUILD, default build/) over a
scratch directory on local disk and runs each mail-shaped workload
(tests/bench/mailbench.cpp) on the raw directory and through the mount,
alternating which goes first, for several rounds. The machine is shared and
noisy, so each round gives one ratio (nfsguard ops/s / raw ops/s, both timed
within seconds of each other) and the table shows the median ratio and the
spread (lowest to highest). Counted figures do not depend on noise: the
system calls per operation of the program on the raw directory, and of the
nfsguard process (strace -f -c -p) for the same workload through the mount,
split into calls on the backing tree, FUSE channel calls (requests read,
replies written) and identity switches.

A latency mode stacks nfsguard on the fault-injecting filesystem
(tests/faultfs) with 200 us added to every call, standing for an NFS round
trip: there the ratio is nfsguard-on-faultfs against the same program
straight on faultfs, and every extra backing call nfsguard makes shows.

Bounded resources (--big-maildir N, default 200,000; instead of the
workloads above): nfsguard runs with RLIMIT_NOFILE set to --fd-limit, soft
and hard (nfsguard raises its soft limit to the hard one, so a soft limit
alone would not hold). A Maildir of N messages in cur/ is filled straight
on the backing (the same files; not through the mount, which would only
take long), then, raw and through nfsguard: a cold scan of cur/ (readdir +
lstat; caches dropped, nfsguard mounted afresh), deliveries into it
(tmp/, fsync, rename into new/), and a warm scan; then the kernel's caches
are dropped, so that it forgets what it looked up, and the same mount scans
cold again (does the freed memory serve again?). After each phase it
prints nfsguard's resident memory, its open descriptors (and the most seen
while the phase ran), and the inodes its table holds (stats file); at the
end its peak RSS (VmHWM). A failed call (EMFILE, EBADF...) is shown in the
phase's row, and the phases go on.

Everything mounted here is unmounted (fusermount3 -u -z) on the way out,
also after an error or Ctrl-C.
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "faultfs"))
import mounts  # noqa: E402
from faultfs_control import start_faultfs  # noqa: E402

BUILD = Path(os.environ.get("NFSGUARD_BUILD", REPO / "build"))
NFSGUARD = BUILD / "nfsguard"
FAULTFS = Path(os.environ.get("FAULTFS_BIN", BUILD / "tests" / "faultfs" / "nfsguard-faultfs"))
MAILBENCH = BUILD / "tests" / "bench" / "nfsguard-mailbench"
# libfuse's own example, built by run.sh from Debian's libfuse3-dev: the
# plainest FUSE passthrough, measured beside nfsguard as the floor any FUSE
# layer stands on (--reference).
PASSTHROUGH_LL = BUILD / "tests" / "bench" / "passthrough_ll"
REFERENCES = {
    # name: (what it is, its -o options)
    "ll": ("libfuse passthrough_ll, 1 s caches (its default)", []),
    "ll0": ("libfuse passthrough_ll, timeout=0 (no name or attribute caching)", ["timeout=0"]),
}


class Workload:
    def __init__(self, name, program, ops, quick_ops, procs=1, files=0, quick_files=0,
                 cold=False, shared_dir=None, warm_up=False, latency=True):
        self.name = name
        self.program = program
        self.ops, self.quick_ops = ops, quick_ops
        self.procs = procs
        self.files, self.quick_files = files, quick_files
        self.cold = cold              # caches dropped (and nfsguard remounted) before each run
        self.shared_dir = shared_dir  # a prepared directory used by every run
        self.warm_up = warm_up        # one untimed run first
        self.latency = latency        # also run in the latency mode


WORKLOADS = [
    Workload("maildir-rename", "maildir-rename", 400, 40),
    Workload("maildir-link", "maildir-link", 400, 40),
    Workload("maildir-rename-4p", "maildir-rename", 800, 80, procs=4),
    Workload("maildir-link-4p", "maildir-link", 800, 80, procs=4),
    Workload("mbox", "mbox", 300, 30),
    Workload("create-unlink", "create-unlink", 1000, 100),
    Workload("scan-cold", "scan", 10**9, 10**9, files=10000, quick_files=500, cold=True,
             shared_dir="scan", latency=False),
    Workload("scan-warm", "scan", 10**9, 10**9, files=10000, quick_files=500,
             shared_dir="scan", warm_up=True),
    Workload("seq-write", "seq-write", 256, 16),
    Workload("seq-read", "seq-read", 10**9, 10**9, shared_dir="data", warm_up=True),
    Workload("rand-read", "rand-read", 4000, 200, shared_dir="data", warm_up=True),
    Workload("rand-write", "rand-write", 1000, 100, shared_dir="data"),
    Workload("postmark", "postmark", 2000, 100, files=500, quick_files=50),
]
DATA_BLOCKS = 256  # 32 MiB for the read workloads
DATA_BLOCKS_QUICK = 16

# strace names: what nfsguard does besides calls on the backing tree.
FUSE_CHANNEL = {"read", "readv", "writev", "write", "splice", "vmsplice", "poll", "ppoll"}
IDENTITY = {"setfsuid", "setfsgid", "setgroups", "getgroups", "setresuid", "setresgid"}
THREADING = {"futex", "clone", "clone3", "set_robust_list", "rseq", "madvise", "mmap", "munmap",
             "mprotect", "rt_sigprocmask", "sched_yield", "gettid", "exit", "brk", "getpid",
             "restart_syscall", "clock_gettime", "nanosleep", "clock_nanosleep"}


def sh(*argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, **kw)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def proc_status(pid, key):
    """A /proc/PID/status figure in kB (VmRSS, VmHWM), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def fd_limits(pid):
    """The (soft, hard) descriptor limit the process runs under, as text."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return tuple(line.split()[3:5])
    except OSError:
        pass
    return ("?", "?")


def mib(kb):
    return "?" if kb is None else f"{kb / 1024:.1f}"


class FdWatch:
    """The most descriptors a process held, sampled every 20 ms, between
    reset() and peak(): what it holds after a phase may be far below."""

    def __init__(self, pid):
        self.pid = pid
        self.most = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.02):
            n = open_fds(self.pid)
            if n is not None:
                with self.lock:
                    self.most = max(self.most, n)

    def reset(self):
        with self.lock:
            self.most = open_fds(self.pid) or 0

    def peak(self):
        with self.lock:
            return self.most

    def stop(self):
        self.done.set()
        self.thread.join()


def run_program(w, directory, ops, files, quick):
    argv = [MAILBENCH, w.program, directory, "--ops", ops, "--procs", w.procs]
    if files:
        argv += ["--files", files]
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: {res.stderr.strip()}")
    out = res.stdout
    m = re.search(r"ops=(\d+) seconds=([\d.]+)", out)
    return int(m.group(1)), float(m.group(2))


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.scratch = Path(tempfile.mkdtemp(prefix="nfsguard-bench-", dir=args.tmp))
        self.scratch.chmod(0o755)
        self.mounted = []  # mounts.Mount, most recent last
        self.counter = 0

    # --- mounts -----------------------------------------------------------
    def start_nfsguard(self, backing, mountpoint, cache, *more, fd_limit=None):
        extra = [o for o in self.args.options.split(",") if o] + list(more)
        limit = None
        if fd_limit:
            # Soft and hard: nfsguard raises its soft limit to the hard one.
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
        m = mounts.start_nfsguard(backing, mountpoint, f"cache={cache}", "backing_fs=any",
                                  "log_level=warn", f"state_dir={self.scratch}/state",
                                  f"run_dir={self.scratch}/run", *extra, binary=NFSGUARD,
                                  log_path=self.scratch / f"nfsguard-{mountpoint.name}.log",
                                  preexec_fn=limit)
        self.mounted.append(m)
        return m

    def start_reference(self, name, backing, mountpoint):
        """libfuse's passthrough_ll over backing. It keeps a descriptor per
        inode it was asked about, so its limit is raised to the hard one."""
        def limit():
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        options = ",".join([f"source={backing}"] + REFERENCES[name][1])
        m = mounts.Mount([str(PASSTHROUGH_LL), "-f", "-o", options, str(mountpoint)], mountpoint,
                         self.scratch / f"{name}-{mountpoint.name}.log", preexec_fn=limit)
        self.mounted.append(m)
        return m

    def stop(self, m, quiet=False):
        if not quiet and m.proc.poll() is None:
            print(f"  {Path(m.proc.args[0]).name} on {m.mountpoint.name} (pid {m.pid}): peak RSS "
                  f"{mib(proc_status(m.pid, 'VmHWM'))} MiB, {open_fds(m.pid)} descriptors open "
                  f"at the end", flush=True)
        m.close()
        self.mounted.remove(m)

    def cleanup(self):
        for m in reversed(self.mounted):
            try:
                m.close()
            except Exception as e:  # keep unmounting the rest
                print(f"cleanup: {e}", file=sys.stderr)
        self.mounted.clear()
        for point in mounts.fuse_mounts():
            if point.startswith(f"{self.scratch}/"):
                mounts.lazy_unmount(point)

    # --- one mode: raw directory vs nfsguard ------------------------------
    def prepare(self, roots, workloads):
        """Shared inputs ({tag: root}), made through each root (not timed)."""
        blocks = DATA_BLOCKS_QUICK if self.quick else DATA_BLOCKS
        for w in workloads:
            if w.shared_dir == "scan":
                for root in roots.values():
                    d = root / "scan"
                    if not (d / "folder").exists():
                        d.mkdir(parents=True, exist_ok=True)
                        files = w.quick_files if self.quick else w.files
                        run_program(Workload("p", "populate", 0, 0), d, 0, files, self.quick)
            if w.shared_dir == "data":
                for tag, root in roots.items():
                    d = root / f"data-{tag}"
                    if not (d / "data").exists():
                        d.mkdir(parents=True, exist_ok=True)
                        run_program(Workload("w", "seq-write", 0, 0), d, blocks, 0, self.quick)

    def directory(self, w, root, tag):
        if w.shared_dir == "scan":
            return root / "scan"
        if w.shared_dir == "data":
            return root / f"data-{tag}"
        self.counter += 1
        d = root / f"{w.name}-{tag}-{self.counter}"
        d.mkdir()
        return d

    def measure(self, title, raw_root, targets, workloads, scale=1):
        """Interleaved rounds; returns {workload: [{tag: ops/s}, ...]}, one
        dict a round, with "raw" and each of targets ({tag: (root, remount
        or None)}; "via" is nfsguard). `scale` divides the operation counts
        (the latency mode is slow)."""
        roots = {"raw": raw_root} | {tag: root for tag, (root, _) in targets.items()}
        self.prepare(roots, workloads)
        results = {w.name: [] for w in workloads}
        rounds = self.args.rounds or (2 if self.quick else 5)
        for rnd in range(rounds):
            for w in workloads:
                ops = w.quick_ops if self.quick else w.ops
                files = w.quick_files if self.quick else w.files
                if scale > 1:  # the whole folder or file is the unit otherwise
                    ops = min(ops, files or DATA_BLOCKS)
                    ops = max(ops // scale, 10)
                # Who goes first turns with the rounds.
                order = list(roots)
                turn = (rnd + hash(w.name)) % len(order)
                order = order[turn:] + order[:turn]
                speed = {}
                for tag in order:
                    d = self.directory(w, roots[tag], tag)
                    if w.warm_up:
                        run_program(w, d, ops, files, self.quick)
                    if w.cold:
                        if tag != "raw" and targets[tag][1]:
                            targets[tag][1]()
                        drop_caches()
                    n, s = run_program(w, d, ops, files, self.quick)
                    speed[tag] = n / s
                results[w.name].append(speed)
            print(f"  {title}: round {rnd + 1}/{rounds} done", file=sys.stderr, flush=True)
        return results

    # --- system calls, counted --------------------------------------------
    def strace_counts(self, argv, pid=None):
        """System calls by name, and the ops the program reports."""
        out = self.scratch / f"strace-{self.counter}.txt"
        self.counter += 1
        argv = [str(a) for a in argv]
        if pid is None:
            res = subprocess.run(["strace", "-f", "-c", "-U", "name,calls", "-o", str(out),
                                  *argv], check=True, capture_output=True, text=True)
        else:
            tracer = subprocess.Popen(["strace", "-f", "-c", "-U", "name,calls", "-o", str(out),
                                       "-p", str(pid)], stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # until strace has attached to every thread
            try:
                res = subprocess.run(argv, check=True, capture_output=True, text=True)
                time.sleep(0.5)  # releases arrive after close() has returned
            finally:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=30)
        counts = {}
        for line in out.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
                counts[parts[0]] = counts.get(parts[0], 0) + int(parts[1])
        m = re.search(r"ops=(\d+)", res.stdout)
        return counts, int(m.group(1))

    def syscalls(self, raw_root, via_root, workloads, via_pid, raw_pid=None):
        """Per operation: the raw program's calls and nfsguard's, by name.

        Each count is a run of N operations less a run of none, over N: the
        program's start and set-up cancel out."""
        table = {}
        for w in workloads:
            if w.cold:
                continue
            ops = min(w.quick_ops, 200)
            files = w.quick_files if self.quick else w.files
            row = {}
            for tag, root in (("raw", raw_root), ("via", via_root)):
                d = self.directory(w, root, tag)
                extra = ["--procs", w.procs] + (["--files", files] if files else [])
                argv = [MAILBENCH, w.program, d, "--ops", ops, *extra]
                if w.warm_up:
                    sh(*argv, stdout=subprocess.DEVNULL)
                pid = raw_pid if tag == "raw" else via_pid
                full, n = self.strace_counts(argv, pid)
                empty, _ = self.strace_counts([MAILBENCH, w.program, d, "--ops", 0, *extra], pid)
                row[tag] = {k: (full.get(k, 0) - empty.get(k, 0)) / max(n, 1)
                            for k in set(full) | set(empty)}
            table[w.name] = row
            with open(self.scratch / "syscalls.txt", "a") as f:
                for tag in ("raw", "via"):
                    top = sorted(row[tag].items(), key=lambda kv: -kv[1])[:16]
                    f.write(f"{w.name} {tag}: " +
                            " ".join(f"{k}={v:.2f}" for k, v in top if v > 0.005) + "\n")
        return table

    # --- the modes ---------------------------------------------------------
    def local_mode(self, cache, workloads, references=()):
        back = self.scratch / f"back-{cache}"
        mnt = self.scratch / f"mnt-{cache}"
        back.mkdir()
        mnt.mkdir()
        (back / "raw").mkdir()
        (back / "via").mkdir()
        start = {"via": lambda: self.start_nfsguard(back, mnt, cache)}
        for name in references:
            ref_mnt = self.scratch / f"ref-{name}-{cache}"
            ref_mnt.mkdir()
            (back / name).mkdir()
            start[name] = lambda name=name, ref_mnt=ref_mnt: self.start_reference(
                name, back, ref_mnt)
        state = {tag: started() for tag, started in start.items()}

        def remounter(tag):
            def remount():
                self.stop(state[tag], quiet=tag != "via")
                state[tag] = start[tag]()
            return remount

        targets = {"via": (mnt / "via", remounter("via"))}
        for name in references:
            targets[name] = (state[name].mountpoint / name, remounter(name))
        results = self.measure(f"local, cache={cache}", back / "raw", targets, workloads)
        counts = {}
        if not self.args.no_strace:
            counts = self.syscalls(back / "raw", mnt / "via", workloads, state["via"].pid)
        for tag in reversed(list(state)):
            self.stop(state[tag], quiet=tag != "via")
        return results, counts

    def latency_mode(self, cache, workloads):
        back = self.scratch / f"lback-{cache}"
        ff = self.scratch / f"ff-{cache}"
        mnt = self.scratch / f"lmnt-{cache}"
        for d in (back, ff, mnt):
            d.mkdir()
        (back / "raw").mkdir()
        (back / "via").mkdir()
        f = start_faultfs(back, ff, self.scratch / f"ff-{cache}.sock",
                          self.scratch / f"faultfs-{cache}.log", binary=FAULTFS)
        self.mounted.append(f)
        m = self.start_nfsguard(ff, mnt, cache)
        f.control.latency(self.args.latency_us)
        results = self.measure(f"faultfs +{self.args.latency_us} us, cache={cache}",
                               ff / "raw", {"via": (mnt / "via", None)},
                               [w for w in workloads if w.latency], scale=1 if self.quick else 4)
        f.control.latency(0)
        counts = {}
        if not self.args.no_strace:
            # What faultfs serves per operation, straight and under nfsguard:
            # each of its backing calls is one NFS round trip in this mode.
            counts = self.syscalls(ff / "raw", mnt / "via", [w for w in workloads if w.latency],
                                   f.pid, raw_pid=f.pid)
        self.stop(m)
        self.stop(f)
        return results, counts

    # --- bounded resources: a big Maildir under a descriptor limit --------
    def big_run(self, program, directory, ops, *extra):
        """(ops, seconds) of one mailbench run, or (None, error text): a
        failed call is a finding here, not the end of the run."""
        argv = [str(a) for a in (MAILBENCH, program, directory, "--ops", ops, *extra)]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=7200)
        m = re.search(r"ops=(\d+) seconds=([\d.]+)", res.stdout)
        if res.returncode != 0 or not m:
            return None, res.stderr.strip() or f"exit {res.returncode}"
        return int(m.group(1)), float(m.group(2))

    def inodes_known(self, mountpoint):
        """The inode table's size and cached directory descriptors, from the
        stats file (written every stats_interval)."""
        time.sleep(0.4)  # two writes of the stats file (stats_interval=200)
        path = self.scratch / "run" / f"mount{str(mountpoint).replace('/', '-')}.json"
        try:
            st = json.loads(path.read_text())
            return st["inodes_known"], st["directory_descriptors"]
        except (OSError, ValueError, KeyError):
            return None, None

    def big_maildir_mode(self, cache):
        n = self.args.big_maildir
        deliveries = self.args.deliveries or max(min(n // 100, 2000), 10)
        limit = self.args.fd_limit
        back = self.scratch / f"big-{cache}"
        mnt = self.scratch / f"bigmnt-{cache}"
        box = back / "Maildir"
        for d in (mnt, box / "tmp", box / "new", box / "cur"):
            d.mkdir(parents=True)
        print(f"\n{self.args.tmp} ({fs_type(self.args.tmp)}), cache={cache}: a Maildir of {n:,} "
              f"messages, nfsguard under a limit of {limit} descriptors; one folder, raw "
              f"({back}) and through nfsguard ({mnt})", flush=True)
        done, s = self.big_run("populate", back, 0, "--files", n, "--folder", "Maildir/cur")
        if done is None:
            raise RuntimeError(f"filling {box}/cur: {s}")
        print(f"  fill, straight on the backing: {done:,} messages of 4 KiB in {s:.0f} s "
              f"({done / s:.0f}/s)", flush=True)
        state = {}

        def mount():
            if "m" in state:
                self.stop(state["m"], quiet=True)
                state["w"].stop()
            state["m"] = self.start_nfsguard(back, mnt, cache, "stats_interval=200",
                                             fd_limit=limit)
            state["w"] = FdWatch(state["m"].pid)
            return state["m"]

        phases = [  # name, program, ops, cold, mailbench arguments
            ("scan cold", "scan", 10**9, True, ["--folder", "Maildir/cur"]),
            (f"deliver {deliveries:,}", "maildir-rename", deliveries, False, []),
            ("scan warm", "scan", 10**9, False, ["--folder", "Maildir/cur"]),
        ]
        rows = []
        try:
            m = mount()
            soft, hard = fd_limits(m.pid)
            print(f"  nfsguard pid {m.pid}: descriptor limit {soft} soft, {hard} hard", flush=True)
            for name, program, ops, cold, extra in phases:
                speed, errors = {}, []
                for tag in ("raw", "via"):
                    if cold:
                        if tag == "via":
                            m = mount()
                            rows.append(("fresh mount", {}, [],
                                         self.resources(m, mnt, open_fds(m.pid) or 0)))
                        drop_caches()
                    state["w"].reset()
                    done, s = self.big_run(program, back if tag == "raw" else mnt, ops, *extra)
                    if done is None:
                        errors.append(f"{tag}: {s}")
                    else:
                        speed[tag] = done / s
                m = state["m"]
                rows.append((name, speed, errors, self.resources(m, mnt, state["w"].peak())))
                print(f"  {cache}: {name} done", file=sys.stderr, flush=True)
            # What bounds the table: the kernel's forgets. Dropping its
            # dentries and inodes sends FORGET for every one it let go.
            state["w"].reset()
            drop_caches()
            time.sleep(1.0)
            rows.append(("caches dropped", {}, [], self.resources(m, mnt, state["w"].peak())))
            # The same mount scans again: does the memory the forgets freed
            # serve the new entries, or does the process grow?
            speed, errors = {}, []
            for tag in ("raw", "via"):
                drop_caches()
                state["w"].reset()
                done, s = self.big_run("scan", back if tag == "raw" else mnt, 10**9, "--folder",
                                       "Maildir/cur")
                if done is None:
                    errors.append(f"{tag}: {s}")
                else:
                    speed[tag] = done / s
            rows.append(("scan cold again", speed, errors,
                         self.resources(m, mnt, state["w"].peak())))
            peak = proc_status(m.pid, "VmHWM")
            log_errors = [line for line in m.log().splitlines()
                          if re.search(r"too many open files|EMFILE|EBADF|bad file descr", line, re.I)]
        finally:
            if "m" in state:
                state["w"].stop()
                self.stop(state["m"], quiet=True)
            subprocess.run(["rm", "-rf", "--one-file-system", str(back)], check=False)

        print(f"{'phase':16} {'ratio':>5} {'raw op/s':>9} {'nfsg op/s':>9}  {'RSS MiB':>7} "
              f"{'fds':>4} {'most':>4} {'inodes':>7} {'dir fds':>7}  failed calls")
        for name, speed, errors, (rss, fds, most, inodes, dir_fds) in rows:
            ratio = (f"{speed['via'] / speed['raw']:5.2f}" if "raw" in speed and "via" in speed
                     else "    -")
            raw = f"{speed['raw']:9.0f}" if "raw" in speed else "        -"
            via = f"{speed['via']:9.0f}" if "via" in speed else "        -"
            print(f"{name:16} {ratio} {raw} {via}  {mib(rss):>7} {fds or '?':>4} {most:>4} "
                  f"{inodes if inodes is not None else '?':>7} "
                  f"{dir_fds if dir_fds is not None else '?':>7}  "
                  f"{'; '.join(errors) if errors else 'none'}")
        print(f"nfsguard peak RSS (VmHWM): {mib(peak)} MiB; descriptor limit {soft}/{hard}; "
              f"log lines about descriptors: {len(log_errors)}")
        for line in log_errors[:5]:
            print(f"  {line}")
        sys.stdout.flush()

    def resources(self, m, mountpoint, most_fds):
        """nfsguard's RSS (kB), descriptors now and the most seen, and its
        inode table, after a phase."""
        inodes, dir_fds = self.inodes_known(mountpoint)
        fds = open_fds(m.pid)
        return (proc_status(m.pid, "VmRSS"), fds, max(most_fds, fds or 0), inodes, dir_fds)


def kinds_of(per_op):
    """nfsguard's (or faultfs's) calls per operation, by kind."""
    kinds = {"backing": 0.0, "channel": 0.0, "identity": 0.0, "other": 0.0}
    for k, v in per_op.items():
        kind = ("channel" if k in FUSE_CHANNEL else "identity" if k in IDENTITY
                else "other" if k in THREADING else "backing")
        kinds[kind] += v
    # Threads of nfsguard's own (guard, stats) run meanwhile: a count of a
    # run less a run of none can come out a little below zero.
    return {k: max(v, 0.0) for k, v in kinds.items()}


def requests(per_op):
    """FUSE requests faultfs answered per operation: one reply (writev) each;
    each is one NFS round trip in the latency mode."""
    return max(per_op.get("writev", 0.0), 0.0)


def renames(per_op):
    """Renames faultfs made per operation. Where the program renames nothing
    (maildir-link), each is a file unlinked while still open through faultfs
    (.fuse_hidden), what an NFS client turns into a .nfsXXXX silly rename."""
    return max(sum(v for k, v in per_op.items() if k.startswith("rename")), 0.0)


def summarize(title, results, counts, latency=False, references=()):
    print(f"\n{title}")
    for name in references:
        print(f"  {name}: ratio of {REFERENCES[name][0]} (median of the same rounds)")
    head = (f"{'workload':18} {'ratio':>5} {'spread':>11} {'raw op/s':>9} {'nfsg op/s':>9}")
    head += "".join(f" {name:>5}" for name in references)
    if latency:
        head += f"  {'req/op':>8} {'via':>5}  {'renames':>7} {'via':>5}"
    else:
        head += f"  {'sc/op raw':>9} {'backing':>7} {'FUSE ch':>7} {'ident':>5} {'other':>5}"
    print(head)
    def ratios(rounds, tag):
        return [r[tag] / r["raw"] for r in rounds if r["raw"] > 0]

    for name, rounds in results.items():
        via_ratios = ratios(rounds, "via")
        raw = statistics.median(r["raw"] for r in rounds)
        via = statistics.median(r["via"] for r in rounds)
        line = (f"{name:18} {statistics.median(via_ratios):5.2f} "
                f"{min(via_ratios):5.2f}-{max(via_ratios):5.2f} {raw:9.0f} {via:9.0f}")
        for ref in references:
            line += f" {statistics.median(ratios(rounds, ref)):5.2f}"
        row = counts.get(name)
        if row and latency:
            line += (f"  {requests(row['raw']):8.1f} {requests(row['via']):5.1f}  "
                     f"{renames(row['raw']):7.2f} {renames(row['via']):5.2f}")
        elif row:
            raw_total = max(sum(row["raw"].values()), 0.0)
            k = kinds_of(row["via"])
            line += (f"  {raw_total:9.1f} {k['backing']:7.1f} {k['channel']:7.1f} "
                     f"{k['identity']:5.1f} {k['other']:5.1f}")
        print(line)
    sys.stdout.flush()


def fs_type(path):
    """The filesystem type of path, as findmnt names it."""
    r = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)],
                       capture_output=True, text=True, check=False)
    return r.stdout.strip() or "?"


def cpu_idle():
    """The guest's idle driver and halt polling: on a VM, a FUSE request
    wakes a halted vCPU twice, and how long that takes moves every ratio
    (here, 200 us of halt polling made nfsguard's create + unlink 1.8x
    faster and left the raw directory's as it was)."""
    def read(path):
        try:
            return Path(path).read_text().strip()
        except OSError:
            return None
    driver = read("/sys/devices/system/cpu/cpuidle/current_driver") or "none"
    poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    return f"cpuidle {driver}" + (f", guest_halt_poll_ns={poll}" if poll is not None else "")


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="each workload briefly (a smoke run)")
    p.add_argument("--rounds", type=int, default=0, help="rounds (default 5; quick 2)")
    p.add_argument("--cache", default="shared,pinned", help="cache modes to run")
    p.add_argument("--workloads", default="", help="comma-separated subset")
    p.add_argument("--no-faultfs", action="store_true", help="skip the latency mode")
    p.add_argument("--no-strace", action="store_true", help="skip the system call counts")
    p.add_argument("--latency-us", type=int, default=200)
    p.add_argument("--options", default="", help="more nfsguard -o options (timestamps=server)")
    p.add_argument("--reference", default="",
                   help="also measure libfuse's passthrough_ll in the local mode's rounds: "
                   + ", ".join(f"{k} ({v[0]})" for k, v in REFERENCES.items()))
    p.add_argument("--tmp", default="/tmp", help="where the scratch (backing) directory goes")
    p.add_argument("--big-maildir", type=int, nargs="?", const=200000, default=0, metavar="N",
                   help="instead of the workloads: a Maildir of N messages (default 200000) "
                   "scanned and delivered into with nfsguard under --fd-limit")
    p.add_argument("--deliveries", type=int, default=0,
                   help="messages delivered into the big Maildir (default N/100, at most 2000)")
    p.add_argument("--fd-limit", type=int, default=1024,
                   help="nfsguard's RLIMIT_NOFILE, soft and hard, for --big-maildir")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run.py: needs root (mounts, drop_caches, strace -p)")
    references = [r for r in args.reference.split(",") if r]
    if any(r not in REFERENCES for r in references):
        sys.exit(f"run.py: --reference takes {', '.join(REFERENCES)}")
    for binary in (NFSGUARD, MAILBENCH, FAULTFS) + ((PASSTHROUGH_LL,) if references else ()):
        if not binary.exists():
            sys.exit(f"run.py: {binary} missing (build first; NFSGUARD_BUILD picks the build)")
    workloads = WORKLOADS
    if args.workloads:
        wanted = set(args.workloads.split(","))
        workloads = [w for w in WORKLOADS if w.name in wanted]
    signal.signal(signal.SIGTERM, interrupted)

    bench = Bench(args)
    print(f"nfsguard mail benchmark: {platform.node()}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, {cpu_idle()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"build {BUILD}, scratch {bench.scratch} ({'quick' if args.quick else 'full'}"
          f"{', -o ' + args.options if args.options else ''})")
    try:
        if args.big_maildir:
            for cache in args.cache.split(","):
                bench.big_maildir_mode(cache)
            return 0
        for i, cache in enumerate(args.cache.split(",")):
            refs = references if i == 0 else []  # they have no cache modes
            results, counts = bench.local_mode(cache, workloads, refs)
            summarize(f"{args.tmp} ({fs_type(args.tmp)}), cache={cache}: ratio = nfsguard / raw directory "
                      "(sc/op: system calls per operation; raw program, then nfsguard's)",
                      results, counts, references=refs)
        if not args.no_faultfs:
            for cache in args.cache.split(","):
                results, counts = bench.latency_mode(cache, workloads)
                summarize(f"faultfs with {args.latency_us} us per call, cache={cache}: ratio = "
                          "nfsguard on faultfs / straight on faultfs (req/op: requests faultfs "
                          "served per operation, straight, then under nfsguard)", results, counts,
                          latency=True)
        if not args.no_strace:
            print(f"\nper-call breakdown: {bench.scratch / 'syscalls.txt'}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 1
    finally:
        bench.cleanup()
        if not args.no_strace and (bench.scratch / "syscalls.txt").exists():
            keep = Path("/tmp") / f"{bench.scratch.name}-syscalls.txt"
            shutil.move(bench.scratch / "syscalls.txt", keep)
            print(f"(moved to {keep})")
        if not any(pt.startswith(f"{bench.scratch}/") for pt in mounts.fuse_mounts()):
            subprocess.run(["rm", "-rf", "--one-file-system", str(bench.scratch)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
