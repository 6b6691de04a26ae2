#!/bin/bash
# guest.sh -- the systemd lane inside the VM (run.sh boots it; the unit
# nfsguard-lane.service runs this at every boot). /var/lib/lane/phase says
# which phase this boot is for; each check appends "PASS name: detail" or
# "FAIL name: detail" to /shared/out/results.txt. The last phase writes
# /shared/out/finished and powers off; the others reboot (qemu exits, and
# run.sh boots the same disk again).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
OUT=/shared/out
RESULTS=$OUT/results.txt
MAIL="python3 /shared/mail.py"
UNIT=nfsguard@var-mail.service
PHASE=$(cat /var/lib/lane/phase)

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
pass() { echo "PASS $PHASE/$1: $2" >> "$RESULTS"; log "PASS $1: $2"; }
fail() { echo "FAIL $PHASE/$1: $2" >> "$RESULTS"; log "FAIL $1: $2"; }
# check NAME DETAIL CONDITION: PASS when the shell condition holds (eval'd
# here, so it sees the caller's variables).
check() {
    if eval "$3"; then pass "$1" "$2"; else fail "$1" "$2"; fi
}
show() { systemctl show -P "$2" "$1"; }
main_pid() { show "$UNIT" MainPID; }
mount_id() { awk '$5 == "/var/mail" {id = $1} END {print id}' /proc/self/mountinfo; }
fstype() { findmnt -n -o FSTYPE --mountpoint /var/mail | tail -1; }
# nfsguard's stats: attached (True/False), planned, crashes.
stat_of() {
    nfsguard stats --json /var/mail | python3 -c "import json, sys
d = json.load(sys.stdin)
print({'attached': d['backing_attached'], 'planned': d['restarts']['planned'],
       'crashes': d['restarts']['crashes']}[sys.argv[1]])" "$1" 2> /dev/null
}
# until_true SECONDS CONDITION: polls CONDITION (eval'd) every 0.5 s; false
# if it never held.
until_true() {
    local deadline=$((SECONDS + $1))
    until eval "$2"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
}
# What this boot's journal holds for a look afterwards: nfsguard's lines, and
# every warning.
keep_journal() {
    journalctl -b -u $UNIT --no-pager > "$OUT/journal-$PHASE-nfsguard.log" 2>&1
    journalctl -b -p warning --no-pager > "$OUT/journal-$PHASE-warnings.log" 2>&1
}
next_boot() {
    keep_journal
    echo "$1" > /var/lib/lane/phase
    sync
    log "phase $PHASE done: rebooting for $1"
    systemctl reboot
    exit 0
}
finish() {
    keep_journal
    touch "$OUT/finished"
    sync
    log "phase $PHASE done: powering off"
    systemctl poweroff
    exit 0
}

