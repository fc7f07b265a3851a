#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Self-test of tests/lib/topo.sh and its Python servers/clients (no balancer runs):
# builds a topology, talks to every backend directly over HTTP and UDP (IPv4, IPv6),
# checks the DSR backend setup (VIP accepted, ARP/ND for the VIP never answered,
# replies sourced from the VIP), backend stop/restart, two topologies at once,
# clean-up after a half-way failure, and destroy.
#
# Exit: 0 all passed, 1 something failed, 77 skipped (not root, no netns, ...).
# Last line: "<n> passed, <m> failed".
# Traffic stays inside the namespaces created here; every client is bounded.

# SC2016: the bash -c '...' snippets take their values as arguments, on purpose;
# SC2317: helpers called through check() look unreachable to shellcheck 0.9;
# SC2153: TOPO_* come from topo.sh (followed with shellcheck -x).
# shellcheck disable=SC2016,SC2317,SC2153

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/topo.sh disable=SC1091
. "$HERE/../lib/topo.sh"

topo_require

P=sltt$$
P2=sltu$$
P3=sltv$$
NB=3
PASS=0
FAIL=0
WORK=$(mktemp -d /tmp/sluice-test-topo.XXXXXX)
export TOPO_LOGDIR=$WORK/logs

cleanup() {
	local rc=$?
	topo_destroy "$P" >/dev/null 2>&1 || true
	topo_destroy "$P2" >/dev/null 2>&1 || true
	topo_destroy "$P3" >/dev/null 2>&1 || true
	if [[ "${KEEP:-0}" != 1 ]]; then
		rm -rf -- "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT

pass() {
	PASS=$((PASS + 1))
	echo "ok   - $1"
}

fail() {
	FAIL=$((FAIL + 1))
	echo "FAIL - $1"
	if [[ -n "${2:-}" ]]; then
		printf '       %s\n' "$2"
	fi
}

# check DESC CMD...: one check
check() {
	local desc=$1
	shift
	if "$@"; then
		pass "$desc"
	else
		fail "$desc" "exit $? from: $*"
	fi
}

# jcheck DESC JSON PYEXPR: the client's JSON summary, as d, satisfies PYEXPR
jcheck() {
	local desc=$1 json=$2 expr=$3
	if "$TOPO_PY" -c 'import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$json" "$expr" 2>/dev/null; then
		pass "$desc"
	else
		fail "$desc" "expected: $expr; got: ${json:-<no output>}"
	fi
}

# hc / uc ARGS...: the clients in the current topology's client namespace, bounded
hc() {
	timeout 60 ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" \
		--max-seconds 20 "$@" || true
}

uc() {
	timeout 60 ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$TOPO_LIBDIR/udp_client.py" \
		--max-seconds 20 "$@" || true
}

sysctl_is() { # NS KEY VALUE
	[[ "$(ip netns exec "$1" sysctl -n "$2" 2>/dev/null)" == "$3" ]]
}

ns_count() { # PREFIX
	local n
	n=$(ip netns list | awk -v p="$1-" 'index($1, p) == 1' | wc -l)
	echo "$n"
}

has_lladdr() { # NS ADDR: the neighbour entry for ADDR has a link-layer address
	ip -n "$1" neigh show "$2" 2>/dev/null | grep -q lladdr
}

udp_poke() { # NS ADDR: send one datagram to ADDR:9 (triggers ARP/ND), ignore errors
	ip netns exec "$1" timeout 3 "$TOPO_PY" -c 'import socket, sys
a = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", (a, 9))
except OSError:
    pass' "$2" || true
}

wait_lladdr() { # NS ADDR: up to 1 s for a resolved neighbour entry
	local k
	for ((k = 0; k < 20; k++)); do
		has_lladdr "$1" "$2" && return 0
		sleep 0.05
	done
	return 1
}

# ------------------------------------------------------------------ create
t0=$(_topo_now_ms)
if topo_create "$P" "$NB"; then
	pass "topo_create $P $NB"
else
	fail "topo_create $P $NB"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
t1=$(_topo_now_ms)
if topo_start_backends; then
	pass "topo_start_backends (all listening on TCP 80 and UDP 9000)"
else
	fail "topo_start_backends"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
t2=$(_topo_now_ms)
echo "#    topo_create: $((t1 - t0)) ms, topo_start_backends: $((t2 - t1)) ms"

check "$((NB + 3)) namespaces with prefix $P" test "$(ns_count "$P")" -eq $((NB + 3))
check "exported variables" test "$TOPO_PREFIX" = "$P" -a "$TOPO_NBACKENDS" = "$NB" \
	-a "$TOPO_CLIENT_NS" = "$P-cl" -a "$TOPO_LB_NS" = "$P-lb" \
	-a "${#TOPO_BACKEND_NS[@]}" = "$NB" -a "${TOPO_BACKEND_NS[2]}" = "$P-b3" \
	-a "${TOPO_BACKEND_IP4[0]}" = 198.18.0.11 -a "${TOPO_BACKEND_IP6[2]}" = 2001:db8::13 \
	-a "$TOPO_VIP4" = 198.18.1.100 -a "$TOPO_VIP6" = 2001:db8:1::100 \
	-a "$TOPO_LB_IP4" = 198.18.0.2 -a "$TOPO_LB_IP6" = 2001:db8::2 \
	-a "$TOPO_CLIENT_IP4" = 198.18.0.1
check "backend MACs read back (02:00:c6:12:00:0b..)" test "${TOPO_BACKEND_MAC[0]}" = 02:00:c6:12:00:0b \
	-a "${TOPO_BACKEND_MAC[2]}" = 02:00:c6:12:00:0d
check "lb0: no IPv4 address" test -z "$(ip -n "$TOPO_LB_NS" -4 addr show dev lb0)"
check "lb0: IPv6 disabled, no IPv6 address" sysctl_is "$TOPO_LB_NS" net.ipv6.conf.lb0.disable_ipv6 1
check "lb0: up and promiscuous, MAC $TOPO_LB_MAC" bash -c \
	'ip -n "$1" link show dev lb0 | grep -q "PROMISC,UP" && ip -n "$1" link show dev lb0 | grep -q "link/ether $2"' \
	_ "$TOPO_LB_NS" "$TOPO_LB_MAC"
check "client routes to the VIP nets via the lb" bash -c \
	'ip -n "$1" route show 198.18.1.0/24 | grep -q "via 198.18.0.2" && ip -n "$1" -6 route show 2001:db8:1::/64 | grep -q "via 2001:db8::2"' \
	_ "$TOPO_CLIENT_NS"
check "offloads off: client eth0, lb0, b1 eth0, switch ports" bash -c '
	for x in "$1:eth0" "$2:lb0" "$3:eth0" "$4:v-cl" "$4:v-lb" "$4:v-b1"; do
		k=$(ip netns exec "${x%%:*}" ethtool -k "${x#*:}") || exit 1
		for f in tx-checksumming rx-checksumming tcp-segmentation-offload \
			generic-segmentation-offload generic-receive-offload; do
			grep -q "^$f: off" <<<"$k" || exit 1
		done
	done' _ "$TOPO_CLIENT_NS" "$TOPO_LB_NS" "${TOPO_BACKEND_NS[0]}" "$TOPO_SW_NS"
check "no IPv6 address is tentative (nodad)" bash -c \
	'! ip -n "$1" -6 addr show | grep -q tentative && ! ip -n "$2" -6 addr show | grep -q tentative' \
	_ "$TOPO_CLIENT_NS" "${TOPO_BACKEND_NS[0]}"

# ------------------------------------------------------------------ direct traffic
for ((i = 0; i < NB; i++)); do
	b=${TOPO_BACKEND_NAME[i]}
	ip4=${TOPO_BACKEND_IP4[i]}
	ip6=${TOPO_BACKEND_IP6[i]}
	jcheck "HTTP  IPv4 client -> $b ($ip4)" "$(hc --url "http://$ip4/" --count 5)" \
		"d['ok'] == 5 and d['failed'] == 0 and d['by_backend'] == {'$b': 5}"
	jcheck "HTTP  IPv6 client -> $b ([$ip6])" "$(hc --url "http://[$ip6]/" --count 5)" \
		"d['ok'] == 5 and d['failed'] == 0 and d['by_backend'] == {'$b': 5}"
	jcheck "UDP   IPv4 client -> $b ($ip4:9000)" "$(uc --host "$ip4" --count 5)" \
		"d['ok'] == 5 and d['failed'] == 0 and d['by_backend'] == {'$b': 5}"
	jcheck "UDP   IPv6 client -> $b ([$ip6]:9000)" "$(uc --host "$ip6" --count 5)" \
		"d['ok'] == 5 and d['failed'] == 0 and d['by_backend'] == {'$b': 5}"
done
jcheck "HTTP  /bytes/1000000 IPv4, SHA-256 verified" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[0]}/" --bytes 1000000 --count 3)" \
	"d['ok'] == 3 and d['failed'] == 0"
