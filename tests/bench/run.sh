#!/bin/bash
# The mail benchmark in one command (README, "Speed"): builds what it needs
# into NFSGUARD_BUILD (default build/) and runs tests/bench/run.py with the
# arguments given (--quick for a short smoke run; --help for the rest), or,
# with --restart-gap first, tests/bench/restart_gap.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${NFSGUARD_BUILD:-build}"
if [ ! -f "$build/build.ninja" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" nfsguard nfsguard-faultfs nfsguard-mailbench >/dev/null
# --reference: libfuse's passthrough_ll as Debian ships it (libfuse3-dev).
example=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
if [ -f "$example" ] && [ ! -x "$build/tests/bench/passthrough_ll" ]; then
    cc -O2 -w "$example" $(pkg-config --cflags --libs fuse3) -o "$build/tests/bench/passthrough_ll"
fi
if [ "${1:-}" = --restart-gap ]; then  # the restart gap (issue 17) instead
    shift
    NFSGUARD_BUILD="$build" exec /usr/bin/python3 tests/bench/restart_gap.py "$@"
fi
NFSGUARD_BUILD="$build" exec /usr/bin/python3 tests/bench/run.py "$@"
