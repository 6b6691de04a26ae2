"""Real Postfix and Dovecot, from Debian's packages, as private instances.

Everything an instance needs lives under one directory of the test's: its
configuration (made from the files in postfix/ and dovecot/ here), queue,
logs and sockets. It listens on 127.0.0.1 only, on ports the test picks, and
touches nothing of the machine's own mail setup. Test users are created and
removed by the test. stop() is safe to call twice and kills what a clean
stop left behind: nothing may outlive a test.
"""

import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER_PREFIX = "ngmail"  # test users are ngmail1, ngmail2, ...


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(template, values):
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"{template}: unfilled {left}"
    return text


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


class User:
    def __init__(self, name, kind, mail_root):
        self.name = name
        self.kind = kind  # "mbox" or "maildir"
        self.home = Path(mail_root) / "home" / name
        entry = pwd.getpwnam(name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.password = f"pw-{name}"

    @property
    def address(self):
        return f"{self.name}@e2e.test"


def remove_test_users():
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(USER_PREFIX):
            subprocess.run(["userdel", entry.pw_name], capture_output=True, check=False)
    for entry in grp.getgrall():
        if entry.gr_name.startswith(USER_PREFIX):
            subprocess.run(["groupdel", entry.gr_name], capture_output=True, check=False)


def create_test_users(kinds, mail_root):
    """Unix users (Postfix's local delivery needs them); homes under the mail root."""
    remove_test_users()  # a crashed run's leftovers
    users = []
    for i, kind in enumerate(kinds, 1):
        name = f"{USER_PREFIX}{i}"
        home = Path(mail_root) / "home" / name
        run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell",
             "/usr/sbin/nologin", "--user-group", name])
        users.append(User(name, kind, mail_root))
    return users


def prepare_mail_root(root, users):
    """The layout an administrator would have on the export: the mbox spool
    at the root (root:mail 2775, as /var/mail), homes below it, and a
    .forward naming each Maildir user's Maildir. `root` is where it is made:
    the mail root itself, or the export while no mount can write there."""
    root = Path(root)
    os.chown(root, 0, grp.getgrnam("mail").gr_gid)
    root.chmod(0o2775)
    (root / "home").mkdir(exist_ok=True)
    (root / "home").chmod(0o755)
    for u in users:
        home = root / "home" / u.name
        home.mkdir(exist_ok=True)
        os.chown(home, u.uid, u.gid)
        home.chmod(0o700)
        if u.kind == "maildir":
            forward = home / ".forward"
            forward.write_text(f"{u.home}/Maildir/\n")
            os.chown(forward, u.uid, u.gid)
            forward.chmod(0o644)


def _kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _processes_under(marker):
    """Pids of processes whose command line or cwd names MARKER (an instance's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in cmd or cwd.startswith(marker):
            found.append(int(entry.name))
    return found


def dovecot_problems(log):
    """Dovecot's log lines of trouble. With the server's clock off, none
    either: Dovecot checks a new dot-lock's ctime against its clock, and
    nfsguard reports ctimes on this host's clock."""
    return [line for line in log.splitlines()
            if re.search(r"(Error|Panic|Fatal|Warning):", line)]


class Instance:
    """What a private Postfix and a private Dovecot have alike: a log file,
    and loopback ports that answer once the daemon is up."""
    log_path: Path

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_listening(self, *ports, seconds=30):
        deadline = time.monotonic() + seconds
        for port in ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{type(self).__name__} did not listen on {port}: "
                                           f"{self.log()}")
                    time.sleep(0.2)


