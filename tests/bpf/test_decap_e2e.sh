#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end proof of the XDP decapsulator (bpf/decap.bpf.c) with the real
# kernel, attached the way tests do it (tests/lib/decap.sh, iproute2):
#
#   ${P}-tx eth0 198.18.2.1/24 2001:db8:2::1/64 ── veth ── ${P}-rx eth0 198.18.2.2/24 2001:db8:2::2/64
#                                                           lo 198.18.1.100/32 2001:db8:1::100/128 (the "VIP")
#
# The tx side plays the balancer in tunnel mode: it writes (AF_PACKET, frames
# built with scapy) IPv4-in-IPv4 / IPv6-in-IPv6 packets whose outer
# destination is rx's eth0 address and whose inner packet goes from tx's own
# address to the VIP. rx has no ipip/ip6tnl device (the test hosts have no
# such module), so only the decapsulator can get the inner packet to rx's
# stack. Proof of delivery is the answer, which rx sends back directly
# (DSR-style, from the VIP): a UDP echo server bound to the VIP, and the
# kernel's own ICMP echo reply. Checked: nothing arrives without the program;
# with it (native, then generic XDP) UDP and ICMP over IPv4 and IPv6; plain
# traffic still passes; a malformed tunnelled packet is not delivered; the
# counters match what was sent; after detach, nothing arrives again. An
# 802.1Q-tagged IPIP frame is counted as decapsulated but cannot be answered:
# the test hosts have no 8021q module either, so there is no VLAN device to
# deliver it to (tests/bpf/test_decap.c checks the tagged output frames).
#
# Exit: 0 all passed, 1 something failed, 77 skipped (not root, no netns,
# no scapy). Last line: "<n> passed, <m> failed".
# Traffic stays inside the two namespaces created here; every wait is bounded.

# SC2016: the bash -c '...' snippets take their values as arguments, on purpose.
# shellcheck disable=SC2016

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/decap.sh disable=SC1091
. "$HERE/../lib/decap.sh"

PY=/usr/bin/python3
P=sldc$$
TX=$P-tx
RX=$P-rx
TX4=198.18.2.1
RX4=198.18.2.2
TX6=2001:db8:2::1
RX6=2001:db8:2::2
VIP4=198.18.1.100
VIP6=2001:db8:1::100
PORT=9000
PASS=0
FAIL=0
SERVER_PID=
WORK=
FINISHED=0

skip() {
	echo "SKIP: $1"
	exit 77
}

if [[ $(id -u) -ne 0 ]]; then
	skip "needs root (network namespaces, XDP)"
fi
command -v ip >/dev/null 2>&1 || skip "iproute2 'ip' not found"
[[ -x "$PY" ]] || skip "$PY not found"
"$PY" -c 'import scapy.all' 2>/dev/null || skip "python3-scapy not installed"
probe_ns=${P}-probe
ip netns add "$probe_ns" 2>/dev/null || skip "cannot create a network namespace"
ip netns del "$probe_ns" 2>/dev/null || true
export SLUICE_DECAP_OBJ # for the checks that source decap.sh again
if [[ ! -r "$SLUICE_DECAP_OBJ" ]]; then
	echo "no decapsulator object at $SLUICE_DECAP_OBJ (build first, or set SLUICE_DECAP_OBJ)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

cleanup() {
	local rc=$?
	if [[ $FINISHED != 1 && $rc -ne 0 && $rc -ne 77 ]]; then
		# set -e stopped the script (topology set-up): say so in the summary.
		FAIL=$((FAIL + 1))
		echo "FAIL - unexpected exit (status $rc) before the end (signal, or a set-up command failed)"
		echo "$PASS passed, $FAIL failed"
		rc=1
	fi
	if [[ -n "$SERVER_PID" ]]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	# Deleting the namespaces deletes the veth pair and detaches the program.
	ip netns del "$TX" 2>/dev/null || true
	ip netns del "$RX" 2>/dev/null || true
	if [[ -n "$WORK" && "${KEEP:-0}" != 1 ]]; then
		rm -rf -- "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/sluice-test-decap.XXXXXX)

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
		fail "$desc"
	fi
}

