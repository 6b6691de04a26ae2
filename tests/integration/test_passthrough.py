"""What a process sees through nfsguard is what it sees on the raw directory.

fsprobe.py runs the same operations on a raw directory and through a mount
over another directory of the same filesystem; every result, errno, mode,
owner, link count, size, content and listing must be the same.
"""

import json
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("fsprobe.py")
USER, GROUP, SPOOL_GROUP = 4242, 4243, 4250


def run_probe(scenario, root, *extra, user=None, groups=()):
    cmd = [sys.executable, str(PROBE), scenario, str(root), *map(str, extra)]
    if user is not None:
        group_opt = f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"
        cmd = ["setpriv", f"--reuid={user}", f"--regid={GROUP}", group_opt, *cmd]
    out = subprocess.run(cmd, capture_output=True, timeout=180, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else []


def assert_same(raw, through):
    diffs = [f"{a}\n   through nfsguard: {b}" for a, b in zip(raw, through) if a != b]
    assert not diffs, "differences:\n" + "\n".join(diffs)
    assert len(raw) == len(through)


def results(log):
    return {what: (status, value) for what, status, value in log}


def test_root_sees_the_same_as_on_the_raw_directory(scratch, guarded):
    back, mnt, _ = guarded
    raw = scratch / "raw"
    raw.mkdir()
    raw_log = run_probe("root", raw)
    mnt_log = run_probe("root", mnt)
    assert_same(raw_log, mnt_log)
    r = results(raw_log)
    # The probe really exercised what it claims (a silent probe proves nothing).
    assert r["create excl again"] == ("err", "EEXIST")
    assert r["rename dir onto non-empty"][1] in ("ENOTEMPTY", "EEXIST")
    assert r["exchange"] == ("ok", True)
    assert r["owner"][1]["uid"] == 4242
    assert len(raw_log) > 100


def test_an_unprivileged_user_sees_the_same_as_on_the_raw_directory(scratch, guarded):
    back, mnt, _ = guarded
    raw = scratch / "raw"
    raw.mkdir()
    for root in (raw, mnt):
        run_probe("prepare-user", root, USER, GROUP, SPOOL_GROUP)
    raw_log = run_probe("user", raw, user=USER, groups=[SPOOL_GROUP])
    mnt_log = run_probe("user", mnt, user=USER, groups=[SPOOL_GROUP])
    assert_same(raw_log, mnt_log)
    r = results(raw_log)
    assert r["read private"] == ("err", "EACCES"), "the probe did not run unprivileged"
    assert r["group spool write"][0] == "ok"
    assert r["group spool owner"][1]["gid"] == SPOOL_GROUP  # setgid spool directory
    assert r["own file"][1]["uid"] == USER
    # And on the backing store itself, the user's files belong to the user.
    assert (back / "open" / "mine").stat().st_uid == USER
    assert (back / "open" / "mydir").stat().st_uid == USER


def test_without_the_spool_group_the_spool_is_closed(scratch, guarded):
    back, mnt, _ = guarded
    run_probe("prepare-user", mnt, USER, GROUP, SPOOL_GROUP)
    r = results(run_probe("user", mnt, user=USER))
    assert r["group spool write"] == ("err", "EACCES")