jcheck "HTTP  /bytes/65537 IPv6, SHA-256 verified" \
	"$(hc --url "http://[${TOPO_BACKEND_IP6[1]}]/" --bytes 65537 --count 3)" \
	"d['ok'] == 3 and d['failed'] == 0"
jcheck "HTTP  300 requests, concurrency 8" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[1]}/" --count 300 --concurrency 8)" \
	"d['ok'] == 300 and d['failed'] == 0 and d['requests'] == 300"
jcheck "UDP   200 flows, concurrency 4" \
	"$(uc --host "${TOPO_BACKEND_IP6[2]}" --count 200 --concurrency 4)" \
	"d['ok'] == 200 and d['failed'] == 0"
jcheck "HTTP  --rate 50 --count 20 takes ~0.4 s" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[0]}/" --count 20 --rate 50)" \
	"d['ok'] == 20 and 0.3 <= d['run_seconds'] <= 2.0"
jcheck "HTTP  --hold 3 --count 0 holds 3 connections for --max-seconds" \
	"$(timeout 30 ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" \
		--url "http://${TOPO_BACKEND_IP4[2]}/" --hold 3 --count 0 --max-seconds 1 || true)" \
	"d['held']['ok'] == 3 and d['held']['open_at_end'] == 3 and d['held']['by_backend'] == {'b3': 3} and 0.9 <= d['seconds'] <= 3"

