#!/bin/bash
# run.sh -- nfsguard's systemd lane: nfsguard deployed as an administrator
# deploys it, under a real systemd (PID 1) in the qemu VM of ../shared/nfsvm,
# with its NFS server, Postfix and Dovecot as Debian packages with their own
# units, and nfsguard's .deb installed with dpkg -i. See tests/nfs/README.md,
# "The systemd lane".
#
#   bash tests/nfs/systemd/run.sh        (as root, Debian 12)
#
# The VM boots three times from one root disk; guest.sh, run at each boot by
# a unit of its own, does the phase the disk says is next:
#   install   dpkg -i, systemctl enable nfsguard@var-mail, reboot
#   boot      active at boot and ordered; mail; journal priorities; reload,
#             restart, SIGKILL, watchdog (SIGSTOP) keep the mount; doctor;
#             dpkg -i of a newer build under delivery; the NFS server
#             disabled, reboot
#   noserver  boot with the server down: refused, deferred, 4xx; the server
#             back, attached, flushed; stop unmounts; dpkg -r and -P
# Last line: "N passed, M failed"; exit status non-zero on any failure.
# Prints "skipped: <reason>" and exits 0 only when no VM can be run at all.
#
# Env: NFSGUARD_BUILD (default build/ of this repository: its nfsguard and
#      cpack's .deb), NFSVM_DIR (<repo>/../shared/nfsvm), LANE_DIR (writable,
#      default /tmp/systemdlane), IMG_DIR (default $LANE_DIR/image, built when
#      missing or made for other packages), BOOT_TIMEOUT (600 s per boot).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
HERE=$REPO/tests/nfs/systemd
NFSVM_DIR=${NFSVM_DIR:-$REPO/../shared/nfsvm}
BUILD=${NFSGUARD_BUILD:-$REPO/build}
LANE_DIR=${LANE_DIR:-/tmp/systemdlane}
IMG_DIR=${IMG_DIR:-$LANE_DIR/image}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-600}
SHARE=$LANE_DIR/share
OUT=$SHARE/out
# Everything the guest runs besides the stock image: systemd as PID 1 (udev
# for its device units), the mail software, nfsguard's libraries.
PACKAGES=systemd-sysv,udev,dbus,postfix,dovecot-imapd,dovecot-lmtpd,libspdlog1.10,libfmt9
T0=$SECONDS

say() { echo "systemd-lane: $*"; }
skip() { echo "skipped: $*"; exit 0; }
die() { say "$*"; echo "0 passed, 1 failed"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, qemu image build)"
[ -x "$NFSVM_DIR/build-image.sh" ] || skip "no VM kit at $NFSVM_DIR"
[ -x "$BUILD/nfsguard" ] || die "no nfsguard at $BUILD (build it first, or set NFSGUARD_BUILD)"
if ! command -v qemu-system-x86_64 > /dev/null; then
    say "installing qemu-system-x86 (host)"
    { apt-cache show qemu-system-x86 > /dev/null 2>&1 || apt-get update -q; } > /dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q -o DPkg::Lock::Timeout=300 \
        --no-install-recommends qemu-system-x86 > /dev/null 2>&1 ||
        skip "qemu-system-x86_64 missing and could not be installed"
fi

# One VM at a time on this machine (the real-NFS lane takes the same lock).
mkdir -p /tmp/nfslane
exec 9> /tmp/nfslane/lock
flock -w 900 9 || die "another lane holds /tmp/nfslane/lock for 15 minutes"

# --- the image: ../shared/nfsvm's, with the packages above -----------------
if [ "$(cat "$IMG_DIR/lane-packages" 2> /dev/null)" != "$PACKAGES" ] ||
    [ ! -d "$IMG_DIR/work/rootfs/lib/systemd" ] || [ ! -f "$IMG_DIR/vmlinuz" ]; then
    say "building the VM image in $IMG_DIR (+$PACKAGES)"
    rm -rf "$IMG_DIR"
    mkdir -p "$IMG_DIR"
    # postfix asks how it is used: the lane writes its main.cf itself.
    IMG_DIR=$IMG_DIR EXTRA_PACKAGES=$PACKAGES DEBIAN_FRONTEND=noninteractive \
        timeout -k 10 1200 "$NFSVM_DIR/build-image.sh" > "$LANE_DIR/build-image.log" 2>&1 ||
        { tail -20 "$LANE_DIR/build-image.log"; die "image build failed ($LANE_DIR/build-image.log)"; }
    echo "$PACKAGES" > "$IMG_DIR/lane-packages"
    say "image built in $((SECONDS - T0)) s"
else
    say "reusing the VM image in $IMG_DIR"
fi

# --- the package, and a newer build of it ----------------------------------
rm -rf "$SHARE" "$LANE_DIR/deb"
mkdir -p "$SHARE" "$OUT" "$LANE_DIR/deb"
(cd "$BUILD" && cpack -G DEB -B "$LANE_DIR/deb" > "$LANE_DIR/cpack.log" 2>&1) ||
    die "cpack failed ($LANE_DIR/cpack.log)"
