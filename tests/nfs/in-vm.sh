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
# logged "hid a false E... from OP of ..."). The same for a Maildir delivery's
# link and rename. Then, through nfsguard: ESTALE, silly renames, cache
# coherence against a second client, locks, close errors on a small export,
# the guard with nfsd stopped, umount -l (see README.md). One PASS/FAIL line
# per (version, check) goes to $NFSVM_OUT/results.txt, then the lost-reply
# table; run-lane.sh prints them.
#
# Env (forwarded by run-lane.sh): LANE_VERS ("3 4.2"), LANE_OPS, LANE_CHECKS,
# LANE_NFS_OPTS.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NFSGUARD=$HERE/nfsguard
FSOP=$HERE/fsop.py
LANECHECK=$HERE/lanecheck.py
OUT=${NFSVM_OUT:?run me through run-lane.sh}
EXPORT=${NFSVM_EXPORT:-/export}
VERS=${LANE_VERS:-"3 4.2"}
OPS=${LANE_OPS:-"rename link mkdir symlink unlink rmdir deliver-link deliver-rename"}
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
    own_uncut
    own_teardown
    fp_umount
    [ -d /proc/fs/nfsd ] && [ "$(cat /proc/fs/nfsd/threads 2>/dev/null)" = 0 ] && rpc.nfsd 8
    stop_nfsguard
    ip netns del lane2 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_nfsguard() {  # start_nfsguard MOUNTPOINT LOG [MORE_OPTIONS]
    local mp=$1 log=$2
    "$NFSGUARD" -f -o "backing_fs=nfs,state_dir=${3:+,$3}" "$mp" "$mp" > "$log" 2>&1 &
    NG_PID=$! NG_MP=$mp NG_LOG=$log
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
    case $1 in rename | unlink | rmdir | deliver-rename) echo ENOENT ;; *) echo EEXIST ;; esac
}
# The call nfsguard names in its log for op $1, and the name it hides it for.
logged_call() {
    case $1 in deliver-link) echo "link new/msg" ;; deliver-rename) echo "rename new/msg" ;;
        rename) echo "rename dst" ;; link) echo "link lnk" ;; mkdir) echo "mkdir new" ;;
        symlink) echo "symlink sym" ;; *) echo "$1 victim" ;; esac
}

# Looks up every name the call and nfsguard's checks around it will need, so
# that they are in the NFS client's caches (attributes for acregmin, 3 s).
warm() {
    local d=$1 op=$2
    ls -la "$d" > /dev/null
    stat "$d"/src "$d"/dst "$d"/lnk "$d"/new "$d"/sym "$d"/victim > /dev/null 2>&1
    case $op in deliver-*) ls -la "$d/tmp" "$d/new" > /dev/null; stat "$d/tmp/msg" "$d/new/msg" > /dev/null 2>&1 ;; esac
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
        deliver-*) mkdir "$d/tmp" "$d/new" "$d/cur" && echo message > "$d/tmp/msg" ;;
    esac
    warm "$d" "$op"
    sync
    case $op in
        rename) echo "$d/src $d/dst" ;;
        link) echo "$d/src $d/lnk" ;;
        mkdir) echo "$d/new" ;;
        symlink) echo "target-of-$op $d/sym" ;;
        unlink | rmdir) echo "$d/victim" ;;
        deliver-*) echo "$d/tmp/msg $d/new/msg" ;;
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
        deliver-*) [ -e "$s/new/msg" ] ;;
    esac
}

# A Maildir delivery is right when new/ holds the message exactly once (and,
# for a delivery that reported success, tmp/ is empty). $1 dir, $2 mode.
delivered_once() {
    [ "$(ls -A "$1/new")" = msg ] && [ "$(cat "$1/new/msg" 2> /dev/null)" = message ] &&
        { [ "$2" = straight ] || [ -z "$(ls -A "$1/tmp")" ]; }
}

# Is the end state right on the server? $1 server-side dir, $2 op, $3 inode
# number of src before the call (rename), $4 mode.
server_state() {
    local s=$1 op=$2 ino=$3 mode=$4
    case $op in
        deliver-*) delivered_once "$s" "$mode" ;;
        rename) [ ! -e "$s/src" ] && [ -f "$s/dst" ] && [ "$(stat -c %i "$s/dst")" = "$ino" ] ;;
        link) [ "$(stat -c %i "$s/lnk")" = "$(stat -c %i "$s/src")" ] && [ "$(stat -c %h "$s/src")" = 2 ] ;;
        mkdir) [ -d "$s/new" ] ;;
        symlink) [ "$(readlink "$s/sym")" = target-of-symlink ] ;;
        unlink | rmdir) [ ! -e "$s/victim" ] ;;
    esac
}

# Does the caller see that state? $1 the directory through the mount, $2 op,
# $3 mode.
caller_state() {
    local d=$1 op=$2 mode=${3:-nfsguard}
    case $op in
        deliver-*) delivered_once "$d" "$mode" ;;
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
        if caller_state "$d" "$op" straight; then t=yes; else t=no; fi
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
    warm "$d" "$op"                        # once more, right before the block
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
    if server_state "$s" "$op" "$ino" "$mode"; then
        if caller_state "$d" "$op" "$mode"; then TRIAL_STATE=right; else TRIAL_STATE="stale view"; fi
    fi
    case $op in deliver-*)
        say "  $name: server new/: [$(ls -A "$s/new" | tr '\n' ' ')] tmp/: [$(ls -A "$s/tmp" | tr '\n' ' ')]" ;;
    esac
    [ "$TRIAL_STATE" = "stale view" ] && stale_view "$mode" "$s" "$d" "$op"
    say "$name: server did it while replies were blocked: $TRIAL_EXEC; caller got: $TRIAL_RES;" \
        "end state $TRIAL_STATE; replies blocked for $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
}

# --- results ------------------------------------------------------------------
pass=0 fail=0
result() {  # result ok|bad LINE
    if [ "$1" = ok ]; then
        pass=$((pass + 1)); echo "PASS $2" | tee -a "$RESULTS"
    else
        fail=$((fail + 1)); echo "FAIL $2" | tee -a "$RESULTS"
    fi
}
lastline() { tail -n 1 "$1" | sed 's/^RESULT \(ok\|BAD\) //'; }
resultok() { tail -n 1 "$1" | grep -q '^RESULT ok'; }
# Waits up to $2 s for regex $3 in file $1 (from line $4 on); prints the seconds taken.
wait_log() {
    local f=$1 limit=$2 re=$3 from=${4:-1} t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        tail -n +"$from" "$f" | grep -q "$re" && { echo $((SECONDS - t0)); return 0; }
        sleep 0.2
    done
    return 1
}
errname() {  # the errno a shell command's message names
    case $1 in *"Stale file handle"*) echo ESTALE ;; *"No space"*) echo ENOSPC ;;
        *"Directory not empty"*) echo ENOTEMPTY ;; *"No such file"*) echo ENOENT ;;
        *"File exists"*) echo EEXIST ;; *"Input/output"*) echo EIO ;; *) echo "${1:-?}" ;; esac
}

