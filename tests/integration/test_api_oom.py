#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration: an API change whose new snapshot cannot be allocated is
answered "nothing changed", and nothing changes, then or later (the
management thread retries failed publishes every tick: a change left in the
model would go live a few ms after the client was told it failed).

The out-of-memory is real to the data plane: a calloc() shim, built here and
preloaded, fails the snapshot's allocation (its size is the one of
struct lb_snapshot) once each time the test creates a trigger file.

usage: test_api_oom.py PATH/TO/sluice-dataplane SOURCE_ROOT
Exit 0 pass, 1 fail, 77 skip.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sluice_checks import Api, Checks  # noqa: E402  (tests/lib)

EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")

CONFIG = """
dataplane: {{api_socket: {sock}, flow_capacity: 1024}}
ports:
  - {{name: p0, devargs: "net_pcap0,rx_pcap={tmp}/empty.pcap,tx_pcap={tmp}/out.pcap", ipv4: 198.18.0.2/24}}
vips:
  - name: web4
    address: 198.18.1.100
    port: 80
    backends:
      - {{address: 198.18.0.11, mac: "02:00:00:00:00:11"}}
      - {{address: 198.18.0.12, mac: "02:00:00:00:00:12"}}
"""

SHIM = r"""
#include <stdlib.h>
#include <unistd.h>

#include "lb.h"

void *__libc_calloc(size_t n, size_t size);

/* Fails the snapshot's allocation once per trigger file (lb_model_compile). */
void *calloc(size_t n, size_t size)
{
	const char *trigger;

	if (n == 1 && size == sizeof(struct lb_snapshot) &&
	    (trigger = getenv("SLUICE_TEST_OOM_TRIGGER")) != NULL && unlink(trigger) == 0)
		return NULL;
	return __libc_calloc(n, size);
}
"""

NEW_VIP = {"name": "new", "address": "198.18.1.101", "port": 80,
           "backends": [{"address": "198.18.0.21", "mac": "02:00:00:00:00:21"}]}


def build_shim(src_root, tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    c = os.path.join(tmp, "oom_shim.c")
    so = os.path.join(tmp, "oom_shim.so")
    with open(c, "w") as f:
        f.write(SHIM)
    inc = ["-I" + os.path.join(src_root, "lib", d) for d in ("lb", "conf", "common", "parse")]
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so, c] + inc, check=True)
    return so


def start(binary, tmp, shim, trigger):
    sock = os.path.join(tmp, "run", "api.sock")
    cfg = os.path.join(tmp, "sluice.yaml")
    with open(os.path.join(tmp, "empty.pcap"), "wb") as f:
        f.write(EMPTY_PCAP)
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock=sock, tmp=tmp))
    env = dict(os.environ, LD_PRELOAD=shim, SLUICE_TEST_OOM_TRIGGER=trigger)
    cmd = [binary, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
           "sluice-oom-%d" % os.getpid(), "--log-level", "warning", "--", "--config", cfg]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    for _ in range(100):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.1)
    return proc, sock


def vip(api, name):
    return next((v for v in api(cmd="vip.list")["vips"] if v["name"] == name), None)


def fails_whole(t, api, trigger, what, req, unchanged):
    """<req> with the snapshot's allocation failing: refused, and still so later."""
    gen = api(cmd="status")["generation"]
    open(trigger, "w").close()
    r = api(**req)
    t.check(not os.path.exists(trigger), what + ": the allocation failure was injected")
    t.check(not r["ok"] and "nothing changed" in r.get("error", ""),
            what + ": answered out of memory, nothing changed", r)
    t.check(r["generation"] == gen, what + ": no new generation", r)
    time.sleep(0.2)  # 40 management ticks: a change left in the model would be published
    t.check(api(cmd="status")["generation"] == gen, what + ": none later either")
    t.check(unchanged(), what + ": the model is as it was")


def run_checks(t, api, trigger):
    def web4_backends():
        v = vip(api, "web4")
        return v and sorted((b["address"], b["weight"]) for b in v["backends"])

    before = web4_backends()
    t.check(before == [("198.18.0.11", 1), ("198.18.0.12", 1)], "web4 as configured", before)
    fails_whole(t, api, trigger, "vip.add", {"cmd": "vip.add", "vip": NEW_VIP},
                lambda: vip(api, "new") is None)
    fails_whole(t, api, trigger, "vip.del", {"cmd": "vip.del", "vip": "web4"},
                lambda: web4_backends() == before)
    fails_whole(t, api, trigger, "backend.set",
                {"cmd": "backend.set", "vip": "web4", "address": "198.18.0.11", "weight": 7},
                lambda: web4_backends() == before)
    fails_whole(t, api, trigger, "backend.add",
                {"cmd": "backend.add", "vip": "web4",
                 "backend": {"address": "198.18.0.13", "mac": "02:00:00:00:00:13"}},
                lambda: web4_backends() == before)
    fails_whole(t, api, trigger, "backend.del",
                {"cmd": "backend.del", "vip": "web4", "address": "198.18.0.12"},
                lambda: web4_backends() == before)

    # Memory back: the same requests apply, on the model as it was.
    gen = api(cmd="status")["generation"]
    r = api(cmd="vip.add", vip=NEW_VIP)
    t.check(r["ok"] and r["generation"] == gen + 1 and vip(api, "new") is not None,
            "vip.add applies once memory is back", r)
    r = api(cmd="backend.set", vip="web4", address="198.18.0.11", weight=7)
    t.check(r["ok"] and web4_backends() == [("198.18.0.11", 7), ("198.18.0.12", 1)],
            "backend.set applies once memory is back", r)
    r = api(cmd="vip.del", vip="web4")
    t.check(r["ok"] and vip(api, "web4") is None, "vip.del applies once memory is back", r)


def main():
    if len(sys.argv) < 3:
        print("usage: test_api_oom.py SLUICE_DATAPLANE SOURCE_ROOT")
        return 2
    binary, src_root = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK EAL)")
        return 77
    # The shim replaces calloc through LD_PRELOAD; a sanitizer build's runtime
    # owns malloc and must come first: the normal build runs this test.
    libs = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    if "libasan" in libs or "libubsan" in libs:
        print("SKIP: a sanitizer build (the calloc shim cannot be preloaded before its runtime)")
        return 77
    t = Checks()
    tmp = tempfile.mkdtemp(prefix="sluice-oom-")
    try:
        shim = build_shim(src_root, tmp)
        if shim is None:
            print("SKIP: no C compiler to build the calloc shim")
            return 77
        trigger = os.path.join(tmp, "fail-next-snapshot")
        proc, sock = start(binary, tmp, shim, trigger)
        try:
            if proc.poll() is not None:
                t.check(False, "data plane started", proc.communicate()[0])
            else:
                run_checks(t, Api(sock), trigger)
                t.check(proc.poll() is None, "data plane still running")
        finally:
            proc.terminate()
            out = proc.communicate(timeout=30)[0]
            if t.failed:
                print(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 0 if t.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
