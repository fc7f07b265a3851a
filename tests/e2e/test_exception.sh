#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, exception path: Sluice owns the whole port (net_af_packet on the
# lb veth, which has no kernel address); what is not Sluice's goes to the
# kernel through a net_tap interface, and the kernel's packets from it go out
# of the port. The host's address, on that tap interface, answers ARP, ping
# and TCP while VIP traffic is balanced.
#
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
P=sle$$
HOST_IP=198.18.0.3
HOST_IP6=2001:db8::3
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-exc.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
export SLUICE_KERNEL_IF=sltap0

cleanup() {
	local rc=$?
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	if [[ $FAIL -gt 0 && -f "$SLUICE_WORK/dataplane.log" ]]; then
		echo "--- data plane log (last lines)"
		tail -20 "$SLUICE_WORK/dataplane.log"
	fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

check() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then
		PASS=$((PASS + 1))
		echo "ok   - $desc"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL - $desc"
	fi
}


topo_create "$P" 3
topo_start_backends
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" dsr
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10

# The host's address lives on the kernel side of the exception path.
check "the kernel interface $SLUICE_KERNEL_IF exists in the lb namespace" \
	ip -n "$TOPO_LB_NS" link show "$SLUICE_KERNEL_IF"
ip -n "$TOPO_LB_NS" link set "$SLUICE_KERNEL_IF" up
ip -n "$TOPO_LB_NS" addr add "$HOST_IP/24" dev "$SLUICE_KERNEL_IF"
ip -n "$TOPO_LB_NS" addr add "$HOST_IP6/64" dev "$SLUICE_KERNEL_IF" nodad
ip netns exec "$TOPO_LB_NS" "$TOPO_PY" -m http.server --bind :: 8000 \
	>"$SLUICE_WORK/host_http.log" 2>&1 &
sleep 0.5

check "ARP and ping for the host's address answered by the kernel behind it" \
	topo_client ping -c 2 -W 2 "$HOST_IP"
check "IPv6 (neighbour discovery and ping) too" topo_client ping -6 -c 2 -W 2 "$HOST_IP6"
check "TCP to the host's service through the exception path" \
	topo_client curl -s -m 3 -o /dev/null "http://$HOST_IP:8000/"
mac=$(ip -n "$TOPO_CLIENT_NS" neigh show "$HOST_IP" | awk '{print $5}')
jcheck "the kernel answers with the port's MAC" "{\"mac\": \"$mac\"}" "d['mac'] == '$TOPO_LB_MAC'"

r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 60 --timeout 2 --max-seconds 30)
jcheck "VIP traffic is still balanced by Sluice" "$r" \
	'd["ok"] == 60 and d["by_backend"] == {"b1": 30, "b2": 15, "b3": 15}'
st=$(sluice_api '{"cmd":"stats"}')
jcheck "counters: to_kernel and from_kernel count the exception path" "$st" \
	'd["counters"]["to_kernel"] > 0 and d["counters"]["from_kernel"] > 0'
jcheck "counters: rx = fwd + replied + to_mgmt + handoff + to_kernel + drops" "$st" \
	'd["counters"]["rx"] == d["counters"]["fwd"] + d["counters"]["replied"] + d["counters"]["to_mgmt"] + d["counters"]["handoff"] + d["counters"]["to_kernel"] + sum(v for k, v in d["counters"]["drops"].items() if k != "tx_full")'

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