# --- the second NFS client ----------------------------------------------------
# NFSv4.2: a client "host" in a network namespace (veth 10.99.0.2 -> 10.99.0.1,
# its own hostname): nfsd sees a second NFSv4 client id. NFSv3: NLM from such
# a namespace hung in the reference kit, so a nosharecache mount (its own
# superblock and caches; the same lockd host, other lock owners).
NETNS=no
setup_netns() {
    ip netns add lane2 || return 1
    ip link add lanev0 type veth peer name lanev1 &&
        ip link set lanev1 netns lane2 &&
        ip addr add 10.99.0.1/24 dev lanev0 && ip link set lanev0 up &&
        ip netns exec lane2 ip addr add 10.99.0.2/24 dev lanev1 &&
        ip netns exec lane2 ip link set lanev1 up && ip netns exec lane2 ip link set lo up &&
        exportfs -o rw,sync,no_subtree_check,no_root_squash,insecure 10.99.0.0/24:/export &&
        NETNS=yes
}
mount_other() {  # mount_other VERS DIR: the second client's mount; prints what it is
    local v=$1 dir=$2
    mkdir -p "$dir"
    if [ "$v" != 3 ] && [ $NETNS = yes ] &&
        timeout 60 unshare --uts sh -c "hostname lane-client2; nsenter --net=/run/netns/lane2 mount -t nfs -o vers=$v 10.99.0.1:/export $dir"; then
        echo "a client in a network namespace (its own NFSv4 client id)"
        return 0
    fi
    local o=vers=$v,nosharecache
    [ "$v" = 3 ] && o+=,proto=tcp
    timeout 60 mount -t nfs -o "$o" 127.0.0.1:/export "$dir" && echo "a nosharecache mount (its own caches)"
}

# --- ESTALE: objects replaced on the server while nfsguard holds handles -------
# $1 version, $2 the directory through nfsguard, $3 the same on the server,
# $4 the same on the NFS mount (control).
check_estale() {
    local v=$1 d=$2 s=$3 raw=$4 ok=1 got=''
    mkdir -p "$d/sub" && echo old > "$d/f" && echo a > "$d/sub/a" || { result bad "v$v ESTALE: setup failed"; return; }
    mkdir -p "$raw-ctl/sub" && echo old > "$raw-ctl/f"
    cat "$d/f" "$d/sub/a" > /dev/null; ls -la "$d" "$d/sub" "$raw-ctl" "$raw-ctl/sub" > /dev/null
    # Handles: a program holds the file open through nfsguard (nfsguard holds
    # a backing descriptor), nfsguard holds its descriptor of sub/; the
    # control holds descriptors straight on NFS.
    local c1=/tmp/est-f.$v c2=/tmp/est-d.$v c3=/tmp/est-ng.$v
    mkfifo "$c1.in" "$c2.in" "$c3.in"
    python3 "$LANECHECK" heldfd "$raw-ctl/f" < "$c1.in" > "$c1" 2>&1 & local p1=$!
    python3 "$LANECHECK" heldfd "$raw-ctl/sub" < "$c2.in" > "$c2" 2>&1 & local p2=$!
    python3 "$LANECHECK" heldfd "$d/f" < "$c3.in" > "$c3" 2>&1 & local p3=$!
    exec 5> "$c1.in" 6> "$c2.in" 7> "$c3.in"
    for _ in $(seq 1 100); do grep -q ready "$c1" && grep -q ready "$c2" && grep -q ready "$c3" && break; sleep 0.1; done
    # Replaced on the server's local filesystem: a new file renamed over the
    # old one, the directory removed and made again.
    for x in "$s" "$s-ctl"; do
        echo new > "$x/f.new" && mv "$x/f.new" "$x/f"
        rm -r "$x/sub" && mkdir "$x/sub" && echo b > "$x/sub/b"
    done
    echo go >&5; echo go >&6; echo go >&7; exec 5>&- 6>&- 7>&-
    wait $p1 $p2 $p3
    local ctl
    ctl="held descriptors straight on NFS: file $(lastline "$c1"), directory $(lastline "$c2"); a program's old descriptor through nfsguard: $(lastline "$c3")"
    # The next operations through nfsguard, by name. Noted: which of them
    # made nfsguard give up on ESTALE (the kernel then walks the path again
    # with LOOKUP_REVAL, so the caller may still succeed).
    local r gaveup='' n0 n1
    n0=$(grep -c 'ESTALE persists' "$NG_LOG")
    estale_step() {
        n1=$(grep -c 'ESTALE persists' "$NG_LOG")
        [ "$n1" = "$n0" ] || gaveup+=" $1 ($((n1 - n0))x)"
        n0=$n1
    }
    r=$(timeout 60 cat "$d/f" 2>&1) ; [ "$r" = new ] || { ok=0; got+=" read f: '$r';"; }
    estale_step "read f"
    r=$(timeout 60 sh -c "echo more >> '$d/f'" 2>&1) || { ok=0; got+=" append f: $(errname "$r");"; }
    estale_step "append f"
    [ "$(cat "$s/f")" = "$(printf 'new\nmore')" ] || { ok=0; got+=" server f: '$(cat "$s/f" | tr '\n' ' ')';"; }
    r=$(timeout 60 ls -A "$d/sub" 2>&1); [ "$r" = b ] || { ok=0; got+=" list sub: '$(echo $r)';"; }
    estale_step "list sub"
    r=$(timeout 60 cat "$d/sub/b" 2>&1); [ "$r" = b ] || { ok=0; got+=" read sub/b: '$r';"; }
    estale_step "read sub/b"
    r=$(timeout 60 sh -c "echo c > '$d/sub/c'" 2>&1) || { ok=0; got+=" create sub/c: $(errname "$r");"; }
    estale_step "create sub/c"
    [ -n "$gaveup" ] && ctl+="; nfsguard passed ESTALE on after 10 retries at:$gaveup"
    [ -f "$s/sub/c" ] || { ok=0; got+=" sub/c not on the server;"; }
    rm -f "$c1"* "$c2"* "$c3"*
    if [ $ok = 1 ]; then
        result ok "v$v ESTALE: file and directory replaced on the server: read, append, list, create through nfsguard all on the new objects; control: $ctl"
    else
        result bad "v$v ESTALE: through nfsguard:$got control: $ctl"
    fi
}

# --- silly renames ------------------------------------------------------------
# $1 version, $2 mode, $3 the directory (through nfsguard or straight), $4 on the server
silly_trial() {
    local v=$1 mode=$2 d=$3 s=$4 r
    SILLY_OUT='' SILLY_OK=1
    mkdir "$d" && echo data > "$d/f" || { SILLY_OUT="setup failed"; SILLY_OK=0; return; }
    exec 8< "$d/f"
    r=$(rm "$d/f" 2>&1) || { SILLY_OUT+="unlink: $(errname "$r"); "; SILLY_OK=0; }
    local on_server shown
    on_server=$(ls -A "$s" | tr '\n' ' ')
    shown=$(ls -A "$d" | tr '\n' ' ')
    case $on_server in .nfs*) ;; *) SILLY_OK=0 ;; esac
    [ -z "$shown" ] || SILLY_OK=0
    r=$(cat <&8); [ "$r" = data ] || { SILLY_OUT+="read of the open file: '$r'; "; SILLY_OK=0; }
    exec 8<&-
    local t0; t0=$(cut -d' ' -f1 /proc/uptime)
    r=$(rmdir "$d" 2>&1) && r=OK || { r=$(errname "$r"); SILLY_OK=0; }
    SILLY_OUT+="server shows [${on_server% }], readdir shows [${shown% }], rmdir right after the close: $r"
    [ -e "$s" ] && SILLY_OUT+=" (on the server: [$(ls -A "$s" | tr '\n' ' ')])"
    rmdir "$d" 2> /dev/null; rm -rf "$s"
}
check_silly() {
    local v=$1 d=$2 s=$3 raw=$4 ctl
    silly_trial "$v" straight "$raw-ctl" "$s-ctl"; ctl=$SILLY_OUT
    silly_trial "$v" nfsguard "$d" "$s"
    if [ $SILLY_OK = 1 ]; then
        result ok "v$v silly rename: through nfsguard: $SILLY_OUT; straight: $ctl"
    else
        result bad "v$v silly rename: through nfsguard: $SILLY_OUT; straight: $ctl"
    fi
}

