#!/usr/bin/env bash
# The Debian package tests (test_debian_package.py), as tests/run.sh runs
# them: as root, on the release build (NFSGUARD_BUILD, default build/).
#
# The tests purge whatever they install. This script purges it too when the
# run is cut short (a stage's time limit sends SIGTERM), so that the machine
# is left with no nfsguard package it did not have before.
set -uo pipefail
cd "$(dirname "$0")/../.."

status() { dpkg-query -W -f '${db:Status-Status}' nfsguard 2>/dev/null || true; }
before=$(status)
cleanup() {
  local now
  now=$(status)
  if [ -z "$before" ] || [ "$before" = not-installed ]; then
    if [ -n "$now" ] && [ "$now" != not-installed ]; then
      echo "purging the nfsguard package the tests left installed"
      dpkg --purge nfsguard >/dev/null || true
    fi
  fi
}
trap cleanup EXIT

"${PYTHON:-/usr/bin/python3}" -m pytest tests/package -q -p no:cacheprovider "$@" &
pid=$!
# bash runs traps only between commands: pytest runs in the background so a
# SIGTERM ends it, and the cleanup above runs, at once.
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM INT
wait "$pid"
