#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration: the API's connection slots with non-root clients
(dataplane/api_sock.h, docs/api.md "Connections"). 64 connections for anyone
allowed, 4 more for root only: with root holding 4, a non-root member of
dataplane.api_group (nobody:nogroup here) gets 60 connections, each served,
and its 61st is refused with the clear error; root still gets through (as
the control daemon, which runs as root, does), into the reserved slots and
then into the slot of the connection silent the longest.

usage: test_api_slots.py PATH/TO/sluice-dataplane
Exit 0 pass, 1 fail, 77 skip.
"""
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sluice_checks import Api, Checks  # noqa: E402  (tests/lib)

EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
MAX_CLIENTS, ROOT_SLOTS = 64, 4  # API_SOCK_MAX_CLIENTS, API_SOCK_ROOT_SLOTS
USER, GROUP = "nobody", "nogroup"

CONFIG = """
dataplane: {{api_socket: {sock}, api_group: {group}, flow_capacity: 1024}}
ports:
  - {{name: p0, devargs: "net_null0", ipv4: 198.18.0.2/24}}
"""


def start(binary, tmp):
    sock = os.path.join(tmp, "run", "api.sock")
    cfg = os.path.join(tmp, "sluice.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock=sock, group=GROUP))
    cmd = [binary, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
           "sluice-slots-%d" % os.getpid(), "--log-level", "warning", "--", "--config", cfg]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(100):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.1)
    return proc, sock


def told(s, timeout=5):
    """The line the data plane sent on <s>, or "" when none came."""
    s.settimeout(timeout)
    got = b""
    try:
        while not got.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    return got.decode()


def non_root_clients(sock, n, wr, go):
    """Child, as nobody:nogroup: <n> connections, each asked for status, then one more.
    Reports {"served": k, "extra": "..."} on <wr>, then holds them until <go> closes."""
    user, group = pwd.getpwnam(USER), grp.getgrnam(GROUP)
    os.setgroups([])
    os.setgid(group.gr_gid)
    os.setuid(user.pw_uid)
    conns, served = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b'{"cmd":"status"}\n')
        if json.loads(told(s) or "{}").get("ok"):
            served += 1
        conns.append(s)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.connect(sock)
    os.write(wr, json.dumps({"served": served, "extra": told(extra)}).encode())
    os.close(wr)
    os.read(go, 1)  # the parent is done with its checks
    for s in conns:
        s.close()


def main():
    if len(sys.argv) < 2:
        print("usage: test_api_slots.py SLUICE_DATAPLANE")
        return 2
    binary = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK EAL, and to run clients as %s)" % USER)
        return 77
    try:
        pwd.getpwnam(USER)
        grp.getgrnam(GROUP)
    except KeyError:
        print("SKIP: no user %s or group %s to run the non-root clients as" % (USER, GROUP))
        return 77
    t = Checks()
    tmp = tempfile.mkdtemp(prefix="sluice-slots-")
    os.chmod(tmp, 0o755)  # the socket's own directory is root:nogroup 0750 (api_group)
    try:
        proc, sock = start(binary, tmp)
        try:
            run_checks(t, sock)
        finally:
            proc.terminate()
            out = proc.communicate(timeout=30)[0]
            if t.failed:
                print(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 0 if t.failed == 0 else 1


def run_checks(t, sock):
    st = os.stat(sock)
    t.check(st.st_mode & 0o777 == 0o660 and st.st_gid == grp.getgrnam(GROUP).gr_gid,
            "socket 0660 root:%s (api_group)" % GROUP, oct(st.st_mode))
    # Root's first: four connections in use (the control daemon opens one per request).
    roots = [Api(sock) for _ in range(ROOT_SLOTS)]
    t.check(all(a(cmd="status")["ok"] for a in roots), "root: %d connections served" % ROOT_SLOTS)

    n = MAX_CLIENTS - ROOT_SLOTS
    rd, wr = os.pipe()
    go_rd, go_wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        os.close(go_wr)
        try:
            non_root_clients(sock, n, wr, go_rd)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            os.write(wr, json.dumps({"served": -1, "extra": repr(e)}).encode())
        os._exit(0)
    os.close(wr)
    os.close(go_rd)
    try:
        got = json.loads(os.read(rd, 1 << 16).decode() or "{}")
        t.check(got.get("served") == n,
                "%s:%s: %d connections, each served (group member)" % (USER, GROUP, n), got)
        t.check("too many API clients connected (64)" in got.get("extra", ""),
                "... one more refused, told why", got)

        # Root past 64 connections: the reserved slots, then the longest silent one's.
        api = Api(sock, timeout=5)
        r = api(cmd="status")
        t.check(r["ok"], "root (the control daemon) still gets through at 64 connections", r)
        more = [Api(sock, timeout=5) for _ in range(ROOT_SLOTS - 1)]
        t.check(all(a(cmd="status")["ok"] for a in more), "... into every reserved slot")
        last = Api(sock, timeout=5)
        r = last(cmd="status")
        t.check(r["ok"], "... and past them, into the slot of the longest silent", r)
        for a in roots + more + [api, last]:
            a.close()
    finally:
        os.close(go_wr)
        os.waitpid(pid, 0)
        os.close(rd)


if __name__ == "__main__":
    sys.exit(main())