# held connections visible on the backend while the client holds them
hold_out=$WORK/hold.json
timeout 30 ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" \
	--url "http://${TOPO_BACKEND_IP4[0]}/" --hold 4 --count 0 --max-seconds 10 \
	--ready-file "$WORK/hold.ready" >"$hold_out" &
hold_pid=$!
for ((k = 0; k < 100; k++)); do
	[[ -s "$WORK/hold.ready" ]] && break
	sleep 0.05
done
est=$(ip netns exec "${TOPO_BACKEND_NS[0]}" ss -Htn state established "sport = :80" | wc -l)
kill -TERM "$hold_pid" 2>/dev/null || true
wait "$hold_pid" || true
check "--hold 4: 4 established connections on b1; SIGTERM ends the client early" \
	test "$est" -eq 4 -a -s "$hold_out"
jcheck "--hold 4: summary printed after SIGTERM" "$(cat "$hold_out")" \
	"d['held']['ok'] == 4 and d['seconds'] < 5"

jcheck "HTTP  connection refused is reported" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[0]}:81/" --count 2)" \
	"d['ok'] == 0 and d['errors'] == {'refused': 2}"
jcheck "HTTP  unanswered address gives a bounded failure" \
	"$(hc --url "http://198.18.0.250/" --count 1 --timeout 1)" \
	"d['ok'] == 0 and d['failed'] == 1 and d['seconds'] < 5"
jcheck "HTTP  /status/503 is a failure status_503" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[0]}/status/503" --count 1)" \
	"d['errors'] == {'status_503': 1}"
touch "$TOPO_LOGDIR/b2.fail"
jcheck "HTTP  /health answers 503 while \$TOPO_LOGDIR/b2.fail exists" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[1]}/health" --count 1)" "d['errors'] == {'status_503': 1}"
rm -f "$TOPO_LOGDIR/b2.fail"
jcheck "HTTP  /health answers 200 again" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[1]}/health" --count 1)" "d['ok'] == 1"

