#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sluice against HAProxy on veth, in the test topology (tests/lib/topo.sh:
# a client, the balancer and three nginx backends in network namespaces):
#
#   latency   keep-alive wrk, 2 threads, 50 connections, --latency: p50, p99
#             and requests/s through HAProxy (mode tcp, in the lb namespace's
#             kernel) and through Sluice (fnat on net_af_packet), interleaved
#             RUNS times. Paced (each connection waits PACE_MS between
#             requests, so both see the same request rate; Debian's wrk has
#             no -R) and unpaced (as fast as it goes, equal duration).
#   bulk      4 MB downloads (curl, one connection each) through HAProxy and
#             through Sluice on each virtual port type: net_af_packet,
#             net_af_xdp, net_tap (bridged with the veth in the lb namespace).
#
# usage: sudo bash bench/veth.sh [--runs N] [--seconds S] [--pace-ms MS]
#                                [--bulk N] [--only latency|bulk] [--out DIR]
# Environment: SLUICE_DATAPLANE (default build/dataplane/sluice-dataplane),
# SLUICE_DATAPLANE_BASE (another build, e.g. the base of a change: its
# latency runs are interleaved with the others, as "sluice-base"),
# SLUICE_DP_ARGS (more data-plane options, e.g. "--idle-sleep-us 50") and
# SLUICE_DP_ARGS_BASE (the base's; default the same),
# SLUICE_WORKER_CPU (CPU list for the data plane's lcore; default 0),
# BULK_PORTS (port types for the bulk runs; default "af_packet af_xdp tap"),
# BULK_NO_HAPROXY (set: no HAProxy bulk runs).
# Prints a Markdown summary; raw figures in OUT/veth.json. Bounded: every wrk
# and curl run has a fixed duration or a time limit, every loop a count.
# Traffic stays inside the namespaces created here.
# shellcheck disable=SC2317

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=../tests/lib/topo.sh disable=SC1091
. "$ROOT/tests/lib/topo.sh"
# shellcheck source=../tests/lib/sluice.sh disable=SC1091
. "$ROOT/tests/lib/sluice.sh"

RUNS=3
SECONDS_PER=8
PACE_MS=10
BULK=10
ONLY=all
OUT=
while (($#)); do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--seconds) SECONDS_PER=$2; shift 2 ;;
	--pace-ms) PACE_MS=$2; shift 2 ;;
	--bulk) BULK=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*)
		echo "usage: $0 [--runs N] [--seconds S] [--pace-ms MS] [--bulk N] [--only latency|bulk] [--out DIR]" >&2
		exit 2
		;;
	esac
done
((RUNS >= 1 && RUNS <= 20 && SECONDS_PER >= 1 && SECONDS_PER <= 60 && BULK >= 1 && BULK <= 100)) || {
	echo "veth.sh: runs 1..20, seconds 1..60, bulk 1..100" >&2
	exit 2
}

topo_require
for tool in wrk curl haproxy nginx; do
	if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$tool ]]; then
		echo "SKIP: $tool not found (apt-get install wrk curl haproxy nginx-light)"
		exit 77
	fi
done
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x "$SLUICE_DATAPLANE" ]]; then
	echo "veth.sh: no data plane at $SLUICE_DATAPLANE (build it, or set SLUICE_DATAPLANE)" >&2
	exit 1
fi

P=slv$$
SLUICE_WORK=$(mktemp -d /tmp/sluice-bench-veth.XXXXXX)
chmod 755 "$SLUICE_WORK" # nginx's workers run as nobody
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
OUT=${OUT:-$SLUICE_WORK}
mkdir -p "$OUT"
RESULTS=$OUT/veth.json
: >"$SLUICE_WORK/results.txt"
HAPROXY_PID=