# --- locks --------------------------------------------------------------------
check_locks() {  # $1 version, $2 file through nfsguard, $3 on the server, $4 second client, $5 what it is
    local v=$1 out=/tmp/locks.$1
    echo > "$3"; chmod 666 "$3"; sync
    timeout 300 python3 "$LANECHECK" locks "$2" "$3" "$4" > "$out" 2>&1
    sed 's/^/  /' "$out"
    if resultok "$out"; then
        result ok "v$v locks (fcntl, flock) through nfsguard vs the server's local fs and $5: conflicts both ways, blocking locks granted when the holder lets go ($(lastline "$out"))"
    else
        result bad "v$v locks: $(grep -h '^BAD' "$out" | tr '\n' ';') $(tail -n 3 "$out" | grep -v '^RESULT\|^BAD\|^ok' | tr '\n' ' ')"
    fi
}

# --- nfsguard doctor -----------------------------------------------------------
check_doctor() {  # $1 version, $2 the NFS mount nfsguard is on
    local v=$1 bad=/mnt/bad${1%%.*} out=/tmp/doctor.$1 o
    if [ "$v" = 3 ]; then o=vers=3,proto=tcp; else o=vers=$v; fi
    mkdir -p "$bad"
    if ! mount -t nfs -o "$o,soft,local_lock=all,nosharecache" 127.0.0.1:/export "$bad"; then
        result bad "v$v doctor: cannot mount the bad setup"; return
    fi
    timeout 300 python3 "$LANECHECK" doctor "$NFSGUARD" "$v" "$2" "$bad" > "$out" 2>&1
    umount "$bad" || umount -f -l "$bad"
    sed 's/^/  /' "$out"
    if resultok "$out"; then
        result ok "v$v doctor: $(lastline "$out")"
    else
        result bad "v$v doctor: $(grep -h '^BAD' "$out" | tr '\n' ';')"
    fi
}

# --- cache coherence ----------------------------------------------------------
check_cache() {  # $1 version, $2 other client's dir, $3 through nfsguard, $4 raw, $5 what the other is
    local v=$1 out=/tmp/cache.$1
    mkdir "$2" || { result bad "v$v cache: setup failed"; return; }
    timeout 200 python3 "$LANECHECK" cache "$2" "$3" "$4" 75 > "$out" 2>&1
    sed 's/^/  /' "$out"
    local opts; opts=$(awk -v m="$NG_MP" '$2 == m && $3 ~ /^nfs/ {print $4}' /proc/mounts | head -1)
    local line
    line="v$v cache coherence (changes by $5, cache=shared): $(lastline "$out"); the NFS mount under nfsguard has ${opts:-?} (attribute cache acregmin 3 s..acregmax 60 s, acdirmin 30 s..acdirmax 60 s unless set)"
    if resultok "$out"; then result ok "$line"; else result bad "$line; $(grep -h '^BAD' "$out" | tr '\n' ';')"; fi
}