deb=$(ls "$LANE_DIR"/deb/nfsguard_*.deb 2> /dev/null | head -1)
[ -n "$deb" ] || die "cpack made no .deb"
cp "$deb" "$SHARE/nfsguard.deb"
# The upgrade: the same binary under a higher version, as dpkg sees an
# upgrade (its postinst gets the old version and restarts the instances).
rm -rf "$LANE_DIR/newer" && dpkg-deb -R "$deb" "$LANE_DIR/newer"
sed -i 's/^Version: .*/&+lane1/' "$LANE_DIR/newer/DEBIAN/control"
dpkg-deb -b "$LANE_DIR/newer" "$SHARE/nfsguard-newer.deb" > /dev/null || die "dpkg-deb -b failed"
install -m 755 "$HERE/guest.sh" "$HERE/mail.py" "$SHARE/"

# --- the lane's root disk: the image's tree, configured, as ext4 -----------
root=$LANE_DIR/root
rm -rf "$root"
cp -a "$IMG_DIR/work/rootfs" "$root"
bash "$HERE/configure-root.sh" "$root" "$HERE" > "$LANE_DIR/configure-root.log" 2>&1 ||
    { tail -20 "$LANE_DIR/configure-root.log"; die "configuring the root failed"; }
size_mb=$(($(du -sm "$root" | cut -f1) * 13 / 10 + 256))
rm -f "$LANE_DIR/root.img"
mkfs.ext4 -q -F -L lane-root -E lazy_itable_init=0 -d "$root" "$LANE_DIR/root.img" "${size_mb}M" ||
    die "mkfs.ext4 of the root failed"
rm -rf "$root"
# The initramfs hands over to systemd instead of nfsvm-init.
ir=$LANE_DIR/initramfs
rm -rf "$ir" && cp -a "$IMG_DIR/work/initramfs" "$ir"
sed -i 's|switch_root /newroot /sbin/nfsvm-init|switch_root /newroot /lib/systemd/systemd|' "$ir/init"
grep -q '/lib/systemd/systemd' "$ir/init" || die "the initramfs's init changed: cannot hand over to systemd"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$LANE_DIR/initrd.img"
# The NFS export, server side: a disk of its own.
truncate -s 0 "$LANE_DIR/export.img" && truncate -s 1G "$LANE_DIR/export.img"
mkfs.ext4 -q -F -L export -E root_owner=0:8 "$LANE_DIR/export.img"
say "root disk ready in $((SECONDS - T0)) s"

# --- the boots ---------------------------------------------------------------
ACCEL=tcg
[ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && ACCEL=kvm
case $ACCEL in
    kvm) accel=(-accel kvm -cpu host) ;;
    *) accel=(-accel tcg,thread=multi -cpu max) ;;
esac
kernel=$IMG_DIR/vmlinux
[ -f "$kernel" ] || kernel=$IMG_DIR/vmlinuz
QPID=
trap '[ -n "$QPID" ] && kill "$QPID" 2> /dev/null' EXIT
trap 'exit 143' TERM INT
for boot in 1 2 3; do
    [ -f "$OUT/finished" ] && break
    t=$SECONDS
    say "boot $boot (accel $ACCEL)"
    timeout -k 10 "$BOOT_TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m 2G -smp 2 \
        -nodefaults -no-user-config -display none -no-reboot \
        -serial "file:$OUT/console-$boot.log" -monitor none \
        -kernel "$kernel" -initrd "$LANE_DIR/initrd.img" \
        -append "console=ttyS0 loglevel=4 panic=-1 systemd.show_status=false" \
        -drive "file=$LANE_DIR/root.img,if=virtio,format=raw,cache=unsafe" \
        -drive "file=$LANE_DIR/export.img,if=virtio,format=raw,cache=unsafe" \
        -fsdev "local,id=shared,path=$SHARE,security_model=none" \
        -device virtio-9p-pci,fsdev=shared,mount_tag=shared \
        -nic none < /dev/null &
    QPID=$!
    wait $QPID
    qrc=$?
    QPID=
    say "boot $boot ended after $((SECONDS - t)) s (qemu rc $qrc)"
    if [ "$qrc" != 0 ]; then
        tail -n 30 "$OUT/console-$boot.log"
        break
    fi
done
echo
[ -f "$OUT/guest.log" ] && say "guest log: $OUT/guest.log"
# Cores of nfsguard (the guest's crashes): the crashing thread's stack, the
# others' in the file beside the core. The package's binary is this build's,
# stripped: the same build id.
for gz in "$OUT"/cores/core.nfsguard.*.gz; do
    [ -f "$gz" ] || continue
    core=${gz%.gz}
    gunzip -kf "$gz" && timeout 120 gdb -batch -ex 'bt 40' -ex 'thread apply all bt 12' \
        "$BUILD/nfsguard" "$core" > "$core.bt" 2>&1
    rm -f "$core"
    say "nfsguard dumped core: $gz (${core##*.}); its stack (all threads in $core.bt):"
    sed -n '/^#0 /,/^$/p' "$core.bt" | head -40
done
say "total $((SECONDS - T0)) s"
if [ -f "$OUT/finished" ] && [ -s "$OUT/results.txt" ]; then
    cat "$OUT/results.txt"
    fails=$(grep -c '^FAIL' "$OUT/results.txt")
    echo "$(grep -c '^PASS' "$OUT/results.txt") passed, $fails failed"
    [ "$fails" = 0 ]
    exit
fi
[ -s "$OUT/results.txt" ] && cat "$OUT/results.txt"
say "the guest did not finish its phases; tail of its log:"
tail -n 40 "$OUT/guest.log" 2> /dev/null
echo "$(grep -c '^PASS' "$OUT/results.txt" 2> /dev/null || echo 0) passed, 1 failed"
exit 1
