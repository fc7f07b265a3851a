#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, full-NAT source ports across a restart of the data plane. The
# backends close first (one request per connection), so each holds every
# (local address, port) it served in TIME_WAIT for 60 s. A restarted data
# plane that handed out the same ports again would meet those: the backend
# answers the new SYN with an ACK of the old connection (or drops it, PAWS),
# the client resets and its SYN retry comes a second later. So: 600 requests
# at 100/s, a restart, 600 more, and none of the second run may fail or wait
# on a SYN retry (timeout 0.8 s, under the 1 s retry).
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
P=slr$$
PASS=0
FAIL=0
SLUICE_WORK=$(mktemp -d /tmp/sluice-e2e-restart.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs

cleanup() {
	local rc=$?
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

# Connections in TIME_WAIT on backend I (0-based) whose peer is a local address.
time_wait() {
	ip netns exec "${TOPO_BACKEND_NS[$1]}" ss -Htan state time-wait '( dst 198.18.0.50 or dst 198.18.0.51 )' |
		wc -l
}

topo_create "$P" 3
topo_start_backends
sluice_dsr_config "$SLUICE_WORK/sluice.yaml" fnat rr
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10

run=$SLUICE_WORK/run1.json
topo_http_client --url "http://$TOPO_VIP4/" --count 600 --rate 100 --concurrency 4 --timeout 3 \
	--max-seconds 60 >"$run"
r=$(cat "$run")
echo "# before the restart: $r"
jcheck "before the restart: 600 requests, none failed" "$r" 'd["ok"] == 600 and d["failed"] == 0'
tw=$(($(time_wait 0) + $(time_wait 1) + $(time_wait 2)))
echo "# connections in TIME_WAIT on the backends: $tw"
if ((tw >= 500)); then
	pass "the backends closed first: $tw connections in TIME_WAIT"
else
	fail "the backends closed first" "only $tw connections in TIME_WAIT; the test shows nothing"
fi

sluice_stop
sluice_start "$SLUICE_WORK/sluice.yaml" 1
sluice_wait_resolved 10

run=$SLUICE_WORK/run2.json
topo_http_client --url "http://$TOPO_VIP4/" --count 600 --rate 100 --concurrency 4 --timeout 0.8 \
	--max-seconds 60 >"$run"
r=$(cat "$run")
echo "# after the restart: $r"
jcheck "after the restart: 600 requests, none failed or waited for a SYN retry" "$r" \
	'd["ok"] == 600 and d["failed"] == 0'
st=$(sluice_api '{"cmd":"stats"}')
jcheck "no port ran out" "$st" 'd["counters"]["drops"].get("nat_no_port", 0) == 0'
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
