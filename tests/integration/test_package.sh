#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The Debian package, built from this tree and installed on this machine:
# dpkg-buildpackage in a copy of the tree under BUILD_DIR/package (never in
# the source tree, whose parent would get the .deb; incremental on a second
# run), what the package holds, its version against meson's, dpkg -i, the
# installed programs (--help, --check on the example configurations, man
# pages, the hugepages helper, the XDP objects' BTF), `systemd-analyze
# verify` of its units (any message fails), then both daemons running and
# `sluicectl show status` answered by both:
#   - systemd is PID 1: through the units, with a runtime drop-in that points
#     them at a test configuration (--no-huge, a net_af_packet port on a veth
#     in a namespace); stopping sluice-control must leave the data plane up;
#   - otherwise (a CI container): the units' own ExecStartPre/ExecStart
#     command lines (variables expanded) run by hand on the demo's kind of
#     topology (tests/lib/topo.sh, tests/lib/sluice.sh), each under its
#     unit's CapabilityBoundingSet and NoNewPrivileges (setpriv).
# Either way, 5 HTTP requests go through the VIP.
# The package is purged at the end (and on any failure), so the machine is
# left as it was. A machine where a package named sluice is installed is not
# touched (SKIP).
#
# usage: test_package.sh SOURCE_ROOT BUILD_DIR
# Exit: 0 all passed, 1 something failed, 77 skipped. Last line "<n> passed, <m> failed".
# shellcheck disable=SC2317,SC2153

set -uo pipefail

SRC=$(cd "$1" && pwd)
BUILD=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/topo.sh disable=SC1091
. "$HERE/../lib/topo.sh"
# shellcheck source=../lib/sluice.sh disable=SC1091
. "$HERE/../lib/sluice.sh"

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (dpkg -i, namespaces, DPDK EAL)"
	exit 77
fi
for tool in dpkg-buildpackage dh dpkg-parsechangelog systemd-analyze setpriv socat tar; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: needs $tool (scripts/deps.sh installs it)"
		exit 77
	fi
done
if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q 'installed'; then
	echo "SKIP: a package named sluice is installed here; this test installs and purges its own (dpkg --purge sluice first)"
	exit 77
fi

PASS=0
FAIL=0
WORK=$BUILD/package
P=slp$$
SLUICE_WORK=$(mktemp -d /tmp/sluice-package.XXXXXX)
export SLUICE_WORK TOPO_LOGDIR=$SLUICE_WORK/logs
installed=0
ctl_pid=
dropins=()
dpdk_dir_kept=
run_kept=
state_kept=
[[ -e /run/sluice ]] && run_kept=1
[[ -e /var/lib/sluice ]] && state_kept=1

cleanup() {
	local rc=$? d
	[[ -n "$ctl_pid" ]] && kill "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null
	sluice_stop
	if [[ -d /run/systemd/system && $installed -eq 1 ]]; then
		systemctl stop sluice-control.service sluice-dataplane.service 2>/dev/null
		if [[ $FAIL -gt 0 ]]; then
			echo "--- journal"
			journalctl -q -n 40 --no-pager -u sluice-dataplane -u sluice-control -u sluice-hugepages
		fi
		# RuntimeDirectoryPreserve and StateDirectory outlive the units.
		[[ -n "$run_kept" ]] || rm -rf /run/sluice
		[[ -n "$state_kept" ]] || rm -rf /var/lib/sluice
		for d in "${dropins[@]}"; do
			rm -f "$d"
			rmdir "$(dirname "$d")" 2>/dev/null
		done
		systemctl daemon-reload
		systemctl reset-failed sluice-control.service sluice-dataplane.service 2>/dev/null
	fi
	topo_destroy "$P" >/dev/null 2>&1 || true
	# DPDK leaves its runtime directory behind (the unit's --file-prefix).
	[[ -n "$dpdk_dir_kept" ]] || rm -rf /run/dpdk/sluice
	if [[ $installed -eq 1 ]]; then
		dpkg --purge sluice >"$SLUICE_WORK/purge.log" 2>&1 || {
			echo "FAIL - dpkg --purge sluice:"
			cat "$SLUICE_WORK/purge.log"
			rc=1
		}
	fi
	if [[ $FAIL -gt 0 ]]; then
		for d in dataplane.log control.log; do
			[[ -f "$SLUICE_WORK/$d" ]] || continue
			echo "--- $d (last lines)"
			tail -20 "$SLUICE_WORK/$d"
		done
	fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf -- "$SLUICE_WORK"
	exit "$rc"
}
trap cleanup EXIT