# ------------------------------------------------------------------ DSR setup
for ((i = 0; i < NB; i++)); do
	ns=${TOPO_BACKEND_NS[i]}
	check "${TOPO_BACKEND_NAME[i]}: arp_ignore=1, arp_announce=2 (all, eth0)" bash -c '
		for k in all eth0; do
			[[ $(ip netns exec "$1" sysctl -n net.ipv4.conf.$k.arp_ignore) == 1 ]] || exit 1
			[[ $(ip netns exec "$1" sysctl -n net.ipv4.conf.$k.arp_announce) == 2 ]] || exit 1
		done' _ "$ns"
	check "${TOPO_BACKEND_NAME[i]}: VIPs on lo" bash -c \
		'ip -n "$1" addr show dev lo | grep -q "inet 198.18.1.100/32" && ip -n "$1" addr show dev lo | grep -q "inet6 2001:db8:1::100/128"' \
		_ "$ns"
done

# ARP / ND for the VIP must go unanswered. Make the VIP on-link for the client for a
# moment so it asks; positive control: the same for a backend's own address.
cl=$TOPO_CLIENT_NS
udp_poke "$cl" "${TOPO_BACKEND_IP4[0]}"
check "ARP control: backend's own address gets resolved" wait_lladdr "$cl" "${TOPO_BACKEND_IP4[0]}"
udp_poke "$cl" "${TOPO_BACKEND_IP6[0]}"
check "ND control: backend's own address gets resolved" wait_lladdr "$cl" "${TOPO_BACKEND_IP6[0]}"
ip -n "$cl" route add "$TOPO_VIP4/32" dev eth0
ip -n "$cl" -6 route add "$TOPO_VIP6/128" dev eth0
udp_poke "$cl" "$TOPO_VIP4"
udp_poke "$cl" "$TOPO_VIP6"
sleep 1
check "no backend answers ARP for the VIP $TOPO_VIP4" bash -c '! ip -n "$1" neigh show "$2" | grep -q lladdr' _ "$cl" "$TOPO_VIP4"
check "no backend answers ND for the VIP $TOPO_VIP6" bash -c '! ip -n "$1" neigh show "$2" | grep -q lladdr' _ "$cl" "$TOPO_VIP6"
ip -n "$cl" route del "$TOPO_VIP4/32" dev eth0
ip -n "$cl" -6 route del "$TOPO_VIP6/128" dev eth0
ip -n "$cl" neigh flush to "$TOPO_VIP4" 2>/dev/null || true
ip -n "$cl" -6 neigh flush to "$TOPO_VIP6" 2>/dev/null || true

# DSR by hand: pretend the lb's MAC is a backend's; the backend must take the VIP
# traffic and answer straight to the client from the VIP.
ip -n "$cl" neigh replace "$TOPO_LB_IP4" lladdr "${TOPO_BACKEND_MAC[0]}" dev eth0 nud permanent
ip -n "$cl" -6 neigh replace "$TOPO_LB_IP6" lladdr "${TOPO_BACKEND_MAC[1]}" dev eth0 nud permanent
jcheck "DSR by hand: HTTP to $TOPO_VIP4 answered by b1" "$(hc --url "http://$TOPO_VIP4/" --count 5)" \
	"d['ok'] == 5 and d['by_backend'] == {'b1': 5}"
jcheck "DSR by hand: UDP to $TOPO_VIP4 answered by b1 from the VIP" "$(uc --host "$TOPO_VIP4" --count 5)" \
	"d['ok'] == 5 and d['by_backend'] == {'b1': 5}"
jcheck "DSR by hand: HTTP to [$TOPO_VIP6] answered by b2" "$(hc --url "http://[$TOPO_VIP6]/" --count 5)" \
	"d['ok'] == 5 and d['by_backend'] == {'b2': 5}"
jcheck "DSR by hand: UDP to [$TOPO_VIP6] answered by b2 from the VIP" "$(uc --host "$TOPO_VIP6" --count 5)" \
	"d['ok'] == 5 and d['by_backend'] == {'b2': 5}"
ip -n "$cl" neigh del "$TOPO_LB_IP4" dev eth0 2>/dev/null || true
ip -n "$cl" -6 neigh del "$TOPO_LB_IP6" dev eth0 2>/dev/null || true
jcheck "without an lb, VIP traffic fails in bounded time" \
	"$(hc --url "http://$TOPO_VIP4/" --count 1 --timeout 1)" "d['ok'] == 0 and d['seconds'] < 5"