finish() {
	FINISHED=1
	echo "$PASS passed, $FAIL failed"
	[[ $FAIL -eq 0 ]]
}

# ------------------------------------------------------------------ helpers
# UDP echo server in rx: one socket per address, so each answer comes from the
# address its request went to (the VIP: DSR). Exits by itself after 300 s.
cat >"$WORK/echo_server.py" <<'EOF'
import select, socket, sys, time

port, ready, addrs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
socks = []
for a in addrs:
    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a, port))
    socks.append(s)
open(ready, "w").close()
end = time.monotonic() + 300
while time.monotonic() < end:
    r, _, _ = select.select(socks, [], [], 1.0)
    for s in r:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)
EOF

# Sender in tx: writes one frame with AF_PACKET and waits (bounded) for the
# answer with an ordinary socket. Exit 0 if the outcome is the one --expect
# names (reply: an answer from the inner destination; none: nothing in 1 s).
cat >"$WORK/probe.py" <<'EOF'
import argparse, os, select, socket, sys, time

from scapy.all import Dot1Q, Ether, ICMP, IP, IPv6, ICMPv6EchoRequest, UDP, raw

ap = argparse.ArgumentParser()
ap.add_argument("--iface", default="eth0")
ap.add_argument("--dst-mac", required=True)
ap.add_argument("--vlan", type=int)
ap.add_argument("--outer", nargs=2, metavar=("SRC", "DST"), help="tunnel; none: plain packet")
ap.add_argument("--inner", nargs=2, metavar=("SRC", "DST"), required=True)
ap.add_argument("--proto", choices=("udp", "icmp"), default="udp")
ap.add_argument("--port", type=int, default=9000)
ap.add_argument("--bad-inner-ihl", action="store_true", help="inner IPv4 header with IHL 4")
ap.add_argument("--expect", choices=("reply", "none"), required=True)
a = ap.parse_args()

v6 = ":" in a.inner[1]
fam = socket.AF_INET6 if v6 else socket.AF_INET
ip = IPv6 if v6 else IP
token = b"sluice-decap-%d" % os.getpid()
ident = os.getpid() & 0xFFFF

if a.proto == "udp":
    rx = socket.socket(fam, socket.SOCK_DGRAM)
    rx.bind((a.inner[0], 0))
    l4 = UDP(sport=rx.getsockname()[1], dport=a.port) / token
