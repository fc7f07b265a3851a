#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# What --idle-sleep-us costs and saves: for each bound (0 = busy polling) one
# data plane in the test topology (tests/lib/topo.sh, DSR, af_packet on a
# veth), and
#   - the CPU it burns while idle (utime+stime over 3 s, % of one core),
#   - ICMP echo to the VIP (answered by the data plane itself): RTT avg and
#     max, 200 pings 20 ms apart (the worker is asleep at its bound when
#     each arrives) and 1000 pings 0.5 ms apart (it is mostly awake),
#   - HTTP through the VIP, 4 clients: requests/s (the rate cost under load),
#   - and, after that table, the forwarding rate: sluice-gen (lcore 0) sending
#     64-byte established DSR flows at full speed over net_memif to the data
#     plane (lcore 1), Mpps returned, as bench/run.sh measures it.
# Each figure is the median of REPS runs (default 3) on one data plane per
# bound. Prints one Markdown table row per bound. Needs root; about 20 s per
# bound and run. Other work on the host shows in every column: run it quiet.
#
# usage: sudo [REPS=N] bash bench/idle_poll.sh [BOUND_US...]   (default: 0 50 200 1000)
# shellcheck disable=SC2317

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SLUICE_DATAPLANE:=$HERE/../build/dataplane/sluice-dataplane}"
export SLUICE_DATAPLANE
# shellcheck source=../tests/lib/topo.sh disable=SC1091
. "$HERE/../tests/lib/topo.sh"
# shellcheck source=../tests/lib/sluice.sh disable=SC1091
. "$HERE/../tests/lib/sluice.sh"

topo_require
BOUNDS=("$@")
[[ ${#BOUNDS[@]} -gt 0 ]] || BOUNDS=(0 50 200 1000)
P=sli$$
SLUICE_WORK=$(mktemp -d /tmp/sluice-bench-idle.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs

cleanup() {
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	rm -rf -- "$SLUICE_WORK"
}
trap cleanup EXIT

# cpu_ticks PID: utime + stime of every thread of PID, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# median N...: the middle value (the lower of the two middle ones)
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# ping_stats ARGS...: "avg max" RTT in us of a ping run from the client.
ping_stats() {
	topo_client ping -q "$@" "$TOPO_VIP4" |
		awk -F'[/ ]' '/^rtt/ {printf "%.0f %.0f\n", $8 * 1000, $9 * 1000}'
}

topo_create "$P" 1
topo_start_backends
sluice_dsr_config "$SLUICE_WORK/sluice.yaml"
hz=$(getconf CLK_TCK)
echo "| --idle-sleep-us | idle CPU (% of a core) | echo RTT, 20 ms apart (avg / max us) | echo RTT, 0.5 ms apart (avg / max us) | HTTP req/s (4 clients) |"
echo "|---:|---:|---:|---:|---:|"
for bound in "${BOUNDS[@]}"; do
	# sluice_start passes no extra options: the bound goes in through a
	# wrapper that execs the binary (same pid).
	wrapper=$SLUICE_WORK/dp-$bound.sh
	printf '#!/bin/bash\nexec %q "$@" --idle-sleep-us %q\n' "$SLUICE_DATAPLANE" "$bound" >"$wrapper"
	chmod +x "$wrapper"
	SLUICE_DATAPLANE=$wrapper sluice_start "$SLUICE_WORK/sluice.yaml" 1
	sluice_wait_resolved 10
	topo_client ping -c 3 -i 0.2 -W 1 "$TOPO_VIP4" >/dev/null || true
	dp=$SLUICE_PID # ip netns exec execs: the data plane itself
	cpu=() slow_avg=() slow_max=() fast_avg=() fast_max=() rps=()
	for ((rep = 0; rep < ${REPS:-3}; rep++)); do
		t0=$(cpu_ticks "$dp")
		sleep 3
		t1=$(cpu_ticks "$dp")
		cpu+=($(((t1 - t0) * 100 / (3 * hz))))
		read -r a m < <(ping_stats -c 200 -i 0.02 -W 1)
		slow_avg+=("$a") slow_max+=("$m")
		read -r a m < <(ping_stats -c 1000 -i 0.0005 -W 1)
		fast_avg+=("$a") fast_max+=("$m")
		r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 3000 --concurrency 4 \
			--timeout 2 --max-seconds 30)
		rps+=("$("$TOPO_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["ok"] / d["run_seconds"]))' "$r")")
	done
	echo "| $bound | $(median "${cpu[@]}") | $(median "${slow_avg[@]}") / $(median "${slow_max[@]}") | $(median "${fast_avg[@]}") / $(median "${fast_max[@]}") | $(median "${rps[@]}") |"
	sluice_stop
done

# The forwarding rate over memif, sluice-gen against the data plane.
GEN=${SLUICE_GEN:-$(dirname "$SLUICE_DATAPLANE")/../bench/tools/sluice-gen}
if [[ ! -x "$GEN" ]]; then
	echo "(no sluice-gen at $GEN: no rate figures)"
	exit 0
fi
M=$SLUICE_WORK/memif
mkdir -p "$M"
cat >"$M/dut.yaml" <<EOF
dataplane:
  api_socket: $M/api.sock
  flow_capacity: 65536
ports:
  - name: bench
    devargs: "net_memif0,role=server,socket=$M/memif.sock,socket-abstract=no,mac=02:00:00:00:00:02"
    ipv4: 198.18.0.2/24
vips:
  - name: bench
    address: 198.18.1.100
    port: 80
    mode: dsr
    scheduler: maglev
    backends:
      - {address: 198.18.0.10, mac: "02:00:00:00:01:00"}
      - {address: 198.18.0.11, mac: "02:00:00:00:01:01"}
EOF
echo
echo "| --idle-sleep-us | Mpps returned (memif, 64 B, 1024 established flows) |"
echo "|---:|---:|"
for bound in "${BOUNDS[@]}"; do
	"$SLUICE_DATAPLANE" -l 1 --file-prefix "sli$$-dut" --no-pci --no-huge -m 256 \
		--log-level lib.eal:warning -- --config "$M/dut.yaml" --idle-sleep-us "$bound" \
		>"$M/dut.log" 2>&1 &
	dut=$!
	for ((k = 0; k < 100; k++)); do
		[[ -S "$M/memif.sock" ]] && break
		sleep 0.1
	done
	mpps=()
	for ((rep = 0; rep < ${REPS:-3}; rep++)); do
		out=$(timeout 30 "$GEN" -l 0 --file-prefix "sli$$-gen" --no-pci --no-huge -m 128 \
			--log-level lib.eal:warning \
			--vdev "net_memif0,role=client,socket=$M/memif.sock,socket-abstract=no" -- \
			--pattern est --flows 1024 --proto tcp --vip 198.18.1.100 --vport 80 \
			--dst-mac 02:00:00:00:00:02 --size 64 --duration 1.5 --warmup 0.3 --rate 0 \
			--drain-ms 200 --link-wait-ms 10000 --label "idle-$bound" 2>>"$M/gen.err" | tail -1)
		mpps+=("$("$TOPO_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["returned_mpps"])' "$out" 2>/dev/null || echo 0)")
	done
	kill -TERM "$dut" 2>/dev/null || true
	wait "$dut" 2>/dev/null || true
	rm -f "$M/memif.sock"
	echo "| $bound | $(median "${mpps[@]}") |"
done
