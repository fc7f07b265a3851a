# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs sluice-dataplane inside a topology built by topo.sh (source that first)
# and talks to its API socket. Used by the demo and the end-to-end tests.
#
#   sluice_dsr_config FILE [MODE] [SCHED]
#                                     write a config for the topology: VIPs
#                                     web4 (TOPO_VIP4:80, SCHED default wrr 2:1:1),
#                                     web6 (TOPO_VIP6:80, rr) and udp4
#                                     (TOPO_VIP4:9000, rr) over every backend, in
#                                     MODE dsr (default), fnat (local addresses
#                                     198.18.0.50-51, 2001:db8::50) or nat (with
#                                     sluice_nat_routes); MACs resolved by ARP/ND
#   sluice_nat_routes                 nat: on every backend, route the replies to
#                                     the client through the balancer
#   sluice_start CONFIG [LCORES]      start it in the lb namespace (af_packet on lb0),
#                                     wait (bounded) for the API socket
#   sluice_api JSON                   one request; prints the one-line JSON answer
#   sluice_wait_resolved [SECONDS]    wait until every backend's MAC is resolved
#   sluice_stop                       SIGTERM, wait (bounded), then SIGKILL
#
# Programs: meson passes each test the paths of this build's (SLUICE_DATAPLANE,
# SLUICE_CONTROL, SLUICECTL; tests/e2e/meson.build). Run by hand, a script
# takes them from SLUICE_BUILD (the build directory; default <repo>/build).
#
# Variables: SLUICE_DATAPLANE (binary; default $SLUICE_BUILD/dataplane/sluice-dataplane),
# SLUICE_DEVARGS (the port's devargs; default net_af_packet on the lb veth),
# SLUICE_KERNEL_IF (if set: the port's exception path to the kernel, net_tap),
# SLUICE_WORK (directory for config, socket and log), SLUICE_PID, SLUICE_SOCK,
# SLUICE_LOG.

SLUICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${SLUICE_BUILD:=$SLUICE_ROOT/build}"
: "${SLUICE_DATAPLANE:=$SLUICE_BUILD/dataplane/sluice-dataplane}"
: "${SLUICE_CONTROL:=$SLUICE_BUILD/control/sluice-control}"
: "${SLUICECTL:=$SLUICE_BUILD/control/sluicectl}"

sluice_dsr_config() {
	local file=$1 mode=${2:-dsr} sched=${3:-wrr} i l4="" l6=""
	if [[ $mode == fnat ]]; then
		l4="    local_addresses: [198.18.0.50, 198.18.0.51]"
		l6="    local_addresses: [\"2001:db8::50\"]"
	fi
	{
		cat <<EOF
# Generated for the ${TOPO_PREFIX} test topology: ${mode} over ${TOPO_NBACKENDS} backends.
dataplane:
  api_socket: ${SLUICE_WORK}/api.sock
  flow_capacity: 65536
  neighbour: {reachable: 30, retry: 0.2}
ports:
  - name: lan
    # A large ring: with several queue pairs the kernel's packet fanout moves
    # a busy flow to another queue once its ring is 3/4 full (rollover), and
    # the lcore there does not know the flow. Real NICs' RSS never does that.
    devargs: "${SLUICE_DEVARGS:-net_af_packet0,iface=${TOPO_LB_IF},framecnt=4096}"
    ipv4: ${TOPO_LB_IP4}/24
    ipv6: ${TOPO_LB_IP6}/64
${SLUICE_KERNEL_IF:+    kernel_interface: ${SLUICE_KERNEL_IF}}
vips:
  - name: web4
    address: ${TOPO_VIP4}
    port: 80
    mode: ${mode}
    scheduler: ${sched}
${l4}
    backends:
EOF
		for ((i = 0; i < TOPO_NBACKENDS; i++)); do
			# Weights 2,1,1,...: the first backend takes twice the share.
			echo "      - {address: ${TOPO_BACKEND_IP4[$i]}, weight: $((i == 0 ? 2 : 1))}"
		done
		cat <<EOF
  - name: web6
    address: "${TOPO_VIP6}"
    port: 80
    mode: ${mode}
    scheduler: rr
${l6}
    backends:
EOF
		for ((i = 0; i < TOPO_NBACKENDS; i++)); do
			echo "      - {address: \"${TOPO_BACKEND_IP6[$i]}\"}"
		done
		cat <<EOF
  - name: udp4
    address: ${TOPO_VIP4}
    port: ${TOPO_UDP_PORT}
    protocol: udp
    mode: ${mode}
    scheduler: rr
${l4}
    backends:
EOF
		for ((i = 0; i < TOPO_NBACKENDS; i++)); do
			echo "      - {address: ${TOPO_BACKEND_IP4[$i]}}"
		done
	} >"$file"
}

