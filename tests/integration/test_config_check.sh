#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-dataplane --check: good files pass; a bad file is rejected with a
# message naming file, line and field, and a non-zero exit status.
# The data plane's limits and the file's shape are checked by the loader both
# sluice-dataplane --check and sluicectl config check use (and a reload).
# usage: test_config_check.sh SLUICE_DATAPLANE SOURCE_ROOT [SLUICECTL]
set -uo pipefail
bin=$1
root=$2
ctl=${3:-}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() { # DESC EXPECTED_RC PATTERN FILE
	local out rc
	out=$(timeout 20 "$bin" --check --config "$4" 2>&1)
	rc=$?
	if [[ $rc -eq $2 && "$out" == *"$3"* ]]; then
		pass=$((pass + 1))
		echo "ok   - $1"
	else
		fail=$((fail + 1))
		echo "FAIL - $1 (exit $rc): $out"
	fi
}

expect "configs/demo.yaml passes" 0 "OK (1 ports, 3 VIPs)" "$root/configs/demo.yaml"
cat >"$tmp/bad.yaml" <<'YAML'
ports:
  - name: lan
    devargs: "net_null0"
vips:
  - address: 198.18.1.100
    port: 80
    backends:
      - address: 198.18.0.11
        weight: lots
YAML
expect "bad weight: file, line, column and field named" 2 \
	"bad.yaml:9:17: vips[0].backends[0].weight" "$tmp/bad.yaml"
cat >"$tmp/mode.yaml" <<'YAML'
ports:
  - {name: lan, devargs: "net_null0", ipv4: 198.18.0.2/24}
vips:
  - {address: 198.18.1.100, port: 80, mode: tunnel, backends: [{address: 198.18.0.11, port: 8080}]}
YAML
expect "a port translation the mode cannot do: named, with its line" 2 \
	"mode.yaml:4: vips[0]: backend 198.18.0.11: port 8080 differs from the VIP's 80, which tunnel cannot do" "$tmp/mode.yaml"
cat >"$tmp/subnet.yaml" <<'YAML'
ports:
  - {name: lan, devargs: "net_null0", ipv4: 198.18.0.2/24}
vips:
  - {address: 198.18.1.100, port: 80, backends: [{address: 203.0.113.9}]}
YAML
expect "a backend on no port's subnet: rejected with the reason" 2 \
	"backend 203.0.113.9 is on no port's subnet" "$tmp/subnet.yaml"
expect "a missing file: named" 2 "$tmp/none.yaml" "$tmp/none.yaml"
# A number option that is not one is refused with its name, not read as 0.
for arg in "--idle-sleep-us abc" "--idle-sleep-us -1" "--idle-sleep-us 2000000" "--exit-idle-ms 5s"; do
	# shellcheck disable=SC2086 # $arg is the option and its value
	out=$(timeout 20 "$bin" --check --config "$root/configs/demo.yaml" $arg 2>&1)
	rc=$?
	if [[ $rc -eq 2 && "$out" == *"${arg%% *}: "*"is not a number"* ]]; then
		pass=$((pass + 1))
		echo "ok   - $arg: refused, named"
	else
		fail=$((fail + 1))
		echo "FAIL - $arg: refused, named (exit $rc): $out"
	fi
done

out=$(timeout 20 "$bin" --check --config "$root/configs/demo.yaml" --idle-yield --idle-sleep-us 50 2>&1)
rc=$?
if [[ $rc -eq 2 && "$out" == *"choose one"* ]]; then
	pass=$((pass + 1))
	echo "ok   - --idle-yield with --idle-sleep-us: refused"
else
	fail=$((fail + 1))
	echo "FAIL - --idle-yield with --idle-sleep-us: refused (exit $rc): $out"
fi

# Both checkers refuse FILE with PATTERN in the message (exit 2), in bounded time.
refused() { # DESC PATTERN FILE
	local out rc
	expect "$1: --check" 2 "$2" "$3"
	[[ -n "$ctl" ]] || return 0
	out=$(timeout 20 "$ctl" config check "$3" 2>&1)
	rc=$?
	if [[ $rc -ne 0 && $rc -ne 124 && "$out" == *"$2"* ]]; then
		pass=$((pass + 1))
		echo "ok   - $1: sluicectl config check"
	else
		fail=$((fail + 1))
		echo "FAIL - $1: sluicectl config check (exit $rc): $out"
	fi
}

{
	echo "ports:"
	for i in $(seq 0 8); do echo "  - {name: p$i, devargs: net_null$i}"; done
} >"$tmp/ports9.yaml"
refused "nine ports: refused, naming the limit" \
	"ports9.yaml:2:3: ports: at most 8 ports (the data plane's limit), got 9" "$tmp/ports9.yaml"
vips() { # COUNT
	echo "ports: [{name: lan, devargs: net_null0, ipv4: 198.18.0.2/16}]"
	echo "vips:"
	for ((i = 0; i < $1; i++)); do
		echo "  - {address: 198.18.$((100 + i / 250)).$((1 + i % 250)), port: 80}"
	done
}
vips 257 >"$tmp/vips257.yaml"
refused "257 VIPs: refused, naming the limit" \
	"vips: at most 256 VIPs (the data plane's limit), got 257" "$tmp/vips257.yaml"
vips 10000 >"$tmp/vips10000.yaml"
refused "10,000 VIPs: refused" "at most 256 VIPs" "$tmp/vips10000.yaml"
{
	echo "ports: [{name: lan, devargs: net_null0, ipv4: 198.18.0.2/16}]"
	echo "vips:"
	echo "  - address: 198.18.100.1"
	echo "    port: 80"
	echo "    backends:"
	for ((i = 0; i < 5000; i++)); do
		echo "      - {address: 198.18.$((1 + i / 250)).$((1 + i % 250)), mac: 02:00:00:00:00:01}"
	done
} >"$tmp/backends5000.yaml"
refused "5,000 backends: refused, naming the limit" \
	"vips[0].backends: at most 4096 backends over all VIPs (the data plane's limit)" \
	"$tmp/backends5000.yaml"
vips 256 >"$tmp/vips256.yaml"
expect "256 VIPs: at the limit, accepted" 0 "OK (1 ports, 256 VIPs)" "$tmp/vips256.yaml"
{
	echo "ports: [{name: lan, devargs: net_null0}]"
	printf 'vips: '
	for ((i = 0; i < 100000; i++)); do printf '['; done
	for ((i = 0; i < 100000; i++)); do printf ']'; done
	echo
} >"$tmp/deep.yaml"
refused "100,000 nested lists: refused at once" \
	"deep.yaml:2:38: nested deeper than 32 levels" "$tmp/deep.yaml"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
