#!/usr/bin/env bash
# The whole test suite: bash tests/run.sh   (as root, on Debian 12)
#
# Stages, each bounded in time: format check; the demo; release build; unit tests;
# integration tests mounting the real binary; the same unit and integration
# tests built with AddressSanitizer + UndefinedBehaviorSanitizer, and again
# with ThreadSanitizer; the real-NFS lane (a qemu VM with the kernel's NFS
# server and client); and the systemd lane (the package under systemd in it).
# Every stage runs even when one before it failed; the last line counts them.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PYTHON=/usr/bin/python3   # Debian's, which has pytest (not a pyenv one)
JOBS=$(nproc)

passed=0
failed=0
failures=()
stage() {
  local name=$1 limit=$2
  shift 2
  echo
  echo "=== $name (at most ${limit}s)"
  local start=$SECONDS
  if timeout --kill-after=30 "$limit" bash -c '"$@"' stage "$@"; then
    passed=$((passed + 1))
    echo "=== $name: passed in $((SECONDS - start))s"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== $name: FAILED after $((SECONDS - start))s"
  fi
}

cleanup_mounts() {
  # Nothing a test left mounted may outlive the run.
  grep -E ' fuse(\.[^ ]*)? ' /proc/self/mounts | awk '{print $2}' | grep '/nfsguard-it-' |
    while read -r m; do fusermount3 -u -z "$m" || true; done
}
trap cleanup_mounts EXIT

bash tests/install-deps.sh || { echo "cannot install dependencies"; exit 1; }

build() {  # build DIR [cmake args...]
  local dir=$1
  shift
  cmake -S "$REPO" -B "$dir" -G Ninja "$@" >/dev/null && ninja -C "$dir" -j "$JOBS"
}
integration() {  # integration BUILD_DIR [pytest args...]: faultfs's own tests, then nfsguard's
  local dir=$1
  shift
  NFSGUARD_BUILD="$REPO/$dir" "$PYTHON" -m pytest "$REPO/tests/faultfs" -q -p no:cacheprovider &&
    NFSGUARD_BUILD="$REPO/$dir" "$PYTHON" -m pytest "$REPO/tests/integration" -q \
      -p no:cacheprovider "$@"
}

export REPO PYTHON JOBS
export -f build integration

stage "format" 120 bash tests/check-format.sh
# The README's first command, as a new user runs it: in a clean clone it
# builds only what the demo builds (CI runs this script in a fresh clone).
stage "demo (README's first command)" 900 bash tests/demo.sh
stage "build" 1500 build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
stage "unit tests" 300 ctest --test-dir build --output-on-failure --timeout 120
stage "integration tests" 1500 integration build
# The .deb cpack makes from that build: its contents, and dpkg -i / -r / -P.
NFSGUARD_BUILD="$REPO/build" stage "debian package" 600 bash tests/package/run.sh

# Real Postfix and Dovecot (private instances on 127.0.0.1) delivering through
# nfsguard over faultfs: every message once and intact (tests/e2e).
NFSGUARD_BUILD="$REPO/build" stage "end-to-end mail" 900 \
  "$PYTHON" -m pytest "$REPO/tests/e2e" -q -p no:cacheprovider

# The sanitizer build differs in every object, so it is a second build; its
# integration run uses a smaller big-folder test (the sanitizers slow every
# call) and skips the memory-growth check (ASan's quarantine grows by design).
stage "asan+ubsan build" 1500 build build-asan -DCMAKE_BUILD_TYPE=Debug -DNFSGUARD_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
stage "asan+ubsan unit tests" 300 ctest --test-dir build-asan --output-on-failure --timeout 120
NFSGUARD_SANITIZED=1 NFSGUARD_BIG_FOLDER=20000 NFSGUARD_TORTURE_COUNT=100 \
  stage "asan+ubsan integration tests" 1500 integration build-asan

# ThreadSanitizer: the request threads share the inode table, the lock
# tables and the owed stamps. A race stops the process (halt_on_error), and
# a report left behind fails the stage.
tsan() {  # tsan COMMAND...: runs it, then fails on any report
  local reports=$REPO/build-tsan/reports
  rm -rf "$reports" && mkdir -p "$reports"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan" "$@"
  local rc=$?
  if compgen -G "$reports/tsan.*" >/dev/null; then
    cat "$reports"/tsan.*
    return 1
  fi
  return $rc
}
export -f tsan
stage "tsan build" 1500 build build-tsan -DCMAKE_BUILD_TYPE=Debug -DNFSGUARD_SANITIZE=thread
stage "tsan unit tests" 300 tsan ctest --test-dir build-tsan --output-on-failure --timeout 120
NFSGUARD_SANITIZED=1 NFSGUARD_BIG_FOLDER=20000 NFSGUARD_TORTURE_COUNT=100 \
  stage "tsan integration tests" 1500 tsan integration build-tsan

# Real NFS: nfsd and the NFS client in a qemu VM (software emulation here),
# lost replies made for real, through nfsguard and straight (tests/nfs).
stage "real-NFS lane" 1200 bash tests/nfs/run-lane.sh
# nfsguard's .deb under a real systemd in the same VM kit, with Postfix and
# Dovecot as Debian packages (tests/nfs/systemd).
NFSGUARD_BUILD="$REPO/build" stage "systemd lane" 1200 bash tests/nfs/systemd/run.sh

echo
for f in "${failures[@]}"; do echo "failed stage: $f"; done
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