log "=== phase $PHASE (boot $(journalctl --list-boots 2> /dev/null | wc -l))"
# nfsguard's journal as it comes, for a boot that never ends.
journalctl -f -b -u $UNIT -o short-monotonic --no-pager >> "$OUT/journal-live.log" 2>&1 &
state=$(timeout 300 systemctl is-system-running --wait)
log "system: $state"
failed_units=$(systemctl list-units --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')
[ -n "$failed_units" ] && log "failed units: $failed_units"

# --- phase 1: install and enable, as an administrator does -----------------
phase_install() {
    check systemd "PID 1 is $(cat /proc/1/comm)" '[ "$(cat /proc/1/comm)" = systemd ]'
    # The lane's own core catcher (configure-root.sh): a SIGSEGV leaves a core.
    bash -c 'ulimit -c unlimited; exec sleep 30' &
    local sleeper=$!
    sleep 0.5 && kill -SEGV $sleeper && wait $sleeper
    local core=$OUT/cores/core.sleep.$sleeper.sig11.gz
    until_true 10 '[ -s "$core" ]'
    check core-catcher "a SIGSEGV'd sleep left: $(ls "$OUT/cores" 2> /dev/null | tr '\n' ' ')" \
        '[ -s "$core" ]'
    check nfs-mounted "/srv/nfs/mail is $(findmnt -n -o FSTYPE /srv/nfs/mail)" \
        '[ "$(findmnt -n -o FSTYPE /srv/nfs/mail)" = nfs4 ]'
    # The export's root as Debian's /var/mail is: root:mail 2775; bob's Maildir.
    chown root:mail /export && chmod 2775 /export
    install -d -o bob -g bob -m 0700 /export/bob.d
    dpkg -i /shared/nfsguard.deb > "$OUT/dpkg-install.log" 2>&1
    local drc=$?
    check dpkg-install "dpkg -i $(dpkg-query -W -f '${Version}' nfsguard): rc $drc" '[ $drc = 0 ]'
    check unit-known "systemd knows nfsguard@.service after the package's daemon-reload" \
        '[ "$(show $UNIT LoadState)" = loaded ]'
    # Before deploying: doctor says nfsguard is missing, and how to fix it.
    nfsguard doctor --json /var/mail > "$OUT/doctor-before.json"
    local rc=$?
    check doctor-before "exit $rc, nfsguard.mounted: $(finding doctor-before nfsguard.mounted)" \
        '[ $rc = 2 ] && [ "$(finding doctor-before nfsguard.mounted)" = fail ]'
    systemctl enable $UNIT
    check enabled "systemctl is-enabled: $(systemctl is-enabled $UNIT)" \
        '[ "$(systemctl is-enabled $UNIT)" = enabled ]'
    next_boot boot
}

# finding FILE CHECK: the levels doctor gave CHECK in $OUT/FILE.json (each once).
finding() {
    python3 -c "import json,sys
d = json.load(open('$OUT/$1.json'))
print(' '.join(sorted({f['level'] for f in d['findings'] if f['check'] == sys.argv[1]})) or 'none')" "$2"
}

# --- phase 2: a boot with nfsguard enabled ----------------------------------
holder_start() {
    rm -f /tmp/holder.stop /tmp/holder.errors
    $MAIL hold /var/mail/held /tmp/holder.stop /tmp/holder.errors &
    HOLDER=$!
    until_true 20 '[ -s /var/mail/held ]'
}
holder_errors() {
    local n
    n=$(grep -c . /tmp/holder.errors 2> /dev/null)
    echo "${n:-0}"
}
# The holder's lock reaches the server: seen held from the NFS mount itself.
lock_held() { [ "$(timeout 20 $MAIL probe /srv/nfs/mail/held)" = held ]; }
# kept HOW: after a restart of kind HOW, the mount is the one from before, the
# holder has seen no error and still holds its lock on the server.
kept() {
    local how=$1 id_after errors
    id_after=$(mount_id)
    errors=$(holder_errors)
    check "$how-mount-kept" "mount id $MOUNT_ID -> $id_after, $(fstype), active: $(systemctl is-active $UNIT)" \
        '[ "$id_after" = "$MOUNT_ID" ] && [ "$(fstype)" = fuse.nfsguard ] &&
         [ "$(systemctl is-active $UNIT)" = active ]'
    check "$how-holder" "a process working in /var/mail saw $errors errors" '[ "$errors" = 0 ]'
    check "$how-lock-kept" "its fcntl lock, from the server's side: $(timeout 20 $MAIL probe /srv/nfs/mail/held)" lock_held
}
# Whether this kernel sends again what a crashed nfsguard had read
# (FUSE_NOTIFY_RESEND, Linux 6.9): only then is a crash taken up.
resends() {
    local v=$(uname -r) major minor
    major=${v%%.*}
    minor=${v#*.}
    minor=${minor%%.*}
    [ "$major" -gt 6 ] || { [ "$major" = 6 ] && [ "$minor" -ge 9 ]; }
}
# crashed HOW WHAT PID SECONDS: after WHAT ended nfsguard (PID) without a
# word, systemd starts it again; with resend it takes the mount up, and the
# holder goes on; without, it mounts anew (README: the connection is given
# up), the dead connection's lock is let go, and a new holder works.
crashed() {
    local how=$1 what=$2 pid=$3 limit=$4 crashes started=$SECONDS
    crashes=$(journalctl -u $UNIT -b | grep -c "after a crash\|cannot be taken up")
    until_true "$limit" 'new_main_pid $pid && [ "$(journalctl -u $UNIT -b | grep -c "after a crash\|cannot be taken up")" -gt $crashes ]'
    if resends; then
        check "$how-taken-up" "$what: pid $pid -> $(main_pid) in $((SECONDS - started)) s, crashes counted: $(stat_of crashes)" \
            'new_main_pid $pid && journalctl -u $UNIT -b | grep -q "after a crash"'
        kept "$how"
        return
    fi
    check "$how-mounted-anew" "$what on $(uname -r) (no resend): pid $pid -> $(main_pid) in $((SECONDS - started)) s, mount id $MOUNT_ID -> $(mount_id), $(journalctl -u $UNIT -b | grep -o "cannot be taken up ([^)]*)" | tail -1)" \
        'new_main_pid $pid && [ "$(mount_id)" != "$MOUNT_ID" ] && [ "$(fstype)" = fuse.nfsguard ]'
    check "$how-lock-let-go" "the dead connection's lock, from the server's side: $(timeout 20 $MAIL probe /srv/nfs/mail/held)" \
        '[ "$(timeout 20 $MAIL probe /srv/nfs/mail/held)" = free ]'
    # The holder's cwd and file were in the mount that went.
    touch /tmp/holder.stop
    kill "$HOLDER" 2> /dev/null
    wait "$HOLDER" 2> /dev/null
    holder_start
    MOUNT_ID=$(mount_id)
    check "$how-new-holder" "a new holder in the new mount: $(holder_errors) errors, lock $(timeout 20 $MAIL probe /srv/nfs/mail/held)" \
        '[ "$(holder_errors)" = 0 ] && lock_held'
}
new_main_pid() { local p; p=$(main_pid); [ "$p" != 0 ] && [ "$p" != "$1" ] && [ "$(systemctl is-active $UNIT)" = active ]; }
delivered() { $MAIL count "$@" > /tmp/count.out; }

phase_boot() {
    check active-at-boot "$UNIT: $(systemctl is-active $UNIT), Type=$(show $UNIT Type), $(fstype) on /var/mail" \
        '[ "$(systemctl is-active $UNIT)" = active ] && [ "$(show $UNIT Type)" = notify ] &&
         [ "$(fstype)" = fuse.nfsguard ]'
    # Ordered: after the NFS mount was there, ready before Postfix and
    # Dovecot started.
    local mount_up ng_start ng_ready pf_start dc_start
    mount_up=$(show srv-nfs-mail.mount ActiveEnterTimestampMonotonic)
    ng_start=$(show $UNIT InactiveExitTimestampMonotonic)
    ng_ready=$(show $UNIT ActiveEnterTimestampMonotonic)
    pf_start=$(show postfix@-.service InactiveExitTimestampMonotonic)
    dc_start=$(show dovecot.service InactiveExitTimestampMonotonic)
    log "monotonic us: nfs mount up $mount_up, nfsguard started $ng_start, ready $ng_ready, postfix@- started $pf_start, dovecot started $dc_start"
    check order-after-nfs "NFS mounted at $mount_up us, nfsguard started at $ng_start us" \
        '[ "$mount_up" -gt 0 ] && [ "$mount_up" -le "$ng_start" ]'
    check order-before-postfix "nfsguard ready at $ng_ready us, postfix@- started at $pf_start us" \
        '[ "$ng_ready" -gt 0 ] && [ "$ng_ready" -le "$pf_start" ]'
    check order-before-dovecot "nfsguard ready at $ng_ready us, dovecot started at $dc_start us" \
        '[ "$ng_ready" -gt 0 ] && [ "$ng_ready" -le "$dc_start" ]'
    check attached "stats: attached $(stat_of attached)" '[ "$(stat_of attached)" = True ]'

    # Mail through Postfix and Dovecot onto NFS through nfsguard.
    $MAIL send smtp alice boot 20 > /tmp/send-smtp.out
    $MAIL send lmtp bob boot 20 > /tmp/send-lmtp.out
    until_true 120 'delivered alice boot 20'
    check postfix-delivery "20 by SMTP: $(head -1 /tmp/send-smtp.out), in alice's mbox: $(cat /tmp/count.out)" \
        'delivered alice boot 20'
    until_true 60 'delivered bob boot 20'
    check dovecot-delivery "20 by LMTP: $(head -1 /tmp/send-lmtp.out), in bob's Maildir: $(cat /tmp/count.out)" \
        'delivered bob boot 20'

    # Restarts under a process working in /var/mail with a lock held.
    holder_start
    check holder-started "a process holds /var/mail/held locked" lock_held
    MOUNT_ID=$(mount_id)
    local pid planned crashes
    pid=$(main_pid)
    planned=$(stat_of planned)
    systemctl reload $UNIT
    until_true 30 '[ "$(stat_of planned)" = $((planned + 1)) ]'
    check reload-in-place "systemctl reload: pid $pid -> $(main_pid), planned restarts $planned -> $(stat_of planned)" \
        '[ "$(main_pid)" = "$pid" ] && [ "$(stat_of planned)" = $((planned + 1)) ]'
    kept reload

    pid=$(main_pid)
    planned=$(stat_of planned)
    systemctl restart $UNIT
    until_true 30 '[ "$(stat_of planned)" = $((planned + 1)) ]'
    check restart-kept "systemctl restart: pid $pid -> $(main_pid), planned restarts $planned -> $(stat_of planned), the store holds $(show $UNIT NFileDescriptorStore)" \
        'new_main_pid $pid && [ "$(stat_of planned)" = $((planned + 1)) ]'
    kept restart

    pid=$(main_pid)
    systemctl kill -s KILL --kill-whom=main $UNIT
    crashed crash "SIGKILL" "$pid" 60
    # The journal has nfsguard's warnings with their priority.
    local said="after a crash"
    resends || said="cannot be taken up"
    journalctl -u $UNIT -b -o json > /tmp/journal.json
    local priorities
    priorities=$(python3 -c "import json
lines = [json.loads(l) for l in open('/tmp/journal.json')]
def at(text): return sorted({l.get('PRIORITY') for l in lines if text in str(l.get('MESSAGE'))})
print('$said:', at('$said'), '; mounted:', at(' on /var/mail (cache='))")
    check journal-priorities "$priorities" \
        'journalctl -u $UNIT -b -p warning | grep -q "$said" &&
         ! journalctl -u $UNIT -b -p warning | grep -q " on /var/mail (cache=" &&
         journalctl -u $UNIT -b -p info | grep -q " on /var/mail (cache="'

    # The watchdog: an nfsguard that stops answering is killed and started
    # again (WatchdogSec=30, then TimeoutAbortSec=15).
    pid=$(main_pid)
    kill -STOP "$pid"
    crashed watchdog "SIGSTOP" "$pid" 180

    # doctor on this setup, and on one with Dovecot's mmap left on.
    nfsguard doctor --json /var/mail > "$OUT/doctor-good.json"
    local rc=$?
    check doctor-good "exit $rc: $(levels doctor-good)" '[ $rc -le 1 ] && ! grep -q "\"level\":\"fail\"" $OUT/doctor-good.json'
    for c in nfs.hard nfsguard.mounted nfsguard.attached nfsguard.unit nfsguard.order nfsguard.after_nfs dovecot.mmap_disable; do
        check "doctor-good-$c" "$(finding doctor-good $c)" '[ "$(finding doctor-good $c)" = ok ]'
    done
    # local.conf comes last in dovecot.conf: the setting goes there.
    cp /etc/dovecot/local.conf /tmp/local.conf.good
    echo "mmap_disable = no" >> /etc/dovecot/local.conf
    nfsguard doctor --json /var/mail > "$OUT/doctor-bad.json"
    rc=$?
    cp /tmp/local.conf.good /etc/dovecot/local.conf
    check doctor-bad "mmap_disable = no: exit $rc, dovecot.mmap_disable $(finding doctor-bad dovecot.mmap_disable)" \
        '[ $rc = 2 ] && [ "$(finding doctor-bad dovecot.mmap_disable)" = fail ]'

    # An upgrade of the package while mail is delivered.
    pid=$(main_pid)
    planned=$(stat_of planned)
    $MAIL send smtp alice upgrade 30 0.2 > /tmp/up-smtp.out &
    local s1=$!
    $MAIL send lmtp bob upgrade 30 0.2 > /tmp/up-lmtp.out &
    local s2=$!
    sleep 2
    dpkg -i /shared/nfsguard-newer.deb > "$OUT/dpkg-upgrade.log" 2>&1
    local drc=$?
    wait $s1 $s2
    until_true 30 '[ "$(stat_of planned)" = $((planned + 1)) ]'
    check upgrade "dpkg -i $(dpkg-query -W -f '${Version}' nfsguard): rc $drc, pid $pid -> $(main_pid), exe $(readlink /proc/$(main_pid)/exe), planned restarts $planned -> $(stat_of planned)" \
        '[ $drc = 0 ] && [ "$(main_pid)" = "$pid" ] && [ "$(stat_of planned)" = $((planned + 1)) ] &&
         [ "$(readlink /proc/$pid/exe)" = /usr/sbin/nfsguard ]'
    kept upgrade
    # What the mail software saw, counted: Postfix takes every message; a
    # message LMTP refused for a moment its sender would send again.
    local refused
    refused=$(sed -n 's/^failed=//p' /tmp/up-lmtp.out | tr ',' '\n' | grep -c .)
    check upgrade-senders "SMTP: $(head -1 /tmp/up-smtp.out); LMTP: $(head -1 /tmp/up-lmtp.out)" \
        'grep -q "^ok=30 " /tmp/up-smtp.out'
    until_true 120 'delivered alice upgrade 30'
    check upgrade-postfix "in alice's mbox: $(cat /tmp/count.out)" 'delivered alice upgrade 30'
    delivered bob upgrade 30
    check upgrade-lmtp "in bob's Maildir: $(cat /tmp/count.out) ($refused refused)" \
        'grep -q "^once=$((30 - refused)) missing=$refused twice=0" /tmp/count.out'

    touch /tmp/holder.stop
    wait "$HOLDER"
    check holder-done "the holder's errors over all restarts: $(holder_errors)" '[ "$(holder_errors)" = 0 ]'

    # The next boot: the NFS server does not start.
    systemctl mask nfs-server.service
    next_boot noserver
}

# levels FILE: doctor's findings in $OUT/FILE.json, one "level check" each.
levels() {
    python3 -c "import json
d = json.load(open('$OUT/$1.json'))
print('; '.join(f['level'] + ' ' + f['check'] for f in d['findings']))"
}

# --- phase 3: a boot with the NFS server down -------------------------------
phase_noserver() {
    check nfs-missing "srv-nfs-mail.mount: $(systemctl is-active srv-nfs-mail.mount), nfsd: $(systemctl is-active nfs-server.service)" \
        '[ "$(systemctl is-active srv-nfs-mail.mount)" != active ]'
    check guard-up "$UNIT: $(systemctl is-active $UNIT), $(fstype) on /var/mail, attached: $(stat_of attached)" \
        '[ "$(systemctl is-active $UNIT)" = active ] && [ "$(fstype)" = fuse.nfsguard ] &&
         [ "$(stat_of attached)" = False ]'
    local err
    err=$(touch /var/mail/probe 2>&1)
    check guard-refuses "a write: ${err:-accepted}" '[ -n "$err" ]'
    # Mail at boot: Postfix takes it and defers it; Dovecot's LMTP says 4xx.
    $MAIL send smtp alice noserver 5 > /tmp/ns-smtp.out
    $MAIL send lmtp bob noserver 5 > /tmp/ns-lmtp.out
    until_true 60 '[ "$(postqueue -j 2> /dev/null | grep -c delay_reason)" = 5 ]'
    local deferred
    deferred=$(postqueue -j 2> /dev/null | grep -c delay_reason)
    check postfix-defers "SMTP: $(head -1 /tmp/ns-smtp.out); deferred in the queue: $deferred ($(postqueue -j 2> /dev/null | head -1 | grep -o '"delay_reason": *"[^"]*"'))" \
        'grep -q "^ok=5 " /tmp/ns-smtp.out && [ "$deferred" = 5 ]'
    check lmtp-4xx "LMTP: $(head -1 /tmp/ns-lmtp.out)" 'grep -q "^ok=0 temporary=5 " /tmp/ns-lmtp.out'
    check local-disk-clean "under the bare /srv/nfs/mail: $(ls -A /srv/nfs/mail | tr '\n' ' ')" \
        '[ -z "$(ls -A /srv/nfs/mail)" ]'
    # The server comes back; the mount is made; nfsguard attaches.
    systemctl unmask nfs-server.service
    systemctl start nfs-server.service
    systemctl start srv-nfs-mail.mount
    until_true 60 '[ "$(stat_of attached)" = True ]'
    check attaches "nfs: $(systemctl is-active srv-nfs-mail.mount), attached: $(stat_of attached)" \
        '[ "$(stat_of attached)" = True ]'
    # Writes stay refused for a moment after an attach (README, the guard).
    sleep 12
    postqueue -f
    until_true 120 'delivered alice noserver 5'
    check queue-flushed "in alice's mbox: $(cat /tmp/count.out)" 'delivered alice noserver 5'
    $MAIL send lmtp bob noserver 5 > /tmp/ns-lmtp2.out
    delivered bob noserver 5
    check lmtp-again "LMTP sent again: $(head -1 /tmp/ns-lmtp2.out); in bob's Maildir: $(cat /tmp/count.out)" \
        'delivered bob noserver 5'

    # stop unmounts; the package's removal and purge.
    systemctl stop $UNIT
    check stop-unmounts "after systemctl stop: $(fstype) on /var/mail, the store holds $(show $UNIT NFileDescriptorStore)" \
        '[ "$(fstype)" != fuse.nfsguard ]'
    dpkg -r nfsguard > "$OUT/dpkg-remove.log" 2>&1
    check dpkg-remove "left: $(ls -d /usr/sbin/nfsguard /lib/systemd/system/nfsguard@.service /etc/nfsguard/var-mail.conf /var/lib/nfsguard 2> /dev/null | tr '\n' ' ')" \
        '[ ! -e /usr/sbin/nfsguard ] && [ ! -e /lib/systemd/system/nfsguard@.service ] && [ -f /etc/nfsguard/var-mail.conf ]'
    dpkg -P nfsguard > "$OUT/dpkg-purge.log" 2>&1
    check dpkg-purge "status: $(dpkg-query -W -f '${db:Status-Status}' nfsguard 2>&1); left: $(ls -d /var/lib/nfsguard /etc/nfsguard/var-mail.conf 2> /dev/null | tr '\n' ' ')" \
        '[ ! -e /var/lib/nfsguard ] && [ -f /etc/nfsguard/var-mail.conf ]'
    finish
}

case $PHASE in
    install) phase_install ;;
    boot) phase_boot ;;
    noserver) phase_noserver ;;
    *) fail phase "unknown phase $PHASE"; finish ;;
esac
