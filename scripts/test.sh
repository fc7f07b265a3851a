#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The README's test command: installs what is missing, builds, and runs every
# test suite (unit, bpf, integration, e2e). Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
# The BPF tests pin maps under /sys/fs/bpf: mount bpffs there if it is not.
if [ "$(id -u)" -eq 0 ] && ! mount | grep -q ' /sys/fs/bpf type bpf'; then
	mount -t bpf bpf /sys/fs/bpf || echo "test.sh: cannot mount bpffs; the bpf suite will fail" >&2
fi
status=0
meson test -C build --suite unit --suite bpf --suite integration --suite e2e \
	--print-errorlogs --num-processes 1 || status=1
# One closing line, "N passed, N failed", counted from meson's log.
python3 scripts/summarize_tests.py build/meson-logs/testlog.json
exit $status
