# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Several Sluice nodes behind a router that spreads flows over them by ECMP,
# each node announcing the VIP over BGP with BIRD (docs/cluster.md). Built on
# topo.sh (source it and sluice.sh first): its bridge and backends are the
# L2 segment; the router, the client and the nodes are added here. Used by
# tests/e2e/test_cluster.sh and scripts/demo-cluster.sh.
#
#   ${P}-cx  cx0 198.19.0.1/24 ── rt1 198.19.0.254/24  ${P}-rt (router: BIRD, ECMP,
#                                                     fib_multipath_hash_policy=1)
#                                 eth0 198.18.0.254/24 ─┐
#   ${P}-nI  dp0 (DPDK) 198.18.0.(20+I), eth0 (kernel) ─┤ bridge ${P}-sw, with
#            198.18.0.(30+I): BIRD AS 65001, checks      │ backends b1..bN
#   VIP 198.18.1.100:80 (CLUSTER_MODE, maglev, 2,1,1,...) │ (VIP on lo, routes
#                                                        │ to 198.19.0.0/24
#                                                        │ via the router)
#
#   cluster_create P NODES NBACKENDS   topology, backends started, nothing else
#   cluster_start_node I               BIRD, data plane, control daemon of node I
#   cluster_start_router               the router's BIRD
#   cluster_dp_start I / cluster_dp_kill I   node I's data plane alone
#   cluster_paths                      the router's next hops for the VIP, one a line
#   cluster_wait_paths N LIMIT_S       bounded wait for N next hops; prints ms taken
#   cluster_api I JSON                 node I's data-plane API
#   cluster_ctl I ARGS...              sluicectl for node I
#   cluster_new_flows I                node I's data plane: new flows of the VIP so far
#   cluster_destroy                    every process and namespace of it
#
# Variables: SLUICE_DATAPLANE, SLUICE_CONTROL, SLUICECTL (binaries), CLUSTER_WORK
# (directory: configs, sockets, logs), CLUSTER_IDLE_US (data planes'
# --idle-sleep-us, default 500: three of them share the host's cores),
# CLUSTER_MODE (dsr, default; tunnel: the backends unwrap IPIP with the XDP
# decapsulator, tests/lib/decap.sh, SLUICE_DECAP_OBJ; fnat: node I's local
# address is 198.18.0.(50+I)).

CLUSTER_VIP=198.18.1.100
CLUSTER_RT_IP=198.18.0.254
CLUSTER_CLIENT_IP=198.19.0.1
CLUSTER_BIRD=${CLUSTER_BIRD:-/usr/sbin/bird}

cluster_dp_ip() { echo "198.18.0.$((20 + $1))"; }
cluster_mgmt_ip() { echo "198.18.0.$((30 + $1))"; }

_cluster_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

cluster_require() {
	if [[ ${CLUSTER_MODE:-dsr} == tunnel && ! -r "${SLUICE_DECAP_OBJ:-}" ]]; then
		echo "SKIP: tunnel mode needs the XDP decapsulator (SLUICE_DECAP_OBJ: ${SLUICE_DECAP_OBJ:-unset})"
		exit 77
	fi
	if [[ ! -x "$CLUSTER_BIRD" ]]; then
		echo "SKIP: BIRD 2 not installed ($CLUSTER_BIRD; apt-get install bird2)"
		exit 77
	fi
	local b
	for b in "$SLUICE_DATAPLANE" "$SLUICE_CONTROL" "$SLUICECTL"; do
		if [[ ! -x "$b" ]]; then
			echo "SKIP: $b not built"
			exit 77
		fi
	done
}

