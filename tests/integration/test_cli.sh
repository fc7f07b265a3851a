#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# sluicectl against a running data plane (net_pcap port, no traffic): every
# verb, its table, --json, the exit statuses, and generations that only grow.
# usage: test_cli.sh SLUICE_DATAPLANE SLUICECTL
set -uo pipefail
dp=$1
ctl=$2
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (DPDK EAL)"
	exit 77
fi
tmp=$(mktemp -d /tmp/sluice-cli.XXXXXX)
sock=$tmp/api.sock
pass=0
fail=0
pid=
cleanup() {
	[[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# An empty capture: the port receives nothing.
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$tmp/empty.pcap"
cat >"$tmp/sluice.yaml" <<YAML
dataplane: {api_socket: $sock, flow_capacity: 1024}
ports:
  - {name: p0, devargs: "net_pcap0,rx_pcap=$tmp/empty.pcap,tx_pcap=$tmp/out.pcap", ipv4: 198.18.0.2/24}
vips:
  - name: web
    address: 198.18.1.100
    port: 80
    backends:
      - {address: 198.18.0.11, weight: 4, mac: "02:00:00:00:00:11"}
      - {address: 198.18.0.12, mac: "02:00:00:00:00:12"}
YAML
"$dp" -l 0 --no-huge -m 256 --no-pci --file-prefix "sluice-cli-$$" --log-level warning \
	-- --config "$tmp/sluice.yaml" >"$tmp/dp.log" 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do
	[[ -S "$sock" ]] && break
	sleep 0.1
done

# expect DESC RC PATTERN CMD...: exit status RC and output containing PATTERN.
expect() {
	local desc=$1 rc=$2 pat=$3 out got
	shift 3
	out=$("$@" 2>&1)
	got=$?
	if [[ $got -eq $rc && "$out" == *"$pat"* ]]; then
		pass=$((pass + 1))
		echo "ok   - $desc"
	else
		fail=$((fail + 1))
		echo "FAIL - $desc (exit $got): $out"
	fi
}
c() { "$ctl" -s "$sock" "$@"; }
gen() { c --json show status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])'; }

expect "show vips lists the VIP" 0 "web" c show vips
expect "show backends lists backends with their state" 0 "198.18.0.11:80" c show backends web
g0=$(gen)
expect "backend weight N" 0 "ok (generation" c backend weight web 198.18.0.11 5
expect "... shown in the table" 0 "     5      5 ready" c show backends web
expect "backend weight N% (of the current weight)" 0 "ok" c backend weight web 198.18.0.11 40%
expect "... 40% of 5 is 2" 0 "     2      2 ready" c show backends web
expect "backend drain" 0 "ok" c backend drain web 198.18.0.12
expect "... drain: effective weight 0" 0 "     1      0 drain" c show backends web
expect "backend ready" 0 "ok" c backend ready web 198.18.0.12
expect "backend health down (forced)" 0 "ok" c backend health web 198.18.0.12 down
expect "... health down shown" 0 "down" c show backends web
expect "backend add with key=value" 0 "ok" c backend add web 198.18.0.13 weight=3 mac=02:00:00:00:00:13
expect "... listed" 0 "198.18.0.13:80" c show backends web
expect "backend mac: another static MAC" 0 "ok" c backend mac web 198.18.0.13 02:00:00:00:00:23
expect "... in the data plane" 0 '"mac":"02:00:00:00:00:23"' c --json show backends web
expect "backend mac resolve: by ARP/ND again" 0 "ok" c backend mac web 198.18.0.13 resolve
expect "backend mac with a bad MAC: refused, with the expected form" 1 "aa:bb:cc:dd:ee:ff" \
	c backend mac web 198.18.0.13 02:00:zz
expect "backend del" 0 "ok" c backend del web 198.18.0.13
sleep 0.3 # no flows: the removed slot is freed at the next 100 ms check
out=$(c show backends web)
if [[ "$out" != *198.18.0.13* ]]; then
	pass=$((pass + 1))
	echo "ok   - a deleted backend without flows disappears"
else
	fail=$((fail + 1))
	echo "FAIL - a deleted backend without flows disappears: $out"
fi
expect "vip add with key=value" 0 "ok" c vip add dns address=198.18.1.101 port=53 protocol=udp scheduler=maglev
expect "... listed" 0 "dns" c show vips
expect "vip add fnat without local addresses: refused, with the reason" 1 "mode fnat needs local_addresses" \
	c vip add bad address=198.18.1.102 port=80 mode=fnat
expect "vip add fnat with local addresses" 0 "ok" \
	c vip add nat1 address=198.18.1.102 port=80 mode=fnat local_addresses=198.18.0.50,198.18.0.51
expect "vip del" 0 "ok" c vip del dns
expect "unknown backend: exit 1 and the reason" 1 "has no backend 198.18.0.99" \
	c backend drain web 198.18.0.99
expect "unknown VIP: exit 1" 1 "no VIP" c backend drain nope 198.18.0.11
expect "--json gives the data plane's answer" 0 '"counters"' c --json show stats
expect "show stats table" 0 "rx" c show stats
expect "bad weight: exit 2 and what was expected" 2 "expected N or N%" c backend weight web 198.18.0.11 lots
expect "lookup by name: the backend and where the answer comes from" 0 "(pickup)" \
	c lookup web 198.19.0.1:4242
expect "lookup by ADDR:PORT and protocol" 0 "198.18.0.1" c lookup 198.18.1.100:80 198.19.0.1:4242 tcp
expect "lookup: a client of the other family is refused" 1 "address family" c lookup web 2001:db8::1
expect "lookup: unknown VIP, exit 1" 1 "no VIP" c lookup nope 198.19.0.1
expect "lookup without a client: exit 2" 2 "usage" c lookup web
expect "node: drain or ready only, exit 2" 2 "usage" c node sideways
expect "node drain without a control daemon: exit 3" 3 "$tmp/none.sock" \
	"$ctl" -c "$tmp/none.sock" node drain
expect "unknown command: exit 2" 2 "unknown command" c frobnicate
expect "unreachable data plane: exit 3 and where it looked" 3 "$tmp/none.sock" \
	"$ctl" -s "$tmp/none.sock" show vips

# A peer that sends control characters (a hostile or broken data plane, a
# name from an older version): sluicectl prints them escaped, never raw.
cat >"$tmp/fake_dp.py" <<'PY'
import json, os, socket, sys
path = sys.argv[1]
evil = "\x1b]0;pwned\x07\x1b[2J\u009b31m\nx\x00y"
vip = {"name": evil, "address": "198.18.1.100", "port": 80, "protocol": "tcp",
       "mode": "dsr", "scheduler": "wrr", "backends": [], "pkts": 0, "bytes": 0}
answer = json.dumps({"ok": False, "error": "no VIP \"%s\"" % evil, "vips": [vip],
                     "generation": 1}) + "\n"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(4)
s.settimeout(30)
for i in range(2):
    conn, peer = s.accept()
    conn.makefile().readline()
    conn.sendall(answer.replace('"ok": false', '"ok": true', 1).encode() if i == 0 else answer.encode())
    conn.close()
PY
/usr/bin/python3 "$tmp/fake_dp.py" "$tmp/fake.sock" &
fake=$!
for ((i = 0; i < 100; i++)); do
	[[ -S "$tmp/fake.sock" ]] && break
	sleep 0.1
done
for what in "show vips" "backend drain x 198.18.0.1"; do
	out=$("$ctl" -s "$tmp/fake.sock" $what 2>&1 | od -An -c)
	if [[ "$out" != *"033"* && "$out" != *"007"* && "$out" != *"233"* && "$out" != *" \\0"* &&
		"$out" == *"x   1   b"* ]]; then
		pass=$((pass + 1))
		echo "ok   - $what: control characters received are printed escaped"
	else
		fail=$((fail + 1))
		echo "FAIL - $what: raw control characters reached the terminal: $out"
	fi
done
wait "$fake" 2>/dev/null
g1=$(gen)
if [[ $g1 -gt $g0 ]]; then
	pass=$((pass + 1))
	echo "ok   - generations only grow ($g0 -> $g1)"
else
	fail=$((fail + 1))
	echo "FAIL - generations only grow ($g0 -> $g1)"
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
