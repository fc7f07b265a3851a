#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, several nodes behind ECMP (docs/cluster.md): a client behind a
# router running BIRD with ECMP into the kernel (L4 hash), three Sluice nodes
# (data plane, control daemon, BIRD each; DSR or tunnel, maglev) announcing the VIP
# over BGP with BFD, four backends on one L2 segment (tests/lib/cluster.sh).
#   1. new connections spread over the three nodes (each >= 20%) and the
#      backends get maglev's 2:1:1:1 shares;
#   2. sluicectl lookup / flow.lookup: every node names the same backend for
#      1,000 flows;
#   3. kill -9 of a node's data plane, then (separately) a node's links down:
#      the router drops it within 3 s; held connections all continue; new
#      connections that failed are counted;
#   4. a node joins (its data plane back): it takes flows, no held
#      connection breaks;
#   5. node drain: withdrawn, no new flow reaches it, held connections finish;
#   6. every backend down on one node only (its checks blocked): it withdraws
#      the VIP, the others keep it;
#   7. a node's control daemon restarted: nothing moves; its BIRD killed and
#      started again: out, then back from the include alone.
# Times are printed ("# measured: ..."). Waits are on conditions, bounded.
#
# usage: test_cluster.sh [dsr|tunnel|fnat]   (tunnel: the backends unwrap IPIP
# with the XDP decapsulator, SLUICE_DECAP_OBJ, as in test_modes.sh; fnat: each
# node its own local address; connections that ECMP moves to another node
# break there, and are counted rather than asserted)
# Exit: 0 all passed, 1 something failed, 77 skipped. Last line "<n> passed, <m> failed".
# Traffic and BGP stay inside the namespaces created here; every client is bounded.
# shellcheck disable=SC2317,SC2153

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/topo.sh disable=SC1091
. "$HERE/../lib/topo.sh"
# shellcheck source=../lib/sluice.sh disable=SC1091
. "$HERE/../lib/sluice.sh"
# shellcheck source=../lib/cluster.sh disable=SC1091
. "$HERE/../lib/cluster.sh"
# shellcheck source=../lib/decap.sh disable=SC1091
. "$HERE/../lib/decap.sh"

CLUSTER_MODE=${1:-dsr}
case $CLUSTER_MODE in
dsr | tunnel) MOVES=1 ;;
fnat) MOVES=0 ;; # a translation lives on its node: moved connections break
*)
	echo "usage: test_cluster.sh [dsr|tunnel|fnat]" >&2
	exit 2
	;;
esac
topo_require
: "${SLUICE_CONTROL:=$SLUICE_ROOT/build/control/sluice-control}"
: "${SLUICECTL:=$SLUICE_ROOT/build/control/sluicectl}"
cluster_require
P=slc$$
PASS=0
FAIL=0
HOLD=30     # long-lived connections held across each node change
RATE=40     # new connections per second while a node changes
DETECT_S=3  # the router must drop a node within this
CLUSTER_WORK=$(mktemp -d /tmp/sluice-e2e-cluster.XXXXXX)
export CLUSTER_WORK TOPO_LOGDIR=$CLUSTER_WORK/logs
T_START=$(_cluster_now_ms)
MEASURED=()
BG=()

cleanup() {
	local rc=$? pid
	for pid in "${BG[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	cluster_destroy
	if [[ $FAIL -gt 0 ]]; then
		for f in "$CLUSTER_WORK"/n*/control.log "$CLUSTER_WORK"/n*/dataplane.log; do
			[[ -s "$f" ]] || continue
			echo "--- $f (last lines)"
			tail -8 "$f"
		done
	fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$CLUSTER_WORK"
	exit "$rc"
}
trap cleanup EXIT

measured() {
	MEASURED+=("$1")
	echo "# measured: $1"
}

# client ARGS...: http_client.py in the client namespace (behind the router)
client() {
	ip netns exec "$CLUSTER_CX" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" "$@"
}

# wait_for LIMIT_S DESC CMD...: until CMD succeeds; false (said) after LIMIT_S
wait_for() {
	local limit_ms=$(($1 * 1000)) desc=$2 t0
	shift 2
	t0=$(_cluster_now_ms)
	until "$@" >/dev/null 2>&1; do
		if (($(_cluster_now_ms) - t0 > limit_ms)); then
			echo "# gave up waiting ($((limit_ms / 1000)) s) for: $desc" >&2
			return 1
		fi
		sleep 0.05
	done
}

