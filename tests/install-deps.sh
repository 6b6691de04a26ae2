#!/usr/bin/env bash
# Installs, from Debian 12's packages, everything nfsguard needs to build, run
# and be tested. Idempotent; run as root.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config libfuse3-dev libspdlog-dev
  libgtest-dev libgmock-dev googletest clang-format
  # run
  fuse3
  # tests
  python3 python3-pytest python3-pytest-timeout util-linux procps
  # counting nfsguard's backing calls (a timestamp test; the benchmark)
  strace
  # lock tools mail software uses, for the lock tests
  procmail liblockfile-bin
  # the Debian package: dpkg-shlibdeps for its Depends, man to render its page
  dpkg-dev man-db
  # the end-to-end tests run real mail software (private instances)
  postfix dovecot-core dovecot-imapd dovecot-lmtpd
  # the systemd lane prints the stack of a core nfsguard dumped in its VM
  gdb
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix and Dovecot are installed for the tests' own instances: no
  # configuration for the machine's mail, and no service started by the
  # package scripts (policy-rc.d says no while they run).
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# FUSE needs its device; a fresh container may not have loaded the module.
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