cluster_create() {
	local p=$1 nodes=$2 nb=$3 i ns
	CLUSTER_PREFIX=$p
	CLUSTER_NODES=$nodes
	CLUSTER_RT=$p-rt
	CLUSTER_CX=$p-cx
	mkdir -p "$CLUSTER_WORK"
	topo_create "$p" "$nb" || return 1
	topo_start_backends || return 1
	if [[ ${CLUSTER_MODE:-dsr} == tunnel ]]; then
		for ((i = 0; i < nb; i++)); do
			decap_attach "${TOPO_BACKEND_NS[$i]}" eth0 || return 1
		done
	fi
	# DSR replies go from the backends to the clients through the router.
	for ((i = 0; i < nb; i++)); do
		ip -n "${TOPO_BACKEND_NS[$i]}" route add 198.19.0.0/24 via "$CLUSTER_RT_IP"
	done

	ip netns add "$CLUSTER_RT"
	ip netns add "$CLUSTER_CX"
	ip -n "$CLUSTER_RT" link set lo up
	ip -n "$CLUSTER_CX" link set lo up
	ip netns exec "$CLUSTER_RT" sysctl -q -w net.ipv4.ip_forward=1 \
		net.ipv4.fib_multipath_hash_policy=1 net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 >/dev/null
	ip netns exec "$CLUSTER_CX" sysctl -q -w net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="10000 65000" >/dev/null
	_topo_veth "$p" "$CLUSTER_RT" eth0 02:00:c6:12:00:fe v-rt
	ip -n "$CLUSTER_RT" addr add "$CLUSTER_RT_IP/24" dev eth0
	ip -n "$CLUSTER_RT" link set eth0 up
	ip -n "$CLUSTER_CX" link add cx0 type veth peer name rt1 netns "$CLUSTER_RT"
	_topo_offloads "$CLUSTER_CX" cx0
	_topo_offloads "$CLUSTER_RT" rt1
	ip -n "$CLUSTER_CX" addr add "$CLUSTER_CLIENT_IP/24" dev cx0
	ip -n "$CLUSTER_RT" addr add 198.19.0.254/24 dev rt1
	ip -n "$CLUSTER_CX" link set cx0 up
	ip -n "$CLUSTER_RT" link set rt1 up
	ip -n "$CLUSTER_CX" route add 198.18.0.0/15 via 198.19.0.254

	for ((i = 1; i <= nodes; i++)); do
		ns=$p-n$i
		ip netns add "$ns"
		ip netns exec "$ns" sysctl -q -w net.ipv4.conf.all.arp_ignore=1 \
			net.ipv4.conf.default.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.default.arp_announce=2 net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 >/dev/null
		ip -n "$ns" link set lo up
		_topo_veth "$p" "$ns" dp0 "$(printf '02:00:c6:12:00:%02x' $((20 + i)))" "v-n${i}d"
		ip -n "$ns" link set dp0 promisc on
		ip -n "$ns" link set dp0 up
		_topo_veth "$p" "$ns" eth0 "$(printf '02:00:c6:12:00:%02x' $((30 + i)))" "v-n${i}m"
		ip -n "$ns" addr add "$(cluster_mgmt_ip "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
		mkdir -p "$CLUSTER_WORK/n$i"
		_cluster_node_config "$i"
	done
	_cluster_router_config
}

# _cluster_bfd: BFD on the shared segment, 300 ms x 5: a node gone is seen in 1.5 s
# (200 ms x 5 flapped healthy sessions when the 2-core test host was overloaded).
_cluster_bfd() {
	cat <<EOF
protocol bfd {
	interface "eth0" { min rx interval 300 ms; min tx interval 300 ms; multiplier 5; };
}
EOF
}

# _cluster_bgp_timers: hold 3 s (keepalive 1 s) if BFD cannot tell; back within 1-2 s.
_cluster_bgp_timers() {
	echo "	hold time 3; keepalive time 1; connect retry time 1; connect delay time 1;"
	echo "	error wait time 1, 2; bfd on;"
}

_cluster_node_config() {
	local i=$1
	local d=$CLUSTER_WORK/n$i b
	{
		cat <<EOF
dataplane:
  api_socket: $d/api.sock
  flow_capacity: 65536
  neighbour: {reachable: 30, retry: 0.2}
control:
  socket: $d/control.sock
cluster:
  bird_include: $d/vips.conf
  bird_socket: $d/bird.ctl
  dataplane_timeout: 2
ports:
  - name: lan
    devargs: "net_af_packet0,iface=dp0,framecnt=4096"
    ipv4: $(cluster_dp_ip "$i")/24
vips:
  - name: web
    address: $CLUSTER_VIP
    port: 80
    mode: ${CLUSTER_MODE:-dsr}
    scheduler: maglev
$([[ ${CLUSTER_MODE:-dsr} == fnat ]] && echo "    local_addresses: [198.18.0.$((50 + i))]")
    health_check: {type: tcp, interval: 0.3, timeout: 0.3, rise: 1, fall: 2}
    backends:
EOF
		for ((b = 0; b < TOPO_NBACKENDS; b++)); do
			echo "      - {address: ${TOPO_BACKEND_IP4[$b]}, weight: $((b == 0 ? 2 : 1))}"
		done
	} >"$d/sluice.yaml"
	# The node's BIRD: the routes the control daemon writes, to the router.
	cat >"$d/bird.conf" <<EOF
router id $(cluster_mgmt_ip "$i");
log "$d/bird.log" all;
protocol device { scan time 2; }
include "$d/vips.conf";
$(_cluster_bfd)
protocol bgp upstream {
	local $(cluster_mgmt_ip "$i") as 65001;
	neighbor $CLUSTER_RT_IP as 65000;
$(_cluster_bgp_timers)
	ipv4 { import none; export where proto = "sluice_vips4"; next hop keep; };
}
EOF
	# BIRD reads the include at start: until the control daemon writes it, nothing.
	printf 'protocol static sluice_vips4 {\n\tipv4;\n}\n' >"$d/vips.conf"
}

_cluster_router_config() {
	local i d=$CLUSTER_WORK/rt
	mkdir -p "$d"
	{
		cat <<EOF
router id $CLUSTER_RT_IP;
log "$d/bird.log" all;
protocol device { scan time 2; }
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
$(_cluster_bfd)
template bgp node {
	local $CLUSTER_RT_IP as 65000;
$(_cluster_bgp_timers)
	ipv4 { import all; export none; };
}
EOF
		for ((i = 1; i <= CLUSTER_NODES; i++)); do
			echo "protocol bgp n$i from node { neighbor $(cluster_mgmt_ip "$i") as 65001; }"
		done
	} >"$d/bird.conf"
}