# expect DESC CMD...: CMD exits 0 (its output shown on failure).
expect() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc" "$(printf '%s\n' "$out" | tail -5)"
	fi
}

# --- build, in a copy of the tree ($WORK/src: git's tracked and
# untracked-but-not-ignored files) kept between runs, so that a second run
# rebuilds only what changed (dpkg-buildpackage -nc: no clean; meson keeps
# obj-*/ and ninja rebuilds by time stamp). Started again from scratch when
# debian/rules or debian/control changed (meson would keep the old options),
# outside git, or with PKG_FRESH=1. The .deb lands in $WORK.
if ! git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1 || [[ "${PKG_FRESH:-0}" == 1 ]] ||
	! cmp -s "$SRC/debian/rules" "$WORK/src/debian/rules" ||
	! cmp -s "$SRC/debian/control" "$WORK/src/debian/control"; then
	rm -rf "$WORK"
fi
rm -f "$WORK"/sluice*.deb "$WORK"/sluice_*.changes "$WORK"/sluice_*.buildinfo
mkdir -p "$WORK/src"
# Never the build directory itself, where .gitignore does not name it.
rel=$(realpath --relative-to="$SRC" "$BUILD")
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$SRC" ls-files -z --cached --others --exclude-standard |
		{ grep -zv -- "^${rel//./\\.}/" || true; } >"$WORK/files"
	tar -C "$SRC" --null -T "$WORK/files" -cf - | tar -C "$WORK/src" -xf -
	# Files gone from the tree go from the copy (but for build outputs,
	# which the tree's .gitignore names).
	(cd "$WORK/src" && find . -path ./obj-\* -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort) >"$WORK/copy"
	tr '\0' '\n' <"$WORK/files" | LC_ALL=C sort | LC_ALL=C comm -23 "$WORK/copy" - |
		{ git -C "$SRC" check-ignore --no-index -n -v --stdin || true; } |
		sed -n 's/^::\t//p' | while IFS= read -r f; do rm -f -- "$WORK/src/$f"; done
else
	tar -C "$SRC" --exclude='./build*' --exclude='./obj-*' --exclude="./$rel" -cf - . |
		tar -C "$WORK/src" -xf -
