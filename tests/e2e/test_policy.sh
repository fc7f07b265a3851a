#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, the control daemon's weights (fnat, real backends, real clients):
#   - failover: b1 and b2 are the primary level, b3 the backup (priority 1);
#     the backup takes no traffic while the primaries are healthy, all of it
#     when both primaries are killed, and gives it back when they return;
#   - circuit breaker (IPv6 VIP, no active checks): a killed backend's connect
#     failures, seen by the data plane, open its breaker and its weight goes
#     to 0: new connections stop waiting on it.
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
P=slp$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-policy.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
export TOPO_LB_MGMT=1
CTL_PID=

cleanup() {
	local rc=$?
	[[ -n "$CTL_PID" ]] && kill "$CTL_PID" 2>/dev/null
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	if [[ $FAIL -gt 0 && -f "$SLUICE_WORK/control.log" ]]; then
		echo "--- control log"
		tail -30 "$SLUICE_WORK/control.log"
	fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT


health_of() { # VIP backend-address -> health
	sluice_api '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
print([b["health"] for v in d["vips"] if v["name"] == sys.argv[1] for b in v["backends"]
       if b["address"] == sys.argv[2]][0])' "$1" "$2"
}
wait_health() { # VIP ADDR STATE: bounded to 5 s
	for ((t = 0; t < 100; t++)); do
		[[ $(health_of "$1" "$2") == "$3" ]] && return 0
		sleep 0.05
	done
	return 1
}

topo_create "$P" 3
topo_start_backends
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" fnat rr
"$TOPO_PY" - "$SLUICE_WORK/sluice.yaml" "${TOPO_BACKEND_IP4[2]}" "${TOPO_BACKEND_IP6[2]}" <<'PY'
import sys
p, b3, b3v6 = sys.argv[1:4]
s = open(p).read()
# web4: checks, and b3 as the backup level.
s = s.replace("  - name: web4\n", "  - name: web4\n    health_check: {type: http, path: /health, "
              "interval: 0.3, timeout: 0.3, rise: 2, fall: 2}\n", 1)
s = s.replace("      - {address: %s, weight: 1}" % b3, "      - {address: %s, weight: 1, priority: 1}" % b3, 1)
# web6: no checks, a breaker fed by the data plane's connect failures.
s = s.replace("  - name: web6\n", "  - name: web6\n    breaker: {consecutive_failures: 3, "
              "base_ejection: 30, max_ejection_percent: 50}\n", 1)
open(p, "w").write(s)
PY
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10
ip netns exec "$TOPO_LB_NS" "$SLUICE_CONTROL" --config "$SLUICE_WORK/sluice.yaml" \
	--api-socket "$SLUICE_SOCK" --control-socket "$SLUICE_WORK/control.sock" \
	>"$SLUICE_WORK/control.log" 2>&1 &
CTL_PID=$!
sleep 1

# --- failover
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 60 --timeout 2 --max-seconds 30)
jcheck "primaries healthy: the backup (b3) gets nothing" "$r" \
	'd["ok"] == 60 and "b3" not in d["by_backend"] and len(d["by_backend"]) == 2'
topo_stop_backend 1 KILL
topo_stop_backend 2 KILL
if wait_health web4 "${TOPO_BACKEND_IP4[0]}" down && wait_health web4 "${TOPO_BACKEND_IP4[1]}" down; then
	PASS=$((PASS + 1))
	echo "ok   - both primaries killed: marked down"
else
	FAIL=$((FAIL + 1))
	echo "FAIL - both primaries killed: marked down"
fi
sleep 0.5 # the next weight computation (every 200 ms)
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 40 --timeout 3 --max-seconds 30)
jcheck "primaries down: the backup level takes every new connection, none failed" "$r" \
	'd["ok"] == 40 and d["failed"] == 0 and d["by_backend"] == {"b3": 40}'
topo_start_backend 1
topo_start_backend 2
wait_health web4 "${TOPO_BACKEND_IP4[0]}" up || true
wait_health web4 "${TOPO_BACKEND_IP4[1]}" up || true
sleep 0.5
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 60 --timeout 3 --max-seconds 30)
jcheck "primaries back: traffic returns to them, the backup idles again" "$r" \
	'd["ok"] == 60 and d["failed"] == 0 and "b3" not in d["by_backend"]'

# --- breaker on web6 (no active checks)
topo_stop_backend 3 KILL
r=$(topo_http_client --url "http://[$TOPO_VIP6]/" --count 30 --rate 20 --timeout 5 --max-seconds 60)
jcheck "b3 killed: web6 requests all succeed (redispatch)" "$r" 'd["ok"] == 30 and d["failed"] == 0'
sleep 0.5
st=$(sluice_api '{"cmd":"vip.list"}')
jcheck "its connect failures opened b3's breaker: control weight 0" "$st" \
	"[b['control_weight'] for v in d['vips'] if v['name'] == 'web6' for b in v['backends'] if b['address'] == '${TOPO_BACKEND_IP6[2]}'][0] == 0"
r=$(topo_http_client --url "http://[$TOPO_VIP6]/" --count 30 --timeout 2 --max-seconds 30)
jcheck "ejected: new connections no longer wait on b3" "$r" \
	'd["ok"] == 30 and "b3" not in d["by_backend"] and d["latency_ms"]["max"] < 900'
if grep -q "breaker OPEN" "$SLUICE_WORK/control.log"; then
	PASS=$((PASS + 1))
	echo "ok   - the ejection is logged"
else
	FAIL=$((FAIL + 1))
	echo "FAIL - the ejection is logged"
fi

: "${SLUICECTL:=$(dirname "$SLUICE_CONTROL")/sluicectl}"
out=$("$SLUICECTL" -c "$SLUICE_WORK/control.sock" show health 2>&1 || true)
if [[ "$out" == *"open"* && "$out" == *"LAST_CHECK"* ]]; then
	PASS=$((PASS + 1))
	echo "ok   - sluicectl show health: checks and breakers from the daemon"
else
	FAIL=$((FAIL + 1))
	echo "FAIL - sluicectl show health: $out"
fi

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
