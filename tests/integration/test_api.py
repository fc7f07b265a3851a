#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration: the data-plane API over its socket, on a running data plane
(net_pcap port, no traffic): vip.add with down_flows / response_timeout /
drain_deadline, vip.list's fields and counters, vip.set (what changes in place,
what is refused, generations), backend.set with a drain deadline that expires,
and who may connect (dataplane.api_group).

usage: test_api.py PATH/TO/sluice-dataplane
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

CONFIG = """
dataplane: {{api_socket: {sock}, flow_capacity: 1024{group}{extra}}}
ports:
  - {{name: p0, devargs: "net_pcap0,rx_pcap={tmp}/empty.pcap,tx_pcap={tmp}/out.pcap", ipv4: 198.18.0.2/24}}
vips:
  - name: web4
    address: 198.18.1.100
    port: 80
    down_flows: reset
    drain_deadline: 30
    backends:
      - {{address: 198.18.0.11, mac: "02:00:00:00:00:11"}}
      - {{address: 198.18.0.12, mac: "02:00:00:00:00:12"}}
"""


def start(binary, tmp, group="", extra=""):
    sock = os.path.join(tmp, "run", "api.sock")
    cfg = os.path.join(tmp, "sluice.yaml")
    with open(os.path.join(tmp, "empty.pcap"), "wb") as f:
        f.write(EMPTY_PCAP)
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock=sock, tmp=tmp, extra=extra,
                              group=", api_group: %s" % group if group else ""))
    cmd = [binary, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
           "sluice-api-%d" % os.getpid(), "--log-level", "warning", "--", "--config", cfg]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(100):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.1)
    return proc, sock


def vip(api, name):
    for v in api(cmd="vip.list")["vips"]:
        if v["name"] == name:
            return v
    return None


def backend(v, address):
    return next(b for b in v["backends"] if b["address"] == address)


def main():
    if len(sys.argv) < 2:
        print("usage: test_api.py SLUICE_DATAPLANE")
        return 2
    binary = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK EAL)")
        return 77
    t = Checks()
    tmp = tempfile.mkdtemp(prefix="sluice-api-")
    try:
        # An unknown group is a start-up error naming the key.
        proc, _ = start(binary, tmp, group="no-such-group-sluice")
        out = proc.communicate(timeout=60)[0]
        t.check(proc.returncode != 0 and
                'dataplane.api_group: no group named "no-such-group-sluice"' in out,
                "unknown api_group: start-up error naming the key", out)

        group = next((g for g in ("adm", "daemon", "sys") if g in [x.gr_name for x in grp.getgrall()]),
                     None)
        proc, sock = start(binary, tmp, group=group or "")
        try:
            run_checks(t, sock, group)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        proc, sock = start(binary, tmp, extra=", api_idle_timeout: 3")
        try:
            run_connection_checks(t, sock)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 0 if t.failed == 0 else 1