resolved() {
	cluster_api "$1" '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if all(b["neighbour"] in ("reachable", "static")
                  for v in d["vips"] for b in v["backends"]) else 1)'
}

active_flows() {
	cluster_api "$1" '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(b.get("active_flows", 0) for v in d["vips"] for b in v["backends"]))'
}

# hold_start NAME: HOLD keep-alive connections, held until hold_end; waits until open
hold_start() {
	local name=$1
	rm -f "$CLUSTER_WORK/$name.ready"
	# Not through client(): $! must be the client itself, which SIGTERM ends.
	ip netns exec "$CLUSTER_CX" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" \
		--url "http://$CLUSTER_VIP/" --hold "$HOLD" --count 0 --max-seconds 120 \
		--timeout 3 --ready-file "$CLUSTER_WORK/$name.ready" >"$CLUSTER_WORK/$name.json" &
	HOLD_PID=$!
	BG+=("$HOLD_PID")
	wait_for 30 "$HOLD held connections" test -s "$CLUSTER_WORK/$name.ready"
}

# stop_client PID: SIGTERM, then until it is gone (it prints its summary on
# the way out); bounded. Callers run in $(...): wait cannot see the client there.
stop_client() {
	kill -TERM "$1" 2>/dev/null || true
	wait_for 60 "client $1 to finish" eval "! kill -0 $1" || kill -KILL "$1" 2>/dev/null || true
}

# held_check DESC JSON: the held connections all continued (dsr, tunnel); in
# fnat, how many broke is counted, not asserted
held_check() {
	if [[ $MOVES == 1 ]]; then
		jcheck "$1: all $HOLD held connections continue (0 broken)" "$2" \
			"d['held']['ok'] == $HOLD and d['held']['final_request']['ok'] == $HOLD and d['held']['final_request']['failed'] == 0"
	else
		measured "$1: fnat: $("$TOPO_PY" -c 'import json,sys; d=json.loads(sys.argv[1])["held"]; f=d["final_request"]; print("%d of %d held connections broke (their translation stayed on the node they left)" % (f["failed"] + d["failed"], f["ok"] + f["failed"] + d["failed"]))' "$2")"
	fi
}

# hold_end NAME: one more request on each held connection; prints the summary
hold_end() {
	stop_client "$HOLD_PID"
	cat "$CLUSTER_WORK/$1.json"
}

# load_start NAME: new connections at RATE/s until load_end
load_start() {
	ip netns exec "$CLUSTER_CX" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" \
		--url "http://$CLUSTER_VIP/" --count 100000 --rate "$RATE" --concurrency 4 \
		--timeout 2 --max-seconds 90 >"$CLUSTER_WORK/$1.json" &
	LOAD_PID=$!
	BG+=("$LOAD_PID")
}

load_end() {
	stop_client "$LOAD_PID"
	cat "$CLUSTER_WORK/$1.json"
}

# new_flows_total I...: the new flows nodes I... counted so far, summed
new_flows_total() {
	local i n=0
	for i in "$@"; do
		n=$((n + $(cluster_new_flows "$i")))
	done
	echo "$n"
}

# grown_by N BASE I...: nodes I... counted at least N new flows more than BASE
grown_by() {
	local n=$1 base=$2
	shift 2
	(($(new_flows_total "$@") >= base + n))
}

# ------------------------------------------------------------------ set up
echo "# $CLUSTER_MODE: three nodes, four backends"
cluster_create "$P" 3 4
cluster_start_router
for i in 1 2 3; do
	cluster_start_node "$i"
done
for i in 1 2 3; do
	wait_for 10 "node $i resolves its backends" resolved "$i"
done
if ms=$(cluster_wait_paths 3 30); then
	pass "the router has the VIP through all three nodes (ECMP)"
	measured "three nodes announced and in the router's FIB ${ms} ms after the last started"
else
	fail "the router has the VIP through all three nodes" "$(ip -n "$CLUSTER_RT" route show "$CLUSTER_VIP/32")"
	exit 1
fi

# ------------------------------------------------------------------ 1. spread
declare -a before
for i in 1 2 3; do
	before[i]=$(cluster_new_flows "$i")
done
r=$(client --url "http://$CLUSTER_VIP/" --count 900 --concurrency 4 --timeout 2 --max-seconds 90)
spread=""
for i in 1 2 3; do
	spread+="${spread:+, }\"n$i\": $(($(cluster_new_flows "$i") - before[i]))"