class Postfix(Instance):
    """A private Postfix: `postfix -c DIR start`, SMTP on 127.0.0.1:port."""

    def __init__(self, root, spool):
        self.root = Path(root)
        self.conf = self.root / "etc"
        self.queue = self.root / "queue"
        self.log_path = self.root / "maillog"
        self.port = free_port()
        for d in (self.conf, self.queue, self.root / "data"):
            d.mkdir(parents=True, exist_ok=True)
        os.chown(self.root / "data", pwd.getpwnam("postfix").pw_uid, -1)
        values = {
            "QUEUE": self.queue, "DATA": self.root / "data", "MAILLOG": self.log_path,
            "SPOOL": spool, "SMTP_ADDRESS": f"127.0.0.1:{self.port}",
        }
        for name in ("main.cf", "master.cf"):
            (self.conf / name).write_text(fill(HERE / "postfix" / name, values))
        self.started = False

    def postfix(self, *args):
        return run(["postfix", "-c", str(self.conf), *args])

    def start(self):
        self.postfix("check")
        self.postfix("start")
        self.started = True
        self.wait_listening(self.port)

    def queued(self):
        """Messages still in the queue (incoming, active, deferred, maildrop)."""
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _dir, _subdirs, files in os.walk(self.queue / sub):
                n += len(files)
        return n

    def flush(self):
        run(["postqueue", "-c", str(self.conf), "-f"])

    def stop(self):
        if self.started:
            subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True,
                           timeout=60, check=False)
            self.started = False
        time.sleep(0.2)
        _kill_all(_processes_under(str(self.root)))
        _kill_all(_processes_under(str(self.conf)))


class Dovecot(Instance):
    """A private Dovecot: IMAP and LMTP on 127.0.0.1 ports, passwd-file users."""

    def __init__(self, root, users, mail_root):
        self.root = Path(root)
        self.conf = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.passwd = self.root / "passwd"
        self.imap_port, self.lmtp_port = free_port(), free_port()
        base, state = self.root / "run", self.root / "state"
        for d in (base, state):
            d.mkdir(parents=True, exist_ok=True)
        values = {
            "BASE_DIR": base, "STATE_DIR": state, "LOG": self.log_path, "PASSWD": self.passwd,
            "IMAP_PORT": self.imap_port, "LMTP_PORT": self.lmtp_port,
        }
        self.conf.write_text(fill(HERE / "dovecot" / "dovecot.conf", values))
        lines = []
        for u in users:
            home = Path(mail_root) / "home" / u.name
            if u.kind == "maildir":
                mail = "maildir:~/Maildir"
            else:  # INBOX in the spool at the mail root, folders in ~/mail
                mail = f"mbox:~/mail:INBOX={Path(mail_root) / u.name}"
            lines.append(f"{u.name}:{u.password}:{u.uid}:{u.gid}::{home}::userdb_mail={mail}")
        self.passwd.write_text("\n".join(lines) + "\n")
        self.passwd.chmod(0o644)
        self.started = False

    def start(self):
        # The daemon keeps the descriptors it was given: no pipes to wait on.
        with open(self.root / "start.log", "w") as out:
            r = subprocess.run(["dovecot", "-c", str(self.conf)], stdout=out,
                               stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot: exit {r.returncode}: "
                               f"{(self.root / 'start.log').read_text()}")
        self.started = True
        self.wait_listening(self.imap_port, self.lmtp_port)

    def doveadm(self, *args):
        return run(["doveadm", "-c", str(self.conf), *args])

    def mail_state(self, user):
        """id -> (mailbox, flags) as Dovecot sees it (doveadm fetch)."""
        out = self.doveadm("fetch", "-u", user, "mailbox flags hdr.x-e2e-id", "mailbox", "*").stdout
        state, record = {}, {}
        for line in out.splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                continue
            record[key.strip()] = value.strip()
            if key.strip() == "hdr.x-e2e-id":  # the last field asked for ends a record
                state[value.strip()] = (record.get("mailbox"), record.get("flags", ""))
                record = {}
        return state

    def stop(self):
        if self.started:
            subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True,
                           timeout=60, check=False)
            self.started = False
            deadline = time.monotonic() + 10
            while _processes_under(str(self.root)) and time.monotonic() < deadline:
                time.sleep(0.2)
        _kill_all(_processes_under(str(self.root)))
