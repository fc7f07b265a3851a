#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Several Sluice nodes behind ECMP, to watch (docs/cluster.md): installs what
# is missing (BIRD 2 among it), builds, then runs in network namespaces
#
#   client ── router (BIRD, ECMP) ──┬── n1 ┐ sluice-dataplane + sluice-control
#                                   ├── n2 ├ + BIRD each, announcing the VIP
#                                   └── n3 ┘ 198.18.1.100:80 (DSR, maglev)
#                                  backends b1..b4 on one segment
#
# and, step by step, prints the router's next hops and, per node and per
# backend, what flowed: all nodes up; node 1's data plane killed; back;
# node 3 drained; ready again. DEMO_PAUSE=S waits S seconds between steps
# (default 2) so that a person can read along. Traffic stays in the
# namespaces it creates; every client run is bounded; all is removed at exit.
# shellcheck disable=SC2153 # TOPO_LIBDIR, TOPO_PY: set by topo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "demo-cluster: needs root (network namespaces, DPDK); run: sudo bash scripts/demo-cluster.sh" >&2
	exit 1
fi
bash scripts/deps.sh
bash scripts/build.sh

# shellcheck source=../tests/lib/topo.sh disable=SC1091
. tests/lib/topo.sh
# shellcheck source=../tests/lib/sluice.sh disable=SC1091
. tests/lib/sluice.sh
# shellcheck source=../tests/lib/cluster.sh disable=SC1091
. tests/lib/cluster.sh

SLUICE_DATAPLANE=$PWD/build/dataplane/sluice-dataplane
SLUICE_CONTROL=$PWD/build/control/sluice-control
SLUICECTL=$PWD/build/control/sluicectl
CLUSTER_WORK=$(mktemp -d /tmp/sluice-demo-cluster.XXXXXX)
export SLUICE_DATAPLANE SLUICE_CONTROL SLUICECTL CLUSTER_WORK TOPO_LOGDIR=$CLUSTER_WORK/logs
PAUSE=${DEMO_PAUSE:-2}
P=sldc
cleanup() {
	cluster_destroy
	rm -rf -- "$CLUSTER_WORK"
	echo "demo-cluster: cleaned up (namespaces ${P}-* removed)"
}
trap cleanup EXIT
CLUSTER_PREFIX=$P cluster_destroy
cluster_require

step() {
	echo
	echo "== $*"
	sleep "$PAUSE"
}

paths() {
	echo "router's next hops for $CLUSTER_VIP: $(cluster_paths | tr '\n' ' ')"
}

# round TITLE COUNT: COUNT new connections from the client, then per node and
# per backend what flowed (node counters since the round began)
round() {
	local title=$1 count=$2 i r before=()
	for i in 1 2 3; do
		before[i]=$(cluster_new_flows "$i" 2>/dev/null || echo -)
	done
	r=$(ip netns exec "$CLUSTER_CX" "$TOPO_PY" "$TOPO_LIBDIR/http_client.py" \
		--url "http://$CLUSTER_VIP/" --count "$count" --concurrency 4 --timeout 2 --max-seconds 60)
	echo "$title: $("$TOPO_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%d ok, %d failed" % (d["ok"], d["failed"]))' "$r")"
	for i in 1 2 3; do
		local now
		now=$(cluster_new_flows "$i" 2>/dev/null || echo -)
		if [[ "$now" == - || "${before[i]}" == - ]]; then
			printf '  node n%d: data plane down\n' "$i"
		else
			printf '  node n%d: %4d new flows\n' "$i" $((now - before[i]))
		fi
	done
	"$TOPO_PY" -c 'import json,sys
d = json.loads(sys.argv[1])
for b, n in sorted(d["by_backend"].items()):
    print("  backend %s: %4d requests" % (b, n))' "$r"
}

echo "== building: router, client, 3 nodes, 4 backends (namespaces ${P}-*)"
cluster_create "$P" 3 4
cluster_start_router
for i in 1 2 3; do
	cluster_start_node "$i"
done
cluster_wait_paths 3 30 >/dev/null
paths

step "all three nodes announce the VIP: 600 new connections (maglev, weights 2:1:1:1)"
round "all nodes up" 600
echo "every node names the same backend for a flow:"
for i in 1 2 3; do
	echo "  n$i: sluicectl lookup web 198.19.0.1:40000 -> $(cluster_ctl "$i" lookup web 198.19.0.1:40000)"
done

step "kill -9 of node 1's data plane: its control daemon withdraws the VIP"
cluster_dp_kill 1
ms=$(cluster_wait_paths 2 10 "$(cluster_dp_ip 1)")
echo "node 1 out of the router's FIB after ${ms} ms"
paths
round "node 1 down" 300

step "node 1's data plane back: announced again"
cluster_dp_start 1
ms=$(cluster_wait_paths 3 10)
echo "node 1 back in the router's FIB after ${ms} ms"
round "node 1 back" 300

step "sluicectl node drain on node 3"
cluster_ctl 3 node drain
cluster_wait_paths 2 10 "$(cluster_dp_ip 3)" >/dev/null
paths
cluster_ctl 3 show status | sed 's/^/  n3: /'
round "node 3 drained" 300

step "sluicectl node ready on node 3"
cluster_ctl 3 node ready
cluster_wait_paths 3 10 >/dev/null
paths
round "all nodes up again" 300
