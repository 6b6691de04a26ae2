#!/usr/bin/env bash
# The demo (README, command 1): installs what nfsguard needs, builds and
# installs it, mounts it on top of a mail directory (the way it sits on top
# of /var/mail) and shows it at work. Leaves nothing mounted.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build nfsguard
cmake --install build >/dev/null  # /usr/local/sbin/nfsguard: mount -t fuse.nfsguard finds it there

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
as() { local user=$1; shift; setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups "$@"; }

mail=$(mktemp -d /var/tmp/nfsguard-demo.XXXXXX)
chmod 755 "$mail"
trap 'cd /; fusermount3 -u -z "$mail" 2>/dev/null || true; rm -rf "$mail"' EXIT
printf 'From alice  Thu Nov 26 10:00:00 2026\nSubject: before\n\nwritten before the mount\n' >"$mail/mbox"
mkdir -p "$mail/nobody/tmp" "$mail/nobody/new" "$mail/nobody/cur"
chown -R nobody:nogroup "$mail/nobody"
chmod 700 "$mail/nobody"

say "mount nfsguard on top of $mail itself (BACKING = MOUNTPOINT)"
# backing_fs=any: the demo's mail directory is local; in production BACKING is
# an NFS mount, and on anything else nfsguard refuses writes (the guard).
nfsguard -o log_level=warn,backing_fs=any "$mail" "$mail"
findmnt -o TARGET,SOURCE,FSTYPE,OPTIONS "$mail"

say "what was there before is seen through it"
ls -l "$mail"
cat "$mail/mbox"

say "user nobody delivers a message Maildir-style: write in tmp/, fsync, link into new/, unlink tmp/"
cd "$mail/nobody"
as nobody /usr/bin/python3 - <<'PY'
import os
fd = os.open("tmp/1.demo", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, b"Subject: hello\n\ndelivered through nfsguard\n")
os.fsync(fd); os.close(fd)
os.link("tmp/1.demo", "new/1.demo"); os.unlink("tmp/1.demo")
PY
cd /
ls -ln "$mail/nobody/new"
echo "(owned by nobody: every call runs with the caller's uid, gid and groups)"

say "another user cannot read it: the backing filesystem's permission check, for the caller"
as daemon cat "$mail/nobody/new/1.demo" || echo "daemon was refused, as it would be on the backing store"

say "unmount: the message is in the backing directory"
fusermount3 -u "$mail"
cat "$mail/nobody/new/1.demo"

say "the same with an fstab line (mount -T reads a given fstab file)"
printf '%s %s fuse.nfsguard _netdev,nofail,noauto,log_level=warn,backing_fs=any 0 0\n' "$mail" "$mail" >"$mail.fstab"
mount -T "$mail.fstab" "$mail"
findmnt -n -o TARGET,FSTYPE "$mail"
umount "$mail"
rm -f "$mail.fstab"
say "done: nothing is left mounted"
