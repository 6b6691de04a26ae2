#!/bin/bash
# in-vm.sh -- the guest half of the real-NFS lane (run-lane.sh boots the VM).
#
# Runs as root inside the nfsvm guest (../shared/nfsvm), started with
# NFSVM_NOMOUNT=1: nfsd exports /export (ext4, server side); this script makes
# its own NFS mounts. For each NFS version and each of rename, link, mkdir,
# symlink, unlink, rmdir it provokes a real lost-reply false error:
#
#   block the server's replies (nft, tcp sport 2049), start the call, wait
#   until /export shows the server has done it, `rpc.nfsd 0` (the duplicate
#   request cache and v4.1 session reply cache are dropped), `ss -K` both TCP
#   ends, unblock, `rpc.nfsd 8`: the client reconnects and retransmits, the
#   server does the call again and answers ENOENT / EEXIST.
#
# first straight on the NFS mount (the control: the caller must see the false
# error), then through nfsguard mounted on top of the NFS mount point itself
# (the caller must see success, the tree must be right, and nfsguard must have
# logged "hid a false E... from OP of ..."). One result line per (version, op)
# goes to $NFSVM_OUT/results.txt; run-lane.sh prints them.
#
# Env (forwarded by run-lane.sh): LANE_VERS ("3 4.2"), LANE_OPS, LANE_NFS_OPTS.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NFSGUARD=$HERE/nfsguard
FSOP=$HERE/fsop.py
OUT=${NFSVM_OUT:?run me through run-lane.sh}
EXPORT=${NFSVM_EXPORT:-/export}
VERS=${LANE_VERS:-"3 4.2"}
OPS=${LANE_OPS:-"rename link mkdir symlink unlink rmdir"}
NFS_OPTS=${LANE_NFS_OPTS:-"hard,timeo=10,retrans=2"}
RESULTS=$OUT/results.txt
: > "$RESULTS"

say() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }

# --- nfsguard: started in the background, always unmounted at exit ----------
NG_PID='' NG_MP=''
stop_nfsguard() {
    [ -n "$NG_MP" ] || return 0
    if grep -q " $NG_MP fuse.nfsguard " /proc/mounts; then
        umount "$NG_MP" 2>/dev/null || { say "umount $NG_MP failed, lazy unmount"; umount -l "$NG_MP"; }
    fi
    for _ in $(seq 1 100); do kill -0 "$NG_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$NG_PID" 2>/dev/null; then
        say "nfsguard (pid $NG_PID) still running 10 s after unmount: SIGKILL"
        kill -9 "$NG_PID"
    fi
    wait "$NG_PID" 2>/dev/null
    say "nfsguard on $NG_MP stopped (exit status $?)"
    NG_PID='' NG_MP=''
}
cleanup() {
    nft delete table inet lane 2>/dev/null
    [ -d /proc/fs/nfsd ] && [ "$(cat /proc/fs/nfsd/threads 2>/dev/null)" = 0 ] && rpc.nfsd 8
    stop_nfsguard
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_nfsguard() {  # start_nfsguard MOUNTPOINT LOG
    local mp=$1 log=$2
    "$NFSGUARD" -f -o backing_fs=nfs,state_dir= "$mp" "$mp" > "$log" 2>&1 &
    NG_PID=$! NG_MP=$mp
    for _ in $(seq 1 150); do
        grep -q " $mp fuse.nfsguard " /proc/mounts && { say "nfsguard (pid $NG_PID) mounted on $mp"; return 0; }
        kill -0 "$NG_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "nfsguard did not mount on $mp; its log:"; cat "$log"
    kill "$NG_PID" 2>/dev/null; wait "$NG_PID" 2>/dev/null
    NG_PID='' NG_MP=''
    return 1
}

# --- the lost-reply recipe ----------------------------------------------------
block()      { nft -f - <<'NFT'
table inet lane {
    chain out { type filter hook output priority 0; tcp sport 2049 drop; }
}
NFT
}
unblock()    { nft delete table inet lane 2>/dev/null; }
kill_conns() { ss -K -t '( sport = :2049 or dport = :2049 )' > /dev/null 2>&1; }

expected_error() {
    case $1 in rename | unlink | rmdir) echo ENOENT ;; *) echo EEXIST ;; esac
}

# Prepares directory $1 (path through the mount under test) for op $2, warms
# the client's caches (the caller's lookups must not need an RPC while the
# replies are blocked), prints the fsop arguments.
prepare() {
    local d=$1 op=$2
    mkdir "$d" || return 1
    case $op in
        rename | link) echo data > "$d/src" ;;
        unlink) echo data > "$d/victim" ;;
        rmdir) mkdir "$d/victim" ;;
    esac
    ls -la "$d" > /dev/null
    stat "$d"/src "$d"/dst "$d"/lnk "$d"/new "$d"/sym "$d"/victim > /dev/null 2>&1
    sync
    case $op in
        rename) echo "$d/src $d/dst" ;;
        link) echo "$d/src $d/lnk" ;;
        mkdir) echo "$d/new" ;;
        symlink) echo "target-of-$op $d/sym" ;;
        unlink | rmdir) echo "$d/victim" ;;
    esac
}

