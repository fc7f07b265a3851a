#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The steering loader (bpf/steer.c) on the pin roots hosts really have, each
# in a private mount namespace of its own so the host's /sys/fs/bpf is never
# touched:
#
#   mode700  bpffs mounted with mode=700, as systemd mounts it: an
#            unprivileged steer_open() cannot even stat the pin directory
#            under it (EACCES) and must still say which rights are missing
#            (the hint was once missing on that path only).
#   default  bpffs with the kernel's default mode (1777): the error comes
#            from bpf() itself, later.
#   none     nothing on /sys/fs/bpf: the loader mounts bpffs there itself
#            (mode 0700), then the same as mode700.
#
# Each case runs the whole test_steer binary (given as the argument), whose
# test_no_rights_message forks a child turned into nobody; its stderr line
# "unprivileged steer_open says: ..." is checked here as well.
#
# Exit: 0 all passed, 1 something failed, 77 skipped (not root, no unshare,
# no mount namespaces, no bpffs). Last line "<n> passed, <m> failed".
set -uo pipefail

STEER=${1:?usage: test_pin_root.sh PATH/TO/test_steer}
PIN=/sys/fs/bpf
PASS=0
FAIL=0

skip() {
	echo "SKIP: $1"
	exit 77
}
[[ $(id -u) -eq 0 ]] || skip "needs root (mount namespaces, bpffs mounts)"
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) not found"
[[ -d $PIN ]] || skip "$PIN does not exist (no sysfs bpf directory)"
unshare -m --propagation private true 2>/dev/null || skip "unshare -m does not work here"
unshare -m --propagation private mount -t bpf -o mode=700 bpf "$PIN" 2>/dev/null ||
	skip "cannot mount bpffs in a private mount namespace"

tmp=$(mktemp -d /tmp/sluice-pinroot.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT

# The body of one case, run inside its own mount namespace: prepare $PIN,
# run test_steer, then print the mount's mode and type as the last line.
cat >"$tmp/case.sh" <<'SH'
set -u
case=$1 steer=$2 pin=$3
case $case in
mode700) mount -t bpf -o mode=700 bpf "$pin" || exit 90 ;;
default) mount -t bpf bpf "$pin" || exit 90 ;;
none)
	# Peel every mount off $pin (bounded): the plain sysfs directory is left.
	for ((i = 0; i < 8; i++)); do
		mountpoint -q "$pin" || break
		umount -l "$pin" || exit 90
	done
	mountpoint -q "$pin" && exit 90
	;;
esac
"$steer"
rc=$?
echo "pin-root: rc=$rc mode=$(stat -c %a "$pin") fs=$(stat -f -c %T "$pin")"
SH

for c in mode700 default none; do
	out=$tmp/$c.out
	timeout 120 unshare -m --propagation private bash "$tmp/case.sh" "$c" "$STEER" "$PIN" \
		>"$out" 2>&1
	urc=$?
	last=$(grep '^pin-root: ' "$out" | tail -1)
	says=$(grep -o 'unprivileged steer_open says: .*' "$out" | head -1)
	# bpffs keeps the sticky bit on its root: 1700 for mode=700.
	want_mode=1700
	[[ $c == default ]] && want_mode=1777
	why=""
	if [[ $urc -eq 90 ]]; then
		why="could not prepare $PIN in the namespace"
	elif [[ -z $last ]]; then
		why="test_steer did not finish (exit $urc)"
	elif [[ $last != *"rc=0 "* ]]; then
		why="test_steer failed: $last"
	elif [[ $last != *" mode=$want_mode fs=bpf_fs"* ]]; then
		why="$PIN is not bpffs with mode $want_mode: $last"
	elif [[ $says != *"needs root or CAP_BPF+CAP_NET_ADMIN"* ]]; then
		why="the unprivileged open did not name the rights: '${says:-no message}'"
	fi
	if [[ -z $why ]]; then
		PASS=$((PASS + 1))
		echo "ok   - $c: test_steer passes; ${says#unprivileged steer_open says: }"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL - $c: $why"
		echo "--- test_steer output ($c), the last 30 lines"
		tail -30 "$out"
	fi
done
# The host's own mount was left alone.
echo "# host $PIN: $(stat -c %a "$PIN") $(stat -f -c %T "$PIN" 2>/dev/null)"
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