# _cluster_bird NS DIR: BIRD in NS with DIR/bird.conf, socket DIR/bird.ctl
_cluster_bird() {
	local ns=$1 d=$2
	ip netns exec "$ns" "$CLUSTER_BIRD" -f -c "$d/bird.conf" -s "$d/bird.ctl" \
		</dev/null >>"$d/bird.out" 2>&1 &
	echo $! >"$d/bird.pid"
	disown $! 2>/dev/null || true
}

cluster_start_router() {
	_cluster_bird "$CLUSTER_RT" "$CLUSTER_WORK/rt"
}

cluster_dp_start() {
	local i=$1
	local d=$CLUSTER_WORK/n$i k
	ip netns exec "$CLUSTER_PREFIX-n$i" "$SLUICE_DATAPLANE" --lcores '0@(0-1)' --no-huge \
		-m 256 --no-pci --file-prefix "sluice-$CLUSTER_PREFIX-n$i" \
		--log-level "${SLUICE_LOG_LEVEL:-warning}" -- --config "$d/sluice.yaml" \
		--idle-sleep-us "${CLUSTER_IDLE_US:-500}" </dev/null >>"$d/dataplane.log" 2>&1 &
	echo $! >"$d/dp.pid"
	disown $! 2>/dev/null || true
	for ((k = 0; k < 200; k++)); do
		if [[ -S "$d/api.sock" ]] && cluster_api "$i" '{"cmd":"status"}' >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$(cat "$d/dp.pid")" 2>/dev/null; then
			echo "cluster: node $i's data plane exited; its log:" >&2
			tail -20 "$d/dataplane.log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "cluster: node $i's data plane: no API after 10 s" >&2
	return 1
}

cluster_dp_kill() {
	local i=$1
	local d=$CLUSTER_WORK/n$i pid k
	pid=$(cat "$d/dp.pid")
	kill -KILL "$pid" 2>/dev/null || true
	for ((k = 0; k < 100; k++)); do
		_topo_alive "$pid" || break # a zombie (disowned, not reaped) is gone
		sleep 0.02
	done
}

cluster_start_node() {
	local i=$1
	local d=$CLUSTER_WORK/n$i
	_cluster_bird "$CLUSTER_PREFIX-n$i" "$d"
	cluster_dp_start "$i" || return 1
	ip netns exec "$CLUSTER_PREFIX-n$i" "$SLUICE_CONTROL" --config "$d/sluice.yaml" \
		--node "n$i" --metrics 127.0.0.1:9561 </dev/null >>"$d/control.log" 2>&1 &
	echo $! >"$d/control.pid"
	disown $! 2>/dev/null || true
}

cluster_api() {
	printf '%s\n' "$2" | timeout 10 socat -t 5 - "UNIX-CONNECT:$CLUSTER_WORK/n$1/api.sock"
}

cluster_ctl() {
	local i=$1
	shift
	"$SLUICECTL" -s "$CLUSTER_WORK/n$i/api.sock" -c "$CLUSTER_WORK/n$i/control.sock" "$@"
}

cluster_paths() {
	ip -n "$CLUSTER_RT" route show "$CLUSTER_VIP/32" 2>/dev/null |
		{ grep -o 'via [0-9.]*' || true; } | awk '{print $2}' | sort
}

# cluster_wait_paths N LIMIT_S [EXCEPT_IP [T0_MS]]: until the router has N next
# hops for the VIP (none of them EXCEPT_IP); prints the milliseconds since T0_MS
# (default: now), or fails once LIMIT_S have passed since then.
cluster_wait_paths() {
	local want=$1 limit_ms=$(($2 * 1000)) except=${3:-} t0=${4:-} now paths
	[[ -n "$t0" ]] || t0=$(_cluster_now_ms)
	while :; do
		paths=$(cluster_paths)
		if [[ $(grep -c . <<<"$paths" || true) -eq $want ]] &&
			{ [[ -z "$except" ]] || ! grep -qx "$except" <<<"$paths"; }; then
			echo $(($(_cluster_now_ms) - t0))
			return 0
		fi
		now=$(_cluster_now_ms)
		if ((now - t0 > limit_ms)); then
			echo "cluster_wait_paths: $want next hop(s) wanted, the router has: ${paths//$'\n'/ }" >&2
			return 1
		fi
		sleep 0.02
	done
}

cluster_new_flows() {
	cluster_api "$1" '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(b.get("new_flows", 0) for v in d["vips"] for b in v["backends"]))'
}

cluster_destroy() {
	local ns pid
	[[ -n "${CLUSTER_PREFIX:-}" ]] || return 0
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^${CLUSTER_PREFIX}-(rt|cx|n[0-9]+)$"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^${CLUSTER_PREFIX}-(rt|cx|n[0-9]+)$"); do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]] && break
			sleep 0.05
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	topo_destroy "$CLUSTER_PREFIX" >/dev/null 2>&1 || true
}
