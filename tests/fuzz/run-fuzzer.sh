#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# run-fuzzer.sh FUZZER SRCDIR WORKDIR: runs a libFuzzer harness for
# FUZZ_SECONDS (default 15). Every file of SRCDIR/corpus/NAME (the seeds)
# and SRCDIR/regressions/NAME (what fuzzing found once) runs first and must
# pass; then it fuzzes, growing a corpus of its own in WORKDIR/corpus. A
# finding is written to WORKDIR/artifacts/ and fails the test. FUZZ_ARGS
# adds libFuzzer flags (-jobs=2, -dict=..., ...).
set -euo pipefail
exe=$1 src=$2 work=$3
name=$(basename "$exe")
name=${name#fuzz_}
secs=${FUZZ_SECONDS:-15}
mkdir -p "$work/corpus" "$work/artifacts"
dirs=("$work/corpus" "$src/corpus/$name")
[ -d "$src/regressions/$name" ] && dirs+=("$src/regressions/$name")
echo "fuzz: $name for ${secs}s from ${dirs[*]}"
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
exec "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} "${dirs[@]}"
