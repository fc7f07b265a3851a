#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The README's first command: installs what is missing, builds, then runs
# Sluice on a demo topology made of network namespaces (no NIC needed):
#
#   client ── bridge ──┬── lb  (sluice-dataplane, net_af_packet on a veth)
#                      ├── b1  ┐
#                      ├── b2  ├ real HTTP/UDP servers, VIP on lo (DSR)
#                      └── b3  ┘
#
# Real client traffic goes through the VIP; the demo prints per-backend request
# counts as the client saw them and as the data plane counted them, drains a
# backend at runtime, and removes everything it created when it ends.
# Traffic stays inside the namespaces it creates; every client run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, DPDK); run: sudo bash scripts/demo.sh" >&2
	exit 1
fi
bash scripts/deps.sh
bash scripts/build.sh

# shellcheck source=../tests/lib/topo.sh disable=SC1091
. tests/lib/topo.sh
# shellcheck source=../tests/lib/sluice.sh disable=SC1091
. tests/lib/sluice.sh

P=sldemo
SLUICE_WORK=$(mktemp -d /tmp/sluice-demo.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
cleanup() {
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	rm -rf -- "$SLUICE_WORK"
	echo "demo: cleaned up (namespaces ${P}-* removed)"
}
trap cleanup EXIT
topo_destroy "$P" >/dev/null 2>&1 || true

echo "== building the demo topology: client, lb, 3 backends (namespaces ${P}-*)"
topo_create "$P" 3
topo_start_backends
sluice_dsr_config "$SLUICE_WORK/sluice.yaml"
echo "== starting sluice-dataplane (config: configs/demo.yaml shape, generated for this topology)"
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10

report() {
	# $1 = title, $2 = client JSON, $3 = VIP name
	local st
	st=$(sluice_api '{"cmd":"vip.list"}')
	"$TOPO_PY" - "$1" "$2" "$3" "$st" <<'EOF'
import json, sys
title, client, vip, st = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
print("\n%s: %d ok, %d failed in %.2fs" % (title, client["ok"], client["failed"], client["seconds"]))
names = {"198.18.0.%d" % (10 + i): "b%d" % i for i in range(1, 10)}
names.update({"2001:db8::%d" % (10 + i): "b%d" % i for i in range(1, 10)})
v = [v for v in st["vips"] if v["name"] == vip][0]
print("  %-8s %-16s %-7s %-8s %10s %12s %12s" % ("backend", "address", "weight", "state",
                                                 "requests", "dp new flows", "dp packets"))
for b in v["backends"]:
    n = names.get(b["address"], b["address"])
    print("  %-8s %-16s %-7d %-8s %10d %12d %12d" % (n, b["address"], b["weight"], b["state"],
          client["by_backend"].get(n, 0), b["new_flows"], b["pkts"]))
EOF
}

echo "== VIP web4 $TOPO_VIP4:80, wrr with weights 2:1:1 — 400 HTTP requests, one connection each"
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 400 --concurrency 4 --timeout 2 --max-seconds 60)
report "IPv4 HTTP via web4 (wrr 2:1:1)" "$r" web4

echo
echo "== VIP web6 [$TOPO_VIP6]:80, rr — 300 HTTP requests over IPv6"
r=$(topo_http_client --url "http://[$TOPO_VIP6]/" --count 300 --concurrency 4 --timeout 2 --max-seconds 60)
report "IPv6 HTTP via web6 (rr)" "$r" web6

echo
echo "== VIP udp4 $TOPO_VIP4:$TOPO_UDP_PORT, rr — 150 UDP exchanges, a new flow each"
r=$(topo_udp_client --host "$TOPO_VIP4" --port "$TOPO_UDP_PORT" --count 150 --timeout 2 --max-seconds 30)
report "UDP via udp4 (rr)" "$r" udp4

echo
echo "== runtime change: drain b1 (no new flows; established ones would finish), 200 more requests"
build/control/sluicectl -s "$SLUICE_SOCK" backend drain web4 "${TOPO_BACKEND_IP4[0]}"
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 200 --concurrency 4 --timeout 2 --max-seconds 60)
report "IPv4 HTTP via web4 after draining b1 (counters are totals since start)" "$r" web4

echo
echo "== what an operator sees: sluicectl show backends / show stats"
build/control/sluicectl -s "$SLUICE_SOCK" show backends
build/control/sluicectl -s "$SLUICE_SOCK" show stats
