# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sluice test topology: network namespaces + veth + a Linux bridge, for the demo,
# the end-to-end tests and the benchmarks. Source it:   . tests/lib/topo.sh
#
# Safety: traffic stays between the namespaces created here; addresses come only
# from 198.18.0.0/15 and 2001:db8::/32; every wait loop is bounded.
#
# ------------------------------------------------------------------ layout
#
#   ${P}-cl  eth0 ─┐
#   ${P}-lb  lb0  ─┤   ${P}-sw: bridge br0 (no STP, no multicast snooping, no IP),
#   ${P}-b1  eth0 ─┤            ports v-cl, v-lb, v-b1 .. v-bN
#   ...            │
#   ${P}-bN  eth0 ─┘
#
#   what          IPv4             IPv6            MAC
#   client        198.18.0.1/24    2001:db8::1/64  02:00:c6:12:00:01
#   lb (DPDK)     (198.18.0.2)     (2001:db8::2)   02:00:c6:12:00:02  lb0: no IP, IPv6 off,
#                                                                     up, promisc; the DPDK
#                                                                     process answers ARP/ND
#   lb mgmt (opt) 198.18.0.3/24    2001:db8::3/64  02:00:c6:12:00:03  only if TOPO_LB_MGMT=1:
#                                                                     kernel-owned eth0 in the
#                                                                     lb ns (health checks)
#   backend i     198.18.0.(10+i)  2001:db8::(10+i) 02:00:c6:12:00:HH  HH = hex(10+i)
#   VIPs          198.18.1.100/32, 2001:db8:1::100/128 on every backend's lo (DSR)
#
#   The IPv6 host part of backend i is the DECIMAL number 10+i written as an IPv6
#   group, so it reads like the IPv4 octet: b1 = 198.18.0.11 = 2001:db8::11,
#   b12 = 198.18.0.22 = 2001:db8::22. The MAC's last byte is the IPv4 octet in hex
#   (b1 = 02:00:c6:12:00:0b); c6:12 = 198.18. NBACKENDS is 1..200.
#
#   client routes: 198.18.1.0/24 via 198.18.0.2, 2001:db8:1::/64 via 2001:db8::2.
#   backends: arp_ignore=1 / arp_announce=2 (all, default, eth0): they accept VIP
#   traffic but never answer ARP for the VIP (IPv6 never answers NS for an address
#   on another interface). No default routes anywhere.
#   Every veth end (both sides): ethtool -K tx off rx off tso off gso off gro off
#   rxvlan off txvlan off (complete checksums, no super-packets, VLAN tags inline).
#   IPv6: nodad addresses, accept_dad=0, dad_transmits=0, no RA / RS.
#   client: tcp_tw_reuse=1, ip_local_port_range 10000-65000 (many short connections).
#
# ------------------------------------------------------------------ API
#
#   topo_require                 exit 77 "SKIP: <reason>" unless root, ip netns, ethtool,
#                                ss, /usr/bin/python3 are usable
#   topo_create [-v] P N         build it (returns non-zero and leaves nothing behind on
#                                failure; refuses a prefix whose namespaces exist); sets
#                                the TOPO_* variables below. -v or TOPO_VERBOSE=1: log steps.
#   topo_destroy [P]             kill every process in ${P}-* namespaces, delete them;
#                                idempotent, safe on a partial topology. Default P=TOPO_PREFIX.
#   topo_vars P N                (re)set the TOPO_* variables for an existing topology
#                                (to switch between two topologies in one shell)
#   topo_start_backends [PORT]   on every backend: http_backend.py --name bI --port PORT
#                                (default 80) --udp-port 9000 --fail-file $TOPO_LOGDIR/bI.fail;
#                                waits (<= TOPO_START_TIMEOUT s, default 5 + N/5) until
#                                they listen on TCP PORT and UDP 9000
#   topo_start_backend I [PORT]  start (or restart) backend I only, and wait for it
#   topo_stop_backend I [SIG]    send SIG (default KILL) to backend I's server; for TERM/KILL
#                                also waits (bounded) until it is gone
#   topo_backend_pid I           print backend I's server pid
#   topo_pid_gone PID [SECONDS]  wait (bounded, default 5 s) until PID has exited; a
#                                zombie counts as gone (kill -0 succeeds on one until
#                                its parent reaps it, which a busy shell can delay)
#   topo_exec NS CMD...          ip netns exec NS CMD...
#   topo_client CMD...           ip netns exec $TOPO_CLIENT_NS CMD...
#   topo_http_client ARGS...     run http_client.py in the client namespace
#   topo_udp_client ARGS...      run udp_client.py in the client namespace
#
#   Variables (exported): TOPO_PREFIX TOPO_NBACKENDS TOPO_SW_NS TOPO_CLIENT_NS TOPO_LB_NS
#   TOPO_LB_IF=lb0 TOPO_LB_MAC TOPO_LB_IP4 TOPO_LB_IP6 TOPO_CLIENT_IP4 TOPO_CLIENT_IP6
#   TOPO_CLIENT_MAC TOPO_VIP4 TOPO_VIP6 TOPO_UDP_PORT=9000 TOPO_HTTP_PORT TOPO_PY
#   TOPO_LIBDIR TOPO_LOGDIR; arrays (index 0 = backend 1, not exportable in bash):
#   TOPO_BACKEND_NS TOPO_BACKEND_NAME TOPO_BACKEND_IP4 TOPO_BACKEND_IP6
#   TOPO_BACKEND_MAC (read back from the namespaces) TOPO_BACKEND_PID.
#   TOPO_LOGDIR: backend logs/pid files; if unset when backends start, a mktemp dir
#   that topo_destroy removes unless TOPO_KEEP_LOGS=1.
#   One shell holds the variables of one topology at a time; use topo_vars to switch.