cleanup() {
	local rc=$?
	if [[ -n "$HAPROXY_PID" ]]; then kill "$HAPROXY_PID" 2>/dev/null || true; fi
	sluice_stop
	topo_destroy "$P" >/dev/null 2>&1 || true
	[[ "${KEEP:-0}" == 1 || "$OUT" == "$SLUICE_WORK" ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

# ---- the backends: nginx, one worker each, a small body and a 4 MB file
topo_create "$P" 3
head -c 4194304 /dev/urandom >"$SLUICE_WORK/4m"
chmod 644 "$SLUICE_WORK/4m"
for ((i = 1; i <= 3; i++)); do
	d=$SLUICE_WORK/nginx-b$i
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    sendfile on;
    server {
        listen 80;
        location = / { add_header X-Backend b$i; return 200 "b$i\n"; }
        location = /4m { alias $SLUICE_WORK/4m; }
    }
}
EOF
	ip netns exec "${TOPO_BACKEND_NS[i - 1]}" "$NGINX" -c "$d/nginx.conf" -p "$d" \
		</dev/null >"$d/stdout.log" 2>&1 &
done
for ((k = 0; k < 100; k++)); do
	up=0
	for ((i = 0; i < 3; i++)); do
		[[ -n "$(ip netns exec "${TOPO_BACKEND_NS[i]}" ss -Hltn 'sport = :80')" ]] && up=$((up + 1))
	done
	((up == 3)) && break
	sleep 0.05
done
((up == 3)) || {
	echo "veth.sh: nginx did not start on every backend" >&2
	exit 1
}
cat >"$SLUICE_WORK/pace.lua" <<EOF
function delay()
   return $PACE_MS
end
EOF

# ---- the systems under test
neigh_flush() {
	local ns
	for ns in "$TOPO_CLIENT_NS" "${TOPO_BACKEND_NS[@]}"; do
		ip -n "$ns" neigh flush all 2>/dev/null || true
	done
}

haproxy_start() {
	neigh_flush
	ip -n "$TOPO_LB_NS" addr add "$TOPO_LB_IP4/24" dev lb0
	ip -n "$TOPO_LB_NS" addr add "$TOPO_VIP4/32" dev lo
	cat >"$SLUICE_WORK/haproxy.cfg" <<EOF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend web
    bind $TOPO_VIP4:80
    default_backend pool
backend pool
    balance roundrobin
    server b1 ${TOPO_BACKEND_IP4[0]}:80
    server b2 ${TOPO_BACKEND_IP4[1]}:80
    server b3 ${TOPO_BACKEND_IP4[2]}:80
EOF
	ip netns exec "$TOPO_LB_NS" "$HAPROXY" -f "$SLUICE_WORK/haproxy.cfg" -db \
		</dev/null >"$SLUICE_WORK/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	for ((k = 0; k < 100; k++)); do
		[[ -n "$(ip netns exec "$TOPO_LB_NS" ss -Hltn 'sport = :80')" ]] && return 0
		sleep 0.05
	done
	echo "veth.sh: haproxy did not start" >&2
	return 1
}

# offloads on|off: the kernel's checksum and segmentation offloads on every
# veth end. Sluice's ports need them off (topo.sh turns them off: a DPDK
# port on veth gets no super-packets and sends complete checksums); HAProxy,
# a kernel socket user, keeps them on where it runs alone.
offloads() {
	local ns dev
	for ns in "$TOPO_SW_NS" "$TOPO_CLIENT_NS" "$TOPO_LB_NS" "${TOPO_BACKEND_NS[@]}"; do
		for dev in $(ip -n "$ns" -o link show type veth | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
			ip netns exec "$ns" ethtool -K "$dev" tx "$1" rx "$1" tso "$1" gso "$1" gro "$1" \
				>/dev/null 2>&1 || true
		done
	done
}

haproxy_stop() {
	kill "$HAPROXY_PID" 2>/dev/null || true
	wait "$HAPROXY_PID" 2>/dev/null || true
	HAPROXY_PID=
	ip -n "$TOPO_LB_NS" addr del "$TOPO_LB_IP4/24" dev lb0 2>/dev/null || true
	ip -n "$TOPO_LB_NS" addr del "$TOPO_VIP4/32" dev lo 2>/dev/null || true
}

TAP=slvtap$$
TAP=${TAP:0:15}

# sluice_up PORTTYPE: the data plane, fnat over the three backends, on that port type.
sluice_up() {
	neigh_flush
	case $1 in
	af_packet) SLUICE_DEVARGS="net_af_packet0,iface=lb0,framecnt=4096" ;;
	af_xdp) SLUICE_DEVARGS="net_af_xdp0,iface=lb0,queue_count=1" ;;
	tap) SLUICE_DEVARGS="net_tap0,iface=$TAP" ;;
	esac
	export SLUICE_DEVARGS
	sluice_dsr_config "$SLUICE_WORK/sluice.yaml" fnat rr
	sluice_start "$SLUICE_WORK/sluice.yaml" 1 || return 1
	if [[ -n "${SLUICE_WORKER_CPU:-}" ]]; then
		taskset -a -p -c "$SLUICE_WORKER_CPU" "$SLUICE_PID" >/dev/null
	fi
	if [[ $1 == tap ]]; then
		# DPDK's tap on the LAN through a bridge with lb0; its kernel end
		# gets a MAC of its own (test_offload.sh says why).
		ip -n "$TOPO_LB_NS" link set "$TAP" address 02:00:c6:12:00:fe
		ip -n "$TOPO_LB_NS" link add brlb type bridge 2>/dev/null || true
		ip -n "$TOPO_LB_NS" link set lb0 master brlb
		ip -n "$TOPO_LB_NS" link set "$TAP" master brlb
		ip -n "$TOPO_LB_NS" link set brlb up
		ip -n "$TOPO_LB_NS" link set "$TAP" up
	fi
	sluice_wait_resolved 10
}

