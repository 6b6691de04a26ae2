"""What a mail administrator installs and runs: the systemd unit (Type=notify),
the man page, and `cmake --install`. There is no systemd on the test machine
to start the unit under, so what can be checked without one is: the
readiness and status messages on a notify socket the test makes, the unit as
systemd-analyze reads it, the man page as man renders it, and the files
`cmake --install` lays down."""

import os
import socket
import subprocess

import pytest

import mounts

REPO = mounts.REPO


class NotifySocket(socket.socket):
    """systemd's $NOTIFY_SOCKET, read for state: the descriptors nfsguard
    keeps in the store (FDSTORE=1, tests/integration/test_restart.py) are
    passed over."""

    def recv(self, size):
        while True:
            data, ancdata, _, _ = self.recvmsg(size, socket.CMSG_SPACE(4 * 253))
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for fd in memoryview(payload[:len(payload) - len(payload) % 4]).cast("i"):
                        os.close(fd)
            if not data.startswith((b"FDSTORE=1", b"FDSTOREREMOVE=1")):
                return data


@pytest.fixture
def notify_socket(scratch):
    """A socket standing for systemd's $NOTIFY_SOCKET: (socket, path)."""
    path = scratch / "notify.sock"
    sock = NotifySocket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    yield sock, path
    sock.close()


@pytest.fixture
def dirs(scratch):
    back, mnt = scratch / "back", scratch / "mnt"
    back.mkdir()
    mnt.mkdir()
    return back, mnt


def test_readiness_and_status_are_sent_to_systemd(dirs, notify_socket, mount_factory):
    (back, mnt), (sock, sock_path) = dirs, notify_socket
    m = mount_factory(back, mnt, "backing_fs=nfs",
                      env={**os.environ, "NOTIFY_SOCKET": str(sock_path)})
    ready = sock.recv(4096).decode()
    assert ready.startswith("READY=1\n"), ready
    assert f"STATUS=serving {back} on {mnt}, backing NOT attached" in ready
    m.close()
    assert sock.recv(4096).decode() == "STOPPING=1"


def test_the_watchdog_is_pinged_while_requests_are_served(scratch, dirs, notify_socket,
                                                          mount_factory):
    (back, mnt), (sock, sock_path) = dirs, notify_socket
    mount_factory(back, mnt, f"run_dir={scratch}",
                  env={**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"})
    messages = [sock.recv(4096).decode() for _ in range(4)]
    assert messages[0].startswith("READY=1")
    assert messages[1:] == ["WATCHDOG=1"] * 3


def test_no_watchdog_pings_when_systemd_asks_for_none(scratch, dirs, notify_socket,
                                                      mount_factory):
    (back, mnt), (sock, sock_path) = dirs, notify_socket
    mount_factory(back, mnt, f"run_dir={scratch}",
                  env={**os.environ, "NOTIFY_SOCKET": str(sock_path)})
    assert sock.recv(4096).decode().startswith("READY=1")
    sock.settimeout(1.5)
    try:
        extra = sock.recv(4096).decode()
    except socket.timeout:
        extra = None
    assert extra is None, extra


def test_the_unit_is_valid_for_systemd(scratch):
    unit_in = (REPO / "systemd" / "nfsguard@.service.in").read_text()
    units = scratch / "units"
    units.mkdir()
    (units / "nfsguard@.service").write_text(
        unit_in.replace("@NFSGUARD_SBIN@", str(mounts.NFSGUARD.parent)))
    man8 = scratch / "man" / "man8"
    man8.mkdir(parents=True)
    (man8 / "nfsguard.8").symlink_to(REPO / "systemd" / "nfsguard.8")
    r = subprocess.run(["systemd-analyze", "verify", str(units / "nfsguard@var-mail.service")],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MANPATH": str(scratch / "man")})
    complaints = [l for l in (r.stdout + r.stderr).splitlines() if "nfsguard" in l]
    assert complaints == [], complaints


def test_the_man_page_renders_without_warnings():
    r = subprocess.run(["man", "--warnings", "-l", str(REPO / "systemd" / "nfsguard.8")],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "MANWIDTH": "80"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    for section in ("SYNOPSIS", "OPTIONS", "FSTAB", "SYSTEMD", "STATS", "EXIT STATUS"):
        assert section in r.stdout


def test_cmake_install_lays_down_binary_unit_man_page_and_example(scratch):
    prefix = scratch / "prefix"
    r = subprocess.run(["cmake", "--install", str(mounts.BUILD), "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for path in ("sbin/nfsguard", "lib/systemd/system/nfsguard@.service",
                 "share/man/man8/nfsguard.8.gz",
                 "share/doc/nfsguard/examples/nfsguard.conf.example"):
        assert (prefix / path).exists(), path
    assert os.access(prefix / "sbin/nfsguard", os.X_OK)
    unit = (prefix / "lib/systemd/system/nfsguard@.service").read_text()
    # the unit names the binary where this install put it
    assert f"ExecStart={prefix}/sbin/nfsguard -f -o ${{NFSGUARD_OPTIONS}} ${{BACKING}} %f" in unit


def test_under_systemd_log_lines_carry_their_journal_priority(scratch, dirs, mount_factory):
    back, mnt = dirs
    m = mount_factory(back, mnt, "backing_fs=nfs", f"run_dir={scratch}",
                      env={**os.environ, "JOURNAL_STREAM": "8:12345"})
    m.close()
    lines = m.log().splitlines()
    assert any(l.startswith("<3>backing NOT attached") for l in lines), lines  # an error
    assert any(l.startswith("<6>mounted ") for l in lines), lines  # information
    r = subprocess.run([str(mounts.NFSGUARD), "-f", str(back / "absent"), str(mnt)],
                       capture_output=True, text=True, timeout=30,
                       env={**os.environ, "JOURNAL_STREAM": "8:12345"})
    assert r.returncode == 1 and r.stderr.startswith("<3>nfsguard: cannot open backing")
