"""`nfsguard stats` and the Prometheus text file show what nfsguard hid,
refused and measured."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultfs"))
import faultfs_control  # noqa: E402

NFSGUARD = str(mounts.NFSGUARD)
SAMPLE = re.compile(r'^(nfsguard_[a-z_]+)\{((?:[a-z_]+="[^"]*",?)+)\} (-?[0-9]+(?:\.[0-9]+)?)$')


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


def parse_prometheus(text):
    """A strict reading of the text exposition format: every sample's metric
    announced by HELP and TYPE first, names and labels well formed."""
    announced, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            announced.setdefault(line.split()[2], set()).add("HELP")
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge"), line
            announced.setdefault(name, set()).add("TYPE")
        else:
            m = SAMPLE.match(line)
            assert m, f"malformed sample: {line!r}"
            assert announced.get(m.group(1)) == {"HELP", "TYPE"}, f"not announced: {line!r}"
            samples[(m.group(1), m.group(2))] = float(m.group(3))
    return samples


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


def test_stats_of_a_path_without_nfsguard_is_one_line(scratch):
    r = subprocess.run([NFSGUARD, "stats", "--run-dir", str(scratch), str(scratch)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "no stats" in r.stderr