TOPO_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPO_PY=/usr/bin/python3
TOPO_LB_IF=lb0
TOPO_LB_IP4=198.18.0.2
TOPO_LB_IP6=2001:db8::2
TOPO_LB_MAC=02:00:c6:12:00:02
TOPO_LB_MGMT_IP4=198.18.0.3
TOPO_LB_MGMT_IP6=2001:db8::3
TOPO_CLIENT_IP4=198.18.0.1
TOPO_CLIENT_IP6=2001:db8::1
TOPO_CLIENT_MAC=02:00:c6:12:00:01
TOPO_VIP4=198.18.1.100
TOPO_VIP6=2001:db8:1::100
TOPO_VIP4_NET=198.18.1.0/24
TOPO_VIP6_NET=2001:db8:1::/64
TOPO_UDP_PORT=9000
TOPO_HTTP_PORT=${TOPO_HTTP_PORT:-80}
export TOPO_LIBDIR TOPO_PY TOPO_LB_IF TOPO_LB_IP4 TOPO_LB_IP6 TOPO_LB_MAC TOPO_LB_MGMT_IP4 \
	TOPO_LB_MGMT_IP6 TOPO_CLIENT_IP4 TOPO_CLIENT_IP6 TOPO_CLIENT_MAC TOPO_VIP4 TOPO_VIP6 \
	TOPO_VIP4_NET TOPO_VIP6_NET TOPO_UDP_PORT TOPO_HTTP_PORT

_topo_log() {
	if [[ "${TOPO_VERBOSE:-0}" == 1 ]]; then
		echo "topo: $*" >&2
	fi
	return 0
}

_topo_err() {
	echo "topo: $*" >&2
}

# _topo_now_ms: monotonic-ish milliseconds (bash 5 EPOCHREALTIME)
_topo_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

_topo_check_prefix() {
	local p=$1
	if [[ ! "$p" =~ ^[A-Za-z0-9][A-Za-z0-9_.]{0,39}$ ]]; then
		_topo_err "bad prefix '$p' (letters, digits, _ . ; at most 40 chars; no '-')"
		return 1
	fi
}

