#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The control daemon's announcements (control/bgp.c) against a stand-in for
# BIRD's control socket that counts the "configure" commands it gets: the
# include written atomically and only when it changes, BIRD told once per
# change, node drain and ready, a BIRD that restarted (new socket) told
# again, one that refuses the file retried and its reason shown, and the
# data plane killed: everything withdrawn. No namespaces, no BGP (the real
# thing is tests/e2e/test_cluster.sh).
# usage: test_bgp.sh SLUICE_DATAPLANE SLUICE_CONTROL SLUICECTL
set -uo pipefail
dp=$1
daemon=$2
ctl=$3
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (DPDK EAL)"
	exit 77
fi
tmp=$(mktemp -d /tmp/sluice-bgp.XXXXXX)
sock=$tmp/api.sock
csock=$tmp/control.sock
inc=$tmp/vips.conf
pass=0
fail=0
dp_pid=
ctl_pid=
bird_pid=
cleanup() {
	local p
	for p in "$ctl_pid" "$dp_pid" "$bird_pid"; do
		[[ -n "$p" ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [[ $fail -gt 0 ]]; then
		echo "--- control log"
		cat "$tmp/control.log"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
	pass=$((pass + 1))
	echo "ok   - $1"
}
ko() {
	fail=$((fail + 1))
	echo "FAIL - $1"
}
# wait_for LIMIT_S CMD...: until CMD succeeds (bounded)
wait_for() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
c() { "$ctl" -s "$sock" -c "$csock" "$@"; }
configures() { cat "$tmp/configures" 2>/dev/null || echo 0; }
configured_more_than() { (($(configures) > $1)); }
has_route() { grep -q "route 198.18.1.100/32 via 198.18.0.2;" "$inc"; }
no_route() { [[ -f "$inc" ]] && ! grep -q "route " "$inc"; }
status_has() { c show status | grep -q "$1"; }

# BIRD's control protocol, as much as the daemon uses: a greeting, then
# "configure" answered 0002-/0003 (or 8002 when $tmp/refuse exists); counts.
cat >"$tmp/bird.py" <<'PY'
import os, socket, sys
path, count, refuse = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
s.settimeout(120)
while True:
    conn, _ = s.accept()
    conn.sendall(b"0001 BIRD 2.0.12 ready.\n")
    line = conn.makefile().readline().strip()
    if line == "configure":
        if os.path.exists(refuse):
            conn.sendall(b"8002 /etc/bird/bird.conf:3:1 syntax error, unexpected CF_SYM_UNDEFINED\n")
        else:
            n += 1
            with open(count + ".tmp", "w") as f:
                f.write("%d\n" % n)
            os.rename(count + ".tmp", count)
            conn.sendall(b"0002-Reading configuration from /etc/bird/bird.conf\n0003 Reconfigured\n")
    conn.close()
PY
start_bird() {
	rm -f "$tmp/bird.ctl"
	/usr/bin/python3 "$tmp/bird.py" "$tmp/bird.ctl" "$tmp/configures" "$tmp/refuse" &
	bird_pid=$!
	wait_for 10 test -S "$tmp/bird.ctl"
}

printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$tmp/empty.pcap"
cat >"$tmp/sluice.yaml" <<YAML
dataplane: {api_socket: $sock, flow_capacity: 1024}
control: {socket: $csock}
cluster:
  bird_include: $inc
  bird_socket: $tmp/bird.ctl
  dataplane_timeout: 1.5
ports:
  - {name: p0, devargs: "net_pcap0,rx_pcap=$tmp/empty.pcap,tx_pcap=$tmp/out.pcap", ipv4: 198.18.0.2/24}
vips:
  - name: web
    address: 198.18.1.100
    port: 80
    backends:
      - {address: 198.18.0.11, mac: "02:00:00:00:00:11"}
  - name: web443
    address: 198.18.1.100
    port: 443
    backends:
      - {address: 198.18.0.11, mac: "02:00:00:00:00:11"}
YAML
start_bird
"$dp" -l 0 --no-huge -m 256 --no-pci --file-prefix "sluice-bgp-$$" --log-level warning \
	-- --config "$tmp/sluice.yaml" >"$tmp/dp.log" 2>&1 &
dp_pid=$!
wait_for 10 test -S "$sock"
"$daemon" --config "$tmp/sluice.yaml" >"$tmp/control.log" 2>&1 &
ctl_pid=$!

if wait_for 10 has_route && wait_for 5 configured_more_than 0; then
	ok "the route is written and BIRD told ($(configures) configure)"
else
	ko "the route is written and BIRD told: $(cat "$inc" 2>&1); $(configures) configure(s)"
fi
if [[ $(grep -c "route " "$inc") -eq 1 ]]; then
	ok "two VIPs on one address: one route"
else
	ko "two VIPs on one address: one route: $(cat "$inc")"
fi
if wait_for 5 status_has "web443 *announced"; then
	ok "show status: each VIP announced"
else
	ko "show status: each VIP announced: $(c show status 2>&1)"
fi

# Nothing changes: the file keeps its inode and BIRD is not told again. A
# negative check needs a window: 10 of the daemon's 200 ms passes.
n0=$(configures)
ino0=$(stat -c %i "$inc")
sleep 2
if [[ $(configures) -eq $n0 && $(stat -c %i "$inc") -eq $ino0 ]]; then
	ok "idempotent: over 10 passes, no rewrite and no configure"
else
	ko "idempotent: configures $n0 -> $(configures), inode $ino0 -> $(stat -c %i "$inc")"
fi

c node drain >/dev/null
if no_route && [[ $(configures) -eq $((n0 + 1)) && $(stat -c %i "$inc") -ne $ino0 ]]; then
	ok "node drain: withdrawn before the answer, the file replaced (rename), one configure"
else
	ko "node drain: $(cat "$inc"); configures $n0 -> $(configures)"
fi
if status_has "^node: drained"; then
	ok "show status: node drained"
else
	ko "show status: node drained"
fi
if [[ -f "$csock.state.drained" ]]; then
	ok "the drain is kept in a file beside the state file"
else
	ko "the drain is kept in a file beside the state file: $(ls "$tmp")"
fi
c node ready >/dev/null
if has_route && [[ $(configures) -eq $((n0 + 2)) ]]; then
	ok "node ready: announced again, one more configure"
else
	ko "node ready: $(cat "$inc"); configures $(configures)"
fi

# BIRD restarted: a new socket; told again though the file did not change.
kill "$bird_pid"
wait "$bird_pid" 2>/dev/null
rm -f "$tmp/configures"
start_bird
if wait_for 5 configured_more_than 0; then
	ok "a restarted BIRD is told again"
else
	ko "a restarted BIRD is told again"
fi

# A BIRD that refuses its configuration: the reason shown, retried.
touch "$tmp/refuse"
c node drain >/dev/null
if wait_for 5 status_has "BIRD refused its configuration: 8002"; then
	ok "BIRD refusing: show status says why"
else
	ko "BIRD refusing: $(c show status 2>&1)"
fi
rm -f "$tmp/refuse"
n1=$(configures)
if wait_for 5 configured_more_than "$n1" && wait_for 5 status_has "BIRD): told"; then
	ok "... and it is retried until BIRD takes it"
else
	ko "... and it is retried until BIRD takes it: $(c show status 2>&1)"
fi
c node ready >/dev/null

# The data plane stopped (SIGSTOP): its socket still takes connections, so
# only dataplane_timeout (1.5 s) without an answer withdraws; SIGCONT and
# its next answer announce again.
wait_for 5 has_route
kill -STOP "$dp_pid"
t0=${EPOCHREALTIME/[.,]/}
if wait_for 10 no_route; then
	ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
	if ((ms >= 1300)); then
		ok "data plane stopped: withdrawn after dataplane_timeout ($ms ms, timeout 1500 ms)"
	else
		ko "data plane stopped: withdrawn only after dataplane_timeout (took $ms ms, timeout 1500 ms)"
	fi
else
	ko "data plane stopped: withdrawn"
fi
if grep -q "has not answered for 1500 ms" "$tmp/control.log"; then
	ok "... and the log says it did not answer"
else
	ko "... and the log says it did not answer: $(tail -3 "$tmp/control.log")"
fi
kill -CONT "$dp_pid"
if wait_for 5 has_route; then
	ok "data plane continued: announced again"
else
	ko "data plane continued: announced again"
fi

# The data plane killed: its socket refuses connections, which needs no
# timeout: withdrawn at the next probe (every 200 ms).
kill -KILL "$dp_pid"
wait "$dp_pid" 2>/dev/null
dp_pid=
t0=${EPOCHREALTIME/[.,]/}
if wait_for 5 no_route; then
	ok "data plane killed: withdrawn in $(((${EPOCHREALTIME/[.,]/} - t0) / 1000)) ms (timeout 1500 ms not waited for)"
else
	ko "data plane killed: withdrawn"
fi
if grep -q "is gone: Connection refused" "$tmp/control.log"; then
	ok "... and the log says why"
else
	ko "... and the log says why: $(tail -3 "$tmp/control.log")"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
