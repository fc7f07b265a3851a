#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The control daemon with a running data plane (net_pcap port, no traffic, no
# namespaces, backends unchecked): config check, config reload pushing the
# file's changes to the data plane (VIP added, backend added/removed, weight
# changed, runtime admin states kept, a VIP re-created with a plain warning),
# a bad file rejected with the running state unchanged, both planes'
# generations growing and shown by `show status`, and who may use the control
# socket (root, members of control.socket_group; nobody else).
# usage: test_control.sh SLUICE_DATAPLANE SLUICE_CONTROL SLUICECTL
set -uo pipefail
dp=$1
daemon=$2
ctl=$3
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (DPDK EAL, groupadd, setpriv)"
	exit 77
fi
for tool in setpriv groupadd groupdel python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: needs $tool"
		exit 77
	fi
done
tmp=$(mktemp -d /tmp/sluice-control.XXXXXX)
chmod 755 "$tmp" # the unprivileged peers below must reach the socket's directory
sock=$tmp/api.sock
csock=$tmp/run/control.sock
grp=slc$$
pass=0
fail=0
dp_pid=
ctl_pid=
cleanup() {
	[[ -n "$ctl_pid" ]] && kill "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null
	[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	if [[ $fail -gt 0 ]]; then
		echo "--- control log"
		cat "$tmp/control.log"
	fi
	getent group "$grp" >/dev/null && groupdel "$grp"
	rm -rf "$tmp"
}
trap cleanup EXIT
groupadd "$grp" || exit 1
gid=$(getent group "$grp" | cut -d: -f3)
# The CLI where an unprivileged user may run it.
install -m 755 "$ctl" "$tmp/sluicectl"

ok() {
	pass=$((pass + 1))
	echo "ok   - $1"
}
ko() {
	fail=$((fail + 1))
	echo "FAIL - $1"
}
# expect DESC RC PATTERN CMD...: exit status RC and output containing PATTERN.
expect() {
	local desc=$1 rc=$2 pat=$3 out got
	shift 3
	out=$("$@" 2>&1)
	got=$?
	if [[ $got -eq $rc && "$out" == *"$pat"* ]]; then
		ok "$desc"
	else
		ko "$desc (exit $got): $out"
	fi
}
c() { "$ctl" -s "$sock" -c "$csock" "$@"; }
# restart_daemon CONFIG LOG: stop the control daemon, start it on CONFIG, wait until it answers.
restart_daemon() {
	kill "$ctl_pid"
	wait "$ctl_pid" 2>/dev/null
	"$daemon" --config "$1" >"$2" 2>&1 &
	ctl_pid=$!
	for ((i = 0; i < 100; i++)); do # answering, not only bound
		c show health >/dev/null 2>&1 && break
		sleep 0.1
	done
}
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$tmp/empty.pcap"
# config VIPS_YAML: the whole file around the given vips section.
config() {
	cat <<YAML
dataplane: {api_socket: $sock, flow_capacity: 1024}
control: {socket: $csock, socket_group: $grp}
ports:
  - {name: p0, devargs: "net_pcap0,rx_pcap=$tmp/empty.pcap,tx_pcap=$tmp/out.pcap", ipv4: 198.18.0.2/24}
vips:
$1
  - name: probe
    address: 198.18.1.200
    port: 9
    health_check: {type: exec, command: "true", interval: 0.3, timeout: 1, rise: 1, fall: 1}
    backends:
      - {address: 198.18.0.31, mac: "02:00:00:00:00:31"}
      - {address: 198.18.0.32, mac: "02:00:00:00:00:32"}
      - {address: 198.18.0.33, mac: "02:00:00:00:00:33", health_check: {command: "sleep 60; true # slc$$", timeout: 2, interval: 0.3}}
      - {address: 198.18.0.34, mac: "02:00:00:00:00:34", health_check: {type: none}}
      - {address: 198.18.0.35, mac: "02:00:00:00:00:35", health_check: {command: "sleep 0.7", timeout: 1.5}}
      - {address: 198.18.0.36, mac: "02:00:00:00:00:36", health_check: {command: "sleep 0.7", timeout: 1.5}}
YAML
}
web_v1='  - name: web
    address: 198.18.1.100
    port: 80
    backends:
      - {address: 198.18.0.11, weight: 4, mac: "02:00:00:00:00:11"}
      - {address: 198.18.0.12, mac: "02:00:00:00:00:12"}'
config "$web_v1" >"$tmp/sluice.yaml"

# ---- config check (local, no daemon needed)
expect "config check: a good file" 0 "$tmp/sluice.yaml: ok (2 VIPs, 8 backends)" \
	c config check "$tmp/sluice.yaml"
config "$web_v1
      - {address: 198.18.0.13, weight: lots}" >"$tmp/bad.yaml"
expect "config check: a bad file, exit 1, file:line:column: field" 1 \
	"$tmp/bad.yaml:12:" c config check "$tmp/bad.yaml"
expect "... names the field" 1 "weight" c config check "$tmp/bad.yaml"
expect "config check --json" 0 '"backends":8' \
	bash -c "'$ctl' --json config check '$tmp/sluice.yaml' | tr -d ' \n'"
expect "config check: a missing file" 1 "none.yaml" c config check "$tmp/none.yaml"

# ---- the planes
"$dp" -l 0 --no-huge -m 256 --no-pci --file-prefix "sluice-ctl-$$" --log-level warning \
	-- --config "$tmp/sluice.yaml" >"$tmp/dp.log" 2>&1 &
dp_pid=$!
for ((i = 0; i < 100; i++)); do
	[[ -S "$sock" ]] && break
	sleep 0.1
done
expect "show status without the daemon: exit 0, says it is not reachable" 0 \
	"control daemon: not reachable at $csock" c show status
expect "config reload without the daemon: exit 3" 3 "cannot reach the control daemon" \
	c config reload
"$daemon" --config "$tmp/sluice.yaml" >"$tmp/control.log" 2>&1 &
ctl_pid=$!
for ((i = 0; i < 100; i++)); do
	[[ -S "$csock" ]] && break
	sleep 0.1
done
[[ -S "$csock" ]] || ko "the daemon listens on control.socket $csock"
expect "show status: the data plane's generation" 0 "data plane: generation" c show status
expect "show status: the control daemon's generation" 0 "control daemon: generation" c show status
# ---- per-backend checks: exec, one of them slow (its own 2 s timeout), one unchecked
sleep 3
h=$(c --json show health)
fast=$(echo "$h" | jget 'min(b["checks"] for b in d["backends"] if b["address"] in ("198.18.0.31", "198.18.0.32"))')
slow=$(echo "$h" | jget '[b for b in d["backends"] if b["address"] == "198.18.0.33"][0]')
none=$(echo "$h" | jget '[b["health"] for b in d["backends"] if b["address"] == "198.18.0.34"][0]')
[[ $fast -ge 6 ]] && ok "exec checks every 0.3 s: $fast in 3 s, the slow one (sleep 60) delays nobody" ||
	ko "exec checks every 0.3 s: $fast in 3 s (expected >= 6)"
[[ "$slow" == *"'health': 'down'"* && "$slow" == *"'last_check': 'timeout'"* ]] &&
	ok "the slow exec check times out after its own 2 s and takes it down" ||
	ko "the slow exec check times out after its own 2 s and takes it down: $slow"
[[ "$none" == unchecked ]] && ok "health_check {type: none}: unchecked" || ko "health_check {type: none}: unchecked ($none)"
n=$(pgrep -fc "sleep 60; true # slc$$")
[[ $n -le 1 ]] && ok "timed-out exec checks are killed ($n running)" || ko "timed-out exec checks are killed ($n running)"
# ---- a stalled data plane holds the daemon's loop while a request waits
# for it (here `show status`, which asks the data plane): a check that ended
# meanwhile is read, not failed as a timeout. The two 0.7 s checks (1.5 s
# timeout) are nearly always in flight when the stall begins, and 3 s is
# past their deadlines.
slow_health() { # KEY: its sum over 198.18.0.35 and .36
	c --json show health | jget "sum(b['$1'] for b in d['backends'] if b['address'] in ('198.18.0.35', '198.18.0.36'))"
}
f0=$(slow_health failed_checks)
kill -STOP "$dp_pid"
# Straight to the daemon: sluicectl would ask the stalled data plane first.
/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{\"cmd\":\"status\"}\n")
s.settimeout(20); s.recv(65536)' "$csock" &
held=$!
sleep 3
kill -CONT "$dp_pid"
wait "$held"
n0=$(slow_health checks)
for ((i = 0; i < 50; i++)); do # their next checks end (bounded: 5 s)
	[[ $(slow_health checks) -ge $((n0 + 2)) ]] && break
	sleep 0.1
done
f1=$(slow_health failed_checks)
[[ $f0 -eq 0 && $f1 -eq 0 ]] &&
	ok "loop held 3 s by a stalled data plane: no check that ended meanwhile failed as a timeout" ||
	ko "loop held 3 s by a stalled data plane: failed checks of 198.18.0.35/36: $f0 before, $f1 after (expected 0)"
dpg0=$(c --json show status | jget 'd["generation"]')
cg0=$(c --json show status | jget 'd["control"]["generation"]')

# ---- reload: a VIP added, a backend added, one removed, a weight changed
config "  - name: web
    address: 198.18.1.100
    port: 80
    backends:
      - {address: 198.18.0.11, weight: 7, mac: \"02:00:00:00:00:11\"}
      - {address: 198.18.0.13, weight: 3, mac: \"02:00:00:00:00:13\"}
  - name: dns
    address: 198.18.1.101
    port: 53
    protocol: udp
    backends:
      - {address: 198.18.0.21, mac: \"02:00:00:00:00:21\"}" >"$tmp/sluice.yaml"
out=$(c config reload 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[[ $rc -eq 0 ]] && ok "config reload: exit 0" || ko "config reload: exit 0 (got $rc)"
for pat in "dns: VIP added" "backend 198.18.0.13:80 added" "backend 198.18.0.12:80 removed" \
	"backend 198.18.0.11:80 weight 4 -> 7" "control daemon generation"; do
	[[ "$out" == *"$pat"* ]] && ok "... says: $pat" || ko "... says: $pat"
done
sleep 0.3 # the removed backend had no flows: its slot is freed at the next 100 ms check
out=$(c show backends)
[[ "$out" == *"dns"*"198.18.0.21:53"* ]] && ok "show backends: the new VIP and its backend" ||
	ko "show backends: the new VIP and its backend: $out"
[[ "$out" == *"198.18.0.13:80"* ]] && ok "show backends: the added backend" ||
	ko "show backends: the added backend"
[[ "$out" != *"198.18.0.12"* ]] && ok "show backends: the removed backend is gone" ||
	ko "show backends: the removed backend is gone: $out"
[[ "$out" =~ 198.18.0.11:80\ +7\  ]] && ok "show backends: the new weight (7)" ||
	ko "show backends: the new weight (7): $out"
dpg1=$(c --json show status | jget 'd["generation"]')
cg1=$(c --json show status | jget 'd["control"]["generation"]')
[[ $dpg1 -gt $dpg0 && $cg1 -gt $cg0 ]] && ok "both generations grew (data plane $dpg0 -> $dpg1, control $cg0 -> $cg1)" ||
	ko "both generations grew (data plane $dpg0 -> $dpg1, control $cg0 -> $cg1)"
seen=$(c --json show status | jget 'd["control"]["dataplane_generation"]')
[[ $seen -ge $dpg1 ]] && ok "the daemon reports the data plane's generation ($seen)" ||
	ko "the daemon reports the data plane's generation ($seen < $dpg1)"
expect "show health lists the new backends" 0 "198.18.0.21:53" c show health
expect "reload again: nothing to change" 0 "no change" c config reload

# ---- admin states: a runtime drain survives a reload that does not touch it ...
expect "backend drain (runtime)" 0 "ok" c backend drain web 198.18.0.13
expect "reload of an unchanged file" 0 "no change" c config reload
expect "... the runtime drain is kept" 0 "drain" bash -c "'$ctl' -s '$sock' show backends web | grep 198.18.0.13"
# ... and the file wins where it changes that backend's state.
sed -i 's/{address: 198.18.0.13, weight: 3,/{address: 198.18.0.13, weight: 3, state: maint,/' "$tmp/sluice.yaml"
expect "reload of a file that sets the state" 0 "state drain -> maint" c config reload
expect "... the file's state is applied" 0 "maint" bash -c "'$ctl' -s '$sock' show backends web | grep 198.18.0.13"

# ---- a static MAC changed, then taken away (resolved by ARP/ND), then given back
sed -i 's/{address: 198.18.0.11, weight: 7, mac: "02:00:00:00:00:11"}/{address: 198.18.0.11, weight: 7, mac: "02:00:00:00:00:41"}/' "$tmp/sluice.yaml"
expect "reload of a changed static mac: applied in place" 0 \
	"backend 198.18.0.11:80 mac 02:00:00:00:00:11 -> 02:00:00:00:00:41" c config reload
mac11() { "$ctl" -s "$sock" --json show backends web | tr -d ' \n' | grep -o '"address":"198.18.0.11"[^}]*'; }
expect "... the data plane has it, static" 0 '"neighbour":"static","mac":"02:00:00:00:00:41"' mac11
sed -i 's/{address: 198.18.0.11, weight: 7, mac: "02:00:00:00:00:41"}/{address: 198.18.0.11, weight: 7}/' "$tmp/sluice.yaml"
expect "reload without the mac: resolved by ARP/ND from now on" 0 \
	"mac 02:00:00:00:00:41 -> resolved by ARP/ND" c config reload
expect "... the data plane asks for it" 0 '"neighbour":"incomplete"' mac11
sed -i 's/{address: 198.18.0.11, weight: 7}/{address: 198.18.0.11, weight: 7, mac: "02:00:00:00:00:11"}/' "$tmp/sluice.yaml"
expect "reload with the mac again" 0 "mac resolved -> 02:00:00:00:00:11" c config reload
expect "... static again" 0 '"neighbour":"static","mac":"02:00:00:00:00:11"' mac11
expect "backend.set mac for a backend the API cannot resolve: refused" 0 "no port's subnet" \
	bash -c "echo '{\"cmd\":\"vip.add\",\"vip\":{\"name\":\"far\",\"address\":\"198.18.1.150\",\"port\":80,\"backends\":[{\"address\":\"192.0.2.9\",\"mac\":\"02:00:00:00:00:99\"}]}}
{\"cmd\":\"backend.set\",\"vip\":\"far\",\"address\":\"192.0.2.9\",\"mac\":\"resolve\"}
{\"cmd\":\"vip.del\",\"vip\":\"far\"}' | socat -t 2 - UNIX-CONNECT:$sock"
sleep 0.3 # far's backend is reaped (a new generation) at the next 100 ms check: not later

# ---- drain with a deadline (drain_deadline in backend.set)
expect "backend drain deadline=abc: usage, exit 2" 2 "deadline=SECONDS" \
	c backend drain web 198.18.0.11 deadline=abc
expect "backend drain VIP ADDR deadline=30" 0 "ok (generation" c backend drain web 198.18.0.11 deadline=30
expect "... drained" 0 "drain" bash -c "'$ctl' -s '$sock' show backends web | grep 198.18.0.11"
expect "backend ready" 0 "ok" c backend ready web 198.18.0.11

# ---- a bad file: rejected whole, running state untouched
cp "$tmp/sluice.yaml" "$tmp/good.yaml"
before=$(c show backends | cut -c1-60)
gb=$(c --json show status | jget 'd["generation"], d["control"]["generation"]')
sed -i 's/weight: 7,/weight: seven,/' "$tmp/sluice.yaml"
expect "reload of a bad file: exit 1, file:line: field" 1 "$tmp/sluice.yaml:10:" c config reload
expect "... says nothing changed" 1 "nothing changed" c config reload
after=$(c show backends | cut -c1-60)
ga=$(c --json show status | jget 'd["generation"], d["control"]["generation"]')
[[ "$before" == "$after" && "$gb" == "$ga" ]] && ok "... the running state and generations are unchanged ($ga)" ||
	ko "... the running state is unchanged: $before / $after, $gb / $ga"
# The loader's limits hold for a reload too, and a hostile file is refused at once.
sed -i '0,/    port: 80/s//    port: 80\n    maglev_table_size: 16777213/' "$tmp/sluice.yaml"
expect "reload over the maglev_table_size limit: refused, naming it" 1 \
	"maglev_table_size: expected an integer 2..1048573" c config reload
{
	cat "$tmp/good.yaml"
	printf 'dataplane_x: '
	for ((i = 0; i < 100000; i++)); do printf '['; done
	for ((i = 0; i < 100000; i++)); do printf ']'; done
	echo
} >"$tmp/sluice.yaml"
expect "reload of 100,000 nested lists: refused at once" 1 "nested deeper than 32 levels" \
	timeout 20 "$ctl" -s "$sock" -c "$csock" config reload
cp "$tmp/good.yaml" "$tmp/sluice.yaml"

# ---- a change that cannot be made in place is said plainly
sed -i 's/port: 53/port: 5353/' "$tmp/sluice.yaml"
expect "a VIP's port changed: re-created, its flows ended, said" 0 "ESTABLISHED FLOWS ARE ENDED" \
	c config reload
expect "... now on its new port" 0 "198.18.0.21:5353" c show backends dns
# ---- a setting changed in place (vip.set)
sed -i '0,/    port: 80/s//    port: 80\n    scheduler: rr\n    down_flows: reset/' "$tmp/sluice.yaml"
out=$(c config reload 2>&1)
rc=$?
if [[ $rc -eq 0 && "$out" == *"web: scheduler, down_flows changed in place"* ]]; then
	ok "scheduler and down_flows changed: vip.set in place"
	expect "... shown" 0 " rr " c show vips
	expect "... down_flows in the data plane" 0 '"down_flows":"reset"' c --json show vips
else
	ko "scheduler changed (exit $rc): $out"
fi
# ---- a breaker turned on by a reload: the daemon sets one up for each backend
sed -i '0,/    scheduler: rr/s//    scheduler: rr\n    breaker: {consecutive_failures: 4}/' "$tmp/sluice.yaml"
expect "a breaker added by reload" 0 "" c config reload
sleep 0.5
kill -0 "$ctl_pid" 2>/dev/null && ok "... the daemon runs on" || ko "... the daemon runs on"
expect "... each web backend's breaker is shown, closed" 0 "closed" c show health
kill -HUP "$ctl_pid"
sleep 0.5
grep -q "reloaded $tmp/sluice.yaml" "$tmp/control.log" && ok "SIGHUP reloads too" || ko "SIGHUP reloads too"

# ---- forced health: held over passing checks until "auto"
expect "backend health down through the daemon" 0 "ok" c backend health probe 198.18.0.31 down
sleep 1 # three passing checks (every 0.3 s) would have brought it back
expect "... held down in the data plane over passing checks" 0 '"health":"down"' \
	bash -c "\"$ctl\" -s \"$sock\" --json show backends probe | tr -d ' \n' | grep -o '\"address\":\"198.18.0.31\"[^}]*'"
expect "... shown as forced by the daemon" 0 '"forced":"down"' c --json show health

# ---- ... and across a restart of the daemon (the state file, next to its socket)
expect "backend health up for one without checks (198.18.0.34)" 0 "ok" \
	c backend health probe 198.18.0.34 up
jcheck_state() {
	/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if $1 else 1)" \
		"$csock.state" 2>/dev/null
}
jcheck_state 'sorted((f["address"], f["health"]) for f in d["forced"]) == [("198.18.0.31", "down"), ("198.18.0.34", "up")]' &&
	ok "... both written to $csock.state" || ko "... both written to $csock.state: $(cat "$csock.state" 2>&1)"
restart_daemon "$tmp/sluice.yaml" "$tmp/control2.log"
sleep 1 # three passing checks would have brought it back, were it not held
expect "daemon restarted: 198.18.0.31 still forced down" 0 '"forced":"down"' c --json show health
expect "... and held down in the data plane" 0 '"health":"down"' \
	bash -c "\"$ctl\" -s \"$sock\" --json show backends probe | tr -d ' \n' | grep -o '\"address\":\"198.18.0.31\"[^}]*'"
expect "... the log says where it came from" 0 "health forced down by the operator (kept in $csock.state)" \
	cat "$tmp/control2.log"
cat "$tmp/control2.log" >>"$tmp/control.log"
expect "backend health auto: back to the checks" 0 "ok" c backend health probe 198.18.0.31 auto
sleep 1
expect "... up again" 0 '"health":"up"' \
	bash -c "\"$ctl\" -s \"$sock\" --json show backends probe | tr -d ' \n' | grep -o '\"address\":\"198.18.0.31\"[^}]*'"
expect "backend health auto for 198.18.0.34 too" 0 "ok" c backend health probe 198.18.0.34 auto
jcheck_state 'd["forced"] == []' && ok "... the state file holds nothing forced" ||
	ko "... the state file holds nothing forced: $(cat "$csock.state" 2>&1)"
expect "backend health of an unknown backend: refused" 1 "has no backend" \
	c backend health probe 198.18.0.99 down

# ---- the data plane restarts (everything up, its runtime state gone): the daemon
# sees it and pushes its state again
kill "$dp_pid"
wait "$dp_pid" 2>/dev/null
"$dp" -l 0 --no-huge -m 256 --no-pci --file-prefix "sluice-ctl-$$" --log-level warning \
	-- --config "$tmp/sluice.yaml" >"$tmp/dp2.log" 2>&1 &
dp_pid=$!
slow_down() {
	"$ctl" -s "$sock" --json show backends probe 2>/dev/null | tr -d ' \n' |
		grep -q '"address":"198.18.0.33"[^}]*"health":"down"'
}
for ((i = 0; i < 50; i++)); do
	slow_down && break
	sleep 0.1
done
slow_down && ok "data plane restarted: the daemon tells it again that 198.18.0.33 is down (${i}00 ms)" ||
	ko "data plane restarted: 198.18.0.33 told down again within 5 s"

# ---- the control socket: root, members of socket_group, nobody else
expect "unknown cmd: the error lists the commands" 0 "health.list, health.force, status, config.reload" \
	bash -c "echo '{\"cmd\":\"frob\"}' | socat - UNIX-CONNECT:$csock"
expect "not JSON: refused with what is expected" 0 '\"cmd\" string' \
	bash -c "echo 'hello' | socat - UNIX-CONNECT:$csock"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/sluicectl" -c "$csock" "$@"; }
member() { setpriv --reuid=65534 --regid=65534 --groups="$gid" "$tmp/sluicectl" -c "$csock" "$@"; }
expect "a group member may use the socket" 0 "198.18.0.11:80" member show health
expect "a stranger cannot (the 0750 directory keeps it out)" 3 "Permission denied" nobody show health
chmod 755 "$(dirname "$csock")"
chmod 666 "$csock"
expect "a stranger past the file modes: refused by its credentials, told who may" 1 \
	"only root and members of group \"$grp\"" nobody show health
expect "... and cannot reload" 1 "permission denied" nobody config reload

# ---- a state file that cannot be written: the change is made, and the operator told
sed "s|^control: {socket: $csock, socket_group: $grp}|control: {socket: $csock, socket_group: $grp, state_file: $tmp/no/such/dir/state}|" \
	"$tmp/sluice.yaml" >"$tmp/nostate.yaml"
restart_daemon "$tmp/nostate.yaml" "$tmp/control3.log"
expect "state file not writable: forced all the same, with a warning" 0 \
	"warning: not saved: it will not outlive this daemon" c backend health probe 198.18.0.32 down
expect "... and the log says why" 0 "cannot save the operator's forced health to $tmp/no/such/dir/state" \
	cat "$tmp/control3.log"
cat "$tmp/control3.log" >>"$tmp/control.log"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
