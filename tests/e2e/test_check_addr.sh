#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, health checks aimed apart from the traffic (health_check's
# address and port), fnat, with the control daemon:
#   - every backend serves traffic on :80 and its health on :8081 (a second
#     server in its namespace); the VIP's check goes to :8081;
#   - b2's check goes to another address of b2 (198.18.2.12, on its eth0),
#     not to the address its traffic goes to;
#   - stopping only b1's health endpoint marks b1 down, though its traffic
#     port still answers; starting it again brings b1 back;
#   - the reverse: stopping b3's traffic server leaves its health (and so
#     its checks) up: the checks follow the health endpoint, not the traffic;
#   - blackholing 198.18.2.12 alone marks b2 down while 198.18.0.12 serves;
#   - sluicectl show health and health.list show each check's target.
#
# Exit: 0 all passed, 1 something failed, 77 skipped. Last line "<n> passed, <m> failed".
# Traffic stays inside the namespaces created here; every client is bounded.
# shellcheck disable=SC2317,SC2153

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/topo.sh disable=SC1091
. "$HERE/../lib/topo.sh"
# shellcheck source=../lib/sluice.sh disable=SC1091
. "$HERE/../lib/sluice.sh"

topo_require
: "${SLUICE_CONTROL:=$SLUICE_ROOT/build/control/sluice-control}"
: "${SLUICECTL:=$(dirname "$SLUICE_CONTROL")/sluicectl}"
if ! command -v nft >/dev/null 2>&1; then
	echo "SKIP: nft not found (the blackhole needs nftables)"
	exit 77
fi
P=slc$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-checkaddr.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
export TOPO_LB_MGMT=1 # a kernel address in the lb namespace, for the checks
CTL_PID=
HEALTH_PORT=8081
B2_HEALTH_IP=198.18.2.12
declare -a HPID=("" "" "")

cleanup() {
	local rc=$?
	if [[ -n "$CTL_PID" ]]; then kill "$CTL_PID" 2>/dev/null || true; fi
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	if [[ $FAIL -gt 0 && -f "$SLUICE_WORK/control.log" ]]; then
		echo "--- control log"
		tail -40 "$SLUICE_WORK/control.log"
	fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

# health_up I: backend I's (0-based) health endpoint on :8081, waited for (bounded, 5 s).
health_up() {
	local i=$1 ns=${TOPO_BACKEND_NS[$1]} k
	# Under another name: topo.sh finds a backend's traffic server by its script's name.
	ip netns exec "$ns" "$TOPO_PY" "$SLUICE_WORK/health_endpoint.py" --name "h$((i + 1))" \
		--port "$HEALTH_PORT" </dev/null >>"$TOPO_LOGDIR/h$((i + 1)).log" 2>&1 &
	HPID[i]=$!
	for ((k = 0; k < 100; k++)); do
		[[ -n "$(ip netns exec "$ns" ss -Hltn "sport = :$HEALTH_PORT")" ]] && return 0
		sleep 0.05
	done
	echo "health endpoint of b$((i + 1)) not listening after 5 s" >&2
	return 1
}

health_down() {
	kill -KILL "${HPID[$1]}" 2>/dev/null || true
	wait "${HPID[$1]}" 2>/dev/null || true
	HPID[$1]=
}

# dp_health ADDR: the backend's health in the data plane (web4).
dp_health() {
	sluice_api '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
print([b["health"] for v in d["vips"] if v["name"] == "web4" for b in v["backends"]
       if b["address"] == sys.argv[1]][0])' "$1"
}

# wait_health ADDR STATE SECONDS: until the data plane has it so (bounded).
wait_health() {
	local k
	for ((k = 0; k < $3 * 20; k++)); do
		[[ $(dp_health "$1") == "$2" ]] && return 0
		sleep 0.05
	done
	return 1
}

ctl_api() {
	printf '%s\n' "$1" | timeout 10 socat -t 5 - "UNIX-CONNECT:$SLUICE_WORK/control.sock"
}

# direct ADDR: one request straight to a backend's traffic port from the client.
direct() {
	topo_http_client --url "http://$1/" --count 1 --timeout 2 --max-seconds 5
}

topo_create "$P" 3
topo_start_backends
ln -s "$TOPO_LIBDIR/http_backend.py" "$SLUICE_WORK/health_endpoint.py"
for i in 0 1 2; do
	health_up "$i"
done
# b2's health address: a second address on its eth0, reached by the checks
# from the lb namespace's management interface.
ip -n "${TOPO_BACKEND_NS[1]}" addr add "$B2_HEALTH_IP/32" dev eth0
ip -n "$TOPO_LB_NS" route add "$B2_HEALTH_IP/32" dev eth0

sluice_dsr_config "$SLUICE_WORK/sluice.yaml" fnat rr
"$TOPO_PY" - "$SLUICE_WORK/sluice.yaml" "${TOPO_BACKEND_IP4[1]}" "$B2_HEALTH_IP" "$HEALTH_PORT" <<'PY'
import sys
p, b2, b2h, hport = sys.argv[1:5]
s = open(p).read()
s = s.replace("  - name: web4\n", "  - name: web4\n    health_check: {type: http, path: /health, "
              "port: %s, interval: 0.3, timeout: 0.3, rise: 2, fall: 2}\n" % hport, 1)
s = s.replace("      - {address: %s, weight: 1}" % b2,
              "      - {address: %s, weight: 1, health_check: {address: %s}}" % (b2, b2h), 1)
open(p, "w").write(s)
PY
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10
ip netns exec "$TOPO_LB_NS" "$SLUICE_CONTROL" --config "$SLUICE_WORK/sluice.yaml" \
	--api-socket "$SLUICE_SOCK" --control-socket "$SLUICE_WORK/control.sock" \
	>"$SLUICE_WORK/control.log" 2>&1 &
CTL_PID=$!
for ((k = 0; k < 100; k++)); do
	[[ -S "$SLUICE_WORK/control.sock" ]] && break
	sleep 0.05
done

# --- where the checks go
hl=$(ctl_api '{"cmd":"health.list"}')
jcheck "health.list: each check's target (the VIP's port; b2 on its health address)" "$hl" \
	"{b['address']: b['check_target'] for b in d['backends'] if b['vip'] == 'web4'} == {
	'${TOPO_BACKEND_IP4[0]}': '${TOPO_BACKEND_IP4[0]}:$HEALTH_PORT',
	'${TOPO_BACKEND_IP4[1]}': '$B2_HEALTH_IP:$HEALTH_PORT',
	'${TOPO_BACKEND_IP4[2]}': '${TOPO_BACKEND_IP4[2]}:$HEALTH_PORT'}"