fi
rm -f "$WORK/src/debian/debhelper-build-stamp" "$WORK"/src/debian/*.debhelper.log
[[ -d "$WORK/src/obj-$(dpkg-architecture -qDEB_HOST_MULTIARCH)" ]] && how=incremental || how="from scratch"
t0=$(date +%s%N)
if (cd "$WORK/src" && DEB_BUILD_OPTIONS="noddebs nocheck parallel=$(nproc)" \
	dpkg-buildpackage -b -us -uc -nc >"$WORK/build.log" 2>&1); then
	pass "dpkg-buildpackage -b built the package ($how) in $((($(date +%s%N) - t0) / 1000000)) ms"
else
	fail "dpkg-buildpackage -b (log: $WORK/build.log)" "$(tail -15 "$WORK/build.log")"
	exit 1
fi
debs=("$WORK"/sluice_*.deb)
deb=${debs[0]}

version=$(cd "$WORK/src" && dpkg-parsechangelog -S Version)
meson_version=$(meson introspect --projectinfo "$BUILD" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
if [[ "$version" == "$meson_version" || "$version" == "$meson_version"-* ]]; then
	pass "debian/changelog's version $version is meson's $meson_version"
else
	fail "debian/changelog's version $version is meson's $meson_version (change both)"
fi

triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
missing=()
for f in ./usr/sbin/sluice-dataplane ./usr/sbin/sluice-control ./usr/bin/sluicectl \
	./usr/libexec/sluice/sluice-hugepages "./usr/lib/$triplet/bpf/sluice/steer.bpf.o" \
	"./usr/lib/$triplet/bpf/sluice/decap.bpf.o" \
	./etc/sluice/demo.yaml ./etc/sluice/reference.yaml ./etc/default/sluice \
	./lib/systemd/system/sluice-dataplane.service ./lib/systemd/system/sluice-control.service \
	./lib/systemd/system/sluice-hugepages.service \
	./usr/share/man/man8/sluice-dataplane.8.gz ./usr/share/man/man8/sluice-control.8.gz \
	./usr/share/man/man1/sluicectl.1.gz ./usr/share/doc/sluice/copyright \
	./usr/share/doc/sluice/install.md; do # not compressed: the units' Documentation= names it
	grep -qxF "$f" <<<"$contents" || missing+=("$f")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	pass "the package holds the programs, XDP objects, configs, units, man pages and docs"
else
	fail "the package holds everything it should" "missing: ${missing[*]}"
fi
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
if grep -qx /etc/sluice/demo.yaml <<<"$conffiles" && grep -qx /etc/default/sluice <<<"$conffiles"; then
	pass "/etc/sluice/*.yaml and /etc/default/sluice are conffiles (edits survive upgrades)"
else
	fail "/etc files are conffiles" "conffiles: $conffiles"
fi

# --- install
if dpkg -i "$deb" >"$SLUICE_WORK/install.log" 2>&1; then
	installed=1
	pass "dpkg -i $(basename "$deb")"
else
	fail "dpkg -i $(basename "$deb")" "$(tail -10 "$SLUICE_WORK/install.log")"
	installed=1 # whatever got unpacked is purged on exit
	exit 1
fi
# sluice-control and sluicectl print their usage on stderr and exit 2 for
# --help (as for a usage error); the data plane exits 0.
for b in /usr/sbin/sluice-dataplane /usr/sbin/sluice-control /usr/bin/sluicectl; do
	out=$("$b" --help 2>&1)
	rc=$?
	if [[ ($rc -eq 0 || $rc -eq 2) && "$out" == usage:* ]]; then
		pass "$b --help prints its usage"
	else
		fail "$b --help prints its usage (exit $rc)" "${out:0:300}"
	fi
done
expect "the installed data plane checks /etc/sluice/demo.yaml" \
	/usr/sbin/sluice-dataplane --check --config /etc/sluice/demo.yaml
expect "sluicectl config check /etc/sluice/reference.yaml" \
	/usr/bin/sluicectl config check /etc/sluice/reference.yaml
# From the .deb, not the installed tree: some images exclude /usr/share/man
# from dpkg's installs (path-exclude).
dpkg-deb -x "$deb" "$WORK/root"
expect "the man pages are well-formed (groff, no warnings)" bash -c '
	cd "$1" || exit 1
	for m in usr/share/man/man8/sluice-dataplane.8.gz usr/share/man/man8/sluice-control.8.gz \
		usr/share/man/man1/sluicectl.1.gz; do
		if command -v groff >/dev/null; then
			w=$(zcat "$m" | groff -man -Tutf8 -ww -z 2>&1) || exit 1
			[[ -z "$w" ]] || { echo "$m: $w"; exit 1; }
		else
			zcat "$m" | grep -q "^\.TH " || { echo "$m: no .TH"; exit 1; }
		fi
	done' bash "$WORK/root"
# The XDP objects keep their BTF (CO-RE relocations need it): dh_strip and
# dh_dwz must leave them alone.
expect "the XDP objects in the package keep their BTF" bash -c '
	for o in "$1"/usr/lib/*/bpf/sluice/*.bpf.o; do
		readelf -S "$o" | grep -q "\.BTF " || { echo "$o: no .BTF section"; exit 1; }
	done' bash "$WORK/root"
nr=$(cat /proc/sys/vm/nr_hugepages)
expect "sluice-hugepages with the pages already there changes nothing" \
	bash -c "/usr/libexec/sluice/sluice-hugepages $nr && [[ \$(cat /proc/sys/vm/nr_hugepages) -eq $nr ]]"
if /usr/libexec/sluice/sluice-hugepages lots >/dev/null 2>&1; then
	fail "sluice-hugepages refuses a count that is not a number"
else
	pass "sluice-hugepages refuses a count that is not a number"
fi

# systemd-analyze verify exits 0 on unknown keys and bad values (it only
# warns), so any message at all is a failure. Documentation=man: pages are
# looked up with man(1) where it is installed and finds them.
man_opt=--man=no
command -v man >/dev/null && man -w sluice-dataplane >/dev/null 2>&1 && man_opt=--man=yes
units=(/lib/systemd/system/sluice-dataplane.service /lib/systemd/system/sluice-control.service
	/lib/systemd/system/sluice-hugepages.service)
out=$(systemd-analyze verify "$man_opt" "${units[@]}" 2>&1)
if [[ $? -eq 0 && -z "$out" ]]; then
	pass "systemd-analyze verify $man_opt: the three units, no message"
else
	fail "systemd-analyze verify $man_opt: the three units, no message" "$out"
fi
# The ordering that keeps the data plane up: control Wants+After it, and
# nothing that would stop or restart it with the control daemon.
deps=$(grep -E '^(Wants|Requires|Requisite|BindsTo|PartOf|After)=' /lib/systemd/system/sluice-control.service)
if grep -q '^Wants=.*sluice-dataplane.service' <<<"$deps" &&
	grep -q '^After=.*sluice-dataplane.service' <<<"$deps" &&
	! grep -qE '^(Requires|Requisite|BindsTo|PartOf)=' <<<"$deps" &&
	! grep -v '^#' /lib/systemd/system/sluice-dataplane.service | grep -q 'sluice-control'; then
	pass "sluice-control: Wants/After the data plane, never Requires/BindsTo/PartOf it"
else
	fail "sluice-control: Wants/After the data plane, never Requires/BindsTo/PartOf it" "$deps"
fi
for u in sluice-dataplane sluice-control; do
	if [[ -L /etc/systemd/system/multi-user.target.wants/$u.service ]]; then
		fail "$u is not enabled by the package"
	else
		pass "$u is not enabled by the package"
	fi
done

# --- both daemons running, on a topology like the demo's (one backend).
topo_require
topo_create "$P" 1 || exit 1
topo_start_backends
SLUICE_SOCK=$SLUICE_WORK/api.sock
CTL_SOCK=$SLUICE_WORK/control.sock
# The units' variables (/etc/default/sluice), as an operator would set them
# on a host without hugepages.
SLUICE_CONFIG=$SLUICE_WORK/sluice.yaml
SLUICE_EAL_ARGS="-l 0 --no-huge -m 512 --no-pci"
# The units' defaults (in the systemd branch the units set them).
SLUICE_DATAPLANE_ARGS="--metrics 127.0.0.1:9560"
SLUICE_CONTROL_ARGS="--metrics 127.0.0.1:9561"
sluice_dsr_config "$SLUICE_CONFIG"
# Both sockets in the work directory, not /run/sluice.
printf 'control:\n  socket: %s\n' "$CTL_SOCK" >>"$SLUICE_CONFIG"
ctl() { /usr/bin/sluicectl -s "$SLUICE_SOCK" -c "$CTL_SOCK" "$@"; }

# unit_argv NAME UNIT KEY: array NAME = the installed UNIT's KEY= command
# line, $VAR split into words and ${VAR} not, as systemd expands them.
unit_argv() {
	local line
	line=$(sed -n "s/^$3=//p" "/lib/systemd/system/$2")
	eval "$1=($line)"
}

# unit_caps UNIT: the unit's CapabilityBoundingSet as setpriv wants it.
unit_caps() {
	sed -n 's/^CapabilityBoundingSet=//p' "/lib/systemd/system/$1" |
		tr 'A-Z' 'a-z' | sed -e 's/cap_//g' -e 's/ \+/,+/g' -e 's/^/-all,+/'
}

[[ -e /run/dpdk/sluice ]] && dpdk_dir_kept=1
if [[ -d /run/systemd/system ]]; then
	echo "# systemd is PID 1: starting the units"
	for u in sluice-dataplane sluice-control sluice-hugepages; do
		mkdir -p "/run/systemd/system/$u.service.d"
		dropins+=("/run/systemd/system/$u.service.d/50-test-package.conf")
	done
	cat >"${dropins[0]}" <<EOF
[Service]
Environment=SLUICE_CONFIG=$SLUICE_CONFIG "SLUICE_EAL_ARGS=$SLUICE_EAL_ARGS"
NetworkNamespacePath=/run/netns/$TOPO_LB_NS
# The test's work directory is under /tmp.
PrivateTmp=no
EOF
	cat >"${dropins[1]}" <<EOF
[Service]
Environment=SLUICE_CONFIG=$SLUICE_CONFIG
PrivateTmp=no
EOF
	# The data plane runs with --no-huge: leave the host's hugepages alone.
	cat >"${dropins[2]}" <<EOF
[Service]
Environment=SLUICE_HUGEPAGES=0
EOF
	systemctl daemon-reload
	expect "systemctl start sluice-control (pulls in the data plane)" \
		systemctl start sluice-control.service
	for ((i = 0; i < 100; i++)); do
		ctl show status 2>/dev/null | grep -q '^control daemon: generation' && break
		sleep 0.1
	done
	expect "sluice-dataplane.service active" systemctl is-active sluice-dataplane.service
else
	echo "# systemd is not PID 1: starting the units' command lines by hand"
	unit_argv pre sluice-dataplane.service ExecStartPre
	expect "the data plane unit's ExecStartPre: ${pre[*]}" "${pre[@]}"
	# The unit's own ExecStart (it has --file-prefix sluice): sluice_start's
	# arguments are ignored, it only waits for the socket.
	unit_argv dp_cmd sluice-dataplane.service ExecStart
	{
		echo '#!/bin/sh'
		printf 'exec setpriv --no-new-privs --bounding-set %s' "$(unit_caps sluice-dataplane.service)"
		printf ' %q' "${dp_cmd[@]}"
		echo
	} >"$SLUICE_WORK/dataplane"
	chmod +x "$SLUICE_WORK/dataplane"
	SLUICE_DATAPLANE=$SLUICE_WORK/dataplane
	if sluice_start "$SLUICE_CONFIG" 1; then
		pass "the data plane unit's ExecStart runs under its capabilities: ${dp_cmd[*]}"
	else
		fail "the data plane unit's ExecStart runs under its capabilities: ${dp_cmd[*]}"
		exit 1
	fi
	unit_argv ctl_cmd sluice-control.service ExecStart
	ip netns exec "$TOPO_LB_NS" setpriv --no-new-privs \
		--bounding-set "$(unit_caps sluice-control.service)" \
		"${ctl_cmd[@]}" >"$SLUICE_WORK/control.log" 2>&1 &
	ctl_pid=$!
	for ((i = 0; i < 100; i++)); do
		ctl show status 2>/dev/null | grep -q '^control daemon: generation' && break
		kill -0 "$ctl_pid" 2>/dev/null || break
		sleep 0.1
	done
fi

out=$(ctl show status 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
if [[ $rc -eq 0 ]] && grep -q '^data plane: generation [1-9]' <<<"$out" &&
	grep -q '^control daemon: generation [1-9]' <<<"$out" &&
	! grep -q 'NOT reachable' <<<"$out"; then
	pass "sluicectl show status: both planes answer, the daemon reaches the data plane"
else
	fail "sluicectl show status: both planes answer (exit $rc)"
fi
sluice_wait_resolved 10 || true
r=$(topo_http_client --url "http://$TOPO_VIP4/" --count 5 --timeout 2 --max-seconds 20)
jcheck "5 HTTP requests through the VIP, none failed" "$r" 'd["ok"] == 5 and d["failed"] == 0'
# The units' default --metrics: both daemons serve /metrics on loopback.
m=$(ip netns exec "$TOPO_LB_NS" curl -sS --max-time 5 http://127.0.0.1:9560/metrics 2>&1)
if grep -q '^sluice_backend_new_flows_total{vip="web4",backend=' <<<"$m"; then
	pass "the data plane serves /metrics on 127.0.0.1:9560 (units' default)"
else
	fail "the data plane serves /metrics on 127.0.0.1:9560 (units' default)" "$(head -c 300 <<<"$m")"
fi
m=$(ip netns exec "$TOPO_LB_NS" curl -sS --max-time 5 http://127.0.0.1:9561/metrics 2>&1)
if grep -q '^sluice_control_backends [1-9]' <<<"$m"; then
	pass "the control daemon serves /metrics on 127.0.0.1:9561 (units' default)"
else
	fail "the control daemon serves /metrics on 127.0.0.1:9561 (units' default)" "$(head -c 300 <<<"$m")"
fi

if [[ -d /run/systemd/system ]]; then
	systemctl stop sluice-control.service
	expect "stopping sluice-control leaves the data plane active" \
		systemctl is-active sluice-dataplane.service
	systemctl stop sluice-dataplane.service
fi

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
