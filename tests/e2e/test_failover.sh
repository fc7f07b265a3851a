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
# Then recovery, with the control daemon (HTTP checks every 1 s, fall 3,
# rise 2; a breaker with a 5 s ejection): b3 killed, hung (SIGSTOP) and
# blackholed in turn under steady load for RECOVERY_FAULT_S (17.5 s: the
# restore lands in the breaker's second open window, after its half-open
# window timed out with no flow to probe while the checks held b3 down),
# then restored. Traffic must reach b3 again within rise x interval + 0.5 s
# of the restore, every time. RECOVERY=0 skips this part.
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
: "${SLUICE_CONTROL:=$(dirname "$(dirname "$SLUICE_DATAPLANE")")/control/sluice-control}"
: "${RECOVERY:=1}" "${RECOVERY_FAULT_S:=17.5}"
export TOPO_LB_MGMT=1 # a kernel address in the lb namespace, for the checks
CTL_PID=
PROBER_PID=
hung=
P=slf$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-fail.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs

cleanup() {
	local rc=$?
	if [[ -n "$hung" ]]; then kill -CONT "$hung" 2>/dev/null || true; fi
	if [[ -n "$PROBER_PID" ]]; then kill "$PROBER_PID" 2>/dev/null || true; fi
	if [[ -n "$CTL_PID" ]]; then kill "$CTL_PID" 2>/dev/null || true; fi
	if [[ $FAIL -gt 0 && -f "$SLUICE_WORK/control.log" ]]; then
		echo "--- control log"
		tail -30 "$SLUICE_WORK/control.log"
	fi
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

# client_syn_retrans: SYN retransmissions by the client's kernel so far
# (TcpExt TCPSynRetrans of the client namespace). A request whose SYN the
# balancer failed to redispatch in time waits for one (1 s, then 3 s).
client_syn_retrans() {
	ip netns exec "$TOPO_CLIENT_NS" awk '$1 == "TcpExt:" {
		if (!n) { for (i = 2; i <= NF; i++) k[i] = $i; n = 1; next }
		for (i = 2; i <= NF; i++) if (k[i] == "TCPSynRetrans") print $i
	}' /proc/net/netstat
}
# slowest EVENTS N: the N slowest requests of an http_client --events file,
# "start offset (s), ms, backend or error" each, for the failure messages.
slowest() {
	"$TOPO_PY" - "$1" "$2" <<'PY'
import json, sys
ev = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda e: -e["ms"])
print("; ".join("t=%.2fs %.0fms %s" % (e["t"], e["ms"], e["backend"] or e["error"])
                for e in ev[:int(sys.argv[2])]))
PY
}


topo_create "$P" 3
topo_start_backends
[[ $MODE == nat ]] && sluice_nat_routes
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" "$MODE" rr
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10

# Steady load: a new connection per request, 50 per second for 3 s, up to 8 at a time.
load=$SLUICE_WORK/load.json
syn0=$(client_syn_retrans)
topo_http_client --url "http://$TOPO_VIP4/" --count 150 --rate 50 --concurrency 8 --timeout 5 \
	--max-seconds 60 --events "$SLUICE_WORK/kill.events" >"$load" &
load_pid=$!
sleep 1
t_kill=$(date +%s.%N)
topo_stop_backend 3 KILL
wait "$load_pid" || true
syn_retrans=$(($(client_syn_retrans) - syn0))
r=$(cat "$load")
echo "# client: $r"
echo "# client SYN retransmissions: $syn_retrans; slowest: $(slowest "$SLUICE_WORK/kill.events" 3)"
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
# no request waited for its client's SYN retry (1 s); before held SYNs the
# slowest took over 1 s. Measured where it happens: the client's kernel sent
# no SYN twice. The latency bound only backs that up: under 1 s, the retry.
# (It was 0.5 s, which assumed an idle CPU: on a 2-core host with two busy
# loops and other work, the slowest request here took 17 ms, but a Python
# client thread waiting for its CPU can add hundreds of ms with no SYN lost.)
if [[ $syn_retrans -eq 0 ]]; then
	pass "no request waited for a SYN retry (the client retransmitted no SYN)"
else
	fail "no request waited for a SYN retry (the client retransmitted no SYN)" \
		"$syn_retrans SYN retransmissions; slowest: $(slowest "$SLUICE_WORK/kill.events" 5)"
fi
jcheck "... the slowest request under the 1 s of a SYN retry" "$r" \
	'd["latency_ms"]["max"] < 1000'
echo "# killed at $t_kill; redispatched $(echo "$st" | "$TOPO_PY" -c 'import json,sys; print(json.load(sys.stdin)["counters"]["redispatched"])')"

# A blackholed backend (nftables drops everything in b2's namespace): its
# SYNs go unanswered, so each is sent to another backend after the VIP's
# syn_timeout (0.2 s by default), not after the client's retry (1 s). b3,
# restarted, serves again.
topo_start_backend 3
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add table inet sl_bh
ip netns exec "${TOPO_BACKEND_NS[1]}" nft add chain inet sl_bh in \
	'{ type filter hook input priority 0; policy drop; }'
