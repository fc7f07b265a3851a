#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Tries to reproduce the data plane's crash when a memif client goes away:
# one sluice-dataplane (memif server, one worker, as bench/run.py starts it)
# and RUNS short sluice-gen runs against it, one after the other; after each
# the data plane must still be alive and answer its API.
#
#   scripts/memif-disconnect.sh [--runs N] [--seconds S] [--kill-every K]
#                               [--no-gdb] [--build DIR] [--keep]
#
#   --runs N        generator runs (default 20, at most 500)
#   --seconds S     each run's measured window (default 2; warm-up 0.3 s)
#   --kill-every K  every K-th run the generator is SIGKILLed mid-traffic
#                   instead of ending normally (default 0: never)
#   --no-gdb        run the data plane without gdb (gdb changes the timing;
#                   a crash is then seen as its exit status only)
#   --build DIR     the build directory (default ./build)
#   --keep          keep the work directory (logs, config) at the end
#
# Under gdb (the default) a crash stops the data plane with SIGSEGV and gdb
# prints every thread's backtrace into dataplane.log. Exit: 0 no crash in N
# runs, 1 it crashed (the log's tail and backtraces printed), 2 usage or
# set-up error, 77 not root. Bounded: each run's generator has a hard limit,
# the whole script at most N x (S + 30) s.
set -u

runs=20 secs=2 kill_every=0 gdb=1 build="" keep=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--kill-every) kill_every=$2; shift ;;
	--no-gdb) gdb=0 ;;
	--build) build=$2; shift ;;
	--keep) keep=1 ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
	shift