# --- close errors on a small export ------------------------------------------
SMALL=/small
setup_small() {
    mkdir -p $SMALL && mount -t tmpfs -o size=4m tmpfs $SMALL && chmod 1777 $SMALL &&
        exportfs -o rw,sync,no_subtree_check,no_root_squash,insecure,fsid=4242 127.0.0.1/8:$SMALL
}
fill_small() {  # leaves 128 KiB free
    rm -f $SMALL/*
    dd if=/dev/zero of=$SMALL/fill bs=64k 2> /dev/null
    truncate -s -128K $SMALL/fill
    sync
}
closeerr_trials() {  # $1 the directory; sets CE_TXT, CE_OK (every trial saw the error)
    local d=$1 out=/tmp/closeerr
    CE_TXT='' CE_OK=1
    for how in close fsync; do
        fill_small
        timeout 120 python3 "$LANECHECK" closeerr "$d/t-$how" 1048576 ${how/close/} > "$out" 2>&1
        resultok "$out" || CE_OK=0
        CE_TXT+="write 1 MiB then $how: $(lastline "$out"); "
    done
    CE_TXT=${CE_TXT%; }
}
check_closeerr() {
    local v=$1 m=/mnt/small${1%%.*} o ctl
    mkdir -p "$m"
    if [ "$v" = 3 ]; then o=vers=3,proto=tcp,$NFS_OPTS; else o=vers=$v,$NFS_OPTS; fi
    timeout 60 mount -t nfs -o "$o" 127.0.0.1:$SMALL "$m" || { result bad "v$v close errors: cannot mount $SMALL"; return; }
    closeerr_trials "$m"; ctl=$CE_TXT
    if start_nfsguard "$m" "$OUT/nfsguard-v$v-small.log"; then
        closeerr_trials "$m"
        stop_nfsguard
        if [ $CE_OK = 1 ]; then
            result ok "v$v close errors (4 MiB export filled, 128 KiB left): through nfsguard: $CE_TXT; straight: $ctl"
        else
            result bad "v$v close errors: through nfsguard: $CE_TXT; straight: $ctl"
        fi
    else
        result bad "v$v close errors: nfsguard did not mount on $m"
    fi
    rm -f $SMALL/*
    umount "$m" || umount -f -l "$m"
}

# --- the backing guard: the NFS server goes away and comes back ----------------
ROOTVIEW=/tmp/rootview
check_guard() {
    local v=$1 m=$2 r t ok=1 txt=''
    local log=$OUT/nfsguard-v$v-guard.log
    start_nfsguard "$m" "$log" guard_interval=1000 || { result bad "v$v guard: nfsguard did not mount"; return; }
    r=$(timeout 60 sh -c "echo before > '$m/guard-before'" 2>&1) || { ok=0; txt+="write before: $(errname "$r"); "; }
    local from; from=$(($(wc -l < "$log") + 1))
    rpc.nfsd 0
    say "v$v guard: nfsd stopped"
    if t=$(wait_log "$log" 30 'backing NOT attached' "$from"); then
        txt+="detached ${t} s after nfsd stopped; "
        local t0; t0=$(cut -d' ' -f1 /proc/uptime)
        r=$(timeout 30 sh -c "echo x > '$m/guard-probe'" 2>&1) && { ok=0; r=OK; } || r=$(errname "$r")
        [ "$r" = ESTALE ] || ok=0
        txt+="a write got $r in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%.1f", b-a}') s; "
        r=$(timeout 30 ls -A "$m" 2>&1) || ok=0
        txt+="listing [$(echo $r)]; "
        [ -z "$r" ] || ok=0
        if [ -e "$ROOTVIEW$m/guard-probe" ] || [ -n "$(ls -A "$ROOTVIEW$m")" ]; then
            ok=0; txt+="the local directory under the mounts holds [$(ls -A "$ROOTVIEW$m" | tr '\n' ' ')]; "
        else
            txt+="nothing written locally; "
        fi
    else
        ok=0; txt+="not detached within 30 s of nfsd stopping; "
    fi
    from=$(($(wc -l < "$log") + 1))
    rpc.nfsd 8
    say "v$v guard: nfsd started again"
    if t=$(wait_log "$log" 90 'backing attached' "$from"); then
        txt+="re-attached ${t} s after nfsd came back; "
        # Writes stay refused for a second after an attach (fs/filesystem.hpp
        # says why): the write is made after it.
        sleep 1.5
        t=$SECONDS
        r=$(timeout 120 sh -c "echo after > '$m/guard-after'" 2>&1) && r=OK || { ok=0; r=$(errname "$r"); }
        [ "$(cat "$EXPORT/guard-after" 2>/dev/null)" = after ] || ok=0
        txt+="a write then: $r in $((SECONDS - t)) s"
    else
        ok=0; txt+="not re-attached within 90 s of nfsd coming back"
    fi
    stop_nfsguard
    say "nfsguard's log (v$v guard):"; sed 's/^/  | /' "$log"
    result "$([ $ok = 1 ] && echo ok || echo bad)" "v$v guard (nfsd stopped under nfsguard, guard_interval=1000): $txt"
}

# --- the NFS mount under nfsguard lazily unmounted ------------------------------
# $1 version, $2 NFS mount options. Both setups, each on an NFS mount of its
# own: nfsguard apart from the NFS mount (BACKING /mnt/lazyN, MOUNTPOINT
# /mnt/mailN), and on top of it (one path). A write through nfsguard's mount
# point afterwards must not hang and must not land on the local disk.
lazy_probe() {  # lazy_probe PATH: writes PATH (bounded), prints where it went
    local r
    r=$(timeout 20 sh -c "echo probe > '$1'" 2>&1) && r=OK || r=$(errname "$r")
    [ "$r" = "${r#timeout}" ] || r="hung"
    echo "$r"
}
check_lazy_umount() {
    local v=$1 o=$2 n=${1%%.*} ok=1 txt='' r
    local nfs=/mnt/lazy$n mail=/mnt/mail$n log=$OUT/nfsguard-v$v-lazy-apart.log
    local log2=$OUT/nfsguard-v$v-lazy-onepath.log
    mkdir -p "$nfs" "$mail"
    # apart: NFS on /mnt/lazyN, nfsguard on /mnt/mailN
    timeout 60 mount -t nfs -o "$o" 127.0.0.1:/export "$nfs" || { result bad "v$v umount -l: cannot mount"; return; }
    "$NFSGUARD" -f -o backing_fs=nfs,state_dir=,guard_interval=1000 "$nfs" "$mail" > "$log" 2>&1 &
    NG_PID=$! NG_MP=$mail
    for _ in $(seq 1 100); do grep -q " $mail fuse.nfsguard " /proc/mounts && break; sleep 0.1; done
    umount -l "$nfs"
    sleep 2.5   # more than a guard interval
    r=$(lazy_probe "$mail/lazy-apart-v$n")
    txt+="apart (nfsguard on $mail, NFS on $nfs): after umount -l of $nfs a write through nfsguard: $r"
    if [ -e "$EXPORT/lazy-apart-v$n" ]; then txt+=", on the server"; else txt+=", not on the server"; fi
    [ -e "$ROOTVIEW$nfs/lazy-apart-v$n" ] && { ok=0; txt+=", ON THE LOCAL DISK"; }
    [ "$r" = hung ] && ok=0
    grep -q 'backing NOT attached' "$log" && txt+=" (nfsguard detached)"
    stop_nfsguard
    # one path: nfsguard on top of the NFS mount. The kernel resolves a mount
    # point to the top of its stack, so `umount -l PATH` reaches nfsguard's
    # own mount, never the NFS mount under it (not even through nfsguard's
    # descriptor of the NFS root).
    timeout 60 mount -t nfs -o "$o" 127.0.0.1:/export "$nfs" || { result bad "v$v umount -l: cannot mount"; return; }
    start_nfsguard "$nfs" "$log2" guard_interval=1000 || { result bad "v$v umount -l: nfsguard did not mount"; return; }
    umount -l "$nfs"
    for _ in $(seq 1 100); do kill -0 "$NG_PID" 2>/dev/null || break; sleep 0.1; done
    local gone=no st
    kill -0 "$NG_PID" 2>/dev/null || { gone=yes; wait "$NG_PID"; st=$?; }
    r=$(lazy_probe "$nfs/lazy-onepath-v$n")
    txt+="; one path: umount -l $nfs unmounted $(grep -q " $nfs nfs" /proc/mounts && echo "nfsguard's mount (the top one); the NFS mount stayed" || echo "both mounts")"
    txt+=", nfsguard exited: $gone${st:+ (status $st)}; a write to $nfs then: $r"
    if [ -e "$ROOTVIEW$nfs/lazy-onepath-v$n" ]; then
        ok=0; txt+=", ON THE LOCAL DISK"; rm -f "$ROOTVIEW$nfs/lazy-onepath-v$n"
    elif [ -e "$EXPORT/lazy-onepath-v$n" ]; then txt+=", on the server (unguarded)"
    fi
    if [ $gone = yes ]; then NG_PID='' NG_MP=''; else stop_nfsguard; fi
    grep -q " $nfs nfs" /proc/mounts && umount "$nfs"
    say "nfsguard's logs (v$v umount -l):"; sed 's/^/  | /' "$log" "$log2"
    result "$([ $ok = 1 ] && echo ok || echo bad)" "v$v umount -l of the NFS mount: $txt"
}

# --- one host per unit across a partition (ownership; NFSv4.2) -----------------
# Host A: an NFS mount over 127.0.0.1 with nfsguard A on it. Host B: the
# network-namespace client's mount (its own NFSv4 client id, over the veth)
# with nfsguard B on it. Both ownership=home/*, ownership_lease= the server's
# lease time. A holds home/alice with a file open; B is refused; A's traffic
# to the server is cut (only on lo: B's goes over the veth); A must fence
# itself before B gets the unit, B must get it after about the lease time,
# and A, back, must write nothing. NFSv4.2 only: NFSv3's locks are lockd's
# and statd's, whose recovery after a partition differs.
OWN_A=/mnt/ownA OWN_B=/mnt/ownB OWN_PIDS=''
own_cut() { nft -f - <<'NFT'
table inet lanecut {
    chain out { type filter hook output priority 0; oifname "lo" tcp dport 2049 drop; oifname "lo" tcp sport 2049 drop; }
}
NFT
}
own_uncut() { nft delete table inet lanecut 2>/dev/null; }
own_start() {  # own_start MOUNTPOINT HOST LOG LEASE [IDLE]
    local m=$1
    "$NFSGUARD" -f -o "backing_fs=nfs,state_dir=,run_dir=/tmp/ngrun,stats_interval=500,ownership=home/*,ownership_host=$2,ownership_wait=500,ownership_idle=${5:-3},ownership_lease=$4" \
        "$m" "$m" > "$3" 2>&1 &
    OWN_PIDS+=" $!"
    for _ in $(seq 1 150); do grep -q " $m fuse.nfsguard " /proc/mounts && return 0; sleep 0.1; done
    return 1
}
own_teardown() {  # every command bounded: A's NFS calls hang while it is cut
    local m p
    exec 5>&- 6>&- 7>&-
    for m in $OWN_A $OWN_B; do grep -q " $m fuse.nfsguard " /proc/mounts && umount -l "$m"; done
    for p in $OWN_PIDS; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && { say "pid $p still running 10 s after unmount: SIGKILL"; kill -9 "$p"; }
        wait "$p" 2>/dev/null
    done
    OWN_PIDS=''
    for m in $OWN_A $OWN_B; do grep -qs " $m nfs" /proc/mounts && { timeout 20 umount "$m" 2>/dev/null || umount -f -l "$m"; }; done
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN{printf "%.1f", b-a}'; }
# own_ask OUT FD TAG TEXT LIMIT: has the appender (input FD, output OUT) write
# TEXT, prints its answer ("ok 0.1", "ESTALE 0.5") or "none within LIMIT s".
own_ask() {
    local out=$1 fd=$2 tag=$3 text=$4 limit=$5 t0=$SECONDS
    echo "$tag $text" >&"$fd"
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        grep -q "^$tag " "$out" && { grep -m1 "^$tag " "$out" | cut -d' ' -f2-; return 0; }
        sleep 0.1
    done
    echo "none within $limit s"
}
own_write() {  # own_write PATH TEXT: appends TEXT (bounded), prints OK or the errno
    local r
    r=$(timeout -k 2 30 sh -c "echo '$2' >> '$1'" 2>&1) && r=OK || r=$(errname "$r")
    [ "$r" = "${r#timeout}" ] || r=hung
    echo "$r"
}
own_holder() {  # own_holder MOUNTPOINT: the host `nfsguard owners --json` names for home/alice
    timeout -k 2 30 "$NFSGUARD" owners --json "$1" 2>&1 |
        sed -n 's/.*"unit":"home\/alice","host":"\([^"]*\)".*/\1/p'
}
own_stat() {  # own_stat MOUNTPOINT KEY: a figure of the ownership section of nfsguard stats
    timeout -k 2 30 "$NFSGUARD" stats --json --run-dir /tmp/ngrun "$1" 2>/dev/null |
        python3 -c "import json, sys; print(json.load(sys.stdin)['ownership'].get('$2', '?'))" 2>/dev/null
}
# short_lease: the server's NFSv4 lease time, made 10 s (the least nfsd
# takes) if it is over 15 s: the kit sets 10 s; it is written only while
# nfsd is stopped. Prints it.
short_lease() {
    if [ "$(cat /proc/fs/nfsd/nfsv4leasetime)" -gt 15 ]; then
        rpc.nfsd 0 >&2; echo 10 > /proc/fs/nfsd/nfsv4leasetime; echo 10 > /proc/fs/nfsd/nfsv4gracetime
        rpc.nfsd 8 >&2; sleep 11
    fi
    cat /proc/fs/nfsd/nfsv4leasetime
}
# two_clients A B: two hosts' NFSv4.2 mounts of the export, host A's over
# 127.0.0.1 at A, host B's at B from the network namespace (its own client
# id). On failure says why and leaves neither mounted.
two_clients() {
    mkdir -p "$1" "$2"
    timeout 60 mount -t nfs -o "vers=4.2,$NFS_OPTS" 127.0.0.1:/export "$1" || { echo "cannot mount A"; return 1; }
    case $(mount_other 4.2 "$2") in
        "a client in a network namespace"*) return 0 ;;
    esac
    grep -qs " $2 nfs" /proc/mounts && umount -f -l "$2"
    umount -f -l "$1"
    echo "no network-namespace client for host B"
    return 1
}
check_ownership() {
    local what="v4.2 ownership" ma=$OWN_A mb=$OWN_B s=$EXPORT/home/alice r t ok
    local loga=$OUT/nfsguard-ownership-A.log logb=$OUT/nfsguard-ownership-B.log
    local lease why; lease=$(short_lease)
    say "$what: the server's lease time is $lease s"
    mkdir -p "$s" && echo "mail of alice" > "$s/inbox" && chmod -R a+rwX "$EXPORT/home" && sync
    mkdir -p /tmp/ngrun
    why=$(two_clients "$ma" "$mb") || { result bad "$what: $why"; return; }
    if ! own_start "$ma" hostA "$loga" "$lease" || ! own_start "$mb" hostB "$logb" "$lease"; then
        result bad "$what: nfsguard did not mount"; own_teardown; return
    fi
    say "A: $(grep " $ma nfs" /proc/mounts); B: $(grep " $mb nfs" /proc/mounts)"

    # 1. A takes home/alice: a mail process keeps the inbox open and appends.
    local ain=/tmp/own-a.in aout=/tmp/own-a.out bin=/tmp/own-b.in bout=/tmp/own-b.out
    rm -f $ain $aout $bin $bout; mkfifo $ain $bin
    python3 "$LANECHECK" appender "$ma/home/alice/inbox" < $ain > $aout 2>&1 &
    OWN_PIDS+=" $!"
    exec 5> $ain
    local a1 holder
    a1=$(own_ask $aout 5 a1 "A before the cut" 30)
    holder=$(own_holder "$ma")
    ok=1
    case $a1 in ok*) ;; *) ok=0 ;; esac
    [ "$holder" = hostA ] && grep -qx "A before the cut" "$s/inbox" || ok=0
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what: A takes home/alice: its mail process opened the inbox and appended ($a1 s, fsync'd, on the server: $(grep -c 'A before the cut' "$s/inbox")); nfsguard owners names ${holder:-nobody}"

    # 2. B is refused after about ownership_wait (500 ms), and writes nothing.
    t=$(uptime_s)
    r=$(own_write "$mb/home/alice/inbox" "B while A holds")
    t=$(since "$t")
    ok=1
    [ "$r" = ESTALE ] && awk -v t="$t" 'BEGIN{exit !(t >= 0.4 && t < 10)}' || ok=0
    grep -q "B while A holds" "$s/inbox" && ok=0
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what: B's append while A holds it: $r after $t s (ownership_wait=500 ms; the kernel looks a refused name up twice); from B on the server: $(grep -c 'B while A holds' "$s/inbox") lines"

    # (ownership-window) A second mail process on A appends right after the
    # cut, before A fenced: a request in flight when the network goes.
    local win=/tmp/own-w.in wout=/tmp/own-w.out
    if has ownership-window; then
        rm -f $win $wout; mkfifo $win
        python3 "$LANECHECK" appender "$ma/home/alice/inbox" < $win > $wout 2>&1 &
        OWN_PIDS+=" $!"
        exec 7> $win
        for _ in $(seq 1 100); do grep -q '^open' $wout && break; sleep 0.1; done
    fi

    # 3. A's traffic to the server cut; B retries until it owns the unit.
    local t_cut cut_wall n=0 owned='' limit=$((3 * lease + 20))
    t_cut=$(uptime_s); cut_wall=$(date +%s.%N)
    own_cut
    has ownership-window && echo "w1 A in the window" >&7
    say "$what: A's traffic to the server cut"
    while [ -z "$owned" ] && awk -v t="$(since "$t_cut")" -v l="$limit" 'BEGIN{exit !(t < l)}'; do
        n=$((n + 1))
        r=$(own_write "$mb/home/alice/inbox" "B line 1")
        if [ "$r" = OK ]; then owned=$(since "$t_cut"); else sleep 0.5; fi
    done
    say "$what: B's append: $r after $n tries, ${owned:-never} s after the cut"
    python3 "$LANECHECK" appender "$mb/home/alice/inbox" < $bin > $bout 2>&1 &   # B keeps it busy
    OWN_PIDS+=" $!"
    exec 6> $bin
    local b2; b2=$(own_ask $bout 6 b2 "B line 2" 30)
    local bholder; bholder=$(own_holder "$mb")
    # A's log says when it fenced (its clock is this VM's).
    local fence_line fence_at='' fence_txt
    wait_log "$loga" $((lease + 5)) 'unit(s) fenced' > /dev/null
    fence_line=$(grep -m1 'unit(s) fenced' "$loga")
    if [ -n "$fence_line" ]; then
        fence_at=$(awk -v a="$cut_wall" -v b="$(date -d "$(echo "$fence_line" | sed 's/^\[\([^]]*\)\].*/\1/')" +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
        fence_txt="A logged that it fenced ${fence_at} s after the cut"
    else
        fence_txt="A logged no fencing while cut ($((lease + 5)) s after B owned the unit)"
        local pa; pa=${OWN_PIDS# }; pa=${pa%% *}
        say "$what: A's nfsguard (pid $pa) threads waiting in the kernel:"
        for t in /proc/"$pa"/task/[0-9]*; do
            grep -q 'rpc_wait\|nfs\|fuse\|locks' "$t/stack" 2>/dev/null || continue
            echo "  task ${t##*/} ($(cat "$t/comm")):"; head -14 "$t/stack" | sed 's/^/    /'
        done
    fi
    # A's mail process tries to write during the cut: refused, not left to the NFS client.
    local a2; a2=$(own_ask $aout 5 a2 "A during the cut" 15)
    ok=1
    [ -n "$fence_at" ] && awk -v f="$fence_at" -v l="$lease" -v o="${owned:-1e9}" 'BEGIN{exit !(f > 0 && f <= l / 2 + 2 && f < o)}' || ok=0
    case $a2 in ok*) ok=0 ;; esac
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what: A fenced while cut: $fence_txt (ownership_lease/2 = $((lease / 2)) s), before B owned the unit (${owned:-never} s); A's held descriptor's append during the cut: $a2"
    ok=1
    [ -n "$owned" ] && awk -v o="$owned" -v l="$lease" 'BEGIN{exit !(o < 3 * l + 10)}' || ok=0
    case $b2 in ok*) ;; *) ok=0 ;; esac
    [ "$bholder" = hostB ] || ok=0
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what: B owns home/alice ${owned:-never} s after A's cut (server lease time $lease s; $n tries), appends (line 2: $b2); nfsguard owners on B names ${bholder:-nobody}"

    # 4. A's network restored: A, back, writes nothing into the unit.
    own_uncut
    local t_back; t_back=$(uptime_s)
    say "$what: A's traffic restored"
    local back=''
    for _ in $(seq 1 90); do timeout -k 2 10 ls "$ma/home" > /dev/null 2>&1 && { back=$(since "$t_back"); break; }; sleep 1; done
    sleep $((lease / 6 + 2))   # a heartbeat after the NFS client came back
    local a3 anew alate aholder fenced
    a3=$(own_ask $aout 5 a3 "A after the cut (held)" 60)
    anew=$(own_write "$ma/home/alice/inbox" "A after the cut (new)")
    alate=$(timeout -k 2 30 sh -c "echo late > '$ma/home/alice/a-late'" 2>&1) && alate=OK || alate=$(errname "$alate")
    aholder=$(own_holder "$ma")
    fenced=$(own_stat "$ma" fenced)
    local want; want=$(printf 'mail of alice\nA before the cut\nB line 1\nB line 2')
    inbox() { grep -v '^A in the window$' "$s/inbox"; }  # (ownership-window's line: its own verdict)
    ok=1
    case $a3 in ESTALE* | EIO*) ;; *) ok=0 ;; esac
    [ "$anew" = ESTALE ] && [ "$alate" = ESTALE ] && [ "$aholder" = hostB ] || ok=0
    [ "$(inbox)" = "$want" ] && [ ! -e "$s/a-late" ] || ok=0
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what: A back (its NFS mount answering ${back:-never} s after the restore): its held descriptor's append: $a3; a new append: $anew; a new file: $alate; the server's inbox: [$(inbox | tr '\n' '|')] ($(inbox | grep -c '^A \(during\|after\|retaken\)') of A's lines after the cut)$([ -e "$s/a-late" ] && echo ", a-late ON THE SERVER"); nfsguard owners on A names ${aholder:-nobody}; A's stats: fenced=$fenced"
    if has ownership-window; then
        local w1; w1=$(grep -m1 '^w1 ' $wout | cut -d' ' -f2-)
        exec 7>&-   # its close flushes what its NFS client may still hold
        for _ in $(seq 1 300); do grep -q '^close' $wout && break; sleep 0.1; done
        sleep 1
        local landed; landed=$(grep -c '^A in the window$' "$s/inbox")
        result "$([ "$landed" = 0 ] && echo ok || echo bad)" "$what (window): A's append made right after the cut, before A fenced: answered ${w1:-nothing} after the restore, its close: $(grep -m1 '^close' $wout | cut -d' ' -f2-); on the server: $landed line(s)$([ "$landed" = 0 ] || echo " (after B's: [$(tr '\n' '|' < "$s/inbox")])")"
    fi

    # 5. What A had open stays ended: B lets go (idle), A takes the unit
    #    anew, and the held descriptor answers EIO.
    exec 6>&-
    local anew2='' a4 t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 30 ]; do
        anew2=$(timeout -k 2 30 sh -c "echo anew > '$ma/home/alice/a-anew'" 2>&1) && { anew2=OK; break; }
        anew2=$(errname "$anew2"); sleep 1
    done
    a4=$(own_ask $aout 5 a4 "A retaken (held)" 30)
    ok=1
    [ "$anew2" = OK ] && [ -e "$s/a-anew" ] || ok=0
    case $a4 in EIO*) ;; *) ok=0 ;; esac
    [ "$(inbox)" = "$want" ] || ok=0
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what: B let home/alice go after ownership_idle=3 s; A took it anew (a new file: $anew2 after $((SECONDS - t0)) s, A's stats: takeovers=$(own_stat "$ma" takeovers)); the descriptor held since before the cut: $a4; the server's inbox unchanged: $([ "$(inbox)" = "$want" ] && echo yes || echo no)"
    exec 5>&-
    say "A's appender: $(tr '\n' ';' < $aout); B's: $(tr '\n' ';' < $bout)$(has ownership-window && echo "; A's second: $(tr '\n' ';' < $wout)")"
    own_teardown
    say "nfsguard's logs (ownership):"; sed 's/^/  A | /' "$loga"; sed 's/^/  B | /' "$logb"
}