done
spread="{$spread}"
measured "900 new connections by node: $spread; by backend: $("$TOPO_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["by_backend"])' "$r")"
jcheck "1. 900 new connections through the router, none failed" "$r" 'd["ok"] == 900 and d["failed"] == 0'
jcheck "1. each node took at least 20% of them" "$spread" \
	'all(v >= 0.2 * sum(d.values()) for v in d.values()) and sum(d.values()) >= 900'
jcheck "1. backends get maglev's 2:1:1:1 shares (within 7 points)" "$r" \
	"abs(d['by_backend'].get('b1', 0) / 9 - 40) <= 7 and all(abs(d['by_backend'].get(b, 0) / 9 - 20) <= 7 for b in ('b2', 'b3', 'b4'))"

# ------------------------------------------------------------------ 2. lookup
agree=$("$TOPO_PY" - "$CLUSTER_WORK" <<'EOF'
import json, socket, sys
work = sys.argv[1]
socks = []
for i in (1, 2, 3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("%s/n%d/api.sock" % (work, i))
    socks.append((s, s.makefile("r")))
same = differ = none = 0
for f in range(1000):
    client = "198.19.%d.%d" % (f // 250, f % 250 + 1)
    req = json.dumps({"cmd": "flow.lookup", "vip": "web", "client": client,
                      "client_port": 20000 + f}) + "\n"
    answers = []
    for s, r in socks:
        s.sendall(req.encode())
        a = json.loads(r.readline())
        answers.append(a.get("backend") if a.get("ok") else None)
    if None in answers:
        none += 1
    elif len(set(answers)) == 1:
        same += 1
    else:
        differ += 1
print(json.dumps({"same": same, "differ": differ, "none": none}))
EOF
)
measured "flow.lookup of 1000 flows on the three nodes: $agree"
jcheck "2. for 1000 flows every node names the same backend" "$agree" \
	'd["same"] == 1000 and d["differ"] == 0 and d["none"] == 0'
l1=$(cluster_ctl 1 lookup "$CLUSTER_VIP:80" 198.19.7.7:4242 tcp)
l2=$(cluster_ctl 2 lookup "$CLUSTER_VIP:80" 198.19.7.7:4242 tcp)
l3=$(cluster_ctl 3 lookup web 198.19.7.7:4242)
if [[ -n "$l1" && "$l1" == "$l2" && "$l1" == "$l3" && "$l1" == *"(maglev)" ]]; then
	pass "2. sluicectl lookup answers the same on every node ($l1)"
else
	fail "2. sluicectl lookup answers the same on every node" "n1: $l1; n2: $l2; n3: $l3"
fi

# ------------------------------------------------------------------ 3a. kill -9
# node_change NAME DESC NODE CMD...: with HOLD connections held and new ones
# at RATE/s, run CMD (the change), wait until the router has two next hops
# without NODE; then the held connections' last requests and the failures.
node_change() {
	local name=$1 desc=$2 node=$3 on base ms h l t0
	shift 3
	hold_start "$name-hold"
	on=$(active_flows "$node")
	load_start "$name-load"
	base=$(new_flows_total 1 2 3)
	wait_for 10 "the load under way" grown_by 20 "$base" 1 2 3
	t0=$(_cluster_now_ms)
	"$@"
	if ms=$(cluster_wait_paths 2 "$DETECT_S" "$(cluster_dp_ip "$node")" "$t0"); then
		pass "$desc: the router dropped node $node within ${DETECT_S} s"
	else
		fail "$desc: the router dropped node $node within ${DETECT_S} s" \
			"next hops: $(cluster_paths | tr '\n' ' ')"
		ms=-1
	fi
	# New connections go on through the two others for a while.
	local others=()
	for i in 1 2 3; do
		[[ $i == "$node" ]] || others+=("$i")
	done
	base=$(new_flows_total "${others[@]}")
	wait_for 15 "new flows through the other nodes" grown_by 40 "$base" "${others[@]}" || true
	l=$(load_end "$name-load")
	h=$(hold_end "$name-hold")
	measured "$desc: node $node out of the router's FIB in ${ms} ms; held connections $HOLD (node $node had $on active flows): $("$TOPO_PY" -c 'import json,sys; f=json.loads(sys.argv[1])["held"]["final_request"]; print("%d continued, %d broken" % (f["ok"], f["failed"]))' "$h"); new connections: $("$TOPO_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%d ok, %d failed %s, slowest %s ms (over 1000: a SYN lost to the node, retried by TCP)" % (d["ok"], d["failed"], d["errors"], d["latency_ms"]["max"]))' "$l")"
	held_check "$desc (node $node had $on active flows)" "$h"
	# A connection is lost only while the router still sends to the node: its
	# SYN retried after 1 s goes elsewhere; at most the detection window's worth.
	jcheck "$desc: new connections failed only in the detection window (<= ${RATE}/s x $((ms / 1000 + 2)) s)" "$l" \
		"d['ok'] > 0 and d['failed'] <= $RATE * ($ms // 1000 + 2)"
}

node_change kill "3. kill -9 of node 1's data plane" 1 cluster_dp_kill 1

# ------------------------------------------------------------------ 4. join
hold_start join-hold
cluster_dp_start 1 # a new data plane: its counters start from 0
wait_for 10 "node 1 resolves its backends again" resolved 1 || true
if ms=$(cluster_wait_paths 3 10); then
	pass "4. node 1's data plane back: the router has three next hops again"
	measured "4. node 1 back in the router's FIB ${ms} ms after its data plane answered"
else
	fail "4. node 1's data plane back: the router has three next hops again"
fi
r=$(client --url "http://$CLUSTER_VIP/" --count 300 --concurrency 4 --timeout 2 --max-seconds 60)
took=$(cluster_new_flows 1)
h=$(hold_end join-hold)
measured "4. after the join node 1 took $took of 300 new connections; held: $("$TOPO_PY" -c 'import json,sys; f=json.loads(sys.argv[1])["held"]["final_request"]; print("%d continued, %d broken" % (f["ok"], f["failed"]))' "$h")"
# In fnat, connections being opened while ECMP moves them to the joined node
# may break as held ones do: only dsr and tunnel must lose none.
jcheck "4. the joined node takes new flows (>= 20%: $took of 300)" "{\"took\": $took, \"r\": $r}" \
	"(d['r']['ok'] == 300 or $MOVES == 0) and d['took'] >= 60"
held_check "4. while node 1 joined" "$h"

# ------------------------------------------------------------------ 3b. link down
link_down() {
	ip -n "$CLUSTER_PREFIX-n$1" link set eth0 down
	ip -n "$CLUSTER_PREFIX-n$1" link set dp0 down
}
node_change link "3. node 2's links down" 2 link_down 2
ip -n "$P-n2" link set dp0 up
ip -n "$P-n2" link set eth0 up
if ms=$(cluster_wait_paths 3 20); then
	measured "3. node 2's links up: back in the router's FIB in ${ms} ms"
	pass "3. node 2's links up: back in the router's FIB"
else
	fail "3. node 2's links up: back in the router's FIB"
fi

# ------------------------------------------------------------------ 5. drain
hold_start drain-hold
on3=$(active_flows 3)
t0=$(_cluster_now_ms)
out=$(cluster_ctl 3 node drain)
if ms=$(cluster_wait_paths 2 "$DETECT_S" "$(cluster_dp_ip 3)"); then
	pass "5. node 3 drained ($out): the router stopped sending it new flows"
	measured "5. node 3 drained: out of the router's FIB $(($(_cluster_now_ms) - t0)) ms after sluicectl node drain"
else
	fail "5. node 3 drained: the router stopped sending it new flows"
fi
st=$(cluster_ctl 3 show status || true)
if grep -q "^node: drained" <<<"$st" && grep -q "web *drained" <<<"$st"; then
	pass "5. show status says the node and its VIP are drained"
else
	fail "5. show status says the node and its VIP are drained" "$st"
fi
m=$(ip netns exec "$CLUSTER_PREFIX-n3" curl -sS --max-time 5 http://127.0.0.1:9561/metrics 2>&1 || true)
if grep -q '^sluice_control_node_drained 1$' <<<"$m" &&
	grep -q '^sluice_control_vip_announced{vip="web",reason="drained"} 0$' <<<"$m"; then
	pass "5. node 3's /metrics: drained, web not announced (reason drained)"
else
	fail "5. node 3's /metrics: drained, web not announced (reason drained)" "$(grep -E 'drained|announced' <<<"$m")"
fi
base=$(cluster_new_flows 3)
r=$(client --url "http://$CLUSTER_VIP/" --count 200 --concurrency 4 --timeout 2 --max-seconds 60)
took=$(($(cluster_new_flows 3) - base))
h=$(hold_end drain-hold)
measured "5. drained node 3 took $took of 200 new connections; its $on3 held ones: $("$TOPO_PY" -c 'import json,sys; f=json.loads(sys.argv[1])["held"]["final_request"]; print("%d of %d held connections finished" % (f["ok"], f["ok"] + f["failed"]))' "$h")"
jcheck "5. no new flow reaches the drained node (took $took of 200)" "{\"took\": $took, \"r\": $r}" \
	'd["took"] == 0 and d["r"]["ok"] == 200'
held_check "5. across the drain ($on3 flows on node 3)" "$h"
cluster_ctl 3 node ready >/dev/null
if cluster_wait_paths 3 "$DETECT_S" >/dev/null; then
	pass "5. node 3 ready again: announced"
else
	fail "5. node 3 ready again: announced"
fi

# ------------------------------------------------------------------ 6. backends down on one node
# Node 3's checks cannot reach the backends (dropped in its namespace); the
# other nodes' checks pass.
ip netns exec "$P-n3" nft -f - <<'EOF'
table inet sluice_test {
	chain out {
		type filter hook output priority 0;
		tcp dport 80 drop
	}
}
EOF
t0=$(_cluster_now_ms)
if ms=$(cluster_wait_paths 2 10 "$(cluster_dp_ip 3)"); then
	pass "6. every backend down on node 3 only: node 3 withdrew the VIP"
	measured "6. node 3's checks blocked: withdrawn $(($(_cluster_now_ms) - t0)) ms later (checks every 0.3 s, fall 2)"
else
	fail "6. every backend down on node 3 only: node 3 withdrew the VIP"
fi
paths=$(cluster_paths | tr '\n' ' ')
if [[ "$paths" == "$(cluster_dp_ip 1) $(cluster_dp_ip 2) " ]]; then
	pass "6. nodes 1 and 2 keep announcing it ($paths)"
else
	fail "6. nodes 1 and 2 keep announcing it" "next hops: $paths"
fi
st=$(cluster_ctl 3 show status || true)
if grep -q "web *no backend" <<<"$st"; then
	pass "6. node 3's status says why: no backend"
else
	fail "6. node 3's status says why: no backend" "$st"
fi
r=$(client --url "http://$CLUSTER_VIP/" --count 200 --concurrency 4 --timeout 2 --max-seconds 60)
jcheck "6. 200 new connections through the two others, none failed" "$r" 'd["ok"] == 200 and d["failed"] == 0'
ip netns exec "$P-n3" nft delete table inet sluice_test
if cluster_wait_paths 3 10 >/dev/null; then
	pass "6. node 3's checks pass again: announced again"
else
	fail "6. node 3's checks pass again: announced again"
fi

# ------------------------------------------------------------------ 7. restarts
# Either daemon restarting: BIRD reads the include as it starts; the control
# daemon finds the file as it wants it and tells BIRD again.
kill -KILL "$(cat "$CLUSTER_WORK/n2/control.pid")"
ip netns exec "$P-n2" "$SLUICE_CONTROL" --config "$CLUSTER_WORK/n2/sluice.yaml" --node n2 \
	</dev/null >>"$CLUSTER_WORK/n2/control.log" 2>&1 &
echo $! >"$CLUSTER_WORK/n2/control.pid"
disown
if wait_for 10 "node 2's new control daemon to tell BIRD" \
	eval "cluster_ctl 2 show status | grep -q 'BGP (BIRD): told, 1 route'"; then
	pass "7. node 2's control daemon restarted: BIRD told again, the route kept"
else
	fail "7. node 2's control daemon restarted: BIRD told again, the route kept" "$(cluster_ctl 2 show status 2>&1)"
fi
jcheck "7. ... and the router kept all three next hops" "{\"n\": $(cluster_paths | grep -c .)}" 'd["n"] == 3'
kill -KILL "$(cat "$CLUSTER_WORK/n2/bird.pid")"
if cluster_wait_paths 2 "$DETECT_S" "$(cluster_dp_ip 2)" >/dev/null; then
	pass "7. node 2's BIRD killed: the router dropped node 2"
else
	fail "7. node 2's BIRD killed: the router dropped node 2"
fi
rm -f "$CLUSTER_WORK/n2/bird.ctl"
_cluster_bird "$P-n2" "$CLUSTER_WORK/n2"
if ms=$(cluster_wait_paths 3 20); then
	pass "7. node 2's BIRD restarted: it announces the VIP again (from the include)"
	measured "7. node 2's BIRD restarted: back in the router's FIB in ${ms} ms"
else
	fail "7. node 2's BIRD restarted: it announces the VIP again (from the include)"
fi

echo "# summary of what was measured:"
for m in "${MEASURED[@]}"; do
	echo "#   $m"
done
echo "# run time: $((($(_cluster_now_ms) - T_START) / 1000)) s"
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