done
[[ "$runs" =~ ^[0-9]+$ ]] && ((runs >= 1 && runs <= 500)) || { echo "--runs 1..500" >&2; exit 2; }
[[ "$secs" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "--seconds: a number" >&2; exit 2; }
[[ "$kill_every" =~ ^[0-9]+$ ]] || { echo "--kill-every: a number" >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (DPDK processes)"
	exit 77
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=${build:-$root/build}
dp=$build/dataplane/sluice-dataplane
gen=$build/bench/tools/sluice-gen
for b in "$dp" "$gen"; do
	[[ -x $b ]] || { echo "no $b (build first)" >&2; exit 2; }
done
if [[ $gdb == 1 ]] && ! command -v gdb >/dev/null 2>&1; then
	echo "gdb not found: install it or use --no-gdb" >&2
	exit 2
fi
for t in socat timeout; do
	command -v $t >/dev/null 2>&1 || { echo "$t not found" >&2; exit 2; }
done

work=$(mktemp -d /tmp/sluice-memif.XXXXXX)
sock=$work/memif.sock
api=$work/api.sock
dp_pid=""
gen_pid=""
cleanup() {
	[[ -n $gen_pid ]] && kill -KILL "$gen_pid" 2>/dev/null
	if [[ -n $dp_pid ]]; then
		kill -TERM "$dp_pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$dp_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$dp_pid" 2>/dev/null
		wait "$dp_pid" 2>/dev/null
	fi
	if [[ $keep == 1 ]]; then
		echo "memif-disconnect: logs kept in $work" >&2
	else
		rm -rf -- "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The data plane as bench/run.py configures it: one memif server port, a DSR
# VIP over 16 backends with static MACs.
{
	echo "dataplane: {api_socket: $api, flow_capacity: 65536}"
	echo "ports:"
	echo "  - name: bench"
	echo "    devargs: \"net_memif0,role=server,socket=$sock,socket-abstract=no,mac=02:00:00:00:00:02\""
	echo "    ipv4: 198.18.0.2/24"
	echo "vips:"
	echo "  - name: bench"
	echo "    address: 198.18.1.100"
	echo "    port: 80"
	echo "    mode: dsr"
	echo "    scheduler: maglev"
	echo "    backends:"
	for ((i = 0; i < 16; i++)); do
		printf '      - {address: 198.18.0.%d, mac: "02:00:00:00:01:%02x"}\n' $((10 + i)) "$i"
	done
} >"$work/sluice.yaml"

dp_argv=("$dp" -l 1 --file-prefix "sluice-memif-$$" --no-pci --no-huge -m 256
	--log-level lib.eal:warning -- --config "$work/sluice.yaml")
if [[ $gdb == 1 ]]; then
	# SIGTERM/SIGINT go straight to the program (the end of the script);
	# anything else that stops it (SIGSEGV, SIGBUS, abort) prints every
	# thread's backtrace, then gdb kills it.
	gdb -q -batch -ex 'set pagination off' -ex 'handle SIGTERM nostop noprint pass' \
		-ex 'handle SIGINT nostop noprint pass' -ex 'handle SIGPIPE nostop noprint pass' \
		-ex run -ex 'echo \n=== crash: backtraces\n' -ex 'thread apply all bt' \
		-ex 'info registers rip' -ex 'x/4i $pc' -ex kill \
		--args "${dp_argv[@]}" </dev/null >"$work/dataplane.log" 2>&1 &
else
	"${dp_argv[@]}" </dev/null >"$work/dataplane.log" 2>&1 &
fi
dp_pid=$!

dp_alive() {
	kill -0 "$dp_pid" 2>/dev/null && ! grep -q '=== crash' "$work/dataplane.log"
}
api_ok() {
	printf '{"cmd":"status"}\n' | timeout 5 socat -t 3 - "UNIX-CONNECT:$api" 2>/dev/null |
		grep -q '"ok": *true'
}
crashed() {
	echo "memif-disconnect: the data plane died after run $1 ($2); its log:" >&2
	tail -80 "$work/dataplane.log" >&2
	keep=1
	exit 1
}

for ((i = 0; i < 600; i++)); do
	api_ok && break
	dp_alive || crashed 0 "at start-up"
	sleep 0.1
done
api_ok || crashed 0 "no API after 60 s"

gen_limit=$(printf '%.0f' "$(echo "$secs + 20" | bc)")
killed=0
for ((r = 1; r <= runs; r++)); do
	kill_this=0
	((kill_every > 0 && r % kill_every == 0)) && kill_this=1
	"$gen" -l 0 --file-prefix "sluice-memif-gen-$$-$r" --no-pci --no-huge -m 128 \
		--log-level lib.eal:warning \
		--vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" -- \
		--pattern est --flows 1000 --dst-mac 02:00:00:00:00:02 --duration "$secs" \
		--warmup 0.3 --drain-ms 200 --link-wait-ms 10000 \
		</dev/null >"$work/gen-$r.out" 2>"$work/gen-$r.err" &
	gen_pid=$!
	if [[ $kill_this == 1 ]]; then
		# Mid-traffic: once it says it is sending, half the window later.
		for ((k = 0; k < 200; k++)); do
			grep -q 'link up, sending' "$work/gen-$r.err" && break
			sleep 0.05
		done
		sleep "$(echo "$secs / 2 + 0.3" | bc -l)"
		kill -KILL "$gen_pid" 2>/dev/null
		killed=$((killed + 1))
	fi
	# Bounded wait for the generator.
	for ((k = 0; k < gen_limit * 10; k++)); do
		kill -0 "$gen_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$gen_pid" 2>/dev/null
	wait "$gen_pid" 2>/dev/null
	grc=$?
	gen_pid=""
	# The disconnect is handled by the data plane's interrupt thread: give it
	# a moment, then the data plane must be alive and answer.
	sleep 0.3
	dp_alive || crashed "$r" "generator exit $grc"
	api_ok || crashed "$r" "API silent; generator exit $grc"
	res=$(grep '^{' "$work/gen-$r.out" | tail -1 | grep -o '"returned_mpps": *[0-9.]*' || true)
	echo "run $r/$runs: generator exit $grc$([[ $kill_this == 1 ]] && echo ' (SIGKILLed mid-traffic)') ${res:-no result}; data plane alive"
	if [[ $kill_this == 0 && $grc -ne 0 ]]; then
		echo "  generator stderr: $(tail -3 "$work/gen-$r.err" | tr '\n' ' ')"
	fi
done
echo "memif-disconnect: no crash in $runs runs ($killed SIGKILLed mid-traffic), each ${secs} s"
exit 0
