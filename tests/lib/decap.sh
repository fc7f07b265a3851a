# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The XDP decapsulator (bpf/decap.bpf.c) on tunnel-mode backends: the test
# hosts' kernel has no ipip/ip6tnl module, so a backend cannot unwrap the
# balancer's IPv4-in-IPv4 / IPv6-in-IPv6 packets itself; this program, on the
# backend's interface, removes the outer header and passes the inner packet to
# the kernel. Attached with iproute2 (`ip link set dev IF xdp... obj OBJ sec
# xdp`), which loads the object through libbpf; its address map stays empty,
# so every IPIP/IP6IP6 packet arriving there is decapsulated. Source it:
#
#   . tests/lib/decap.sh
#
#   decap_attach NS IFACE [native|generic]
#                           attach to IFACE inside namespace NS: native (driver)
#                           XDP, falling back to generic (skb) XDP; with a mode,
#                           only that one. Refuses (and says so) if an XDP program
#                           is already attached. Prints nothing on success;
#                           decap_mode tells which mode it got.
#   decap_detach NS IFACE   remove any XDP program from IFACE (either mode);
#                           idempotent; fails only if one is still attached
#   decap_mode NS IFACE     print native, generic, offload, multi or none
#   decap_stats NS IFACE    print the attached program's counters, one line:
#                           "decapsulated N passed N malformed N" (needs bpftool)
#
# Variable: SLUICE_DECAP_OBJ, the object file. Default: from the environment
# (meson sets it for the 'bpf' and 'e2e' suites), else
# ${SLUICE_BUILD:-${SLUICE_ROOT:-<repo>}/build}/bpf/decap.bpf.o.

_decap_root=${SLUICE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
: "${SLUICE_DECAP_OBJ:=${SLUICE_BUILD:-$_decap_root/build}/bpf/decap.bpf.o}"
unset _decap_root

_decap_err() {
	echo "decap: $*" >&2
}

# _decap_link NS IFACE: the first line of `ip link show` (fails if no such link)
_decap_link() {
	local out
	out=$(ip -n "$1" link show dev "$2" 2>&1) || {
		_decap_err "no interface $2 in namespace $1: $out"
		return 1
	}
	printf '%s\n' "$out"
}

decap_mode() {
	local ns=$1 ifc=$2 first
	# No "| head" here: with pipefail, a writer cut off by head fails at random.
	first=$(_decap_link "$ns" "$ifc") || return 1
	first=${first%%$'\n'*}
	# "<...> mtu 1500 xdpgeneric qdisc ...": the attachment word after the MTU.
	case " $first " in
	*" xdp "*) echo native ;;
	*" xdpgeneric "*) echo generic ;;
	*" xdpoffload "*) echo offload ;;
	*" xdpmulti "*) echo multi ;;
	*) echo none ;;
	esac
}