else:
    rx = socket.socket(fam, socket.SOCK_RAW,
                       socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    l4 = (ICMPv6EchoRequest(id=ident, seq=1) if v6 else ICMP(id=ident, seq=1)) / token

inner = ip(src=a.inner[0], dst=a.inner[1])
if a.bad_inner_ihl:
    inner.ihl = 4
pkt = inner / l4
if a.outer:
    pkt = ip(src=a.outer[0], dst=a.outer[1]) / pkt  # scapy: proto 4 / nh 41 from the payload
frame = Ether(dst=a.dst_mac, type=0x86DD if v6 else 0x0800) / pkt
if a.vlan is not None:
    frame = Ether(dst=a.dst_mac) / Dot1Q(vlan=a.vlan, type=0x86DD if v6 else 0x0800) / pkt

tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind((a.iface, 0))
frame.src = tx.getsockname()[4].hex(":")
tx.send(raw(frame))


def answered(data, peer):
    if peer[0] != a.inner[1]:
        return False
    if a.proto == "udp":
        return data == token
    if not v6:
        data = data[(data[0] & 0x0F) * 4:]  # a raw IPv4 socket gets the IP header
    want_type = 129 if v6 else 0
    return (data[0] == want_type and int.from_bytes(data[4:6], "big") == ident
            and data[8:] == token)


got = False
end = time.monotonic() + (2.0 if a.expect == "reply" else 1.0)
while not got and time.monotonic() < end:
    r, _, _ = select.select([rx], [], [], max(0.0, end - time.monotonic()))
    if r:
        data, peer = rx.recvfrom(4096)
        got = answered(data, peer)
print("reply" if got else "no reply")
sys.exit(0 if got == (a.expect == "reply") else 1)
EOF

# probe ARGS...: run probe.py in tx towards rx's MAC
probe() {
	ip netns exec "$TX" "$PY" "$WORK/probe.py" --dst-mac "$RX_MAC" "$@" >/dev/null 2>"$WORK/probe.err" || {
		sed 's/^/       probe: /' "$WORK/probe.err" >&2
		return 1
	}
}

# counters_are DECAPSULATED MALFORMED [MIN_PASSED]: the attached program's
# counters (decap_stats) are exactly these, and passed is at least MIN_PASSED
counters_are() {
	local line d p m
	line=$(decap_stats "$RX" eth0) || return 1
	read -r _ d _ p _ m <<<"$line"
	if [[ "$d" == "$1" && "$m" == "$2" && "$p" -ge "${3:-0}" ]]; then
		return 0
	fi
	echo "       counters: $line; wanted decapsulated $1, malformed $2, passed >= ${3:-0}" >&2
	return 1
}

# tunnelled_all: every tunnelled kind of packet arrives; sets SENT to how many were sent
tunnelled_all() {
	local mode=$1
	check "$mode: ipv4-in-ipv4 udp to the vip is answered by the echo server" \
		probe --outer "$TX4" "$RX4" --inner "$TX4" "$VIP4" --proto udp --expect reply
	check "$mode: ipv4-in-ipv4 icmp echo to the vip is answered by the kernel" \
		probe --outer "$TX4" "$RX4" --inner "$TX4" "$VIP4" --proto icmp --expect reply
	check "$mode: ipv6-in-ipv6 udp to the vip is answered by the echo server" \
		probe --outer "$TX6" "$RX6" --inner "$TX6" "$VIP6" --proto udp --expect reply
	check "$mode: ipv6-in-ipv6 icmpv6 echo to the vip is answered by the kernel" \
		probe --outer "$TX6" "$RX6" --inner "$TX6" "$VIP6" --proto icmp --expect reply
	SENT=4
}

# ------------------------------------------------------------------ topology
ip netns add "$TX"
ip netns add "$RX"
ip -n "$TX" link add eth0 type veth peer name eth0 netns "$RX"
for ns in "$TX" "$RX"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.default.accept_ra=0
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
done
ip -n "$TX" addr add "$TX4/24" dev eth0
ip -n "$TX" addr add "$TX6/64" dev eth0 nodad
ip -n "$RX" addr add "$RX4/24" dev eth0
ip -n "$RX" addr add "$RX6/64" dev eth0 nodad
ip -n "$RX" addr add "$VIP4/32" dev lo
ip -n "$RX" addr add "$VIP6/128" dev lo nodad
# The answers come from the VIP: tx routes it back to rx, as a client routes
# the VIP to the balancer (keeps a strict rp_filter happy too).
ip -n "$TX" route add "$VIP4/32" via "$RX4"
ip -n "$TX" route add "$VIP6/128" via "$RX6"
RX_MAC=$(ip -n "$RX" -br link show dev eth0 | awk '{print $3}')

ip netns exec "$RX" "$PY" "$WORK/echo_server.py" "$PORT" "$WORK/server.ready" \
	"$VIP4" "$VIP6" "$RX4" "$RX6" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 50; i++)); do
	[[ -e "$WORK/server.ready" ]] && break
	sleep 0.1
done
check "echo server listening in $RX" test -e "$WORK/server.ready"

# ------------------------------------------------------------------ without the program
check "no xdp program on $RX/eth0 to begin with" test "$(decap_mode "$RX" eth0)" = none
check "control: plain udp to rx's address is answered" \
	probe --inner "$TX4" "$RX4" --proto udp --expect reply
check "control: plain udp to the vip (routed to rx) is answered" \
	probe --inner "$TX4" "$VIP4" --proto udp --expect reply
check "without the decapsulator, ipv4-in-ipv4 udp to the vip gets no answer" \
	probe --outer "$TX4" "$RX4" --inner "$TX4" "$VIP4" --proto udp --expect none
