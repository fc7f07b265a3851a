#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The pktgen kit end to end on one host over memif: for each scenario, a
# fresh Sluice (memif server, one lcore, no hugepages), then run.sh, which
# prints pktgen's report and what Sluice counted. Shows that each scenario
# sends the flows it names (flows_new) and that the two sides' counters
# agree; the rates on a 2-CPU host are not Sluice's ceiling (bench/README.md).
#
# usage: PKTGEN=/path/to/pktgen bench/pktgen/verify.sh [SCENARIO... | all | sweep]  (default: all)
#   SLUICE_DATAPLANE  the data plane (default build/dataplane/sluice-dataplane)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dp=${SLUICE_DATAPLANE:-$root/build/dataplane/sluice-dataplane}
[[ $# -gt 0 ]] || set -- all
names=()
for a in "$@"; do
	case $a in
	all) mapfile -t -O "${#names[@]}" names < <(awk '!/^#/ && NF {print $1}' "$here/scenarios.txt") ;;
	sweep) names+=(dsr-est-1 dsr-est-100 dsr-est-10k dsr-est-100k dsr-est-1m) ;;
	*) names+=("$a") ;;
	esac
done
dp_pid=
stop_dp() {
	[[ -n $dp_pid ]] || return 0
	kill "$dp_pid" 2>/dev/null || true
	wait "$dp_pid" 2>/dev/null || true
	dp_pid=
}
trap stop_dp EXIT
mkdir -p /run/sluice
for n in "${names[@]}"; do
	rm -f /run/sluice/memif.sock
	"$dp" -l 1 --no-huge -m 2048 --no-pci --file-prefix sluice-pgv --log-level warning \
		-- --config "$here/sluice-memif.yaml" >/tmp/sluice-pktgen-dataplane.log 2>&1 &
	dp_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S /run/sluice/dataplane.sock && -S /run/sluice/memif.sock ]] && break
		kill -0 "$dp_pid" 2>/dev/null || { cat /tmp/sluice-pktgen-dataplane.log >&2; exit 1; }
		sleep 0.1
	done
	bash "$here/run.sh" "$n"
	stop_dp
done