# --- two Dovecots on the same mailboxes (dovecots; NFSv4.2) ---------------------
# Dovecot on host A (127.0.0.1's NFS client) and on host B (the network
# namespace's) take LMTP deliveries and IMAP changes for the same users at
# once (tests/e2e/shared_mailboxes.py). Straight on NFS this is what
# Dovecot's documents warn about: it must go wrong (the control). Through
# nfsguard with ownership=home/* on both: every message once, every
# acknowledged change kept, nothing in Dovecot's logs but refusals.
DC_A=/mnt/dcA DC_B=/mnt/dcB
dc_run() {  # dc_run TAG MESSAGES PAUSE: the scenario on $DC_A and $DC_B; prints its outcome
    timeout -k 10 600 python3 /shared/two_dovecots.py "$1" "$EXPORT" $DC_A $DC_B "/tmp/dc-$1" "$2" "$3" \
        > "$OUT/dovecots-$1.log" 2>&1
    sed 's/^/  | /' "$OUT/dovecots-$1.log" >&2
    tail -n 1 "$OUT/dovecots-$1.log" | sed "s/^RESULT //"
}
check_dovecots() {
    local what="v4.2 two Dovecots" lease r ok why
    lease=$(short_lease)
    mkdir -p /tmp/ngrun
    why=$(two_clients $DC_A $DC_B) || { result bad "$what: $why"; return; }
    # The control under more load than the guarded run (ownership needs idle
    # gaps to hand a mailbox over; Dovecot's NFS settings hide a gentle load)
    say "=== $what straight on NFS (the control)"
    r=$(dc_run straight 200 0.5)
    ok=0
    tail -n 1 "$OUT/dovecots-straight.log" | grep -q '^RESULT TROUBLE' && ok=1
    result "$([ $ok = 1 ] && echo ok || echo bad)" "$what straight on NFS, the same users on both hosts (the control, it must go wrong): $r"
    say "=== $what through nfsguard, ownership=home/*"
    OWN_PIDS=''
    if own_start $DC_A hostA "$OUT/nfsguard-dovecots-A.log" "$lease" 1 &&
        own_start $DC_B hostB "$OUT/nfsguard-dovecots-B.log" "$lease" 1; then
        r=$(dc_run ownership 60 2.5)
        local ta tb
        ta=$(own_stat $DC_A takeovers) tb=$(own_stat $DC_B takeovers)
        ok=0
        tail -n 1 "$OUT/dovecots-ownership.log" | grep -q '^RESULT clean' &&
            [ "${ta:-0}" -ge 1 ] 2>/dev/null && [ "${tb:-0}" -ge 1 ] 2>/dev/null && ok=1
        result "$([ $ok = 1 ] && echo ok || echo bad)" "$what through nfsguard with ownership: $r; takeovers A=$ta B=$tb, refusals A=$(own_stat $DC_A refused) B=$(own_stat $DC_B refused)"
    else
        result bad "$what: nfsguard did not mount"
    fi
    OWN_A=$DC_A OWN_B=$DC_B own_teardown
}

