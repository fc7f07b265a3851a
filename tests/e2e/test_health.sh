#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, the control daemon's active health checks (fnat, HTTP checks of
# GET /health every 0.3 s, rise 2, fall 2) with real backends and a steady
# client load (a new connection per request):
#   - kill -9 a backend: detected, no new flows to it; time to detection and
#     failed requests reported (redispatch keeps new connections whole);
#   - restart it: back up, takes traffic again;
#   - hang it (SIGSTOP) and blackhole it (nftables DROP in its namespace):
#     both detected by check timeouts;
#   - kill the control daemon: traffic continues; restart it: it starts from
#     the data plane's state and converges;
#   - reload a broken configuration (SIGHUP): rejected, checks go on.
# Detection times are printed ("# measured: ...").
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
: "${SLUICECTL:=$SLUICE_ROOT/build/control/sluicectl}"
P=slh$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-health.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
export TOPO_LB_MGMT=1 # a kernel address in the lb namespace, for the checks
CTL_PID=

cleanup() {
	local rc=$?
	[[ -n "$CTL_PID" ]] && kill "$CTL_PID" 2>/dev/null
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	if [[ $FAIL -gt 0 && -f "$SLUICE_WORK/control.log" ]]; then
		echo "--- control log"
		cat "$SLUICE_WORK/control.log"
	fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

ok() {
	PASS=$((PASS + 1))
	echo "ok   - $1"
}
ko() {
	FAIL=$((FAIL + 1))
	echo "FAIL - $1"
}

health_of() { # backend index (0-based) -> up|down as the data plane has it
	sluice_api '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
print([b["health"] for v in d["vips"] if v["name"] == "web4" for b in v["backends"]
       if b["address"] == sys.argv[1]][0])' "${TOPO_BACKEND_IP4[$1]}"
}

# wait_health I STATE LIMIT_S: prints seconds taken; fails after LIMIT_S.
wait_health() {
	local i=$1 want=$2 limit=$3 t0 t
	t0=$(date +%s.%N)
	while :; do
		[[ $(health_of "$i") == "$want" ]] && break
		t=$(date +%s.%N)
		if (($(echo "$t - $t0 > $limit" | bc))); then
			echo "timeout"
			return 1
		fi
		sleep 0.05
	done
	echo "$(date +%s.%N) - $t0" | bc
}

start_control() {
	ip netns exec "$TOPO_LB_NS" "$SLUICE_CONTROL" --config "$SLUICE_WORK/sluice.yaml" \
		--api-socket "$SLUICE_SOCK" --control-socket "$SLUICE_WORK/control.sock" \
		>>"$SLUICE_WORK/control.log" 2>&1 &
	CTL_PID=$!
}

topo_create "$P" 3
topo_start_backends
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" fnat rr
"$TOPO_PY" - "$SLUICE_WORK/sluice.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  - name: web4\n", "  - name: web4\n    health_check: {type: http, path: /health, "
              "interval: 0.3, timeout: 0.3, rise: 2, fall: 2}\n", 1)
open(p, "w").write(s)
PY
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10
start_control
sleep 1

# --- kill -9 under load
load=$SLUICE_WORK/load.json
topo_http_client --url "http://$TOPO_VIP4/" --count 300 --rate 60 --concurrency 4 --timeout 5 \
	--max-seconds 60 >"$load" &
load_pid=$!
sleep 1
topo_stop_backend 3 KILL
if t=$(wait_health 2 down 5); then
	ok "kill -9 b3: its checks fail, marked down"
	echo "# measured: kill -9 detected (health down) in ${t}s"
else
	ko "kill -9 b3: marked down within 5 s"
fi
wait "$load_pid" || true
r=$(cat "$load")
echo "# measured: client during the kill: $(echo "$r" | "$TOPO_PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], "ok,", d["failed"], "failed, p99", d["latency_ms"]["p99"], "ms")')"
jcheck "load through the kill: in-flight requests at most are lost (fnat redispatch)" "$r" \
	'd["ok"] + d["failed"] == 300 and d["failed"] <= 4'
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 60 --timeout 2 --max-seconds 30)
jcheck "b3 down: no new flows to it, nothing waits on it" "$r" \
	'd["ok"] == 60 and "b3" not in d["by_backend"] and d["latency_ms"]["max"] < 900'

# --- back up
topo_start_backend 3
if t=$(wait_health 2 up 5); then
	ok "b3 restarted: checks pass, marked up"
	echo "# measured: recovery detected in ${t}s"
else
	ko "b3 restarted: marked up within 5 s"
fi
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --timeout 2 --max-seconds 30)
jcheck "b3 takes new flows again" "$r" 'd["ok"] == 30 and d["by_backend"].get("b3", 0) > 0'

# --- hang (SIGSTOP): the kernel still accepts connections; the HTTP check times out
topo_stop_backend 3 STOP
if t=$(wait_health 2 down 5); then
	ok "SIGSTOP b3 (hung): detected by the HTTP check's timeout"
	echo "# measured: hung backend detected in ${t}s"
else
	ko "SIGSTOP b3: marked down within 5 s"
fi
topo_stop_backend 3 CONT
wait_health 2 up 5 >/dev/null && ok "SIGCONT: back up" || ko "SIGCONT: back up"

# --- blackhole: nftables drops everything in b3's namespace
ip netns exec "${TOPO_BACKEND_NS[2]}" nft add table inet sl_bh
ip netns exec "${TOPO_BACKEND_NS[2]}" nft add chain inet sl_bh in '{ type filter hook input priority 0; policy drop; }'
if t=$(wait_health 2 down 5); then
	ok "blackholed b3: detected by timeouts"
	echo "# measured: blackholed backend detected in ${t}s"
else
	ko "blackholed b3: marked down within 5 s"
fi
ip netns exec "${TOPO_BACKEND_NS[2]}" nft delete table inet sl_bh
wait_health 2 up 5 >/dev/null && ok "blackhole lifted: back up" || ko "blackhole lifted: back up"

# --- the bulkhead: the control daemon dies, traffic goes on; restarted, it converges
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
CTL_PID=
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --timeout 2 --max-seconds 30)
jcheck "control daemon killed: traffic continues" "$r" 'd["ok"] == 30 and d["failed"] == 0'
topo_stop_backend 3 KILL # changes while it is away
start_control
if t=$(wait_health 2 down 5); then
	ok "control daemon restarted: converges (b3, killed meanwhile, goes down)"
else
	ko "control daemon restarted: converges within 5 s"
fi
jcheck "the other backends were never marked down by the restart" \
	"{\"h\": [\"$(health_of 0)\", \"$(health_of 1)\"]}" 'd["h"] == ["up", "up"]'

# --- a broken configuration on reload is rejected
cp "$SLUICE_WORK/sluice.yaml" "$SLUICE_WORK/good.yaml"
echo "  - {name: broken, address: 198.18.1.200, port: nope}" >>"$SLUICE_WORK/sluice.yaml"
kill -HUP "$CTL_PID"
sleep 0.5
if grep -q "reload rejected" "$SLUICE_WORK/control.log"; then
	ok "reload of a broken file: rejected, with its reason logged"
else
	ko "reload of a broken file: rejected"
fi
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 30 --timeout 2 --max-seconds 30)
jcheck "after the rejected reload: traffic unaffected, b3 still out" "$r" \
	'd["ok"] == 30 and "b3" not in d["by_backend"]'
cp "$SLUICE_WORK/good.yaml" "$SLUICE_WORK/sluice.yaml"

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
