"""`nfsguard stats` and the Prometheus text file show what nfsguard hid,
refused and measured."""

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultfs"))
import faultfs_control  # noqa: E402

NFSGUARD = str(mounts.NFSGUARD)
SAMPLE = re.compile(r'^(nfsguard_[a-z_]+)\{((?:[a-z_]+="[^"]*",?)+)\} (-?[0-9]+(?:\.[0-9]+)?)$')
LOCK_PROBE = Path(__file__).resolve().parent / "lock_probe.py"


def stats(run_dir, mnt, *args):
    r = subprocess.run([NFSGUARD, "stats", "--run-dir", str(run_dir), *args, str(mnt)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_for(check, seconds=5):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_prometheus(text):
    """A strict reading of the text exposition format: every sample's metric
    announced by HELP and TYPE first, once each, names and labels well formed,
    and each histogram whole: buckets with ascending `le` bounds and
    non-decreasing counts ending at +Inf, which equals its _count, and a
    _sum."""
    announced, kinds, samples = {}, {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert "HELP" not in announced.get(name, set()), f"announced twice: {line!r}"
            assert len(line.split(None, 3)) == 4, f"HELP without text: {line!r}"
            announced.setdefault(name, set()).add("HELP")
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in kinds, f"typed twice: {line!r}"
            assert kind != "counter" or name.endswith("_total"), line
            kinds[name] = kind
            announced.setdefault(name, set()).add("TYPE")
        else:
            m = SAMPLE.match(line)
            assert m, f"malformed sample: {line!r}"
            name = m.group(1)
            family = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES
                           if name.endswith(s) and kinds.get(name[:-len(s)]) == "histogram"),
                          name)
            assert announced.get(family) == {"HELP", "TYPE"}, f"not announced: {line!r}"
            assert (m.group(1), m.group(2)) not in samples, f"sample twice: {line!r}"
            has_le = re.search(r'(?:^|,)le="', m.group(2)) is not None
            assert has_le == (family != name and name.endswith("_bucket")), f"le: {line!r}"
            samples[(m.group(1), m.group(2))] = float(m.group(3))
    for family in (f for f, k in kinds.items() if k == "histogram"):
        check_histogram(family, samples)
    return samples


def check_histogram(family, samples):
    series = {}
    for (name, labels), value in samples.items():
        if name == f"{family}_bucket":
            le = re.search(r'(?:^|,)le="([^"]*)"', labels).group(1)
            rest = re.sub(r',?le="[^"]*"', "", labels)
            series.setdefault(rest, []).append((float(le), value))
    assert series, f"histogram {family} without buckets"
    for labels, buckets in series.items():
        bounds = [b for b, _ in buckets]
        counts = [c for _, c in buckets]
        assert bounds == sorted(set(bounds)) and bounds[-1] == float("inf"), (family, bounds)
        assert counts == sorted(counts), (family, labels, counts)
        assert samples[(f"{family}_count", labels)] == counts[-1], (family, labels)
        assert samples[(f"{family}_sum", labels)] >= 0, (family, labels)


def test_stats_show_hidden_false_errors_and_write_prometheus_text(scratch, mount_factory):
    back, fault, mnt, run = (scratch / n for n in ("back", "fault", "mnt", "run"))
    for d in (back, fault, mnt):
        d.mkdir()
    ffs = faultfs_control.start_faultfs(back, fault, scratch / "ff.sock", scratch / "ff.log")
    mount_factory.started.append(ffs)
    mount_factory(fault, mnt, f"run_dir={run}", "stats_interval=100")
    (mnt / "a").write_text("x")
    ffs.control.lost_reply("rename", "b", 1)
    os.rename(mnt / "a", mnt / "b")

    def hidden():
        return json.loads(stats(run, mnt, "--json"))["false_errors_hidden"]["rename"] == 1
    assert wait_for(hidden)
    data = json.loads(stats(run, mnt, "--json"))
    assert data["mountpoint"] == str(mnt)
    assert data["backing_attached"] is True
    human = stats(run, mnt)
    assert re.search(r"^false_errors_hidden\.rename\s+1$", human, re.M), human

    prom = next(run.glob("*.prom")).read_text()
    samples = parse_prometheus(prom)
    assert samples[("nfsguard_false_errors_hidden_total", f'mount="{mnt}",op="rename"')] == 1
    assert samples[("nfsguard_backing_attached", f'mount="{mnt}"')] == 1


def test_stats_show_a_detached_backing_and_refused_writes(scratch, mount_factory):
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    back.mkdir()
    mnt.mkdir()
    mount_factory(back, mnt, "backing_fs=nfs", f"run_dir={run}", "stats_interval=100")
    for _ in range(3):
        try:
            (mnt / "msg").write_text("x")
        except OSError:
            pass

    def refused():
        data = json.loads(stats(run, mnt, "--json"))
        # at least one refusal a write: the VFS retries an ESTALE open once itself
        return data["backing_attached"] is False and data["writes_refused"] >= 3
    assert wait_for(refused), stats(run, mnt)
    samples = parse_prometheus(next(run.glob("*.prom")).read_text())
    assert samples[("nfsguard_backing_attached", f'mount="{mnt}"')] == 0
    assert samples[("nfsguard_writes_refused_total", f'mount="{mnt}"')] >= 3


def prometheus_of(run):
    return parse_prometheus(next(run.glob("*.prom")).read_text())


def test_stats_count_and_time_the_requests_of_each_operation(scratch, mount_factory):
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    back.mkdir()
    mnt.mkdir()
    mount_factory(back, mnt, f"run_dir={run}", "stats_interval=100")
    for i in range(7):
        (mnt / f"tmp{i}").write_text("x")
        os.rename(mnt / f"tmp{i}", mnt / f"new{i}")
    for i in range(3):
        assert not (mnt / f"absent{i}").exists()

    def counted():
        requests = json.loads(stats(run, mnt, "--json"))["requests"]
        return requests["rename"]["count"] >= 7 and requests["lookup"]["errors"] >= 3
    assert wait_for(counted), stats(run, mnt)
    data = json.loads(stats(run, mnt, "--json"))
    rename = data["requests"]["rename"]
    assert rename["errors"] == 0 and rename["seconds"] > 0
    assert rename["buckets"][-1] == rename["count"]
    assert len(rename["buckets"]) == len(data["latency_buckets_seconds"]) + 1
    assert data["requests"]["create"]["count"] >= 7
    human = stats(run, mnt)
    row = re.search(r"^rename\s+(\d+)\s+0\s+\S+ [mu]?s\s+(<=|>) \S+ [mu]?s$", human, re.M)
    assert row and int(row.group(1)) >= 7, human

    def in_prometheus():
        samples = prometheus_of(run)
        return samples[("nfsguard_request_duration_seconds_count",
                        f'mount="{mnt}",op="rename"')] >= 7
    assert wait_for(in_prometheus)
    samples = prometheus_of(run)
    labels = f'mount="{mnt}",op="rename"'
    assert samples[("nfsguard_request_duration_seconds_sum", labels)] > 0
    assert samples[("nfsguard_request_errors_total", labels)] == 0
    assert samples[("nfsguard_request_errors_total", f'mount="{mnt}",op="lookup"')] >= 3


@pytest.fixture
def held_lock(scratch, mount_factory):
    """(mount point, run dir, locked file, its fd holding a write lock)."""
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    back.mkdir()
    mnt.mkdir()
    mount_factory(back, mnt, f"run_dir={run}", "stats_interval=100")
    path = mnt / "mbox"
    path.write_text("")
    fd = os.open(path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    yield mnt, run, path, fd
    os.close(fd)


def start_waiter(path, alarm):
    """A process blocked in F_SETLKW on `path` (under alarm(ALARM))."""
    return subprocess.Popen([sys.executable, str(LOCK_PROBE), "setlkw", str(path), str(alarm)],
                            stdout=subprocess.PIPE, text=True)


def test_stats_count_a_lock_wait_and_the_time_it_waited(held_lock):
    mnt, run, path, fd = held_lock
    waiter = start_waiter(path, 30)
    try:
        assert wait_for(lambda: json.loads(stats(run, mnt, "--json"))["lock_waits_now"] == 1)
        seen_waiting = time.monotonic()
        time.sleep(1)
        # the wait began before it was seen and ends after the unlock began
        held = time.monotonic() - seen_waiting
        fcntl.lockf(fd, fcntl.LOCK_UN)
        assert waiter.communicate(timeout=10)[0].strip() == "ok"
    finally:
        waiter.kill()
        waiter.wait()

    def counted():
        return json.loads(stats(run, mnt, "--json"))["lock_waits"]["count"] == 1
    assert wait_for(counted), stats(run, mnt)
    waits = json.loads(stats(run, mnt, "--json"))["lock_waits"]
    assert waits["seconds"] >= held and waits["failed"] == 0, (waits, held)
    assert re.search(r"^lock_waits\.count\s+1$", stats(run, mnt), re.M)
    assert wait_for(lambda: prometheus_of(run)[
        ("nfsguard_lock_wait_seconds_count", f'mount="{mnt}"')] == 1)
    assert prometheus_of(run)[("nfsguard_lock_wait_seconds_sum", f'mount="{mnt}"')] >= held


def test_stats_count_a_lock_wait_ended_by_a_signal_as_failed(held_lock):
    mnt, run, path, _ = held_lock
    waiter = start_waiter(path, 1)
    try:
        assert waiter.communicate(timeout=10)[0].strip() == "EINTR"
    finally:
        waiter.kill()
        waiter.wait()

    def failed():
        waits = json.loads(stats(run, mnt, "--json"))["lock_waits"]
        return waits["count"] == 1 and waits["failed"] == 1
    assert wait_for(failed), stats(run, mnt)
    assert wait_for(lambda: prometheus_of(run)[
        ("nfsguard_lock_waits_failed_total", f'mount="{mnt}"')] == 1)


def test_stats_of_a_path_without_nfsguard_is_one_line(scratch):
    r = subprocess.run([NFSGUARD, "stats", "--run-dir", str(scratch), str(scratch)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "no stats" in r.stderr


def published(scratch, mount_factory):
    """nfsguard over scratch/back, its stats files written; (mount point, run dir, mount)."""
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    back.mkdir()
    mnt.mkdir()
    nfsguard = mount_factory(back, mnt, f"run_dir={run}", "stats_interval=100")
    assert wait_for(lambda: len(list(run.glob("mount*"))) == 2)
    return mnt, run, nfsguard


def test_a_clean_stop_takes_its_published_files_away(scratch, mount_factory):
    mnt, run, nfsguard = published(scratch, mount_factory)
    data = json.loads(stats(run, mnt, "--json"))
    assert data["pid"] == nfsguard.pid
    samples = prometheus_of(run)
    assert samples[("nfsguard_info", f'mount="{mnt}",pid="{nfsguard.pid}"')] == 1
    assert abs(samples[("nfsguard_stats_written_timestamp_seconds", f'mount="{mnt}"')]
               - time.time()) < 60
    assert nfsguard.close() == 0
    assert list(run.iterdir()) == [], "a textfile collector would export a guard that is gone"


def test_the_files_of_a_crashed_instance_are_told_stale(scratch, mount_factory):
    mnt, run, nfsguard = published(scratch, mount_factory)
    nfsguard.proc.kill()
    nfsguard.close()
    assert len(list(run.glob("mount*"))) == 2, "a crash removes nothing"
    r = subprocess.run([NFSGUARD, "stats", "--run-dir", str(run), str(mnt)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert f"stale: pid {nfsguard.pid} that wrote them is gone" in r.stderr
    samples = prometheus_of(run)
    assert samples[("nfsguard_info", f'mount="{mnt}",pid="{nfsguard.pid}"')] == 1