decap_attach() {
	local ns=$1 ifc=$2 want=${3:-} mode cur err_drv="" err_gen=""
	if [[ -z "$ns" || -z "$ifc" ]]; then
		_decap_err "usage: decap_attach NS IFACE [native|generic]"
		return 2
	fi
	case "$want" in
	"" | native | generic) ;;
	*)
		_decap_err "decap_attach: mode '$want' is neither native nor generic"
		return 2
		;;
	esac
	if [[ ! -r "$SLUICE_DECAP_OBJ" ]]; then
		_decap_err "no decapsulator object at $SLUICE_DECAP_OBJ (build first: ninja -C build, or set SLUICE_DECAP_OBJ)"
		return 1
	fi
	cur=$(decap_mode "$ns" "$ifc") || return 1
	if [[ "$cur" != none ]]; then
		_decap_err "$ns/$ifc already has an XDP program attached ($cur); decap_detach it first"
		return 1
	fi
	if [[ "$want" != generic ]]; then
		if err_drv=$(ip -n "$ns" link set dev "$ifc" xdpdrv obj "$SLUICE_DECAP_OBJ" sec xdp 2>&1); then
			mode=$(decap_mode "$ns" "$ifc")
			[[ "$mode" == native ]] && return 0
			err_drv="attached, but the link says '$mode'"
		fi
	fi
	if [[ "$want" != native ]]; then
		if err_gen=$(ip -n "$ns" link set dev "$ifc" xdpgeneric obj "$SLUICE_DECAP_OBJ" sec xdp 2>&1); then
			mode=$(decap_mode "$ns" "$ifc")
			if [[ "$mode" == generic ]]; then
				[[ -z "$want" ]] && _decap_err "note: native XDP failed on $ns/$ifc" \
					"(${err_drv//$'\n'/ }); attached in generic mode"
				return 0
			fi
			err_gen="attached, but the link says '$mode'"
		fi
	fi
	_decap_err "cannot attach $SLUICE_DECAP_OBJ to $ns/$ifc"
	[[ "$want" != generic ]] && _decap_err "  native (xdpdrv): ${err_drv//$'\n'/$'\n'      }"
	[[ "$want" != native ]] && _decap_err "  generic (xdpgeneric): ${err_gen//$'\n'/$'\n'      }"
	if [[ $(id -u) -ne 0 ]]; then
		_decap_err "  (loading XDP needs root or CAP_BPF+CAP_NET_ADMIN)"
	fi
	decap_detach "$ns" "$ifc" >/dev/null 2>&1 || true
	return 1
}

decap_detach() {
	local ns=$1 ifc=$2 mode
	mode=$(decap_mode "$ns" "$ifc") || return 1
	[[ "$mode" == none ]] && return 0
	ip -n "$ns" link set dev "$ifc" xdpdrv off 2>/dev/null || true
	ip -n "$ns" link set dev "$ifc" xdpgeneric off 2>/dev/null || true
	mode=$(decap_mode "$ns" "$ifc") || return 1
	if [[ "$mode" != none ]]; then
		_decap_err "$ns/$ifc still has an XDP program attached ($mode)"
		return 1
	fi
}

decap_stats() {
	local ns=$1 ifc=$2 prog bpftool
	bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
	if [[ ! -x "$bpftool" ]]; then
		_decap_err "decap_stats: bpftool not found"
		return 1
	fi
	prog=$(_decap_link "$ns" "$ifc") || return 1
	if [[ "$prog" =~ prog/xdp\ id\ ([0-9]+) ]]; then
		prog=${BASH_REMATCH[1]}
	else
		_decap_err "decap_stats: no XDP program on $ns/$ifc"
		return 1
	fi
	# Program and map ids are global: bpftool needs no namespace. The kernel
	# keeps 15 characters of a map name: sluice_decap_stats is sluice_decap_st.
	/usr/bin/python3 - "$bpftool" "$prog" <<'EOF'
import json, subprocess, sys

bpftool, prog = sys.argv[1], sys.argv[2]
names = ("decapsulated", "passed", "malformed")


def tool(*args):
    return json.loads(subprocess.run([bpftool, "-j", *args], check=True,
                                     capture_output=True, text=True).stdout)


for mid in tool("prog", "show", "id", prog).get("map_ids", []):
    if not tool("map", "show", "id", str(mid)).get("name", "").startswith("sluice_decap_st"):
        continue
    sums = [0] * len(names)
    for entry in tool("map", "dump", "id", str(mid)):
        f = entry.get("formatted")
        if f:  # BTF: {"key": 0, "values": [{"cpu": 0, "value": {"packets": ...}}]}
            key = f["key"]
            per_cpu = [v["value"]["packets"] for v in f["values"]]
        else:  # raw little-endian hex bytes
            key = int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")
            per_cpu = [int.from_bytes(bytes(int(b, 16) for b in v["value"][:8]), "little")
                       for v in entry["values"]]
        if key < len(names):
            sums[key] = sum(per_cpu)
    print(" ".join(f"{n} {s}" for n, s in zip(names, sums)))
    sys.exit(0)
sys.exit("decap_stats: program %s has no sluice_decap_stats map" % prog)
EOF
}
