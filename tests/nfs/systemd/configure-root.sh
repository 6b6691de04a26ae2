#!/bin/bash
# configure-root.sh ROOT HERE -- the systemd lane's guest, set up on the
# host in the image's root tree (run.sh): what an administrator sets up
# before installing nfsguard. nfsguard itself is installed in the guest.
set -euo pipefail
ROOT=$1
HERE=$2
in_root() { chroot "$ROOT" "$@"; }

# Disks and mounts. The NFS export is the second disk; /var/mail's NFS mount
# is on /srv/nfs/mail, nfsguard on /var/mail with it as its backing, so that
# an NFS mount that comes after nfsguard is taken up. retry=0: with the
# server down (the last boot) the mount fails at once instead of after
# mount.nfs's two minutes; nofail: the boot goes on without it, and is then
# not ordered before remote-fs.target: x-systemd.before orders nfsguard
# after it, as the README tells administrators.
cat > "$ROOT/etc/fstab" << 'EOF'
/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/vdb /export ext4 defaults 0 2
shared /shared 9p trans=virtio,version=9p2000.L,msize=512000,cache=none,nofail 0 0
127.0.0.1:/export /srv/nfs/mail nfs vers=4.2,hard,nofail,retry=0,x-systemd.after=nfs-server.service,x-systemd.before=nfsguard@var-mail.service 0 0
EOF
mkdir -p "$ROOT/srv/nfs/mail" "$ROOT/export" "$ROOT/shared"
chmod 0755 "$ROOT/srv/nfs/mail"
# The server's grace period (90 s by default) would hold the first opens.
mkdir -p "$ROOT/etc/nfs.conf.d"
printf '[nfsd]\ngrace-time=10\nlease-time=10\n' > "$ROOT/etc/nfs.conf.d/lane.conf"
echo nfsvm > "$ROOT/etc/hostname"
echo nfsvm.localdomain > "$ROOT/etc/mailname"

# The mail users: alice gets mail from Postfix (mbox), bob from Dovecot's
# LMTP (Maildir), both under /var/mail.
in_root useradd -m -u 1001 alice
in_root useradd -m -u 1002 bob

# Postfix: local delivery into /var/mail, on 127.0.0.1 only.
cat > "$ROOT/etc/postfix/main.cf" << 'EOF'
compatibility_level = 3.6
myhostname = nfsvm.localdomain
mydestination = $myhostname, nfsvm, localhost.localdomain, localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
mail_spool_directory = /var/mail
mailbox_delivery_lock = fcntl, dotlock
biff = no
EOF
# Dovecot: IMAP and LMTP on 127.0.0.1, Maildir under /var/mail, set up as
# its NFS documents say (nfsguard doctor checks these).
cat > "$ROOT/etc/dovecot/local.conf" << 'EOF'
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain
# bob@nfsvm is the system user bob.
auth_username_format = %Ln
mail_location = maildir:/var/mail/%u.d
mmap_disable = yes
mail_fsync = always
mail_nfs_storage = yes
mail_nfs_index = yes
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 24
  }
}
EOF

# nfsguard's instance for /var/mail, as its example configuration says.
mkdir -p "$ROOT/etc/nfsguard"
cat > "$ROOT/etc/nfsguard/var-mail.conf" << 'EOF'
BACKING=/srv/nfs/mail
NFSGUARD_OPTIONS=backing_fs=nfs,stats_interval=1000
EOF

# A crash of nfsguard leaves its core, compressed, in /shared/out/cores
# (run.sh prints its stack): a lane that saw a SIGSEGV once must not leave
# only a line in the journal. SIGABRT is the watchdog's own kill: no core.
mkdir -p "$ROOT/etc/systemd/system/nfsguard@.service.d" "$ROOT/usr/local/sbin"
printf '%s\n' '#!/bin/sh' '[ "$3" = 6 ] && exit 0' \
    'mkdir -p /shared/out/cores && exec gzip -1 > "/shared/out/cores/core.$1.$2.sig$3.gz"' \
    > "$ROOT/usr/local/sbin/lane-core"
chmod 755 "$ROOT/usr/local/sbin/lane-core"
echo 'kernel.core_pattern=|/usr/local/sbin/lane-core %e %p %s' > "$ROOT/etc/sysctl.d/50-lane-cores.conf"
printf '[Service]\nLimitCORE=infinity\n' > "$ROOT/etc/systemd/system/nfsguard@.service.d/lane-cores.conf"

# The lane's own unit: guest.sh at every boot, once the boot is done.
cat > "$ROOT/etc/systemd/system/nfsguard-lane.service" << 'EOF'
[Unit]
Description=nfsguard systemd lane (tests/nfs/systemd)
After=multi-user.target shared.mount
Requires=shared.mount
[Service]
Type=exec
ExecStart=/bin/bash /shared/guest.sh
StandardOutput=append:/shared/out/guest.log
StandardError=append:/shared/out/guest.log
[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable nfsguard-lane.service
# Nothing to log in on, nothing to wait for.
in_root systemctl mask serial-getty@ttyS0.service getty@tty1.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer 2> /dev/null || true
mkdir -p "$ROOT/var/lib/lane"
echo install > "$ROOT/var/lib/lane/phase"
