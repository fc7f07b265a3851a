#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A bounded CPU load, to run the test suites as a busy machine would:
#
#   scripts/cpu-load.sh N SECONDS [-- COMMAND...]
#
# N busy loops (bash, nice 0, one process each) for at most SECONDS (1..7200).
# With a COMMAND, the loops run while it does and stop when it ends or at the
# limit, whichever comes first (the command itself is not limited); the exit
# status is the command's. Without
# one, the script waits SECONDS (or a signal) and stops them. The loops are
# killed on exit, on INT/TERM/HUP, and by each loop's own deadline if this
# script is killed with SIGKILL, so none outlives the limit.
#
# Example: scripts/cpu-load.sh 2 900 -- meson test -C build --suite e2e --num-processes 1
set -u

usage() {
	echo "usage: $0 N SECONDS [-- COMMAND...]   (N 1..64 busy loops, SECONDS 1..7200)" >&2
	exit 2
}
[[ $# -ge 2 ]] || usage
n=$1
secs=$2
shift 2
[[ "$n" =~ ^[0-9]+$ && "$secs" =~ ^[0-9]+$ ]] || usage
((n >= 1 && n <= 64 && secs >= 1 && secs <= 7200)) || usage
if [[ $# -gt 0 ]]; then
	[[ $1 == -- ]] || usage
	shift
fi

pids=()
stop() {
	local pid
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	pids=()
}
trap 'stop' EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM HUP

for ((i = 0; i < n; i++)); do
	# Each loop checks its own deadline (bash 5's SECONDS), so it ends even
	# if nobody is left to kill it.
	nice -n 0 bash -c 'end=$((SECONDS + $1)); while ((SECONDS < end)); do :; done' \
		cpu-load "$secs" </dev/null >/dev/null 2>&1 &
	pids+=($!)
done
echo "cpu-load: $n busy loop(s) for at most $secs s (pids ${pids[*]})" >&2

if [[ $# -gt 0 ]]; then
	"$@"
	rc=$?
	stop
	exit $rc
fi
# No command: wait for the loops (they end at their deadline) or a signal.
wait "${pids[@]}" 2>/dev/null
stop
exit 0
