#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The README's test command: installs what is missing, builds, checks the
# formatting and lint (format-check, tidy), runs every test suite (unit, bpf,
# integration, e2e, bench-smoke), then the unit and integration suites under
# ASan/UBSan and the fuzz suite. Exits non-zero if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
# The BPF tests pin maps under /sys/fs/bpf: mount bpffs there if it is not.
if [ "$(id -u)" -eq 0 ] && ! mount | grep -q ' /sys/fs/bpf type bpf'; then
	mount -t bpf bpf /sys/fs/bpf || echo "test.sh: cannot mount bpffs; the bpf suite will fail" >&2
fi
status=0
# Style and lint first: quick, and a finding is worth knowing before the suites.
ninja -C build format-check || status=1
ninja -C build tidy || status=1
meson test -C build --suite unit --suite bpf --suite integration --suite e2e \
	--suite bench-smoke --print-errorlogs --num-processes 1 || status=1
# Hostile input (issue 10): the unit and integration suites again under ASan
# and UBSan (build-asan), then every fuzz harness for a short while
# (build-fuzz). Their logs are their own build directories' meson-logs.
bash scripts/test-sanitize.sh || status=1
bash scripts/test-fuzz.sh || status=1
# One closing line, "N passed, N failed", counted from meson's logs.
logs=(build/meson-logs/testlog.json)
for d in build-asan build-fuzz; do
	[ -f "$d/meson-logs/testlog.json" ] && logs+=("$d/meson-logs/testlog.json")
done
python3 scripts/summarize_tests.py <(cat "${logs[@]}")
exit $status
