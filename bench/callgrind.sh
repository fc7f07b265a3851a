#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Instructions per packet of the pipeline, repeatable: runs bench_pipeline
# under callgrind at two packet counts and divides the difference by the
# difference in packets, so set-up and table creation cancel out.
#   bench/callgrind.sh [BUILD_DIR]   (default: build)
set -euo pipefail
build=${1:-build}
bin=$build/bench/bench_pipeline
[ -x "$bin" ] || { echo "callgrind.sh: no $bin (build first)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n1=20000
n2=120000
ir() {
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" "$1" "$2" >/dev/null 2>"$tmp/log"
	sed -n 's/^summary: //p;s/^totals: //p' "$tmp/cg" | head -1
}
printf '%-14s %s\n' scenario instructions/packet
for sc in est-dsr new-dsr est-fnat fnat-reply new-fnat fnat-no-port sched-rr sched-wrr sched-lc sched-wlc sched-maglev; do
	a=$(ir "$sc" $n1)
	b=$(ir "$sc" $n2)
	printf '%-14s %d\n' "$sc" $(((b - a) / (n2 - n1)))
done