# Has the server done op $2 in server-side directory $1?
server_done() {
    local s=$1
    case $2 in
        rename) [ -e "$s/dst" ] ;;
        link) [ -e "$s/lnk" ] ;;
        mkdir) [ -d "$s/new" ] ;;
        symlink) [ -L "$s/sym" ] ;;
        unlink | rmdir) [ ! -e "$s/victim" ] ;;
    esac
}

# Is the end state right on the server? $1 server-side dir, $2 op, $3 inode
# number of src before the call (rename).
server_state() {
    local s=$1 op=$2 ino=$3
    case $op in
        rename) [ ! -e "$s/src" ] && [ -f "$s/dst" ] && [ "$(stat -c %i "$s/dst")" = "$ino" ] ;;
        link) [ "$(stat -c %i "$s/lnk")" = "$(stat -c %i "$s/src")" ] && [ "$(stat -c %h "$s/src")" = 2 ] ;;
        mkdir) [ -d "$s/new" ] ;;
        symlink) [ "$(readlink "$s/sym")" = target-of-symlink ] ;;
        unlink | rmdir) [ ! -e "$s/victim" ] ;;
    esac
}

# Does the caller see that state? $1 the directory through the mount, $2 op.
caller_state() {
    local d=$1 op=$2
    case $op in
        rename) [ ! -e "$d/src" ] && [ "$(cat "$d/dst" 2>/dev/null)" = data ] ;;
        link) [ "$(cat "$d/lnk" 2>/dev/null)" = data ] && [ "$(stat -c %h "$d/src")" = 2 ] ;;
        mkdir) [ -d "$d/new" ] ;;
        symlink) [ "$(readlink "$d/sym")" = target-of-symlink ] ;;
        unlink | rmdir) [ ! -e "$d/victim" ] && [ ! -L "$d/victim" ] ;;
    esac
}

# The server has done the call but the caller does not see it (seen: NFSv4
# rename, whose error reply carries no change_info, so the client keeps its
# negative dentry for the new name). Show it, and find out what ends it.
stale_view() {
    local mode=$1 s=$2 d=$3 op=$4 t
    say "  caller's view is stale: server has [$(ls -A "$s" | tr '\n' ' ')]; through the mount:" \
        "$(for f in src dst lnk new sym victim; do stat -c '%n ' "$d/$f" 2>/dev/null; done)"
    if [ "$mode" = straight ]; then
        stat --cached=never "$d" > /dev/null   # statx AT_STATX_FORCE_SYNC on the directory
        if caller_state "$d" "$op"; then t=yes; else t=no; fi
        say "  after statx(AT_STATX_FORCE_SYNC) on the directory the caller sees it: $t"
    else
        for t in $(seq 1 40); do caller_state "$d" "$op" && break; sleep 1; done
        if caller_state "$d" "$op"; then t="after ~$t s"; else t="not within 40 s"; fi
        say "  the caller (through nfsguard) sees the right state $t"
    fi
}

# trial VERS MODE OP MOUNT -> sets TRIAL_RES (fsop's line), TRIAL_EXEC,
# TRIAL_STATE (server and caller agree it was done: right; only the server:
# stale view; else wrong)
trial() {
    local v=$1 mode=$2 op=$3 m=$4
    local name=v$v-$op-$mode
    local d=$m/$name s=$EXPORT/$name args ino=''
    TRIAL_RES="setup failed" TRIAL_EXEC=no TRIAL_STATE=wrong
    args=$(prepare "$d" "$op") || { say "$name: setup failed"; return; }
    [ "$op" = rename ] && ino=$(stat -c %i "$s/src")
    local go=/tmp/go.$name res=/tmp/res.$name
    rm -f "$go"
    # shellcheck disable=SC2086  # args are two paths without spaces
    python3 "$FSOP" "$go" "$op" $args > "$res" 2>&1 &
    local opid=$!
    for _ in $(seq 1 200); do grep -q ready "$res" && break; sleep 0.05; done
    ls -la "$d" > /dev/null                # warm once more, right before the block
    local t0; t0=$(cut -d' ' -f1 /proc/uptime)
    block
    touch "$go"
    for _ in $(seq 1 150); do server_done "$s" "$op" && { TRIAL_EXEC=yes; break; }; sleep 0.1; done
    if [ $TRIAL_EXEC = no ]; then
        say "$name: the server had not done the call 15 s after it was made; blocked tasks:"
        for t in /proc/[0-9]*/task/[0-9]*; do
            grep -q 'rpc_wait\|nfs\|fuse' "$t/stack" 2>/dev/null || continue
            echo "  task ${t##*/} ($(cat "$t/comm")):"; head -12 "$t/stack" | sed 's/^/    /'
        done
    fi
    sleep 0.3
    rpc.nfsd 0; kill_conns; unblock; rpc.nfsd 8
    local t1; t1=$(cut -d' ' -f1 /proc/uptime)
    for _ in $(seq 1 900); do kill -0 $opid 2>/dev/null || break; sleep 0.1; done
    if kill -0 $opid 2>/dev/null; then
        say "$name: the call is still blocked 90 s after the server came back"
        kill $opid 2>/dev/null
    fi
    wait $opid 2>/dev/null
    unblock
    TRIAL_RES=$(grep -v '^ready$' "$res" | head -1)
    if server_state "$s" "$op" "$ino"; then
        if caller_state "$d" "$op"; then TRIAL_STATE=right; else TRIAL_STATE="stale view"; fi
    fi
    [ "$TRIAL_STATE" = "stale view" ] && stale_view "$mode" "$s" "$d" "$op"
    say "$name: server did it while replies were blocked: $TRIAL_EXEC; caller got: $TRIAL_RES;" \
        "end state $TRIAL_STATE; replies blocked for $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
}

