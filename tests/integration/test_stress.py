"""Several processes, as root and as ordinary users, do mixed operations
through nfsguard for a bounded time; then the backing tree must be exactly
what their own records say it should be.

Each worker keeps a model (name -> contents) of its own directory and of the
messages it delivered into a shared Maildir-like directory, and checks every
read against it as it goes. NFSGUARD_STRESS_SECONDS sets the time (default 15).
"""

import json
import multiprocessing
import os
import random
import time

SECONDS = float(os.environ.get("NFSGUARD_STRESS_SECONDS", "15"))
WORKERS = [(0, 0), (0, 0), (4242, 4242), (4343, 4343)]


def become(uid, gid):
    if uid:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)


def worker(index, uid, gid, mnt, result_path):
    become(uid, gid)
    rng = random.Random(index)
    own = os.path.join(mnt, f"w{index}")
    shared_tmp = os.path.join(mnt, "shared", "tmp")
    shared_new = os.path.join(mnt, "shared", "new")
    # name -> object number, object number -> contents: hard links share contents.
    model, contents, delivered, errors, ops = {}, {}, {}, [], 0
    deadline = time.monotonic() + SECONDS

    def check(cond, what):
        if not cond:
            errors.append(what)

    while time.monotonic() < deadline and len(errors) < 20:
        ops += 1
        choice = rng.randrange(9)
        names = sorted(model)
        try:
            if choice == 0 or not names:
                name = f"f{ops}"
                data = f"{index}-{ops}-" + "x" * rng.randrange(0, 9000)
                with open(os.path.join(own, name), "x") as f:
                    f.write(data)
                model[name] = ops
                contents[ops] = data
            elif choice == 1:
                name = rng.choice(names)
                extra = f"+{ops}"
                with open(os.path.join(own, name), "a") as f:
                    f.write(extra)
                contents[model[name]] += extra
            elif choice == 2:
                name = rng.choice(names)
                with open(os.path.join(own, name)) as f:
                    check(f.read() == contents[model[name]], f"content of {name}")
            elif choice == 3:
                name = rng.choice(names)
                new = f"r{ops}"
                os.rename(os.path.join(own, name), os.path.join(own, new))
                model[new] = model.pop(name)
            elif choice == 4:
                name = rng.choice(names)
                os.unlink(os.path.join(own, name))
                del model[name]
            elif choice == 5:
                name = rng.choice(names)
                new = f"l{ops}"
                os.link(os.path.join(own, name), os.path.join(own, new))
                model[new] = model[name]
                check(os.stat(os.path.join(own, new)).st_nlink >= 2, f"nlink of {new}")
            elif choice == 6:
                name = rng.choice(names)
                size = rng.randrange(0, len(contents[model[name]]) + 1)
                os.truncate(os.path.join(own, name), size)
                contents[model[name]] = contents[model[name]][:size]
            elif choice == 7:
                # Maildir delivery: write in tmp/, fsync, link into new/, unlink tmp.
                base = f"{time.time_ns()}.P{index}Q{ops}.host"
                body = f"From: w{index}\n\nmessage {ops}\n"
                tmp = os.path.join(shared_tmp, base)
                with open(tmp, "x") as f:
                    f.write(body)
                    f.flush()
                    os.fsync(f.fileno())
                os.link(tmp, os.path.join(shared_new, base))
                os.unlink(tmp)
                delivered[base] = body
            else:
                listed = set(os.listdir(own))
                check(listed == set(model), f"listing of w{index}")
        except OSError as e:
            errors.append(f"op {choice}: {e}")
    with open(result_path, "w") as f:
        json.dump({"model": {name: contents[obj] for name, obj in model.items()},
                   "delivered": delivered, "errors": errors, "ops": ops}, f)


def test_mixed_operations_by_several_users_leave_exactly_the_expected_tree(scratch, guarded):
    back, mnt, m = guarded
    for sub in ("shared", "shared/tmp", "shared/new"):
        (mnt / sub).mkdir()
        os.chmod(mnt / sub, 0o1777)
    results = scratch / "results"
    results.mkdir()
    os.chmod(results, 0o777)
    procs = []
    for i, (uid, gid) in enumerate(WORKERS):
        (mnt / f"w{i}").mkdir()
        os.chown(mnt / f"w{i}", uid, gid)
        p = multiprocessing.Process(target=worker,
                                    args=(i, uid, gid, str(mnt), str(results / f"result{i}")))
        p.start()
        procs.append(p)
    for p in procs:
        p.join(SECONDS + 120)
        assert p.exitcode == 0

    total_ops = 0
    all_delivered = {}
    for i, (uid, _) in enumerate(WORKERS):
        result = json.loads((results / f"result{i}").read_text())
        assert result["errors"] == [], f"worker {i}: {result['errors']}"
        total_ops += result["ops"]
        own = back / f"w{i}"
        assert sorted(os.listdir(own)) == sorted(result["model"])
        for name, data in result["model"].items():
            assert (own / name).read_text() == data, f"w{i}/{name}"
            assert (own / name).stat().st_uid == uid
        all_delivered.update(result["delivered"])
    assert sorted(os.listdir(back / "shared" / "new")) == sorted(all_delivered)
    for name, body in all_delivered.items():
        assert (back / "shared" / "new" / name).read_text() == body
    assert os.listdir(back / "shared" / "tmp") == []
    assert m.proc.poll() is None, "nfsguard died"
    assert total_ops > 1000
    print(f"\n{total_ops} operations, {len(all_delivered)} deliveries")