# --- NFS RPCs per mail operation (LANE_CHECKS=rpcs; not in the default set) --
# What each call nfsguard adds costs on real NFS: the RPCs the client sent
# per operation of a mailbench workload, straight on the NFS mount and through
# nfsguard in each cache mode. Counted (nfsstat -c -l before and after), so
# TCG's slowness does not matter; a run of N operations less a run of none,
# over N, as tests/bench/run.py counts system calls.
MAILBENCH=$HERE/nfsguard-mailbench
RPC_OPS=${LANE_RPC_OPS:-60}
RPC_WORKLOADS="maildir-rename maildir-link mbox create-unlink scan"
rpc_counts() { nfsstat -c -l | awk '$NF ~ /^[0-9]+$/ && $(NF-1) ~ /:$/ && $(NF-1) != "total:" {sub(":", "", $(NF-1)); n[$(NF-1)] += $NF} END {for (k in n) print k, n[k]}' | sort; }
rpc_total() { awk '/^rpc / {print $2}' /proc/net/rpc/nfs; }
# One workload's RPCs per operation in directory $2: prints "TOTAL top-procedures".
rpcs_per_op() {  # $1 workload $2 dir
    local w=$1 d=$2 n=$RPC_OPS extra=() b0 a0 t_full t_none
    mkdir -p "$d"
    if [ "$w" = scan ]; then
        extra=(--files 200); n=200
        "$MAILBENCH" populate "$d" --ops 0 --files 200 > /dev/null || return 1
    fi
    run() {  # $1 ops
        [ "$w" = scan ] && { sync; echo 3 > /proc/sys/vm/drop_caches; }
        "$MAILBENCH" "$w" "$d" --ops "$1" "${extra[@]}" > /dev/null
    }
    # (Files, not <(...): the guest has no /dev/fd.)
    b0=$(rpc_total); rpc_counts > /tmp/rpcs.before; run "$n" || return 1
    rpc_counts > /tmp/rpcs.after; a0=$(rpc_total)
    t_full=$((a0 - b0)) t_none=0
    # A scan's work is the whole listing, also in a run of 0 entries: not subtracted.
    if [ "$w" != scan ]; then b0=$(rpc_total); run 0 || return 1; a0=$(rpc_total); t_none=$((a0 - b0)); fi
    # Procedures that took at least 0.1 an operation, most first.
    local top
    top=$(join -a 2 -e 0 -o 0,1.2,2.2 /tmp/rpcs.before /tmp/rpcs.after |
          awk -v n="$n" '{d = ($3 - $2) / n; if (d >= 0.1) printf "%s %.1f\n", $1, d}' |
          sort -k2 -nr | awk '{printf "%s=%s ", $1, $2}')
    awk -v f="$t_full" -v z="$t_none" -v n="$n" -v top="$top" \
        'BEGIN {printf "%.1f  %s\n", (f - z) / n, top}'
}
measure_rpcs() {  # $1 version $2 NFS mount point $3 straight view of it
    local v=$1 m=$2 raw=$3 mode w ok=1 log
    declare -A per=()
    for w in $RPC_WORKLOADS; do
        per["$w straight"]=$(rpcs_per_op "$w" "$raw/v$v-rpcs-straight/$w") || { ok=0; per["$w straight"]="failed"; }
    done
    for mode in shared pinned; do
        log=$OUT/nfsguard-v$v-rpcs-$mode.log
        if ! start_nfsguard "$m" "$log" "cache=$mode"; then ok=0; continue; fi
        for w in $RPC_WORKLOADS; do
            per["$w $mode"]=$(rpcs_per_op "$w" "$m/v$v-rpcs-$mode/$w") || { ok=0; per["$w $mode"]="failed"; }
        done
        stop_nfsguard
    done
    {
        echo
        echo "NFS v$v RPCs per operation ($RPC_OPS operations; scan: per entry of 200, caches dropped), with the procedures that took 0.1 or more:"
        for w in $RPC_WORKLOADS; do
            for mode in straight shared pinned; do
                printf '  %-15s %-9s %s\n' "$w" "$mode" "${per["$w $mode"]:-not run}"
            done
        done
    } | tee -a "$RESULTS"
    result "$([ $ok = 1 ] && echo ok || echo bad)" "v$v rpcs: every workload ran straight and through nfsguard (shared, pinned)"
}

