#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, sharing the NIC with the kernel: sluice-dataplane on net_af_xdp
# over the lb veth, with the XDP steering program (bpf/) deciding per packet.
# The host keeps its own address on the same interface: it still answers
# ping and a TCP service while VIP traffic is balanced by Sluice; a VIP added
# at runtime moves its traffic to Sluice, and deleting it gives it back.
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
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
	echo "SKIP: bpffs is not mounted on /sys/fs/bpf (the steering maps are pinned there)"
	exit 77
fi
P=slx$$
HOST_IP=198.18.0.3
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-afxdp.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
export SLUICE_DEVARGS="net_af_xdp0,iface=lb0,queue_count=1"

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
	if "$@"; then
		PASS=$((PASS + 1))
		echo "ok   - $desc"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL - $desc"
	fi
}


topo_create "$P" 3
topo_start_backends
# The host's own address and service, on the interface Sluice uses too.
ip -n "$TOPO_LB_NS" addr add "$HOST_IP/24" dev lb0
ip netns exec "$TOPO_LB_NS" "$TOPO_PY" -m http.server --bind "$HOST_IP" 8000 \
	>"$SLUICE_WORK/host_http.log" 2>&1 &
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" dsr
if ! sluice_start "$SLUICE_WORK/sluice.yaml" 1; then
	if grep -qiE "xdp|bpf|af_xdp" "$SLUICE_LOG"; then
		echo "SKIP: net_af_xdp with the steering program could not start here:"
		tail -5 "$SLUICE_LOG"
		exit 77
	fi
	exit 1
fi
sluice_wait_resolved 10

r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 60 --timeout 2 --max-seconds 30)
jcheck "VIP traffic is balanced by Sluice over AF_XDP (wrr 2:1:1)" "$r" \
	'd["ok"] == 60 and d["by_backend"] == {"b1": 30, "b2": 15, "b3": 15}'
r=$(topo_http_client --url "http://[$TOPO_VIP6]/" --count 30 --timeout 2 --max-seconds 30)
jcheck "IPv6 VIP traffic too" "$r" 'd["ok"] == 30 and len(d["by_backend"]) == 3'
quiet_ping() { topo_client ping -c 2 -W 1 "$HOST_IP" >/dev/null; }
check "the host's own address still answers ping (kernel)" quiet_ping
check "the host's own TCP service still answers (kernel)" \
	topo_client curl -s -m 3 -o /dev/null "http://$HOST_IP:8000/"

# A VIP added at runtime takes its traffic from the kernel, and gives it back.
VIP2=198.18.1.101
r=$(topo_http_client --url "http://$VIP2/" --count 1 --timeout 1 --max-seconds 5)
jcheck "before vip.add: $VIP2 is not Sluice's (the kernel drops it)" "$r" 'd["ok"] == 0'
b=""
for ((i = 0; i < 3; i++)); do
	b+="${b:+,}{\"address\":\"${TOPO_BACKEND_IP4[$i]}\"}"
done
r=$(sluice_api "{\"cmd\":\"vip.add\",\"vip\":{\"name\":\"web-new\",\"address\":\"$VIP2\",\"port\":80,\"scheduler\":\"rr\",\"backends\":[$b]}}")
jcheck "vip.add $VIP2:80" "$r" 'd["ok"]'
# The backends must accept the new VIP (DSR: on their loopback).
for ((i = 0; i < 3; i++)); do
	ip -n "${TOPO_BACKEND_NS[$i]}" addr add "$VIP2/32" dev lo
done
r=$(topo_http_client --url "http://$VIP2/" --count 30 --timeout 2 --max-seconds 30)
jcheck "after vip.add: $VIP2 is balanced by Sluice" "$r" \
	'd["ok"] == 30 and all(d["by_backend"].get(b, 0) == 10 for b in ("b1", "b2", "b3"))'
r=$(sluice_api '{"cmd":"vip.del","vip":"web-new"}')
jcheck "vip.del web-new" "$r" 'd["ok"]'
r=$(topo_http_client --url "http://$VIP2/" --count 1 --timeout 1 --max-seconds 5)
jcheck "after vip.del: $VIP2 goes back to the kernel" "$r" 'd["ok"] == 0'
check "the host's service is still fine" topo_client curl -s -m 3 -o /dev/null "http://$HOST_IP:8000/"

st=$(sluice_api '{"cmd":"stats"}')
jcheck "the steering program's counters: VIP packets redirected, others passed" "$st" \
	'd["xdp"]["redirect_vip"] > 100 and d["xdp"]["pass"] > 0 and d["xdp"]["redirect_arp"] > 0'

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
