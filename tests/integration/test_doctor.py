"""nfsguard doctor on a real mount (its rules are unit-tested from fixtures,
tests/unit/doctor_test.cpp): what it gathers from the system, its exit
status and its JSON. No NFS here: the NFS checks say so; the real-NFS lane
runs it on NFS."""

import json
import os
import subprocess
import time

import mounts

NFSGUARD = str(mounts.NFSGUARD)


def doctor(*args):
    r = subprocess.run([NFSGUARD, "doctor", *map(str, args)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode in (0, 1, 2), r.stderr
    return r


def findings(result):
    return {f["check"]: f for f in json.loads(result.stdout)["findings"]}


def test_doctor_sees_nfsguard_its_state_and_the_mount_point_beneath(scratch, mount_factory):
    back, mnt, run = scratch / "back", scratch / "mnt", scratch / "run"
    for d in (back, mnt, run):
        d.mkdir()
    os.chmod(mnt, 0o1777)  # a mount point mail users could write to
    (mnt / "lost-mail").write_text("delivered while nothing was mounted")
    mount_factory(back, mnt, f"run_dir={run}", "stats_interval=100", "cache=pinned")
    deadline = time.monotonic() + 10
    while not list(run.glob("*.json")):  # its stats file: written once it serves
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = doctor("--json", "--run-dir", run, mnt)
    found = findings(r)
    assert found["nfsguard.mounted"]["level"] == "ok"
    assert found["nfsguard.attached"]["level"] == "ok"
    assert found["nfsguard.cache"]["level"] == "warn"  # pinned
    assert found["nfs.mount"]["level"] == "warn"  # a local directory under it
    assert found["nfs.lock_taken"]["level"] == "ok"
    # Beneath the mount (looked at in a mount namespace of its own): the
    # writable mount point and the file hidden under it.
    assert found["mountpoint.bare"]["level"] == "warn", found["mountpoint.bare"]
    assert "chmod 0755" in found["mountpoint.bare"]["fix"]
    assert found["mountpoint.hidden"]["level"] == "warn"
    status = json.loads(r.stdout)["status"]
    assert status == r.returncode and status >= 1
    # Nothing it made is left, and the mount is still there for everyone.
    assert sorted(os.listdir(back)) == []
    assert str(mnt) in mounts.fuse_mounts()


def test_doctor_without_nfsguard_fails_and_says_how_to_fix_it(scratch):
    plain = scratch / "plain"
    plain.mkdir()
    r = doctor(plain)
    assert r.returncode == 2
    line = next(l for l in r.stdout.splitlines() if "nfsguard.mounted" in l)
    assert line.startswith("fail") and "-- fix: systemctl enable --now nfsguard@" in line
    assert os.listdir(plain) == []