# --- fence-probe: does an OFD lock on the writing descriptor fence its writes? --
# An experiment (LANE_CHECKS=fence-probe; not in the default set; NFSv4.2),
# straight on NFS, without nfsguard: host A (127.0.0.1's client) and host B
# (the network namespace's), as in the ownership check. A holds an OFD lock
# on a lease file and writes into a file; its traffic is cut (own_cut); B
# takes the lease over once the server expired A, then the file, and appends;
# A is restored. Variant N: A's writing descriptor holds no lock; L: an OFD
# read lock on one byte at 2**62 on it; L2: that lock on another descriptor
# of the file. One line per variant: what A's calls returned, what the
# server's file holds (lanecheck.py fenceprobe). A PASS says the probe ran.
FP_A=/mnt/fpA FP_B=/mnt/fpB
fp_umount() {
    local m
    for m in $FP_A $FP_B; do grep -qs " $m nfs" /proc/mounts && { timeout 20 umount "$m" 2>/dev/null || umount -f -l "$m"; }; done
}
check_fence_probe() {
    local lease var out why
    lease=$(short_lease)
    [ $NETNS = yes ] || setup_netns || { result bad "v4.2 fence-probe: no network namespace"; return; }
    export -f own_cut own_uncut   # lanecheck.py runs them
    say "fence-probe: the server's lease time is $lease s; nfs.recover_lost_locks=$(cat /sys/module/nfs/parameters/recover_lost_locks 2>/dev/null)"
    for var in N L L2; do
        why=$(two_clients $FP_A $FP_B) || { result bad "v4.2 fence-probe $var: $why"; continue; }
        out=$OUT/fence-probe-$var.log
        say "=== v4.2 fence-probe $var"
        timeout -k 5 300 python3 "$LANECHECK" fenceprobe "$var" "$FP_A/fence-$var" "$FP_B/fence-$var" \
            "$EXPORT/fence-$var" "$lease" own_cut own_uncut > "$out" 2>&1
        own_uncut
        sed 's/^/  /' "$out"
        if resultok "$out"; then result ok "v4.2 fence-probe $(lastline "$out")"
        else result bad "v4.2 fence-probe $var: did not finish: $(tail -n 3 "$out" | tr '\n' ' ')"; fi
        fp_umount
    done
}

# --- main ---------------------------------------------------------------------
CHECKS=${LANE_CHECKS:-"lostreply estale silly cache locks closeerr guard doctor ownership dovecots"}
has() { case " $CHECKS " in *" $1 "*) return 0 ;; esac; return 1; }
sysctl -q -w fs.protected_hardlinks=0   # else link() sends an ACCESS first (see README)
modprobe -a nf_tables inet_diag tcp_diag veth 2>/dev/null
say "kernel $(uname -r); nfsguard: $(ldd "$NFSGUARD" | grep -c 'not found') missing libraries; checks: $CHECKS"
ldd "$NFSGUARD" | grep 'not found' && { echo "nfsguard cannot run in the guest"; exit 3; }
mkdir -p $ROOTVIEW && mount --bind / $ROOTVIEW   # the local directories under the mounts
if has locks || has cache || has ownership || has dovecots; then setup_netns || say "no network namespace client: $(ip netns list)"; fi
has closeerr && { setup_small || say "cannot export a small tmpfs"; }