sluice_nat_routes() {
	local i
	for ((i = 0; i < TOPO_NBACKENDS; i++)); do
		ip -n "${TOPO_BACKEND_NS[$i]}" route replace "$TOPO_CLIENT_IP4/32" via "$TOPO_LB_IP4"
		ip -n "${TOPO_BACKEND_NS[$i]}" -6 route replace "$TOPO_CLIENT_IP6/128" via "$TOPO_LB_IP6"
	done
}

# sluice_start CONFIG [LCORES]: the data plane in the LB namespace, waited
# for until its API answers. SLUICE_DP_ARGS: more of its options (word-split).
sluice_start() {
	local config=$1 lcores=${2:-1} i
	SLUICE_SOCK=$SLUICE_WORK/api.sock
	SLUICE_LOG=$SLUICE_WORK/dataplane.log
	if [[ ! -x "$SLUICE_DATAPLANE" ]]; then
		echo "sluice_start: no data plane binary at $SLUICE_DATAPLANE (build first)" >&2
		return 1
	fi
	# --no-huge: runs anywhere without reserving hugepages; a unique file prefix
	# keeps parallel DPDK processes apart.
	ip netns exec "$TOPO_LB_NS" "$SLUICE_DATAPLANE" -l "0-$((lcores - 1))" --no-huge -m 512 \
		--no-pci --file-prefix "sluice-$TOPO_PREFIX" --log-level "${SLUICE_LOG_LEVEL:-warning}" \
		-- --config "$config" --api-socket "$SLUICE_SOCK" ${SLUICE_DP_ARGS:-} >"$SLUICE_LOG" 2>&1 &
	SLUICE_PID=$!
	for ((i = 0; i < 100; i++)); do
		if [[ -S "$SLUICE_SOCK" ]] && sluice_api '{"cmd":"status"}' >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
			echo "sluice_start: the data plane exited; its log:" >&2
			tail -20 "$SLUICE_LOG" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "sluice_start: no API socket after 10 s; log:" >&2
	tail -20 "$SLUICE_LOG" >&2
	return 1
}

sluice_api() {
	printf '%s\n' "$1" | timeout 10 socat -t 5 - "UNIX-CONNECT:$SLUICE_SOCK"
}

sluice_wait_resolved() {
	local limit=${1:-10} i
	for ((i = 0; i < limit * 10; i++)); do
		if sluice_api '{"cmd":"vip.list"}' | "$TOPO_PY" -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if all(b["neighbour"] in ("reachable", "static")
                  for v in d["vips"] for b in v["backends"]) else 1)'; then
			return 0
		fi
		sleep 0.1
	done
	echo "sluice_wait_resolved: backends still unresolved after ${limit}s" >&2
	return 1
}

sluice_stop() {
	local i
	[[ -n "${SLUICE_PID:-}" ]] || return 0
	kill -TERM "$SLUICE_PID" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$SLUICE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SLUICE_PID" 2>/dev/null || true
	wait "$SLUICE_PID" 2>/dev/null || true
	SLUICE_PID=
}

# Test reporting shared by the end-to-end tests: PASS / FAIL counters,
# "ok   - ..." / "FAIL - ..." lines, and the closing "N passed, M failed".
PASS=${PASS:-0}
FAIL=${FAIL:-0}

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

# jcheck DESC JSON PYEXPR: the JSON document (as d) satisfies the Python expression.
jcheck() {
	local desc=$1 json=$2 expr=$3
	if "${TOPO_PY:-/usr/bin/python3}" -c 'import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$json" "$expr" 2>/dev/null; then
		pass "$desc"
	else
		fail "$desc" "expected: $expr; got: ${json:0:600}"
	fi
}