sluice_down() {
	sluice_stop
	ip -n "$TOPO_LB_NS" link set lb0 nomaster 2>/dev/null || true
	ip -n "$TOPO_LB_NS" link del brlb 2>/dev/null || true
}

# ---- the measurements

# sched_sum PID...: "<cpu ns> <run-queue wait ns>" summed over the threads of
# the processes (schedstat): how much CPU they used, and how long they were
# ready to run but waited for a CPU.
sched_sum() {
	local pid f run=0 wait=0 a b
	for pid in "$@"; do
		for f in /proc/"$pid"/task/*/schedstat; do
			[[ -r $f ]] || continue
			read -r a b _ <"$f" || continue
			run=$((run + a))
			wait=$((wait + b))
		done
	done
	echo "$run $wait"
}

nginx_pids() {
	local ns pid
	for ns in "${TOPO_BACKEND_NS[@]}"; do
		for pid in $(ip netns pids "$ns"); do
			[[ $(cat "/proc/$pid/comm" 2>/dev/null) == nginx ]] && echo "$pid"
		done
	done
}

# wrk_run SYSTEM RUN PACED LBPID: one wrk run; appends a JSON line to results.txt.
wrk_run() {
	local sys=$1 run=$2 paced=$3 lbpid=$4 out lb0 lb1 ng0 ng1 load
	local -a script=() ng
	[[ $paced == 1 ]] && script=(-s "$SLUICE_WORK/pace.lua")
	mapfile -t ng < <(nginx_pids)
	lb0=$(sched_sum "$lbpid")
	ng0=$(sched_sum "${ng[@]}")
	out=$(ip netns exec "$TOPO_CLIENT_NS" timeout $((SECONDS_PER + 20)) wrk -t 2 -c 50 \
		-d "${SECONDS_PER}s" --timeout 2s --latency "${script[@]}" "http://$TOPO_VIP4/" 2>&1) || true
	lb1=$(sched_sum "$lbpid")
	load=$(cut -d' ' -f1 /proc/loadavg)
	ng1=$(sched_sum "${ng[@]}")
	echo "$out" >"$SLUICE_WORK/wrk-$sys-$run-$paced.txt"
	"$TOPO_PY" - "$sys" "$run" "$paced" "$out" "$SECONDS_PER" "$lb0" "$lb1" "$ng0" "$ng1" "$load" \
		>>"$SLUICE_WORK/results.txt" <<'PY'
import json, re, sys
sysname, run, paced, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
secs = float(sys.argv[5])
(lr0, lw0), (lr1, lw1), (nr0, nw0), (nr1, nw1) = [map(int, a.split()) for a in sys.argv[6:10]]
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
lat = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
errs = re.search(r"Socket errors: (.*)", out)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
reqs = float(rps.group(1)) * secs if rps else 0
print(json.dumps({"test": "latency", "system": sysname, "run": run, "paced": paced,
                  "p50_ms": lat.get("50"), "p99_ms": lat.get("99"),
                  "rps": float(rps.group(1)) if rps else None,
                  # the balancer's CPU, in % of one CPU over the run
                  "lb_cpu_pct": round((lr1 - lr0) / secs / 1e7, 1),
                  # how long nginx waited for a CPU while it had work, per request
                  "nginx_wait_us_per_req": round((nw1 - nw0) / 1e3 / reqs, 1) if reqs else None,
                  "loadavg": float(sys.argv[10]),
                  "errors": (errs.group(1) if errs else "") +
                            (" non2xx %s" % non2xx.group(1) if non2xx else "")}))
PY
	tail -1 "$SLUICE_WORK/results.txt"
}

# bulk_run SYSTEM: BULK downloads of 4 MB, one connection each; MB/s of each.
bulk_run() {
	local sys=$1 i speeds=()
	for ((i = 0; i < BULK; i++)); do
		speeds+=("$(ip netns exec "$TOPO_CLIENT_NS" curl -s -o /dev/null --max-time 20 \
			-w '%{speed_download} %{size_download}' "http://$TOPO_VIP4/4m" || echo "0 0")")
	done
	"$TOPO_PY" - "$sys" "${speeds[@]}" >>"$SLUICE_WORK/results.txt" <<'PY'
import json, sys
sysname, runs = sys.argv[1], [r.split() for r in sys.argv[2:]]
mbs = [float(s) / 1e6 for s, n in runs if int(float(n)) == 4194304]
print(json.dumps({"test": "bulk", "system": sysname, "mb_s": mbs,
                  "failed": len(runs) - len(mbs)}))
PY
	tail -1 "$SLUICE_WORK/results.txt"
}

if [[ $ONLY == all || $ONLY == latency ]]; then
	for ((r = 1; r <= RUNS; r++)); do
		haproxy_start
		wrk_run haproxy "$r" 1 "$HAPROXY_PID"
		wrk_run haproxy "$r" 0 "$HAPROXY_PID"
		haproxy_stop
		sluice_up af_packet
		wrk_run sluice-af_packet "$r" 1 "$SLUICE_PID"
		wrk_run sluice-af_packet "$r" 0 "$SLUICE_PID"
		sluice_down
		if [[ -n "${SLUICE_DATAPLANE_BASE:-}" ]]; then
			main_dp=$SLUICE_DATAPLANE main_args=${SLUICE_DP_ARGS:-}
			SLUICE_DATAPLANE=$SLUICE_DATAPLANE_BASE
			SLUICE_DP_ARGS=${SLUICE_DP_ARGS_BASE-$main_args}
			sluice_up af_packet
			wrk_run sluice-base-af_packet "$r" 1 "$SLUICE_PID"
			wrk_run sluice-base-af_packet "$r" 0 "$SLUICE_PID"
			sluice_down
			SLUICE_DATAPLANE=$main_dp SLUICE_DP_ARGS=$main_args
		fi
	done
fi
if [[ $ONLY == all || $ONLY == bulk ]]; then
	if [[ -z "${BULK_NO_HAPROXY:-}" ]]; then
		haproxy_start
		bulk_run haproxy
		offloads on
		bulk_run haproxy-offloads-on
		offloads off
		haproxy_stop
	fi
	if [[ -n "${SLUICE_DATAPLANE_BASE:-}" ]]; then
		main_dp=$SLUICE_DATAPLANE
		SLUICE_DATAPLANE=$SLUICE_DATAPLANE_BASE
		sluice_up af_packet
		bulk_run sluice-base-af_packet
		sluice_down
		SLUICE_DATAPLANE=$main_dp
	fi
	for pt in ${BULK_PORTS:-af_packet af_xdp tap}; do
		if sluice_up "$pt"; then
			bulk_run "sluice-$pt"
		else
			echo "{\"test\": \"bulk\", \"system\": \"sluice-$pt\", \"mb_s\": [], \"failed\": -1}" \
				>>"$SLUICE_WORK/results.txt"
			echo "# sluice on $pt did not start; its log:"
			tail -5 "$SLUICE_LOG" || true
		fi
		sluice_down
	done
fi

# ---- the summary
"$TOPO_PY" - "$SLUICE_WORK/results.txt" "$RESULTS" "$PACE_MS" "$SECONDS_PER" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
pace, secs = sys.argv[3], sys.argv[4]
def span(v, fmt):
    v = [x for x in v if x is not None]
    if not v:
        return "-"
    return (fmt % min(v)) if len(v) == 1 or min(v) == max(v) else (fmt + "–" + fmt) % (min(v), max(v))
lat = [r for r in rows if r["test"] == "latency"]
if lat:
    print("| system | load | p50 ms | p99 ms | requests/s | balancer CPU % | nginx CPU wait µs/req | host load avg | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for paced in (True, False):
        for s in sorted({r["system"] for r in lat}):
            rs = [r for r in lat if r["system"] == s and r["paced"] == paced]
            if rs:
                print("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
                    s, "paced %s ms" % pace if paced else "unpaced", span([r["p50_ms"] for r in rs], "%.2f"),
                    span([r["p99_ms"] for r in rs], "%.2f"), span([r["rps"] for r in rs], "%.0f"),
                    span([r["lb_cpu_pct"] for r in rs], "%.0f"),
                    span([r["nginx_wait_us_per_req"] for r in rs], "%.0f"),
                    span([r.get("loadavg") for r in rs], "%.1f"), len(rs)))
bulk = [r for r in rows if r["test"] == "bulk"]
if bulk:
    print()
    print("| system | 4 MB transfers, MB/s (median, min–max) | transfers | failed |")
    print("|---|---|---|---|")
    for r in bulk:
        v = r["mb_s"]
        print("| %s | %s | %d | %d |" % (r["system"], "%.0f (%s)" % (statistics.median(v), span(v, "%.0f")) if v else "-",
                                   len(v), r["failed"]))
PY
