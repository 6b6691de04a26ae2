#!/usr/bin/python3
"""The restart gap: how long the mount does not answer while nfsguard
restarts (issue 17; README, "Speed").

    bash tests/bench/run.sh --restart-gap [--restarts N] [--tmp DIR]

nfsguard runs under the stand-in for systemd's descriptor store
(tests/integration/service_store.py) over a scratch directory on local
disk. A probe thread opens and closes a file through the mount without a
pause (each open reaches nfsguard: the kernel caches no open) and notes
when each one ended and whether it failed. Each kind of restart is done N
times (default 20), a moment apart:

  planned   SIGUSR1: restart in place (systemctl reload, a package upgrade)
  restart   systemctl restart: SIGTERM with a restart job queued, a new start
  crash     SIGKILL, and a new start that takes the mount up from the store
  remount   the reference, measured in the same run: SIGTERM with no job
            (the mount goes) and a new start that mounts afresh, which is
            what every restart and crash cost before issue 17

The gap of one restart is the longest time between two successful probes
around it: a probe that waits out the restart and probes that fail while
nothing is mounted both count. The table gives the median and the 99th
percentile over the N restarts (of 20, the largest), the ratio of the
median to the reference's, and the probes that failed.
"""

import argparse
import bisect
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import mounts  # noqa: E402
from service_store import ServiceStore  # noqa: E402

BUILD = Path(os.environ.get("NFSGUARD_BUILD", REPO / "build"))
NFSGUARD = BUILD / "nfsguard"
KINDS = ("planned", "restart", "crash", "remount")


class Probe(threading.Thread):
    """Opens and closes `path` until stopped; keeps when each open ended,
    successful ones and failed ones apart."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = str(path)
        self.ok, self.failed = [], []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                os.close(os.open(self.path, os.O_RDONLY))
                self.ok.append(time.monotonic())
            except OSError:
                self.failed.append(time.monotonic())
                time.sleep(0.0005)  # an empty mount point answers at once

    def stop(self):
        self.halt.set()
        self.join(timeout=30)

    def gap(self, at, within=10.0):
        """The longest time between two successful probes around `at`."""
        first = max(bisect.bisect_left(self.ok, at) - 1, 0)
        last = bisect.bisect_right(self.ok, at + within)
        ends = self.ok[first:last + 1]
        return max((b - a for a, b in zip(ends, ends[1:])), default=float("nan"))


def restart(store, kind):
    readies = store.count("READY")
    if kind == "planned":
        store.kill(signal.SIGUSR1)
    elif kind == "restart":
        store.restart()
    else:
        store.kill(signal.SIGKILL if kind == "crash" else signal.SIGTERM)
        store.wait_exit()
        store.start()
    if not store.wait_ready(readies + 1, timeout=30):
        raise RuntimeError(f"nfsguard did not come back ({kind}):\n{store.log()[-3000:]}")


def measure(kind, scratch, count):
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    for d in (back, mnt, run):
        d.mkdir()
    (back / "probe").write_text("probe")
    argv = [NFSGUARD, "-f", "-o", f"backing_fs=any,run_dir={run}", back, mnt]
    store = ServiceStore(argv, scratch / "nfsguard.log")
    try:
        store.start()
        if not (store.wait_ready(1) and store.wait_for(lambda: "fuse-record" in store.stored)):
            raise RuntimeError(store.log()[-3000:])
        probe = Probe(mnt / "probe")
        probe.start()
        events = []
        for _ in range(count):
            time.sleep(0.3)
            events.append(time.monotonic())
            restart(store, kind)
        time.sleep(0.3)
        probe.stop()
        return [probe.gap(t) for t in events], len(probe.failed), len(probe.ok)
    finally:
        store.close()
        if str(mnt) in mounts.fuse_mounts():
            mounts.lazy_unmount(mnt)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--restarts", type=int, default=20)
    ap.add_argument("--tmp", default=None, help="where the scratch directories go")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("restart_gap: run as root (it mounts)")
    print(f"restart gap: {args.restarts} restarts of each kind, nfsguard {NFSGUARD}, "
          f"kernel {os.uname().release}")
    results = {}
    for kind in KINDS:
        scratch = Path(tempfile.mkdtemp(prefix=f"nfsguard-gap-{kind}-", dir=args.tmp))
        try:
            results[kind] = measure(kind, scratch, args.restarts)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    reference = statistics.median(results["remount"][0])
    print(f"{'kind':<9} {'p50 ms':>8} {'p99 ms':>8} {'p50/remount':>12} {'probes':>8} "
          f"{'failed':>7}")
    for kind in KINDS:
        gaps, failed, ok = results[kind]
        p50 = statistics.median(gaps)
        print(f"{kind:<9} {p50 * 1e3:8.1f} {percentile(gaps, 99) * 1e3:8.1f} "
              f"{p50 / reference:12.2f} {ok + failed:8d} {failed:7d}")


if __name__ == "__main__":
    main()
