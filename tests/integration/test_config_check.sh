#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# sluice-dataplane --check: good files pass; a bad file is rejected with a
# message naming file, line and field, and a non-zero exit status.
# usage: test_config_check.sh SLUICE_DATAPLANE SOURCE_ROOT
set -uo pipefail
bin=$1
root=$2
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() { # DESC EXPECTED_RC PATTERN FILE
	local out rc
	out=$("$bin" --check --config "$4" 2>&1)
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
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
