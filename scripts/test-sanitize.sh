#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Builds Sluice with AddressSanitizer and UndefinedBehaviorSanitizer
# (-Db_sanitize=address,undefined) in ./build-asan and runs the unit and
# integration suites there: an out-of-bounds access, a leak, or undefined
# behaviour (overflow, misaligned access, bad shift) fails the test that
# caused it. The package test is left out: it builds the Debian package,
# which is not built with sanitizers. Extra arguments go to meson test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-asan/build.ninja ]; then
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-asan >/dev/null
# UBSan only reports by default; halt makes a report fail the test. Leaks
# fail too, but for the known ones in scripts/lsan-suppressions.txt (full
# stacks, so that a suppression can name the function that leaked).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0}
tests=$(meson test -C build-asan --list --no-rebuild --suite unit --suite integration 2>/dev/null |
	sed 's/^sluice:[a-z]* \/ //' | grep -vx package)
# shellcheck disable=SC2086 # one word per test name
meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 1 $tests "$@"