def run_checks(t, sock, group):
    api = Api(sock)

    # --- what the config set, as vip.list shows it
    v = vip(api, "web4")
    t.check(v["down_flows"] == "reset" and v["drain_deadline_ms"] == 30000 and
            v["response_timeout_ms"] == 0, "vip.list: down_flows, drain_deadline_ms, "
            "response_timeout_ms from the config", v)
    b = backend(v, "198.18.0.11")
    t.check(all(k in b for k in ("response_timeouts", "flows_reset", "drain_reset", "active_flows")),
            "vip.list: per-backend response_timeouts, flows_reset, drain_reset, active_flows", b)
    t.check(all(k in v for k in ("response_timeouts", "flows_reset", "drain_reset")),
            "vip.list: per-VIP response_timeouts, flows_reset, drain_reset")
    st = api(cmd="stats")
    t.check("flows_reset" in st["counters"] and "flow_reset" in st["counters"]["drops"],
            "stats: flows_reset and drop reason flow_reset")

    # --- vip.add with the new keys
    r = api(cmd="vip.add", vip={"name": "app", "address": "198.18.1.101", "port": 80,
                                "mode": "fnat", "local_addresses": ["198.18.0.50"],
                                "down_flows": "keep", "response_timeout": 2.5,
                                "drain_deadline": 60,
                                "backends": [{"address": "198.18.0.11", "port": 8080,
                                              "mac": "02:00:00:00:00:11"}]})
    t.check(r["ok"], "vip.add with down_flows, response_timeout, drain_deadline", r)
    v = vip(api, "app")
    t.check(v and v["down_flows"] == "keep" and v["response_timeout_ms"] == 2500 and
            v["drain_deadline_ms"] == 60000, "... listed as given", v)
    r = api(cmd="vip.add", vip={"name": "d", "address": "198.18.1.102", "port": 80,
                                "response_timeout": 1})
    t.check(not r["ok"] and "response_timeout" in r["error"] and "dsr" in r["error"],
            "vip.add: response_timeout refused in dsr, with the reason", r)
    r = api(cmd="vip.add", vip={"name": "d", "address": "198.18.1.102", "port": 80,
                                "down_flows": "sometimes"})
    t.check(not r["ok"] and "down_flows" in r["error"], "vip.add: bad down_flows refused", r)

    # --- vip.set: in place, generation grows
    g0 = api(cmd="status")["generation"]
    r = api(cmd="vip.set", vip={"name": "web4", "address": "198.18.1.100", "port": 80,
                                "scheduler": "maglev", "maglev_table_size": 251,
                                "when_empty": "reset", "down_flows": "keep"})
    t.check(r["ok"] and r["generation"] > g0, "vip.set: answered ok with a newer generation", r)
    v = vip(api, "web4")
    t.check(v["scheduler"] == "maglev" and v["maglev_table_size"] == 251 and
            v["when_empty"] == "reset" and v["down_flows"] == "keep" and
            v["drain_deadline_ms"] == 0 and len(v["backends"]) == 2,
            "vip.set: new settings listed (absent keys: defaults), backends untouched", v)
    r = api(cmd="vip.set", vip={"name": "web4", "address": "198.18.1.100", "port": 80,
                                "mode": "fnat", "local_addresses": ["198.18.0.51"]})
    t.check(not r["ok"] and r["error"] == "vip.set web4: mode cannot change in place "
            "(dsr -> fnat): delete and add the VIP", "vip.set: mode change refused, naming it", r)
    r = api(cmd="vip.set", vip={"name": "web4", "address": "198.18.1.100", "port": 81})
    t.check(not r["ok"] and "port cannot change in place (80 -> 81)" in r["error"],
            "vip.set: port change refused", r)
    r = api(cmd="vip.set", vip={"name": "web4", "address": "198.18.1.109", "port": 80})
    t.check(not r["ok"] and "address cannot change" in r["error"],
            "vip.set: address change refused", r)
    r = api(cmd="vip.set", vip={"name": "nope", "address": "198.18.1.100", "port": 80})
    t.check(not r["ok"] and "no VIP" in r["error"], "vip.set: unknown VIP refused", r)
    v = vip(api, "web4")
    t.check(v["scheduler"] == "maglev", "... refusals changed nothing")

    # --- what the config file refuses, the API refuses too (one validator)
    base = {"address": "198.18.1.110", "port": 80}
    for name, why in (("a b", "space"), ("a\nb", "newline"), ("\x1b[31mred", "escape code"),
                      ("x\x00y", "NUL")):
        r = api(cmd="vip.add", vip=dict(base, name=name))
        t.check(not r["ok"] and ("vip.name" in r["error"] or "NUL" in r["error"]),
                "vip.add: a name with a %s refused" % why, r)
    for addr in ("0.0.0.0", "255.255.255.255", "224.0.0.1"):
        r = api(cmd="vip.add", vip={"address": addr, "port": 80})
        t.check(not r["ok"] and r["error"].startswith("vip.address: %s cannot be a VIP" % addr),
                "vip.add: VIP %s refused" % addr, r)
    r = api(cmd="vip.add", vip=dict(base, mode="fnat",
                                    local_addresses=["198.18.0.50", "198.18.0.50"]))
    t.check(not r["ok"] and "vip.local_addresses[1]: duplicate local address" in r["error"],
            "vip.add: duplicate local addresses refused", r)
    r = api(cmd="vip.add", vip=dict(base, mode="fnat", local_addresses=["198.18.1.110"]))
    t.check(not r["ok"] and "vip.local_addresses[0]" in r["error"] and
            "VIP's own address" in r["error"], "vip.add: local address = VIP refused", r)
    r = api(cmd="vip.add", vip=dict(base, maglev_table_size=16777213))
    t.check(not r["ok"] and "maglev_table_size" in r["error"] and "1048573" in r["error"],
            "vip.add: maglev_table_size over 1048573 refused", r)
    r = api(cmd="vip.set", vip={"name": "web4", "address": "198.18.1.100", "port": 80,
                                "maglev_table_size": 16777213})
    t.check(not r["ok"] and "maglev_table_size" in r["error"],
            "vip.set: maglev_table_size over 1048573 refused", r)
    r = api.raw('{"cmd":"vip.add","vip":{"name":"x\\u0000y","address":"198.18.1.110","port":80}}')
    t.check(not r["ok"] and "NUL" in r["error"], "a string with \\u0000 refused", r)
    r = api.raw('{"cmd":"status"} trailing')
    t.check(not r["ok"] and "text after the JSON object" in r["error"],
            "trailing garbage after the object refused", r)
    r = api.raw('{"cmd":"status"}{"cmd":"status"}')
    t.check(not r["ok"] and "one request per line" in r["error"],
            "a second object on the line refused", r)
    r = api(cmd="status")  # one answer per line: nothing left over from the line above
    t.check(r["ok"] and "workers" in r, "... and answered once", r)
    r = api.raw('{"cmd":"vip.del","vip":"nope","vip":"web4"}')
    t.check(not r["ok"] and "twice" in r["error"], "a duplicate key refused", r)
    t.check(vip(api, "web4") is not None, "... and nothing deleted")
    r = api.raw('{"cmd":"vip.add","vip":{"address":"198.18.1.111","port":80,'
                '"mode":"dsr","mode":"fnat"}}')
    t.check(not r["ok"] and "twice" in r["error"], "a duplicate nested key refused", r)
    t.check(all(v["address"] not in ("198.18.1.110", "198.18.1.111")
                for v in api(cmd="vip.list")["vips"]), "... none of the refused VIPs added")

    # --- drain with a deadline
    r = api(cmd="backend.set", vip="web4", address="198.18.0.11", state="drain",
            drain_deadline=0.5)
    t.check(r["ok"], "backend.set drain with drain_deadline", r)
    left = backend(vip(api, "web4"), "198.18.0.11").get("drain_deadline_ms")
    t.check(left is not None and 0 < left <= 500, "vip.list: drain_deadline_ms left", left)
    time.sleep(0.8)
    left = backend(vip(api, "web4"), "198.18.0.11").get("drain_deadline_ms")
    t.check(left == 0, "... 0 once passed (flows on it are reset)", left)
    r = api(cmd="backend.set", vip="web4", address="198.18.0.11", state="ready")
    b = backend(vip(api, "web4"), "198.18.0.11")
    t.check(r["ok"] and "drain_deadline_ms" not in b, "state ready cancels the deadline", b)
    r = api(cmd="backend.set", vip="web4", address="198.18.0.11", drain_deadline=5)
    t.check(not r["ok"] and "drain" in r["error"], "drain_deadline without state drain refused", r)
    r = api(cmd="backend.set", vip="web4", address="198.18.0.11", state="drain",
            drain_deadline=604801)
    t.check(not r["ok"] and "drain_deadline" in r["error"], "drain_deadline > 7 days refused", r)

    # --- access: a peer that is neither root nor in the group is told who may connect
    if group is None:
        print("ok   - # SKIP no suitable group for the access check")
        return
    os.chmod(os.path.dirname(os.path.dirname(sock)), 0o755)
    os.chmod(os.path.dirname(sock), 0o755)
    os.chmod(sock, 0o666)  # past the file modes: the credentials check is what refuses
    nobody = pwd.getpwnam("nobody")
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            os.write(wr, s.recv(4096))  # told at once, before any request
        except Exception as e:  # noqa: BLE001 - reported to the parent
            os.write(wr, str(e).encode())
        os._exit(0)
    os.close(wr)
    got = os.read(rd, 4096).decode()
    os.waitpid(pid, 0)
    t.check("permission denied: root or group %s only" % group in got,
            "non-member peer refused, told who may connect", got)


