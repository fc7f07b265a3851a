#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, transmit checksum offload: the data plane's port is a net_tap
# interface (which offers IPv4/TCP/UDP checksum offload) bridged to the lb
# veth, so fnat and nat leave their checksums to the port. Real requests over
# IPv4, IPv6 and UDP must succeed, with transfers checked byte for byte.
#
# usage: test_offload.sh MODE   (fnat | nat)
# Exit: 0 all passed, 1 something failed, 77 skipped. Last line "<n> passed, <m> failed".
# shellcheck disable=SC2317,SC2153

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/topo.sh disable=SC1091
. "$HERE/../lib/topo.sh"
# shellcheck source=../lib/sluice.sh disable=SC1091
. "$HERE/../lib/sluice.sh"

topo_require
MODE=${1:-fnat}
export SLUICE_LOG_LEVEL=info
P=slo$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-offload.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
TAP=sloff$$
TAP=${TAP:0:15}
export SLUICE_DEVARGS="net_tap0,iface=$TAP"

cleanup() {
	local rc=$?
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT


topo_create "$P" 3
topo_start_backends
[[ $MODE == nat ]] && sluice_nat_routes
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" "$MODE" rr
sluice_start "$SLUICE_WORK/sluice.yaml" 1
# The tap (DPDK's port) and the lb veth on one bridge: the tap is on the LAN.
# The kernel end of the tap needs a MAC of its own: with DPDK's MAC on it, the
# bridge would take frames for the data plane as its own.
ip -n "$TOPO_LB_NS" link set "$TAP" address 02:00:c6:12:00:fe
ip -n "$TOPO_LB_NS" link add brlb type bridge
ip -n "$TOPO_LB_NS" link set lb0 master brlb
ip -n "$TOPO_LB_NS" link set "$TAP" master brlb
ip netns exec "$TOPO_LB_NS" sysctl -qw "net.ipv6.conf.brlb.disable_ipv6=1" "net.ipv6.conf.$TAP.disable_ipv6=1"
ip -n "$TOPO_LB_NS" link set brlb up
ip -n "$TOPO_LB_NS" link set "$TAP" up
sluice_wait_resolved 10
if ! grep -q "TX checksum offload" "$SLUICE_LOG"; then
	echo "SKIP: the net_tap port does not offer checksum offload here"
	exit 77
fi
PASS=$((PASS + 1))
echo "ok   - the port offers TX checksum offload and the data plane uses it"

r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 60 --timeout 2 --max-seconds 30)
jcheck "$MODE IPv4 HTTP with the checksums left to the port" "$r" 'd["ok"] == 60 and len(d["by_backend"]) == 3'
r=$(topo_http_client --url "http://[$TOPO_VIP6]/" --count 30 --timeout 2 --max-seconds 30)
jcheck "$MODE IPv6 HTTP" "$r" 'd["ok"] == 30'
r=$(topo_udp_client --host "$TOPO_VIP4" --port "$TOPO_UDP_PORT" --count 30 --timeout 2 --max-seconds 30)
jcheck "$MODE UDP" "$r" 'd["ok"] == 30'
r=$(topo_http_client --url "http://$TOPO_VIP4/bytes/4000000" --bytes 4000000 --count 3 --timeout 15 --max-seconds 60)
jcheck "$MODE transfers, SHA-256 intact" "$r" 'd["ok"] == 3 and d["failed"] == 0'

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
