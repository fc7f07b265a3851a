#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Sluice's benchmark suite in one command (bench/README.md):
#
#   bash bench/run.sh [--smoke] [--build DIR] [--out DIR] [--reps N] [--update-readme] ...
#
# Installs what it needs if missing (dpdk-testpmd from dpdk-dev, matplotlib,
# valgrind, socat) unless --smoke or --no-install, builds Sluice (./build) if
# no --build is given, reserves 1 GiB of 2 MiB hugepages for the run if the
# machine has none free (and gives them back after), then runs bench/run.py:
# results.json, summary.md and PNG plots under bench/results/.
# --smoke: a short functional run (meson test bench_smoke_suite); changes
# nothing on the machine and exits 77 (skip) without root or DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
smoke=0 install=1 build="" args=()
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 install=0; args+=("$1") ;;
	--no-install) install=0 ;;
	--build) build=$2; shift ;;
	*) args+=("$1") ;;
	esac
	shift
done

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: SKIP: needs root (DPDK processes, the data plane's API socket)" >&2
	exit 77
fi

# Packages: dpdk-testpmd (the ceiling), matplotlib (plots), valgrind (instructions
# per packet). Debian's python3 has matplotlib; another python3 first in PATH may not.
if [ $install -eq 1 ]; then
	missing=()
	for p in dpdk-dev python3-matplotlib valgrind; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "bench: installing ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null
	fi
fi
py=python3
for c in /usr/bin/python3 python3; do
	if "$c" -c 'import matplotlib' 2>/dev/null; then
		py=$c
		break
	fi
done

if [ -z "$build" ]; then
	build=$root/build
	if [ $smoke -eq 0 ]; then
		[ -f "$build/build.ninja" ] || meson setup "$build" "$root" >/dev/null
		ninja -C "$build" >/dev/null
	fi
fi
if [ ! -x "$build/dataplane/sluice-dataplane" ] || [ ! -x "$build/bench/tools/sluice-gen" ]; then
	echo "bench: SKIP: $build has no sluice-dataplane or sluice-gen (DPDK not found at build time?)" >&2
	exit 77
fi

# Hugepages for the full run (the smoke run uses --no-huge and changes nothing).
restore_hp=""
if [ $smoke -eq 0 ] && [[ " ${args[*]} " != *" --no-hugepages "* ]]; then
	hp=/proc/sys/vm/nr_hugepages
	free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	size_kb=$(awk '/Hugepagesize/ {print $2}' /proc/meminfo)
	if [ "$size_kb" = 2048 ] && [ "${free:-0}" -lt 512 ]; then
		old=$(cat $hp)
		echo $((old + 512 - free)) >$hp 2>/dev/null || true
		restore_hp=$old
	fi
	if ! grep -q hugetlbfs /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
	fi
fi
cleanup() {
	if [ -n "$restore_hp" ]; then
		echo "$restore_hp" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
}
trap cleanup EXIT

# Bounded: the full run takes 5 to 7 minutes on 2 cores; the smoke run 15 s.
limit=900
[ $smoke -eq 1 ] && limit=170
rc=0
timeout --signal=INT --kill-after=30 $limit "$py" "$here/run.py" --build "$build" "${args[@]}" || rc=$?
exit $rc