# ------------------------------------------------------------------ stop / restart
pid3=$(topo_backend_pid 3)
check "topo_stop_backend 3 KILL" topo_stop_backend 3 KILL
# The backend is this shell's child: until bash reaps it, kill -0 succeeds on
# the zombie (it did, under load). Gone means not running, zombie or not.
check "b3's process is gone" topo_pid_gone "$pid3"
jcheck "HTTP to stopped b3: refused" "$(hc --url "http://${TOPO_BACKEND_IP4[2]}/" --count 2)" \
	"d['ok'] == 0 and d['errors'] == {'refused': 2}"
check "topo_start_backend 3" topo_start_backend 3
jcheck "HTTP to restarted b3" "$(hc --url "http://${TOPO_BACKEND_IP4[2]}/" --count 2)" \
	"d['ok'] == 2 and d['by_backend'] == {'b3': 2}"
check "topo_stop_backend 2 STOP (hang)" topo_stop_backend 2 STOP
jcheck "HTTP to hung b2: times out (handshake completes, no answer)" \
	"$(hc --url "http://${TOPO_BACKEND_IP4[1]}/" --count 1 --timeout 0.5)" \
	"d['ok'] == 0 and d['errors'] == {'timeout': 1}"
check "topo_stop_backend 2 CONT" topo_stop_backend 2 CONT
jcheck "HTTP to resumed b2" "$(hc --url "http://${TOPO_BACKEND_IP4[1]}/" --count 2)" "d['ok'] == 2"

# ------------------------------------------------------------------ two at once
if topo_create "$P" 1 2>/dev/null; then
	fail "topo_create refuses a prefix in use"
else
	pass "topo_create refuses a prefix in use"
fi
check "... and leaves that topology intact" test "$(ns_count "$P")" -eq $((NB + 3))

if (
	topo_create "$P2" 1 || exit 1
	TOPO_LOGDIR=$WORK/logs2 topo_start_backends 8080 || exit 1
	out=$(hc --url "http://198.18.0.11:8080/" --count 3)
	"$TOPO_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["ok"] == 3 else 1)' "$out"
); then
	pass "second topology $P2 alongside (same addresses, own L2), its client reaches its b1"
else
	fail "second topology $P2 alongside"
fi
check "both topologies exist" test "$(ns_count "$P")" -eq $((NB + 3)) -a "$(ns_count "$P2")" -eq 4
jcheck "first topology still answers" "$(hc --url "http://${TOPO_BACKEND_IP4[0]}/" --count 3)" \
	"d['ok'] == 3 and d['by_backend'] == {'b1': 3}"
check "topo_destroy $P2" topo_destroy "$P2"
check "no namespace of $P2 remains, $P untouched" test "$(ns_count "$P2")" -eq 0 -a "$(ns_count "$P")" -eq $((NB + 3))

# ------------------------------------------------------------------ failure half-way
if TOPO_TEST_FAIL_AFTER_BACKEND=2 topo_create "$P3" 3 2>/dev/null; then
	fail "topo_create failing half-way returns non-zero"
else
	pass "topo_create failing half-way returns non-zero"
fi
check "... and leaves no namespace of $P3" test "$(ns_count "$P3")" -eq 0
if topo_create "$P3" 0 2>/dev/null || topo_create "bad-prefix" 1 2>/dev/null; then
	fail "topo_create rejects bad arguments"
else
	pass "topo_create rejects bad arguments"
fi

# ------------------------------------------------------------------ destroy
pids=$(for ((i = 1; i <= NB; i++)); do topo_backend_pid "$i"; done)
check "topo_destroy $P" topo_destroy "$P"
check "no namespace of $P remains" test "$(ns_count "$P")" -eq 0
all_gone() {
	local p
	for p in $1; do
		topo_pid_gone "$p" || return 1
	done
}
check "backend processes are gone" all_gone "$pids"
check "topo_destroy is idempotent" topo_destroy "$P"

echo "$PASS passed, $FAIL failed"
if ((FAIL > 0)); then
	exit 1
fi
exit 0