ev=$SLUICE_WORK/blackhole.events
syn0=$(client_syn_retrans)
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 150 --rate 50 --concurrency 8 --timeout 5 \
	--max-seconds 60 --events "$ev")
syn_retrans=$(($(client_syn_retrans) - syn0))
ip netns exec "${TOPO_BACKEND_NS[1]}" nft delete table inet sl_bh
echo "# blackholed b2: $r"
# rr over 3 backends: every third SYN goes to b2 first and waits its
# syn_timeout there; the median of those (the requests over 100 ms) is the
# redispatch delay as a client sees it.
redisp=$("$TOPO_PY" - "$ev" <<'PY'
import json, sys
ms = sorted(e["ms"] for e in map(json.loads, open(sys.argv[1])) if e["error"] is None)
slow = [m for m in ms if m >= 100]
print(len(slow), round(slow[len(slow) // 2]) if slow else 0)
PY
)
read -r n_redisp redisp_p50 <<<"$redisp"
echo "# blackholed b2: $n_redisp requests waited for a redispatch, median ${redisp_p50} ms; client SYN retransmissions: $syn_retrans; slowest: $(slowest "$ev" 3)"
jcheck "b2 blackholed: 150 requests, none failed, none on b2" "$r" \
	'd["ok"] == 150 and d["failed"] == 0 and d["by_backend"].get("b2", 0) == 0'
# The SYNs sent to b2 wait one syn_timeout (0.2 s) and go elsewhere, before
# the client's own retry (1 s): the client's kernel retransmits no SYN, and
# the requests that waited took about 0.2 s (median under 0.4 s). The
# slowest used to be held under 0.6 s, which assumed an idle CPU: on a
# loaded 2-core host it went over (once) while no SYN was retransmitted. A
# thread of the Python client, or the data plane's own lcore, descheduled
# for a few hundred ms adds to one request, not to the redispatch, so the
# slowest is held under the 1 s of a retry and the redispatch claim is the
# retransmission count and the median. Measured under two busy loops (load
# average 8): 50 waited, median 203 ms, slowest 208 ms, no retransmission.
if [[ $syn_retrans -eq 0 ]]; then
	pass "b2 blackholed: its SYNs redispatched before the client's retry (no SYN retransmitted)"
else
	fail "b2 blackholed: its SYNs redispatched before the client's retry (no SYN retransmitted)" \
		"$syn_retrans SYN retransmissions; slowest: $(slowest "$ev" 5)"
fi
if ((n_redisp > 0 && redisp_p50 < 400)); then
	pass "b2 blackholed: redispatched after syn_timeout ($n_redisp waited, median $redisp_p50 ms)"
else
	fail "b2 blackholed: redispatched after syn_timeout (median under 400 ms)" \
		"$n_redisp requests over 100 ms, median $redisp_p50 ms; slowest: $(slowest "$ev" 5)"
fi
jcheck "b2 blackholed: the others unhurried (median under 100 ms), the slowest under 1 s" "$r" \
	'd["latency_ms"]["max"] < 1000 and d["latency_ms"]["p50"] < 100'

# --- recovery after kill, hang and blackhole, with checks and a breaker
if [[ $RECOVERY != 1 ]]; then
	echo "# recovery part skipped (RECOVERY=$RECOVERY)"
	echo "$PASS passed, $FAIL failed"
	[[ $FAIL -eq 0 ]]
	exit
fi
if [[ ! -x "$SLUICE_CONTROL" ]]; then
	fail "recovery: no control daemon at $SLUICE_CONTROL (build it, or RECOVERY=0)"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

# The prober: a new connection per request at RATE/s, 8 at a time, each line
# "start end backend|ERR:kind" (wall clock, s), for at most SECONDS.
cat >"$SLUICE_WORK/prober.py" <<'PY'
import socket, sys, threading, time
host, rate, seconds, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
t0, lock, f = time.time(), threading.Lock(), open(out, "w", buffering=1)
state = {"i": 0}
def one():
    s = socket.create_connection((host, 80), timeout=2)
    try:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    finally:
        s.close()
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"x-backend:"):
            return line.split(b":", 1)[1].strip().decode()
    return "ERR:bad_response"
def worker():
    while True:
        with lock:
            i = state["i"]
            state["i"] += 1
        at = t0 + i / rate
        if at - t0 >= seconds:
            return
        d = at - time.time()
        if d > 0:
            time.sleep(d)
        start = time.time()
        try:
            who = one()
        except OSError as e:
            who = "ERR:" + type(e).__name__
        f.write("%.3f %.3f %s\n" % (start, time.time(), who))
ts = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
PY

sluice_stop
cfg=$SLUICE_WORK/recovery.yaml
sluice_dsr_config "$cfg" "$MODE" rr
"$TOPO_PY" - "$cfg" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  - name: web4\n", "  - name: web4\n"
              "    response_timeout: 1\n"
              "    health_check: {type: http, path: /health, interval: 1, timeout: 1, "
              "rise: 2, fall: 3}\n"
              "    breaker: {consecutive_failures: 5, base_ejection: 5, max_ejection: 5, "
              "max_ejection_percent: 50}\n", 1)
open(p, "w").write(s)
PY
sluice_start "$cfg" 1
sluice_wait_resolved 10
ip netns exec "$TOPO_LB_NS" "$SLUICE_CONTROL" --config "$cfg" \
	--api-socket "$SLUICE_SOCK" --control-socket "$SLUICE_WORK/control.sock" \
	>"$SLUICE_WORK/control.log" 2>&1 &
CTL_PID=$!
B3=${TOPO_BACKEND_IP4[2]}

ctl_api() {
	printf '%s\n' "$1" | timeout 10 socat -t 5 - "UNIX-CONNECT:$SLUICE_WORK/control.sock" 2>/dev/null
}
# b3's health and breaker as the daemon has them: "up closed", "down open", ...
b3_state() {
	ctl_api '{"cmd":"health.list"}' | "$TOPO_PY" -c '
import json, sys
b = [b for b in json.load(sys.stdin)["backends"] if b["vip"] == "web4" and b["address"] == sys.argv[1]][0]
print(b["health"], b.get("breaker", "-"))' "$B3" 2>/dev/null || echo "? ?"
}
# wait_b3 PATTERN SECONDS: until b3_state matches (bounded).
wait_b3() {
	local k
	for ((k = 0; k < $2 * 10; k++)); do
		# shellcheck disable=SC2053
		[[ $(b3_state) == $1 ]] && return 0
		sleep 0.1
	done
	return 1
}
if ! wait_b3 "up closed" 15; then
	fail "recovery: b3 up with its breaker closed before the faults" "$(b3_state)"
fi

declare -A BACK
for fault in kill hang blackhole; do
	tl=$SLUICE_WORK/timeline-$fault.txt
	ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$SLUICE_WORK/prober.py" "$TOPO_VIP4" 50 \
		"$(echo "$RECOVERY_FAULT_S + 25" | bc)" "$tl" </dev/null >/dev/null 2>&1 &
	PROBER_PID=$!
	sleep 2 # steady load before the fault
	t_fault=$(date +%s.%N)
	case $fault in
	kill) topo_stop_backend 3 KILL ;;
	hang)
		hung=$(topo_backend_pid 3)
		kill -STOP "$hung"
		;;
	blackhole)
		ip netns exec "${TOPO_BACKEND_NS[2]}" nft add table inet sl_bh
		ip netns exec "${TOPO_BACKEND_NS[2]}" nft add chain inet sl_bh in \
			'{ type filter hook input priority 0; policy drop; }'
		;;
	esac
	if wait_b3 "down *" 10; then
		pass "$fault: b3 marked down by its checks"
	else
		fail "$fault: b3 marked down by its checks" "$(b3_state)"
	fi
	# Hold the fault until RECOVERY_FAULT_S after it began.
	left=$(echo "$t_fault + $RECOVERY_FAULT_S - $(date +%s.%N)" | bc)
	[[ $left == -* ]] || sleep "$left"
	before_restore=$(b3_state)
	case $fault in
	kill) topo_start_backend 3 ;;
	hang)
		kill -CONT "$hung"
		hung=
		;;
	blackhole) ip netns exec "${TOPO_BACKEND_NS[2]}" nft delete table inet sl_bh ;;
	esac
	t_restore=$(date +%s.%N)
	# Until a new connection started after the restore reaches b3 (bounded: 15 s).
	back=
	for ((k = 0; k < 150; k++)); do
		back=$(awk -v t="$t_restore" '$1 >= t && $3 == "b3" { printf "%.2f\n", $1 - t; exit }' "$tl")
		[[ -n "$back" ]] && break
		sleep 0.1
	done
	kill "$PROBER_PID" 2>/dev/null
	wait "$PROBER_PID" 2>/dev/null || true
	PROBER_PID=
	up_at=$(awk -v t="$t_restore" -v b="$B3" '$0 ~ "web4 " b ":80: UP after" && $1 >= t { printf "%.2f\n", $1 - t; exit }' \
		"$SLUICE_WORK/control.log")
	echo "# $fault: held ${RECOVERY_FAULT_S} s (b3 at the restore: $before_restore); checks up after ${up_at:-?} s, traffic back after ${back:-none} s"
	BACK[$fault]=${back:-none}
	if [[ -n "$back" ]] && (($(echo "$back <= 2.5" | bc))); then
		pass "$fault: traffic back on b3 within rise x interval + 0.5 s of the restore ($back s)"
	else
		fail "$fault: traffic back on b3 within rise x interval + 0.5 s of the restore" \
			"back after ${back:-more than 15} s; checks up after ${up_at:-?} s; now $(b3_state)"
	fi
	# The next fault starts from a settled b3 (bounded).
	wait_b3 "up closed" 20 || true
done
echo "# recovery: kill ${BACK[kill]} s, hang ${BACK[hang]} s, blackhole ${BACK[blackhole]} s"

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