def closed_with(s, timeout):
    """What <s> was told before its connection was closed ("" if it stays open)."""
    s.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return got.decode()
            got += chunk
    except socket.timeout:
        return ""


def run_connection_checks(t, sock):
    """Connections nobody uses cannot lock root out, and are closed when silent."""
    hogs = []
    for _ in range(70):  # more than the 64 + 4 slots, all silent
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        hogs.append(s)
    t0 = time.monotonic()
    api = Api(sock)
    r = api(cmd="status")
    t.check(r["ok"], "root gets through past 70 silent connections", r)
    got = closed_with(hogs[0], 1)
    t.check("connection closed: every slot is taken" in got,
            "... the longest silent one made room, told why", got)
    api2 = Api(sock)
    for _ in range(8):  # a connection in use outlives the idle timeout
        time.sleep(0.5)
        r = api2(cmd="status")
    t.check(r["ok"], "a connection in use is kept past the idle timeout", r)
    got = closed_with(hogs[-1], 15)
    waited = time.monotonic() - t0
    t.check("silent for 3000 ms (dataplane.api_idle_timeout)" in got and waited < 15,
            "a silent connection is closed after api_idle_timeout, told why",
            "%r after %.1f s" % (got, waited))
    fresh = Api(sock)
    t.check(fresh(cmd="status")["ok"], "... and its slot serves again")
    for s in hogs:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
