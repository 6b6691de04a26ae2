#!/bin/bash
# run-lane.sh -- nfsguard's real-NFS lane: boots a qemu VM with Linux nfsd and
# the NFS client (../shared/nfsvm, beside this repository), and shows, for
# NFSv3 and NFSv4.2, that real lost-reply false errors reach a caller
# straight on NFS and are hidden by nfsguard mounted on top of the NFS mount.
# See tests/nfs/README.md.
#
#   bash tests/nfs/run-lane.sh        (as root, Debian 12)
#
# Last line: "N passed, M failed"; exit status non-zero on any failure.
# Prints "skipped: <reason>" and exits 0 only when no VM can be run at all.
#
# Env: NFSGUARD_BIN (default: build/nfsguard of this repository)
#      NFSVM_DIR    the reference VM kit (default: <repo>/../shared/nfsvm)
#      LANE_DIR     writable work place (default /tmp/nfslane): image/, share/
#      IMG_DIR      VM image (default $LANE_DIR/image; built when missing or
#                   when it lacks a library nfsguard links)
#      EXTRA_PACKAGES  guest packages added to the image (default: the Debian
#                   packages owning nfsguard's libraries that the stock image
#                   lacks, e.g. libspdlog1.10,libfmt9)
#      LANE_VERS ("3 4.2"), LANE_OPS ("rename link mkdir symlink unlink rmdir
#      deliver-link deliver-rename"), LANE_CHECKS ("lostreply estale silly cache
#      locks closeerr guard doctor ownership dovecots"), LANE_NFS_OPTS
#      ("hard,timeo=10,retrans=2"), VM_TIMEOUT (720 s)
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
NFSVM_DIR=${NFSVM_DIR:-$REPO/../shared/nfsvm}
NFSGUARD_BIN=${NFSGUARD_BIN:-$REPO/build/nfsguard}
LANE_DIR=${LANE_DIR:-/tmp/nfslane}
IMG_DIR=${IMG_DIR:-$LANE_DIR/image}
SHARE_DIR=$LANE_DIR/share
export LANE_VERS=${LANE_VERS:-"3 4.2"}
export LANE_OPS=${LANE_OPS:-"rename link mkdir symlink unlink rmdir deliver-link deliver-rename"}
export LANE_CHECKS=${LANE_CHECKS:-"lostreply estale silly cache locks closeerr guard doctor ownership dovecots"}
export LANE_NFS_OPTS=${LANE_NFS_OPTS:-"hard,timeo=10,retrans=2"}
T0=$SECONDS

say() { echo "nfs-lane: $*"; }
skip() { echo "skipped: $*"; exit 0; }
die() { say "$*"; echo "0 passed, 1 failed"; exit 1; }

# --- can a VM run here at all? ------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, qemu image build)"
[ -x "$NFSVM_DIR/run-in-vm.sh" ] && [ -x "$NFSVM_DIR/build-image.sh" ] ||
    skip "no VM kit at $NFSVM_DIR (expected ../shared/nfsvm beside the repository)"
[ -x "$NFSGUARD_BIN" ] || die "no nfsguard binary at $NFSGUARD_BIN (build it first, or set NFSGUARD_BIN)"
# The lane mounts with backing_fs=nfs: a binary built before the backing guard
# would fail inside the VM on every op; say so here instead.
"$NFSGUARD_BIN" --help 2>&1 | grep -q 'backing_fs=' ||
    die "$NFSGUARD_BIN does not know backing_fs= (built before the backing guard?): rebuild it (cmake --build build) or set NFSGUARD_BIN"
if ! command -v qemu-system-x86_64 > /dev/null; then
    command -v apt-get > /dev/null || skip "qemu-system-x86_64 missing and no apt-get to install it"
    say "installing qemu-system-x86 (host)"
    { apt-cache show qemu-system-x86 > /dev/null 2>&1 || apt-get update -q; } > /dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q -o DPkg::Lock::Timeout=300 \
        --no-install-recommends qemu-system-x86 > /dev/null 2>&1 ||
        skip "qemu-system-x86_64 missing and could not be installed"
fi
qemu-system-x86_64 --version > /dev/null 2>&1 || skip "qemu-system-x86_64 does not run"

# One lane at a time on this machine (two TCG VMs on 2 cores time out).
mkdir -p "$LANE_DIR"
exec 9> "$LANE_DIR/lock"
flock -w 900 9 || die "another lane holds $LANE_DIR/lock for 15 minutes"