declare -A TABLE=()
for v in $VERS; do
    m=/mnt/nfs$v; m=${m%%.*}
    raw=/mnt/raw${v%%.*} other=/mnt/other${v%%.*}
    mkdir -p "$m" "$raw"
    if [ "$v" = 3 ]; then o=vers=3,proto=tcp,$NFS_OPTS; else o=vers=$v,$NFS_OPTS; fi
    mount -t nfs -o "$o" 127.0.0.1:/export "$m" || { result bad "v$v: cannot mount NFS"; continue; }
    say "mounted $(grep " $m nfs" /proc/mounts)"
    # The NFS mount seen straight while nfsguard sits on top: a bind mount
    # (the same client, the same caches).
    mount --bind "$m" "$raw"
    declare -A straight=() guarded=()

    if has lostreply; then
        say "=== v$v control: straight on the NFS mount"
        for op in $OPS; do
            trial "$v" straight "$op" "$m"
            straight[$op]="$TRIAL_EXEC|$TRIAL_RES|$TRIAL_STATE"
        done
    fi

    say "=== v$v through nfsguard on top of $m"
    log=$OUT/nfsguard-v$v.log
    if start_nfsguard "$m" "$log"; then
        grep " $m " /proc/mounts
        if has lostreply; then
            for op in $OPS; do
                trial "$v" nfsguard "$op" "$m"
                guarded[$op]="$TRIAL_EXEC|$TRIAL_RES|$TRIAL_STATE"
            done
        fi
        if has estale; then say "=== v$v ESTALE"; check_estale "$v" "$m/v$v-estale" "$EXPORT/v$v-estale" "$raw/v$v-estale"; fi
        if has silly; then say "=== v$v silly renames"; check_silly "$v" "$m/v$v-silly" "$EXPORT/v$v-silly" "$raw/v$v-silly"; fi
        if has cache || has locks; then
            other_is=$(mount_other "$v" "$other") || { other_is=''; say "v$v: no second client"; }
            [ -n "$other_is" ] && say "second client on $other: $other_is: $(grep " $other " /proc/mounts)"
        fi
        if has cache; then
            say "=== v$v cache coherence"
            if [ -n "$other_is" ]; then check_cache "$v" "$other/v$v-cache" "$m/v$v-cache" "$raw/v$v-cache" "$other_is"
            else result bad "v$v cache: no second client"; fi
        fi
        if has doctor; then say "=== v$v nfsguard doctor"; check_doctor "$v" "$m"; fi
        if has locks; then
            say "=== v$v locks"
            if [ -n "$other_is" ]; then check_locks "$v" "$m/v$v-lockfile" "$EXPORT/v$v-lockfile" "$other/v$v-lockfile" "$other_is"
            else result bad "v$v locks: no second client"; fi
        fi
        stop_nfsguard
    else
        result bad "v$v: nfsguard did not mount on $m"
    fi
    say "nfsguard's log (v$v):"; sed 's/^/  | /' "$log"
    grep -qs " $other " /proc/mounts && { umount "$other" || umount -f -l "$other"; }

    if has rpcs; then say "=== v$v RPCs per operation"; measure_rpcs "$v" "$m" "$raw"; fi
    if has closeerr; then say "=== v$v close errors"; check_closeerr "$v"; fi
    if has guard; then
        say "=== v$v guard"; check_guard "$v" "$m"
        say "=== v$v umount -l"; check_lazy_umount "$v" "$o"
    fi

    for op in $OPS; do
        has lostreply || break
        want=$(expected_error "$op")
        IFS='|' read -r s_exec s_res s_state <<< "${straight[$op]}"
        IFS='|' read -r g_exec g_res g_state <<< "${guarded[$op]:-no|nfsguard did not mount|wrong}"
        read -r call hidname <<< "$(logged_call "$op")"
        hid=$(grep -c "hid a false $want from $call of /v$v-$op-nfsguard/$hidname:" "$log" 2>/dev/null)
        ok=1 why=
        case $s_res in
            "ERR $want "*) s_txt="$want (false error)"; TABLE["$op $v bare"]=$want ;;
            OK*) s_txt="OK (no false error: recipe did not reproduce)"; ok=0; TABLE["$op $v bare"]=OK ;;
            *) s_txt="${s_res%% (*} (unexpected)"; ok=0; TABLE["$op $v bare"]=${s_res%% (*} ;;
        esac
        case $op in
            deliver-*) [ "$s_state" = right ] && [ "${s_res%% *}" = ERR ] &&
                s_txt+=": the delivery failed with the message already in new/ (a retry delivers it twice)" ;;
        esac
        case $s_state in
            right) ;;
            "stale view") s_txt+=", caller's view stale afterwards" ;;
            *) ok=0; why+=" straight end state wrong on the server;" ;;
        esac
        case $g_res in
            OK*) if [ "$hid" -ge 1 ]; then g_txt="ok (hidden)"; else g_txt="ok (no false error hidden)"; ok=0; fi
                TABLE["$op $v ng"]="OK (hidden: $hid)" ;;
            ERR*) g_txt="${g_res%% (*} (NOT hidden)"; ok=0; TABLE["$op $v ng"]=${g_res%% (*} ;;
            *) g_txt="$g_res"; ok=0; TABLE["$op $v ng"]=${g_res:0:20} ;;
        esac
        case $op in deliver-*) [ "$g_state" = right ] && g_txt+=", delivered exactly once" ;; esac
        [ "$g_state" = right ] || { ok=0; why+=" end state through nfsguard: $g_state;"; }
        [ "$g_exec" = yes ] && [ "$s_exec" = yes ] || why+=" server had not done the call before the recovery;"
        result "$([ $ok = 1 ] && echo ok || echo bad)" "v$v $op: through nfsguard $g_txt, straight: $s_txt${why:+;$why}"
    done
    unset straight guarded
    umount "$raw"
    umount "$m" || umount -f -l "$m"
done

if has lostreply; then
    {
        echo
        echo "Lost replies (the server did the call; its reply was lost and the retransmission answered):"
        printf '%-15s' "call"
        for v in $VERS; do printf '| %-16s| %-20s' "v$v bare NFS" "v$v through nfsguard"; done
        echo
        for op in $OPS; do
            printf '%-15s' "$op"
            for v in $VERS; do printf '| %-16s| %-20s' "${TABLE["$op $v bare"]:--}" "${TABLE["$op $v ng"]:--}"; done
            echo
        done
        echo
    } | tee -a "$RESULTS"
fi

if has fence-probe; then
    case " $VERS " in
        *" 4.2 "*) say "=== v4.2 fence-probe (an OFD lock on the writing descriptor; A's network cut)"; check_fence_probe ;;
        *) say "fence-probe: not run (NFSv4.2 only; LANE_VERS=$VERS)" ;;
    esac
fi
if has ownership; then
    case " $VERS " in
        *" 4.2 "*) say "=== v4.2 ownership (two NFS clients, A's network cut)"; check_ownership ;;
        *) say "ownership: not run (NFSv4.2 only; LANE_VERS=$VERS)" ;;
    esac
fi
if has dovecots; then
    case " $VERS " in
        *" 4.2 "*) say "=== v4.2 two Dovecots on the same mailboxes"; check_dovecots ;;
        *) say "dovecots: not run (NFSv4.2 only; LANE_VERS=$VERS)" ;;
    esac
fi

[ $NETNS = yes ] && { ip netns del lane2; ip link del lanev0 2>/dev/null; }
mountpoint -q $SMALL && { exportfs -u 127.0.0.1/8:$SMALL; umount $SMALL; }
umount $ROOTVIEW
echo "$pass passed, $fail failed" | tee -a "$RESULTS"
[ $fail = 0 ]
