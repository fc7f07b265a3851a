#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs Sluice's pktgen scenarios (scenarios.txt) with pktgen 23.03: writes
# each scenario's pcap (make_pcap.py: every flow once) if it is not there
# yet, starts pktgen with it on port 0 and scenario.lua, and prints the
# "sluice-bench ..." line of each run. Sluice (or testpmd, for the ceiling)
# must already be running: see bench/README.md, "pktgen".
#
# usage: bench/pktgen/run.sh SCENARIO... | all | sweep
#   all    every scenario; sweep: dsr-est-1 .. dsr-est-1m
# environment:
#   PKTGEN            the pktgen binary (default: pktgen on PATH)
#   PKTGEN_EAL        its EAL options (default: memif client on one host,
#                     lcores 0,1, no hugepages; see bench/README.md)
#   PKTGEN_MATRIX     its -m mapping (default "[1].0")
#   SLUICE_PKTGEN_DIR where the pcaps go (default /tmp/sluice-pktgen; the
#                     largest, new-flows, is 320 MB)
#   SLUICE_SECONDS, SLUICE_WARMUP_S, SLUICE_TX_PORT, SLUICE_RX_PORT,
#   SLUICE_PKTGEN_LOG (append the report lines there): scenario.lua's
#   SLUICE_API        Sluice's API socket (default /run/sluice/dataplane.sock):
#                     when it answers, each run is followed by a "sluice ..."
#                     line: what Sluice counted during the run (rx, fwd,
#                     tx_full, flows_new) and the flows its tables hold, so
#                     the two sides can be compared (pktgen tx = rx = fwd,
#                     pktgen rx = fwd - tx_full on a one-port loop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pktgen=${PKTGEN:-pktgen}
eal=${PKTGEN_EAL:--l 0,1 --no-huge -m 4096 --no-pci --file-prefix pg --vdev net_memif0,role=client,socket=/run/sluice/memif.sock,socket-abstract=no}
matrix=${PKTGEN_MATRIX:-[1].0}
dir=${SLUICE_PKTGEN_DIR:-/tmp/sluice-pktgen}
api=${SLUICE_API:-/run/sluice/dataplane.sock}

# sluice_counters: "rx fwd tx_full flows_new flows" from Sluice's API, or nothing.
sluice_counters() {
	[[ -S $api ]] || return 0
	python3 - "$api" <<'PY' 2>/dev/null || true
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"stats"}\n')
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
c = json.loads(buf)["counters"]
print(c["rx"], c["fwd"], c["drops"]["tx_full"], c["flows_new"], sum(l["flows"] for l in c["lcores"]))
PY
}

if [[ $# -eq 0 ]]; then
	sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
if ! command -v "$pktgen" >/dev/null; then
	echo "run.sh: no pktgen ($pktgen): build pktgen 23.03 with Lua (bench/README.md) and set PKTGEN" >&2
	exit 2
fi
names=()
for a in "$@"; do
	case $a in
	all) mapfile -t -O "${#names[@]}" names < <(awk '!/^#/ && NF {print $1}' "$here/scenarios.txt") ;;
	sweep) names+=(dsr-est-1 dsr-est-100 dsr-est-10k dsr-est-100k dsr-est-1m) ;;
	*) names+=("$a") ;;
	esac
done
for n in "${names[@]}"; do
	pcap=$dir/$n.pcap
	if [[ ! -s $pcap || $pcap -ot $here/scenarios.txt || $pcap -ot $here/make_pcap.py ]]; then
		python3 "$here/make_pcap.py" "$n" "$dir"
	fi
	log=$dir/$n.pktgen.log
	read -r rx0 fwd0 full0 new0 _ < <(sluice_counters; echo)
	# pktgen draws its screen on stdout: keep it in a log, show the report line.
	# shellcheck disable=SC2086 # $eal is a list of options
	(cd "$here" && SLUICE_SCENARIO=$n timeout "$((${SLUICE_SECONDS:-10} + ${SLUICE_WARMUP_S:-2} + 300))" \
		"$pktgen" $eal -- -P -m "$matrix" -s "0:$pcap" -f scenario.lua) >"$log" 2>&1 || true
	line=$(grep -a -m1 '^sluice-bench ' "$log" || true)
	if [[ -z $line ]]; then
		echo "run.sh: $n: no report line from pktgen; its output is in $log" >&2
		exit 1
	fi
	echo "$line"
	read -r rx1 fwd1 full1 new1 flows1 < <(sluice_counters; echo)
	if [[ -n ${rx1:-} && -n ${rx0:-} ]]; then
		echo "sluice $n rx=$((rx1 - rx0)) fwd=$((fwd1 - fwd0)) tx_full=$((full1 - full0))" \
			"flows_new=$((new1 - new0)) flows_in_tables=$flows1"
	fi
done