# --- main ---------------------------------------------------------------------
sysctl -q -w fs.protected_hardlinks=0   # else link() sends an ACCESS first (see README)
modprobe -a nf_tables inet_diag tcp_diag 2>/dev/null
say "kernel $(uname -r); nfsguard: $(ldd "$NFSGUARD" | grep -c 'not found') missing libraries"
ldd "$NFSGUARD" | grep 'not found' && { echo "nfsguard cannot run in the guest"; exit 3; }

pass=0 fail=0
for v in $VERS; do
    m=/mnt/nfs$v; m=${m%%.*}
    mkdir -p "$m"
    if [ "$v" = 3 ]; then o=vers=3,proto=tcp,$NFS_OPTS; else o=vers=$v,$NFS_OPTS; fi
    mount -t nfs -o "$o" 127.0.0.1:/export "$m" || { echo "v$v: cannot mount NFS" | tee -a "$RESULTS"; fail=$((fail + 1)); continue; }
    say "mounted $(grep " $m nfs" /proc/mounts)"
    declare -A straight=() guarded=()

    say "=== v$v control: straight on the NFS mount"
    for op in $OPS; do
        trial "$v" straight "$op" "$m"
        straight[$op]="$TRIAL_EXEC|$TRIAL_RES|$TRIAL_STATE"
    done

    say "=== v$v through nfsguard on top of $m"
    log=$OUT/nfsguard-v$v.log
    if start_nfsguard "$m" "$log"; then
        grep " $m " /proc/mounts
        for op in $OPS; do
            trial "$v" nfsguard "$op" "$m"
            guarded[$op]="$TRIAL_EXEC|$TRIAL_RES|$TRIAL_STATE"
        done
        stop_nfsguard
    fi
    say "nfsguard's log (v$v):"; sed 's/^/  | /' "$log"

    for op in $OPS; do
        want=$(expected_error "$op")
        IFS='|' read -r s_exec s_res s_state <<< "${straight[$op]}"
        IFS='|' read -r g_exec g_res g_state <<< "${guarded[$op]:-no|nfsguard did not mount|wrong}"
        hid=$(grep -c "hid a false $want from $op of /v$v-$op-nfsguard/" "$log" 2>/dev/null)
        ok=1 why=
        case $s_res in
            "ERR $want "*) s_txt="$want (false error)" ;;
            OK*) s_txt="OK (no false error: recipe did not reproduce)"; ok=0 ;;
            *) s_txt="${s_res%% (*} (unexpected)"; ok=0 ;;
        esac
        case $s_state in
            right) ;;
            "stale view") s_txt+=", caller's view stale afterwards" ;;
            *) ok=0; why+=" straight end state wrong on the server;" ;;
        esac
        case $g_res in
            OK*) if [ "$hid" -ge 1 ]; then g_txt="ok (hidden)"; else g_txt="ok (no false error hidden)"; ok=0; fi ;;
            ERR*) g_txt="${g_res%% (*} (NOT hidden)"; ok=0 ;;
            *) g_txt="$g_res"; ok=0 ;;
        esac
        [ "$g_state" = right ] || { ok=0; why+=" end state through nfsguard: $g_state;"; }
        [ "$g_exec" = yes ] && [ "$s_exec" = yes ] || why+=" server had not done the call before the recovery;"
        line="v$v $op: through nfsguard $g_txt, straight: $s_txt"
        if [ $ok = 1 ]; then pass=$((pass + 1)); line="PASS $line"; else fail=$((fail + 1)); line="FAIL $line;$why"; fi
        echo "$line" | tee -a "$RESULTS"
    done
    unset straight guarded
    umount "$m" || umount -f -l "$m"
done
echo "$pass passed, $fail failed" | tee -a "$RESULTS"
[ $fail = 0 ]
