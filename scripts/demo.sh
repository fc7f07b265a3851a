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
# counts as the client saw them and as the data plane counted them, and drains
# a backend at runtime. Then the control plane: sluice-control runs beside the
# data plane while, under steady new connections to a full-NAT VIP, one
# backend is killed (refused SYNs redispatched at once: no request fails), one
# hangs (checks and the breaker take it out; the backup level takes over) and
# both come back (slow start gives their traffic back gradually); it prints
# each phase as the client saw it, the daemon's decisions on the same clock,
# /metrics excerpts, and draws /tmp/sluice-demo-timeline.png. Everything it
# created is removed when it ends.
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
# TOPO_LB_MGMT: the lb namespace keeps a kernel address (198.18.0.3) beside
# the data plane's port, from which the control daemon's checks go out.
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs TOPO_LB_MGMT=1
CTL_PID=
cleanup() {
	[[ -n "$CTL_PID" ]] && kill "$CTL_PID" 2>/dev/null
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
# The control plane's act: a full-NAT VIP on port 8080 whose replies pass
# through Sluice (so it sees refusals and silences), with HTTP checks, a
# breaker, and b3 as a backup level that primaries take back slowly.
cat >>"$SLUICE_WORK/sluice.yaml" <<EOF
  - name: app
    address: $TOPO_VIP4
    port: 8080
    mode: fnat
    scheduler: rr
    local_addresses: [198.18.0.50, 198.18.0.51]
    health_check: {type: http, path: /health, interval: 0.3, timeout: 0.3, rise: 2, fall: 2}
    response_timeout: 1
    breaker: {consecutive_failures: 3, base_ejection: 2, max_ejection_percent: 50}
    slow_start: 4
    backends:
      - {address: ${TOPO_BACKEND_IP4[0]}, port: 80}
      - {address: ${TOPO_BACKEND_IP4[1]}, port: 80}
      - {address: ${TOPO_BACKEND_IP4[2]}, port: 80, priority: 1}
EOF
echo "== starting sluice-dataplane (config: configs/demo.yaml shape, generated for this topology)"
SLUICE_DP_ARGS="--metrics 127.0.0.1:9560" sluice_start "$SLUICE_WORK/sluice.yaml" 1
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
echo "== the control plane: sluice-control beside the data plane (checks, breaker, failover)"
CTL_SOCK=$SLUICE_WORK/control.sock
ip netns exec "$TOPO_LB_NS" build/control/sluice-control --config "$SLUICE_WORK/sluice.yaml" \
	--api-socket "$SLUICE_SOCK" --control-socket "$CTL_SOCK" --metrics 127.0.0.1:9561 \
	>"$SLUICE_WORK/control.log" 2>&1 &
CTL_PID=$!
ctl() { build/control/sluicectl -s "$SLUICE_SOCK" -c "$CTL_SOCK" "$@"; }
for ((i = 0; i < 50; i++)); do
	ctl show health 2>/dev/null | grep -q ' up ' && break
	sleep 0.1
done
echo "VIP app $TOPO_VIP4:8080 (fnat): b1, b2 primaries, b3 the backup; 40 new connections/s for 20 s."
echo "At 3 s b2 is killed (kill -9), at 7 s b1 hangs (SIGSTOP), at 12 s both come back."
t0=$(date +%s.%N)
topo_http_client --url "http://$TOPO_VIP4:8080/" --count 800 --rate 40 --concurrency 64 \
	--timeout 2 --max-seconds 40 --events "$SLUICE_WORK/events.json" >"$SLUICE_WORK/app.json" &
load=$!
# at S: sleep until S seconds after t0
at() { sleep "$(echo "$t0 + $1 - $(date +%s.%N)" | bc | sed 's/^-.*/0/')"; }
at 3 && topo_stop_backend 2 KILL && echo "   3 s: b2 killed"
at 7 && topo_stop_backend 1 STOP && echo "   7 s: b1 hung (SIGSTOP)"
at 10 && echo "  10 s: sluicectl show health:" && ctl show health | grep -E '^(VIP|app) ' | sed 's/^/         /'
at 12 && topo_stop_backend 1 CONT && topo_start_backend 2 >/dev/null && echo "  12 s: b1 resumed, b2 restarted"
wait "$load" || true
"$TOPO_PY" scripts/demo_timeline.py "$SLUICE_WORK/events.json" "$SLUICE_WORK/control.log" "$t0" \
	"3:b2 killed,7:b1 hung,12:both back" /tmp/sluice-demo-timeline.png
echo
echo "== /metrics excerpts (data plane :9560, control daemon :9561)"
ip netns exec "$TOPO_LB_NS" curl -s http://127.0.0.1:9560/metrics |
	grep -E '^sluice_backend_(new_flows|connect_failures|redispatched_connections)_total\{vip="app"' || true
ip netns exec "$TOPO_LB_NS" curl -s http://127.0.0.1:9561/metrics |
	grep -E '^sluice_control_(backend_healthy|health_transitions_total|breaker_consecutive_ejections)\{vip="app"' || true
echo
ctl show health | grep -E '^(VIP|app) '
kill "$CTL_PID" 2>/dev/null || true

echo
echo "== what an operator sees: sluicectl show backends / show stats"
build/control/sluicectl -s "$SLUICE_SOCK" show backends
build/control/sluicectl -s "$SLUICE_SOCK" show stats