# _topo_list P: the existing namespaces of topology P, one per line
_topo_list() {
	local p=$1 ns
	while read -r ns _; do
		if [[ "$ns" =~ ^${p//./\\.}-(sw|cl|lb|b[0-9]+)$ ]]; then
			echo "$ns"
		fi
	done < <(ip netns list 2>/dev/null)
	return 0
}

# _topo_alive PID: running (a zombie counts as gone)
_topo_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n "$st" && "$st" != Z* ]]
}

_topo_backend_ip4() { echo "198.18.0.$((10 + $1))"; }
_topo_backend_ip6() { echo "2001:db8::$((10 + $1))"; }
_topo_backend_mac() { printf '02:00:c6:12:00:%02x\n' $((10 + $1)); }

# ------------------------------------------------------------------ require
topo_require() {
	local why=""
	if [[ $(id -u) -ne 0 ]]; then
		why="needs root (ip netns)"
	elif ! command -v ip >/dev/null 2>&1; then
		why="iproute2 'ip' not found"
	elif ! ip netns list >/dev/null 2>&1; then
		why="'ip netns' does not work here"
	elif ! command -v ethtool >/dev/null 2>&1; then
		why="ethtool not found"
	elif ! command -v ss >/dev/null 2>&1; then
		why="ss (iproute2) not found"
	elif [[ ! -x "$TOPO_PY" ]]; then
		why="$TOPO_PY not found"
	elif ! "$TOPO_PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
		why="$TOPO_PY is older than 3.9"
	else
		local probe="sltopoprobe$$"
		if ! ip netns add "$probe" 2>/dev/null; then
			why="cannot create a network namespace"
		else
			if ! ip -n "$probe" link add vp0 type veth peer name vp1 2>/dev/null; then
				why="cannot create veth interfaces"
			elif ! ip -n "$probe" link add br0 type bridge 2>/dev/null; then
				why="cannot create a bridge"
			fi
			ip netns del "$probe" 2>/dev/null || true
		fi
	fi
	if [[ -n "$why" ]]; then
		echo "SKIP: $why"
		exit 77
	fi
	return 0
}

# ------------------------------------------------------------------ destroy
topo_destroy() {
	local p=${1:-${TOPO_PREFIX:-}}
	if [[ -z "$p" ]]; then
		return 0
	fi
	_topo_check_prefix "$p" || return 1
	local nss ns pids pid round
	nss=$(_topo_list "$p")
	if [[ -n "$nss" ]]; then
		_topo_log "destroy $p: $(echo "$nss" | tr '\n' ' ')"
		# TERM (+CONT for stopped ones), then KILL; bounded: 20 x 50 ms per phase
		for round in term kill; do
			pids=""
			for ns in $nss; do
				for pid in $(ip netns pids "$ns" 2>/dev/null); do
					pids+="$pid "
				done
			done
			[[ -z "${pids// /}" ]] && break
			for pid in $pids; do
				if [[ $round == term ]]; then
					kill -TERM "$pid" 2>/dev/null || true
					kill -CONT "$pid" 2>/dev/null || true
				else
					kill -KILL "$pid" 2>/dev/null || true
				fi
			done
			local i left
			for ((i = 0; i < 20; i++)); do
				left=""
				for pid in $pids; do
					if _topo_alive "$pid"; then
						left=1
						break
					fi
				done
				[[ -z "$left" ]] && break
				sleep 0.05
			done
		done
		for ns in $nss; do
			ip netns del "$ns" 2>/dev/null || true
		done
	fi
	nss=$(_topo_list "$p")
	if [[ -n "$nss" ]]; then
		_topo_err "destroy $p: namespaces left: $(echo "$nss" | tr '\n' ' ')"
		return 1
	fi
	if [[ "${TOPO_PREFIX:-}" == "$p" && -n "${_TOPO_LOGDIR_AUTO:-}" && "${TOPO_KEEP_LOGS:-0}" != 1 ]]; then
		rm -rf -- "$_TOPO_LOGDIR_AUTO"
		if [[ "${TOPO_LOGDIR:-}" == "$_TOPO_LOGDIR_AUTO" ]]; then
			unset TOPO_LOGDIR
		fi
		_TOPO_LOGDIR_AUTO=""
	fi
	return 0
}

