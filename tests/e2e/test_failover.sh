#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, a backend killed (kill -9), then one blackholed, under steady
# client load, one new
# connection per request, in fnat or nat mode where replies pass through
# Sluice: the killed backend's kernel answers SYNs with RST, Sluice keeps the
# RST from the client and sends the client's SYN, from the copy it kept, to
# another backend at once (connect-failure redispatch). Goal: 0 failed new
# connections, none slowed by a SYN retry (requests in flight on b3 at the
# instant it dies are lost with it). The passive health
# counters (connect_fail, established) show what the breaker will be fed.
#
# usage: test_failover.sh MODE      (fnat | nat)
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
MODE=${1:?usage: test_failover.sh fnat|nat}
P=slf$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-fail.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs

cleanup() {
	local rc=$?
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT


topo_create "$P" 3
topo_start_backends
[[ $MODE == nat ]] && sluice_nat_routes
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" "$MODE" rr
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10

# Steady load: a new connection per request, 50 per second for 3 s, up to 8 at a time.
load=$SLUICE_WORK/load.json
topo_http_client --url "http://$TOPO_VIP4/" --count 150 --rate 50 --concurrency 8 --timeout 5 \
	--max-seconds 60 >"$load" &
load_pid=$!
sleep 1
t_kill=$(date +%s.%N)
topo_stop_backend 3 KILL
wait "$load_pid" || true
r=$(cat "$load")
echo "# client: $r"
# New connections never fail: b3's refusals are kept from the clients and their
# SYN retries sent elsewhere. Only requests already in flight on b3 when it
# died can fail (their connection is reset; no packet-level balancer can
# replay a request): at most one per concurrent client, at the moment of the
# kill (about 1 s into the run).
jcheck "b3 killed mid-run: 150 requests; none failed after the kill instant" "$r" \
	'd["ok"] + d["failed"] == 150 and d["failed"] <= 8 and (d["failed"] == 0 or d["last_failure_s"] < 1.6)'
jcheck "b3 served requests before it died, none after it was replaced" "$r" \
	'0 < d["by_backend"].get("b3", 0) < 150 and d["by_backend"].get("b1", 0) > 0'
st=$(sluice_api '{"cmd":"vip.list"}')
jcheck "passive health: connect failures counted on b3 only" "$st" \
	"[b['connect_fail'] for v in d['vips'] if v['name'] == 'web4' for b in v['backends'] if b['address'] == '${TOPO_BACKEND_IP4[2]}'][0] > 0 and sum(b['connect_fail'] for v in d['vips'] if v['name'] == 'web4' for b in v['backends'] if b['address'] != '${TOPO_BACKEND_IP4[2]}') == 0"
jcheck "passive health: established connections counted" "$st" \
	"all(b['established'] > 0 for v in d['vips'] if v['name'] == 'web4' for b in v['backends'] if b['address'] != '${TOPO_BACKEND_IP4[2]}')"
st=$(sluice_api '{"cmd":"stats"}')
jcheck "redispatches counted; the refusals kept from the clients" "$st" \
	'd["counters"]["redispatched"] > 0'
# The refused SYNs went to another backend at once, from their held copies:
# no request waited for its client's SYN retry (1 s). 0.5 s leaves room for a
# loaded machine; before held SYNs the slowest took over 1 s.
jcheck "no request waited for a SYN retry (the slowest under 0.5 s)" "$r" \
	'd["latency_ms"]["max"] < 500'
echo "# killed at $t_kill; redispatched $(echo "$st" | "$TOPO_PY" -c 'import json,sys; print(json.load(sys.stdin)["counters"]["redispatched"])')"

# A blackholed backend (nftables drops everything in b2's namespace): its
# SYNs go unanswered, so each is sent to another backend after the VIP's
# syn_timeout (0.2 s by default), not after the client's retry (1 s). b3,
# restarted, serves again.
topo_start_backend 3
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add table inet sl_bh
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add chain inet sl_bh in \
	'{ type filter hook input priority 0; policy drop; }'
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 150 --rate 50 --concurrency 8 --timeout 5 \
	--max-seconds 60)
ip netns exec "${TOPO_BACKEND_NS[1]}" nft delete table inet sl_bh
echo "# blackholed b2: $r"
jcheck "b2 blackholed: 150 requests, none failed, none on b2" "$r" \
	'd["ok"] == 150 and d["failed"] == 0 and d["by_backend"].get("b2", 0) == 0'
# The slowest waited about one syn_timeout (0.2 s); 0.6 s leaves room for a
# loaded machine and is well under the 1 s of a client's retry.
jcheck "b2 blackholed: its SYNs redispatched after syn_timeout (slowest under 0.6 s)" "$r" \
	'd["latency_ms"]["max"] < 600 and d["latency_ms"]["p50"] < 100'
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
