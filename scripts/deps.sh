#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs what Sluice needs to build, run the demo and run the tests on
# Debian 12 (as root, or through sudo). Installs only what is missing, so a
# second run is quick.
set -euo pipefail

packages=(
	# build
	build-essential meson ninja-build pkg-config clang
	libdpdk-dev dpdk dpdk-dev libbpf-dev libxdp-dev bpftool
	libyaml-dev libjson-c-dev libcmocka-dev libpcap-dev libmicrohttpd-dev
	# fuzzing and sanitizers (scripts/test-fuzz.sh, scripts/test-sanitize.sh):
	# clang's libFuzzer and sanitizer runtimes, llvm-symbolizer for the traces
	libclang-rt-14-dev llvm
	# format-check and tidy (.ci/format-check, .ci/tidy)
	clang-format clang-tidy
	# tests and demo: namespaces, real servers and clients, packet crafting
	iproute2 iputils-ping ethtool procps wrk bc python3 python3-scapy socat curl tcpdump nftables
	# the cluster test and demo: a BGP speaker per node and in the router (docs/cluster.md)
	bird2
	# /metrics checked with Prometheus' own text-format parser
	python3-prometheus-client
	# benchmarks (bench/run.sh; its smoke run is in the test suites)
	python3-matplotlib valgrind
	# the pktgen kit's dry run (bench/pktgen/check.lua)
	lua5.4
	# the Debian package (debian/, docs/install.md) and its test: dpkg-buildpackage
	# (dpkg-dev comes with build-essential), systemd-analyze, man page checks
	debhelper systemd groff-base
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