# ------------------------------------------------------------------ create
# The body runs in a separate bash (errexit works there whatever the caller does);
# the caller's shell then reads the result back with topo_vars.
topo_create() {
	if [[ "${1:-}" == -v ]]; then
		shift
		local TOPO_VERBOSE=1
	fi
	if [[ $# -ne 2 ]]; then
		_topo_err "usage: topo_create [-v] PREFIX NBACKENDS"
		return 2
	fi
	local p=$1 n=$2 t0
	_topo_check_prefix "$p" || return 2
	if [[ ! "$n" =~ ^[0-9]+$ ]] || ((n < 1 || n > 200)); then
		_topo_err "NBACKENDS must be 1..200"
		return 2
	fi
	if [[ -n "$(_topo_list "$p")" ]]; then
		_topo_err "prefix '$p' is in use: $(_topo_list "$p" | tr '\n' ' ')"
		return 1
	fi
	t0=$(_topo_now_ms)
	if ! TOPO_VERBOSE=${TOPO_VERBOSE:-0} TOPO_LB_MGMT=${TOPO_LB_MGMT:-0} \
		bash "$TOPO_LIBDIR/topo.sh" __create "$p" "$n"; then
		_topo_err "create $p failed; cleaning up"
		topo_destroy "$p" || true
		return 1
	fi
	if ! topo_vars "$p" "$n"; then
		_topo_err "create $p: reading the topology back failed; cleaning up"
		topo_destroy "$p" || true
		return 1
	fi
	_topo_log "created $p with $n backends in $(($(_topo_now_ms) - t0)) ms"
	return 0
}

# topo_vars P N: set the TOPO_* variables for (existing) topology P with N backends
topo_vars() {
	local p=$1 n=$2 i mac
	_topo_check_prefix "$p" || return 1
	TOPO_PREFIX=$p
	TOPO_NBACKENDS=$n
	TOPO_SW_NS=$p-sw
	TOPO_CLIENT_NS=$p-cl
	TOPO_LB_NS=$p-lb
	export TOPO_PREFIX TOPO_NBACKENDS TOPO_SW_NS TOPO_CLIENT_NS TOPO_LB_NS
	TOPO_BACKEND_NS=()
	TOPO_BACKEND_NAME=()
	TOPO_BACKEND_IP4=()
	TOPO_BACKEND_IP6=()
	TOPO_BACKEND_MAC=()
	TOPO_BACKEND_PID=()
	for ((i = 1; i <= n; i++)); do
		TOPO_BACKEND_NS+=("$p-b$i")
		TOPO_BACKEND_NAME+=("b$i")
		TOPO_BACKEND_IP4+=("$(_topo_backend_ip4 "$i")")
		TOPO_BACKEND_IP6+=("$(_topo_backend_ip6 "$i")")
		mac=$(ip -n "$p-b$i" -o link show dev eth0 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
		if [[ -z "$mac" ]]; then
			_topo_err "cannot read the MAC of eth0 in $p-b$i"
			return 1
		fi
		TOPO_BACKEND_MAC+=("$mac")
		TOPO_BACKEND_PID+=("$(_topo_find_backend_pid "$p-b$i")")
	done
	TOPO_LB_MAC=$(ip -n "$p-lb" -o link show dev lb0 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	TOPO_CLIENT_MAC=$(ip -n "$p-cl" -o link show dev eth0 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	if [[ -z "$TOPO_LB_MAC" || -z "$TOPO_CLIENT_MAC" ]]; then
		_topo_err "cannot read the lb0 / client MAC of $p"
		return 1
	fi
	export TOPO_LB_MAC TOPO_CLIENT_MAC
	return 0
}

# --- the body, run as: bash topo.sh __create P N (errexit on) ---
_topo_ns_sysctl() {
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

# _topo_offloads NS DEV...: offloads off; ethtool fails when a feature can't be
# changed, so ignore its status and verify the ones that matter afterwards.
_topo_offloads() {
	local ns=$1 dev
	shift
	for dev in "$@"; do
		ip netns exec "$ns" ethtool -K "$dev" tx off rx off tso off gso off gro off rxvlan off txvlan off >/dev/null 2>&1 || true
		if ! ip netns exec "$ns" ethtool -k "$dev" 2>/dev/null |
			grep -Eq '^tx-checksumming: off'; then
			_topo_err "$ns/$dev: could not turn off tx checksum offload"
			return 1
		fi
		if ip netns exec "$ns" ethtool -k "$dev" 2>/dev/null |
			grep -Eq '^(generic-segmentation-offload|tcp-segmentation-offload|generic-receive-offload): on'; then
			_topo_err "$ns/$dev: could not turn off segmentation offloads"
			return 1
		fi
	done
}

# sysctls every host namespace gets before its interfaces exist (inherited via default)
_TOPO_V6_QUIET=(
	net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	net.ipv6.conf.default.dad_transmits=0 net.ipv6.conf.all.dad_transmits=0
	net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
	net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
)

# _topo_host NS IF MAC SWPORT: namespace NS gets interface IF (MAC) whose peer is
# bridge port SWPORT in the switch namespace
_topo_veth() {
	local p=$1 ns=$2 ifname=$3 mac=$4 port=$5
	ip -n "$ns" link add "$ifname" address "$mac" type veth peer name "$port" netns "$p-sw"
	ip -n "$p-sw" link set "$port" master br0 up
	_topo_offloads "$p-sw" "$port"
	_topo_offloads "$ns" "$ifname"
}

_topo_create_body() {
	local p=$1 n=$2 sw=$1-sw cl=$1-cl lb=$1-lb i ns ip4 ip6
	trap '_topo_err "create: failed at line $LINENO: $BASH_COMMAND"' ERR

	_topo_log "namespaces"
	ip netns add "$sw"
	ip netns add "$cl"
	ip netns add "$lb"
	for ((i = 1; i <= n; i++)); do
		ip netns add "$p-b$i"
	done

	_topo_log "switch $sw"
	_topo_ns_sysctl "$sw" net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
	ip -n "$sw" link set lo up
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
	ip -n "$sw" link set br0 up

	_topo_log "client $cl"
	_topo_ns_sysctl "$cl" "${_TOPO_V6_QUIET[@]}" net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="10000 65000"
	ip -n "$cl" link set lo up
	_topo_veth "$p" "$cl" eth0 "$TOPO_CLIENT_MAC" v-cl
	ip -n "$cl" link set eth0 up
	ip -n "$cl" addr add "$TOPO_CLIENT_IP4/24" dev eth0
	ip -n "$cl" -6 addr add "$TOPO_CLIENT_IP6/64" dev eth0 nodad
	ip -n "$cl" route add "$TOPO_VIP4_NET" via "$TOPO_LB_IP4" dev eth0
	ip -n "$cl" -6 route add "$TOPO_VIP6_NET" via "$TOPO_LB_IP6" dev eth0

	_topo_log "balancer $lb"
	# lb0 belongs to the DPDK process: no IP, no IPv6; arp_ignore=1 keeps the kernel
	# from answering ARP on lb0 for addresses of other interfaces (TOPO_LB_MGMT)
	_topo_ns_sysctl "$lb" "${_TOPO_V6_QUIET[@]}" net.ipv4.conf.all.arp_ignore=1 \
		net.ipv4.conf.default.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
		net.ipv4.conf.default.arp_announce=2
	ip -n "$lb" link set lo up
	_topo_veth "$p" "$lb" lb0 "$TOPO_LB_MAC" v-lb
	_topo_ns_sysctl "$lb" net.ipv6.conf.lb0.disable_ipv6=1
	ip -n "$lb" link set lb0 promisc on
	ip -n "$lb" link set lb0 up
	if [[ "${TOPO_LB_MGMT:-0}" == 1 ]]; then
		_topo_veth "$p" "$lb" eth0 02:00:c6:12:00:03 v-lbm
		ip -n "$lb" link set eth0 up
		ip -n "$lb" addr add "$TOPO_LB_MGMT_IP4/24" dev eth0
		ip -n "$lb" -6 addr add "$TOPO_LB_MGMT_IP6/64" dev eth0 nodad
	fi

	for ((i = 1; i <= n; i++)); do
		ns=$p-b$i
		ip4=$(_topo_backend_ip4 "$i")
		ip6=$(_topo_backend_ip6 "$i")
		_topo_log "backend $ns $ip4 $ip6"
		_topo_ns_sysctl "$ns" "${_TOPO_V6_QUIET[@]}" \
			net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 \
			net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.default.arp_announce=2
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$TOPO_VIP4/32" dev lo
		ip -n "$ns" -6 addr add "$TOPO_VIP6/128" dev lo nodad
		_topo_veth "$p" "$ns" eth0 "$(_topo_backend_mac "$i")" "v-b$i"
		_topo_ns_sysctl "$ns" net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
		ip -n "$ns" link set eth0 up
		ip -n "$ns" addr add "$ip4/24" dev eth0
		ip -n "$ns" -6 addr add "$ip6/64" dev eth0 nodad
		if [[ "${TOPO_TEST_FAIL_AFTER_BACKEND:-}" == "$i" ]]; then
			# test hook (tests/e2e/test_topology.sh): fail half-way
			_topo_err "create: TOPO_TEST_FAIL_AFTER_BACKEND=$i: failing on purpose"
			return 1
		fi
	done
	trap - ERR
}

# ------------------------------------------------------------------ backends
_topo_logdir() {
	if [[ -z "${TOPO_LOGDIR:-}" ]]; then
		TOPO_LOGDIR=$(mktemp -d /tmp/sluice-topo.XXXXXX)
		_TOPO_LOGDIR_AUTO=$TOPO_LOGDIR
	fi
	mkdir -p -- "$TOPO_LOGDIR"
	export TOPO_LOGDIR
}

# _topo_launch I PORT: start backend I without waiting
_topo_launch() {
	local i=$1 port=$2 ns=${TOPO_PREFIX}-b$1 name=b$1 pid
	ip netns exec "$ns" "$TOPO_PY" "$TOPO_LIBDIR/http_backend.py" --name "$name" \
		--port "$port" --udp-port "$TOPO_UDP_PORT" --fail-file "$TOPO_LOGDIR/$name.fail" \
		</dev/null >>"$TOPO_LOGDIR/$name.log" 2>&1 &
	pid=$!
	disown "$pid" 2>/dev/null || true
	TOPO_BACKEND_PID[i - 1]=$pid
	echo "$pid" >"$TOPO_LOGDIR/$name.pid"
}

# _topo_wait_listening PORT I...: bounded wait until backends I... listen
_topo_wait_listening() {
	local port=$1
	shift
	local pending=("$@") still i ns deadline limit
	# default: 5 s, plus 0.2 s per backend (python start-up on 2 cores)
	limit=${TOPO_START_TIMEOUT:-$((5 + $# / 5))}
	deadline=$(($(_topo_now_ms) + limit * 1000))
	while ((${#pending[@]} > 0)); do
		still=()
		for i in "${pending[@]}"; do
			ns=${TOPO_PREFIX}-b$i
			if ! _topo_alive "${TOPO_BACKEND_PID[i - 1]}"; then
				_topo_err "backend b$i exited; log $TOPO_LOGDIR/b$i.log:"
				tail -n 5 "$TOPO_LOGDIR/b$i.log" >&2 || true
				return 1
			fi
			if [[ -n "$(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null)" &&
				-n "$(ip netns exec "$ns" ss -Hlun "sport = :$TOPO_UDP_PORT" 2>/dev/null)" ]]; then
				continue
			fi
			still+=("$i")
		done
		pending=("${still[@]}")
		((${#pending[@]} == 0)) && break
		if (($(_topo_now_ms) > deadline)); then
			_topo_err "backends not listening after ${limit}s: ${pending[*]}"
			return 1
		fi
		sleep 0.05
	done
	return 0
}

topo_start_backends() {
	local port=${1:-80} i all=()
	if [[ -z "${TOPO_PREFIX:-}" || -z "${TOPO_NBACKENDS:-}" ]]; then
		_topo_err "topo_start_backends: no topology (run topo_create first)"
		return 1
	fi
	TOPO_HTTP_PORT=$port
	export TOPO_HTTP_PORT
	_topo_logdir
	for ((i = 1; i <= TOPO_NBACKENDS; i++)); do
		_topo_launch "$i" "$port"
		all+=("$i")
	done
	_topo_wait_listening "$port" "${all[@]}"
}

# _topo_find_backend_pid NS: the http_backend.py process running in NS (or nothing)
_topo_find_backend_pid() {
	local pid
	for pid in $(ip netns pids "$1" 2>/dev/null); do
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'http_backend\.py'; then
			echo "$pid"
			return 0
		fi
	done
	return 0
}

# topo_backend_pid I: backend I's server pid (looked up in its namespace, so it is
# right even after topo_vars switched topologies); empty if none runs
topo_backend_pid() {
	local i=$1 pid
	pid=$(_topo_find_backend_pid "${TOPO_PREFIX}-b$i")
	TOPO_BACKEND_PID[i - 1]=$pid
	echo "$pid"
}

topo_stop_backend() {
	local i=$1 sig=${2:-KILL} pid k
	pid=$(topo_backend_pid "$i")
	if [[ -z "$pid" ]]; then
		_topo_err "backend b$i has no pid"
		return 1
	fi
	kill -"$sig" "$pid" 2>/dev/null || true
	if [[ "$sig" == KILL || "$sig" == TERM || "$sig" == 9 || "$sig" == 15 ]]; then
		if [[ "$sig" == TERM || "$sig" == 15 ]]; then
			kill -CONT "$pid" 2>/dev/null || true
		fi
		for ((k = 0; k < 100; k++)); do
			_topo_alive "$pid" || return 0
			sleep 0.05
		done
		_topo_err "backend b$i (pid $pid) still running"
		return 1
	fi
	return 0
}

topo_pid_gone() {
	local pid=$1 limit=${2:-5} k
	for ((k = 0; k < limit * 20; k++)); do
		_topo_alive "$pid" || return 0
		sleep 0.05
	done
	_topo_alive "$pid" && return 1
	return 0
}

topo_start_backend() {
	local i=$1 port=${2:-${TOPO_HTTP_PORT:-80}} old
	old=$(topo_backend_pid "$i")
	if [[ -n "$old" ]] && _topo_alive "$old"; then
		topo_stop_backend "$i" KILL || return 1
	fi
	_topo_logdir
	_topo_launch "$i" "$port"
	_topo_wait_listening "$port" "$i"
}

# ------------------------------------------------------------------ helpers
topo_exec() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

topo_client() {
	ip netns exec "$TOPO_CLIENT_NS" "$@"
}

topo_http_client() {
	ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" "$@"
}

topo_udp_client() {
	ip netns exec "$TOPO_CLIENT_NS" "$TOPO_PY" "$TOPO_LIBDIR/udp_client.py" "$@"
}

# ------------------------------------------------------------------ self-exec
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	case "${1:-}" in
	__create)
		shift
		_topo_create_body "$@"
		;;
	*)
		echo "topo.sh is a library: source it (see the header for the API)" >&2
		exit 2
		;;
	esac
fi
