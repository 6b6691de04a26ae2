"""The Debian package `cpack -G DEB` makes from a build: what it holds, what
it says of itself, and that it installs and goes away again without a trace.

The install test runs dpkg on this machine (as root), so it first makes sure
the machine has no nfsguard package and none of the package's files, and
whatever happens it purges what it installed."""

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("NFSGUARD_BUILD", REPO / "build"))

FILES = {
    "usr/sbin/nfsguard",
    "usr/lib/systemd/system/nfsguard@.service",
    "usr/share/man/man8/nfsguard.8.gz",
    "usr/share/doc/nfsguard/examples/nfsguard.conf.example",
}


def run(*argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=240, **kw)
    assert not check or r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"
    return r


@pytest.fixture(scope="module")
def deb():
    """The package, made from the build into a directory of its own."""
    out = Path(tempfile.mkdtemp(prefix="nfsguard-deb-"))
    try:
        run("cpack", "--config", str(BUILD / "CPackConfig.cmake"), "-G", "DEB", "-B", str(out))
        debs = list(out.glob("*.deb"))
        assert len(debs) == 1, debs
        yield debs[0]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def data_tar(deb):
    return subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True, timeout=60).stdout


def members(deb):
    with tarfile.open(fileobj=io.BytesIO(data_tar(deb))) as tar:
        return {m.name.removeprefix("./"): m for m in tar.getmembers()}


def extract(deb, member):
    with tarfile.open(fileobj=io.BytesIO(data_tar(deb))) as tar:
        return tar.extractfile(f"./{member}").read()


def field(deb, name):
    return run("dpkg-deb", "--field", str(deb), name).stdout.strip()


def test_the_package_holds_binary_unit_man_page_and_example_and_nothing_else(deb):
    found = members(deb)
    files = {name for name, m in found.items() if not m.isdir()}
    assert files == FILES
    for name, m in found.items():
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), name
        assert name == "usr" or name.startswith("usr/"), name
    assert found["usr/sbin/nfsguard"].mode & 0o777 == 0o755
    assert all(found[f].mode & 0o777 == 0o644 for f in FILES - {"usr/sbin/nfsguard"})


def test_the_unit_runs_the_packaged_binary(deb):
    unit = extract(deb, "usr/lib/systemd/system/nfsguard@.service").decode()
    assert "ExecStart=/usr/sbin/nfsguard -f -o ${NFSGUARD_OPTIONS} ${BACKING} %f" in unit
    assert "@" not in unit.split("ExecStart=")[1].splitlines()[0]


def test_the_man_page_is_compressed_as_debian_wants(deb):
    gz = extract(deb, "usr/share/man/man8/nfsguard.8.gz")
    # gzip -9n: no file name, no time stamp (reproducible), best compression
    assert gz[:3] == b"\x1f\x8b\x08" and gz[3] & 0x08 == 0 and gz[4:8] == b"\0\0\0\0"
    assert gz[8] == 2
    r = subprocess.run(["gzip", "-dc"], input=gz, capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == (REPO / "systemd" / "nfsguard.8").read_bytes()


def test_the_control_fields_name_the_package_and_what_it_needs(deb):
    assert field(deb, "Package") == "nfsguard"
    assert field(deb, "Version") == re.search(
        r"project\(nfsguard VERSION ([0-9.]+)", (REPO / "CMakeLists.txt").read_text()).group(1)
    assert field(deb, "Architecture") == run("dpkg", "--print-architecture").stdout.strip()
    assert field(deb, "Section") == "admin" and field(deb, "Priority") == "optional"
    assert field(deb, "Maintainer") and field(deb, "Description").startswith("FUSE filesystem")
    depends = {d.split()[0] for d in field(deb, "Depends").split(", ")}
    # what the binary is linked against, found by dpkg-shlibdeps, and fuse3
    # for mount.fuse3 and fusermount3
    for package in ("fuse3", "libfuse3-3", "libc6", "libstdc++6"):
        assert package in depends, depends
    assert any(d.startswith("libspdlog") for d in depends), depends
    assert any(d.startswith("libfmt") for d in depends), depends
    assert deb.name == f"nfsguard_{field(deb, 'Version')}_{field(deb, 'Architecture')}.deb"


def test_the_maintainer_scripts_only_reload_systemd_where_it_runs(deb):
    control = Path(tempfile.mkdtemp(prefix="nfsguard-deb-control-"))
    try:
        run("dpkg-deb", "--control", str(deb), str(control))
        scripts = sorted(p.name for p in control.iterdir() if p.name not in ("control", "md5sums"))
        assert scripts == ["postinst", "postrm"]
        for name in scripts:
            script = control / name
            assert os.access(script, os.X_OK), name
            run("sh", "-n", str(script))
            text = script.read_text()
            assert "[ -d /run/systemd/system ]" in text and "daemon-reload" in text, name
        md5sums = (control / "md5sums").read_text()
        assert all(f in md5sums for f in FILES)
    finally:
        shutil.rmtree(control, ignore_errors=True)


def dpkg_knows_nfsguard():
    r = run("dpkg-query", "-W", "-f", "${db:Status-Status}", "nfsguard", check=False)
    return r.returncode == 0 and r.stdout.strip() not in ("", "not-installed")


@pytest.fixture
def installing(deb):
    """Lets the test install the package, and purges it afterwards whatever
    happened. Skips when the machine has an nfsguard package or any of its
    files already: those are not this test's to replace or remove."""
    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root")
    if dpkg_knows_nfsguard():
        pytest.skip("an nfsguard package is installed on this machine")
    present = [f for f in FILES if os.path.lexists(f"/{f}")]
    if present:
        pytest.skip(f"files of the package exist already: {present}")
    yield deb
    if dpkg_knows_nfsguard():
        run("dpkg", "--purge", "nfsguard", check=False)


def test_the_package_installs_runs_and_is_removed_without_a_trace(installing):
    deb = installing
    run("dpkg", "--install", str(deb))
    assert run("dpkg-query", "-W", "-f", "${Status}", "nfsguard").stdout == \
        "install ok installed"
    for f in FILES:
        assert os.path.isfile(f"/{f}"), f
    version = run("/usr/sbin/nfsguard", "--version")
    assert field(deb, "Version") in version.stdout + version.stderr
    man = run("man", "--warnings", "-l", "/usr/share/man/man8/nfsguard.8.gz",
              env={**os.environ, "MANWIDTH": "80"})
    assert man.stderr == "" and "SYNOPSIS" in man.stdout and "nfsguard" in man.stdout
    listed = set(run("dpkg-query", "-L", "nfsguard").stdout.split())

    run("dpkg", "--remove", "nfsguard")
    # no conffiles, so a removal leaves nothing but dpkg's memory of the name
    left = [p for p in listed if os.path.lexists(p) and not os.path.isdir(p)]
    assert left == []
    assert not os.path.exists("/usr/share/doc/nfsguard")
    run("dpkg", "--purge", "nfsguard")
    assert not dpkg_knows_nfsguard()
    assert [p for p in listed if p.startswith(("/usr/share/doc/nfsguard", "/usr/sbin/nfsguard",
                                                "/usr/lib/systemd/system/nfsguard"))
            and os.path.lexists(p)] == []