out=$("$SLUICECTL" -c "$SLUICE_WORK/control.sock" show health 2>&1 || true)
if [[ "$out" == *CHECK_TARGET* && "$out" == *"$B2_HEALTH_IP:$HEALTH_PORT"* ]]; then
	pass "sluicectl show health: CHECK_TARGET column"
else
	fail "sluicectl show health: CHECK_TARGET column" "$out"
fi
# Every check passing, each counted by its own endpoint's server.
for i in 0 1 2; do
	if ! wait_health "${TOPO_BACKEND_IP4[$i]}" up 5; then
		fail "b$((i + 1)) up at the start"
	fi
done
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --timeout 2 --max-seconds 30)
jcheck "all healthy: 30 requests over the three backends" "$r" \
	'd["ok"] == 30 and len(d["by_backend"]) == 3'

# --- the health endpoint down, the traffic port up: down
health_down 0
if wait_health "${TOPO_BACKEND_IP4[0]}" down 5; then
	pass "b1's health endpoint stopped: b1 marked down"
else
	fail "b1's health endpoint stopped: b1 marked down" "health $(dp_health "${TOPO_BACKEND_IP4[0]}")"
fi
jcheck "... though its traffic port answers" "$(direct "${TOPO_BACKEND_IP4[0]}")" \
	'd["ok"] == 1 and d["by_backend"] == {"b1": 1}'
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --timeout 2 --max-seconds 30)
jcheck "... and takes no new connection" "$r" \
	'd["ok"] == 30 and "b1" not in d["by_backend"]'
health_up 0
if wait_health "${TOPO_BACKEND_IP4[0]}" up 5; then
	pass "b1's health endpoint back: b1 up"
else
	fail "b1's health endpoint back: b1 up" "health $(dp_health "${TOPO_BACKEND_IP4[0]}")"
fi

# --- the reverse: the traffic server down, the health endpoint up: checks stay up
topo_stop_backend 3 KILL
before=$(ctl_api '{"cmd":"health.list"}' | "$TOPO_PY" -c '
import json, sys
print([b["checks"] for b in json.load(sys.stdin)["backends"] if b["address"] == sys.argv[1]
       and b["vip"] == "web4"][0])' "${TOPO_BACKEND_IP4[2]}")
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --rate 20 --timeout 3 --max-seconds 30)
hl=$(ctl_api '{"cmd":"health.list"}')
jcheck "b3's traffic server killed, its health endpoint up: its checks still pass" "$hl" \
	"[b['health'] == 'up' and b['last_check'] == 'ok' and b['checks'] >= $before + 3
	  for b in d['backends'] if b['vip'] == 'web4' and b['address'] == '${TOPO_BACKEND_IP4[2]}'][0]"
jcheck "... its refusals redispatched: every request served" "$r" \
	'd["ok"] == 30 and d["failed"] == 0 and "b3" not in d["by_backend"]'
topo_start_backend 3

# --- b2: its health address blackholed, its traffic address untouched
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add table inet sl_ca
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add chain inet sl_ca in \
	'{ type filter hook input priority 0; policy accept; }'
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add rule inet sl_ca in ip daddr "$B2_HEALTH_IP" drop
if wait_health "${TOPO_BACKEND_IP4[1]}" down 5; then
	pass "b2's health address blackholed: b2 marked down"
else
	fail "b2's health address blackholed: b2 marked down" "health $(dp_health "${TOPO_BACKEND_IP4[1]}")"
fi
jcheck "... while its traffic address serves" "$(direct "${TOPO_BACKEND_IP4[1]}")" \
	'd["ok"] == 1 and d["by_backend"] == {"b2": 1}'
ip netns exec "${TOPO_BACKEND_NS[1]}" nft delete table inet sl_ca
if wait_health "${TOPO_BACKEND_IP4[1]}" up 5; then
	pass "b2's health address reachable again: b2 up"
else
	fail "b2's health address reachable again: b2 up" "health $(dp_health "${TOPO_BACKEND_IP4[1]}")"
fi
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --timeout 2 --max-seconds 30)
jcheck "all back: 30 requests over the three backends" "$r" \
	'd["ok"] == 30 and len(d["by_backend"]) == 3'

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