check "without the decapsulator, ipv6-in-ipv6 udp to the vip gets no answer" \
	probe --outer "$TX6" "$RX6" --inner "$TX6" "$VIP6" --proto udp --expect none

# ------------------------------------------------------------------ native
check "decap_attach $RX eth0 (native first)" decap_attach "$RX" eth0
check "attached in native mode" test "$(decap_mode "$RX" eth0)" = native
check "decap_attach refuses a second program, and says why" bash -c \
	'out=$(. "$1"; decap_attach "$2" eth0 2>&1) && exit 1
	 [[ $out == *"already has an XDP program attached (native)"* ]]' _ \
	"$HERE/../lib/decap.sh" "$RX"
check "counters start at zero" counters_are 0 0
tunnelled_all native
# Decapsulated (counted below), then dropped by the kernel: no VLAN device.
check "native: 802.1q-tagged ipv4-in-ipv4 sent (no 8021q here: not answerable)" \
	probe --vlan 100 --outer "$TX4" "$RX4" --inner "$TX4" "$VIP4" --proto udp --expect none
SENT=$((SENT + 1))
check "native: plain udp to rx's address still answered" \
	probe --inner "$TX4" "$RX4" --proto udp --expect reply
check "native: plain udp to rx's ipv6 address still answered" \
	probe --inner "$TX6" "$RX6" --proto udp --expect reply
check "native: ipv4-in-ipv4 with inner ihl 4 is not delivered" \
	probe --outer "$TX4" "$RX4" --inner "$TX4" "$VIP4" --proto udp --bad-inner-ihl --expect none
# Passed: the two plain UDP probes for sure; ARP/ND on top only when the
# neighbour caches happen to need refreshing, so 2 is the floor to ask for.
check "native: counters: decapsulated $SENT, malformed 1, plain traffic passed" \
	counters_are "$SENT" 1 2
check "decap_detach" decap_detach "$RX" eth0
check "detached: no xdp program" test "$(decap_mode "$RX" eth0)" = none
check "detached: ipv4-in-ipv4 udp to the vip gets no answer again" \
	probe --outer "$TX4" "$RX4" --inner "$TX4" "$VIP4" --proto udp --expect none
check "decap_detach again is a no-op" decap_detach "$RX" eth0

# ------------------------------------------------------------------ generic
check "decap_attach $RX eth0 generic" decap_attach "$RX" eth0 generic
check "attached in generic mode" test "$(decap_mode "$RX" eth0)" = generic
tunnelled_all generic
check "generic: counters: decapsulated $SENT, malformed 0" \
	counters_are "$SENT" 0
check "decap_detach (generic)" decap_detach "$RX" eth0
check "detached: no xdp program" test "$(decap_mode "$RX" eth0)" = none

# ------------------------------------------------------------------ fallback, errors
# lo has no native XDP: decap_attach falls back to generic and says so.
check "decap_attach on lo (no native xdp) falls back to generic, with a note" bash -c \
	'out=$(. "$1"; decap_attach "$2" lo 2>&1) || exit 1
	 [[ $out == *"attached in generic mode"* ]]' _ "$HERE/../lib/decap.sh" "$RX"
check "lo: attached in generic mode" test "$(decap_mode "$RX" lo)" = generic
check "decap_detach lo" decap_detach "$RX" lo
check "decap_attach lo native (only) fails" bash -c \
	'! (. "$1"; decap_attach "$2" lo native 2>/dev/null)' _ "$HERE/../lib/decap.sh" "$RX"
check "lo: nothing attached after the failure" test "$(decap_mode "$RX" lo)" = none
check "decap_attach with a missing object fails with a message" bash -c \
	'out=$(. "$1"; SLUICE_DECAP_OBJ=/nonexistent/decap.bpf.o decap_attach "$2" eth0 2>&1) && exit 1
	 [[ $out == *"no decapsulator object at /nonexistent/decap.bpf.o"* ]]' _ \
	"$HERE/../lib/decap.sh" "$RX"
check "decap_attach on a missing interface fails" bash -c \
	'! (. "$1"; decap_attach "$2" nosuchif0 2>/dev/null)' _ "$HERE/../lib/decap.sh" "$RX"

finish
