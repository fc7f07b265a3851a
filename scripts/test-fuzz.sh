#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Builds the libFuzzer harnesses (tests/fuzz) with clang, ASan and UBSan in
# ./build-fuzz and runs the `fuzz` suite: every harness replays its seeds
# and past findings, then fuzzes FUZZ_SECONDS (default 15) each.
#
#   bash scripts/test-fuzz.sh                               # CI: 15 s each
#   FUZZ_SECONDS=3600 bash scripts/test-fuzz.sh pipeline   # a long run of one
#
# Names (parse, pipeline, conf, api) pick harnesses; tests/fuzz/README.md
# says what each checks and what to do with a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-fuzz/build.ninja ]; then
	# Only the libraries and the harnesses: no data plane, no test suites.
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Ddataplane=disabled >/dev/null
fi
targets=$(meson introspect build-fuzz --targets |
	python3 -c 'import json, sys; print(" ".join(t["name"] for t in json.load(sys.stdin) if t["name"].startswith("fuzz_")))')
# shellcheck disable=SC2086 # one word per target
meson compile -C build-fuzz $targets >/dev/null
timeout_args=()
if [ "${FUZZ_SECONDS:-15}" -gt 500 ]; then
	timeout_args=(--timeout-multiplier 0) # a long run: no meson timeout
fi
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs --num-processes 1 \
	"${timeout_args[@]}" "$@"
