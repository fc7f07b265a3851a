#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Instructions and last-level cache misses per packet of the pipeline,
# repeatable: runs bench_pipeline under callgrind (instructions) and under
# cachegrind (cache misses) at two packet counts and divides the difference
# by the difference in packets, so set-up and table creation cancel out.
#   bench/callgrind.sh [BUILD_DIR [ROW...]]   (default: build, every row)
# About 3.5 minutes on 2 cores, most of it the rows with 1M flows: their
# set-up (opening the flows, not counted) runs each time under cachegrind,
# 10 to 15 s a run.
set -euo pipefail
build=${1:-build}
shift || true
bin=$build/bench/bench_pipeline
[ -x "$bin" ] || { echo "callgrind.sh: no $bin (build first)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n1=20000
n2=120000
# The cache cachegrind simulates, the same on every host: L1 32 KiB 8-way
# (instructions and data), last level 32 MiB 16-way, 64-byte lines. 32 MiB
# is the L3 of one AMD EPYC CCX (Zen 3/4): all the last-level cache one
# lcore can reach there, and more than it gets when other lcores share it,
# so the misses are if anything low. The flow table of 1M flows is 88 MiB
# (its side table for full-NAT 24 MiB more): it cannot fit, 4096 flows do.
# Cachegrind models no L2 and no hardware prefetcher: its last-level misses
# are what would go to memory, approximately, and repeatably.
cache=(--I1=32768,8,64 --D1=32768,8,64 --LL=33554432,16,64)
run() { # tool-args... -- bench-args...: runs valgrind, or says why it failed
	local t=()
	while [ "$1" != -- ]; do t+=("$1"); shift; done
	shift
	nice -n 10 valgrind "${t[@]}" "$bin" "$@" >/dev/null 2>"$tmp/log" || {
		echo "callgrind.sh: $bin $* failed:" >&2
		grep -v "^==[0-9]*==" "$tmp/log" | tail -5 >&2
		exit 1
	}
}
ir() { # instructions of one run
	run --tool=callgrind ${cg_start[@]+"${cg_start[@]}"} --callgrind-out-file="$tmp/cg" -- "$@"
	sed -n 's/^summary: //p;s/^totals: //p' "$tmp/cg" | head -1
}
ll() { # last-level misses of one run: data (DLmr + DLmw), and all (ILmr too)
	run --tool=cachegrind --cache-sim=yes "${cache[@]}" --cachegrind-out-file="$tmp/cc" -- "$@"
	awk '/^events:/ { for (i = 2; i <= NF; i++) ev[i] = $i }
	     /^summary:/ { for (i = 2; i <= NF; i++) v[ev[i]] = $i
			   print v["DLmr"] + v["DLmw"], v["ILmr"] + v["DLmr"] + v["DLmw"] }' "$tmp/cc"
}
# bench_pipeline starts callgrind's instrumentation with its timed part when
# built with valgrind's header: the set-up then runs uninstrumented, several
# times faster. Without it everything is counted (slower, same figures).
cg_start=(--instr-atstart=no)
[ "$(ir est-dsr 1000)" -ge 1000 ] 2>/dev/null || cg_start=()
# Rows: name, scenario, flows (est-*: established flows replayed in a random
# order; new-dsr-full*: the table is full of 1M flows). Full-NAT takes two
# entries per connection, so 500k connections about fill the 1M-entry table.
rows=(
	"est-dsr est-dsr"
	"est-dsr-1m est-dsr 1000000"
	"new-dsr new-dsr"
	"new-dsr-full new-dsr-full"
	"new-dsr-full-est new-dsr-full-est"
	"est-fnat est-fnat"
	"est-fnat-500k est-fnat 500000"
	"fnat-reply fnat-reply"
	"fnat-reply-500k fnat-reply 500000"
	"est-dsr6 est-dsr6"
	"est-fnat6 est-fnat6"
	"est-tunnel est-tunnel"
	"est-nat est-nat"
	"nat-reply nat-reply"
	"new-fnat new-fnat"
	"fnat-no-port fnat-no-port"
	"sched-rr sched-rr"
	"sched-wrr sched-wrr"
	"sched-lc sched-lc"
	"sched-wlc sched-wlc"
	"sched-maglev sched-maglev"
)
if [ $# -gt 0 ]; then # only the rows named, in that order
	all=("${rows[@]}")
	rows=()
	for want in "$@"; do
		found=
		for row in "${all[@]}"; do
			[ "${row%% *}" = "$want" ] && rows+=("$row") && found=1
		done
		[ -n "$found" ] || { echo "callgrind.sh: no row $want" >&2; exit 2; }
	done
fi
printf '%-17s %-20s %-18s %s\n' scenario instructions/packet LLd-misses/packet LL-misses/packet
for row in "${rows[@]}"; do
	read -r name sc flows <<<"$row"
	a=$(ir "$sc" $n1 $flows)
	b=$(ir "$sc" $n2 $flows)
	la=$(ll "$sc" $n1 $flows)
	lb=$(ll "$sc" $n2 $flows)
	read -r da ta <<<"$la"
	read -r db tb <<<"$lb"
	printf '%-17s %-20d %s\n' "$name" $(((b - a) / (n2 - n1))) \
		"$(awk -v d=$((db - da)) -v t=$((tb - ta)) -v n=$((n2 - n1)) \
			'function r(x) { return x > -0.005 && x < 0.005 ? 0 : x } # no "-0.00"
			 BEGIN { printf "%-18.2f %.2f", r(d / n), r(t / n) }')"
done
echo "# LL: cachegrind, ${cache[*]}; packets $n1 and $n2; ${SECONDS} s"