# --- the image: reuse it when it has every library nfsguard links -------------
missing_libs() {  # prints host library paths missing from the image
    [ -f "$IMG_DIR/rootfs.img" ] || { echo "(no image)"; return; }
    ldd "$NFSGUARD_BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
        local p=$lib
        case $p in /lib/* | /lib64/* | /bin/* | /sbin/*) p=/usr$p ;; esac
        debugfs -R "stat $p" "$IMG_DIR/rootfs.img" 2>&1 | grep -q '^Inode:' || echo "$lib"
    done
}
# The `dovecots` check runs Debian's Dovecot in the guest.
has_dovecot() { debugfs -R "stat /usr/sbin/dovecot" "$IMG_DIR/rootfs.img" 2>&1 | grep -q '^Inode:'; }
need=$(missing_libs)
if [ -n "$need" ] || ! has_dovecot || [ ! -f "$IMG_DIR/initrd.img" ] || [ ! -f "$IMG_DIR/vmlinuz" ]; then
    if [ -z "${EXTRA_PACKAGES:-}" ]; then
        pkgs=libspdlog1.10,libfmt9,dovecot-imapd,dovecot-lmtpd
        for lib in $need; do
            [ "$lib" = "(no image)" ] && continue
            p=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
            [ -n "$p" ] && case ",$pkgs," in *",$p,"*) ;; *) pkgs+=",$p" ;; esac
        done
        EXTRA_PACKAGES=$pkgs
    fi
    say "building the VM image in $IMG_DIR (EXTRA_PACKAGES=$EXTRA_PACKAGES; missing: ${need//$'\n'/ })"
    mkdir -p "$IMG_DIR"
    IMG_DIR=$IMG_DIR EXTRA_PACKAGES=$EXTRA_PACKAGES timeout -k 10 900 "$NFSVM_DIR/build-image.sh" \
        > "$LANE_DIR/build-image.log" 2>&1 ||
        { tail -20 "$LANE_DIR/build-image.log"; die "image build failed (log: $LANE_DIR/build-image.log)"; }
    need=$(missing_libs)
    [ -z "$need" ] || die "the image still lacks: $need (set EXTRA_PACKAGES)"
    say "image built in $((SECONDS - T0)) s"
else
    say "reusing the VM image in $IMG_DIR ($(head -1 "$IMG_DIR/manifest.txt" 2>/dev/null))"
fi

# --- the shared directory the guest sees as /shared ---------------------------
rm -rf "$SHARE_DIR"
mkdir -p "$SHARE_DIR"
install -m 755 "$NFSGUARD_BIN" "$SHARE_DIR/nfsguard"
install -m 755 "$REPO/tests/nfs/in-vm.sh" "$REPO/tests/nfs/fsop.py" "$REPO/tests/nfs/lanecheck.py" \
    "$REPO/tests/nfs/two_dovecots.py" "$SHARE_DIR/"
# two_dovecots.py runs the end-to-end tests' two-host mailbox scenario.
mkdir -p "$SHARE_DIR/e2e/dovecot"
install -m 644 "$REPO"/tests/e2e/{mailstack,mailcheck,imap_client,shared_mailboxes}.py "$SHARE_DIR/e2e/"
install -m 644 "$REPO/tests/e2e/dovecot/dovecot.conf" "$SHARE_DIR/e2e/dovecot/"
# LANE_CHECKS=rpcs runs the mail benchmark's program on NFS.
MAILBENCH_BIN=$(dirname "$NFSGUARD_BIN")/tests/bench/nfsguard-mailbench
[ -x "$MAILBENCH_BIN" ] && install -m 755 "$MAILBENCH_BIN" "$SHARE_DIR/"

say "booting the VM (nfsguard: $NFSGUARD_BIN; versions: $LANE_VERS)"
t_vm=$SECONDS
VM_TIMEOUT=${VM_TIMEOUT:-720}
export IMG_DIR SHARE_DIR VM_TIMEOUT OUT_NAME=out NFSVM_NOMOUNT=1 TEST_TIMEOUT=$((VM_TIMEOUT - 60))
export PASS_ENV="LANE_VERS LANE_OPS LANE_NFS_OPTS LANE_CHECKS LANE_RPC_OPS"
"$NFSVM_DIR/run-in-vm.sh" "$SHARE_DIR/in-vm.sh"
rc=$?
OUT=$SHARE_DIR/out
say "VM done in $((SECONDS - t_vm)) s (script rc $rc); guest output: $OUT/output.log"
for f in "$OUT"/nfsguard-v*.log; do [ -f "$f" ] && say "nfsguard log: $f"; done
echo
if [ -s "$OUT/results.txt" ] && tail -1 "$OUT/results.txt" | grep -q ' passed, '; then
    say "total $((SECONDS - T0)) s"
    cat "$OUT/results.txt"
    # the last line of results.txt is "N passed, M failed"
    [ "$rc" = 0 ] && exit 0
    exit 1
fi
say "no complete result from the guest; tail of its output:"
tail -n 40 "$OUT/output.log" 2> /dev/null
say "total $((SECONDS - T0)) s"
echo "0 passed, 1 failed"
exit 1
