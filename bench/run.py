#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sluice's benchmark suite (bench/README.md). Started by bench/run.sh.

Runs, in one bounded go on one machine:
  throughput  sluice-gen over net_memif against dpdk-testpmd --forward-mode=io
              (the ceiling) and against sluice-dataplane (DSR, full-NAT; the
              established and the new-flow patterns; 1 to 1M flows), both on
              the same lcore, with the same generator and flows; best of
              --reps interleaved repetitions; Sluice quoted as a ratio of it
  control     API answer latency (backend.set, vip.add/vip.del; answered
              only once every worker runs the change), idle and under load,
              and packets lost while 1000 backend changes are applied under
              load (goal 0), against the same load without changes
  maglev      bench_maglev: build time, balance, disruption
  pipeline    bench_pipeline ns/packet and, with valgrind, instructions/packet
and writes results.json, summary.md and PNG plots into --out.

Every DPDK process gets its own --file-prefix and its own memif socket, and
every process this script starts is stopped by its pid (SIGTERM, then
SIGKILL after a bound). memif: the device under test is the server and is up
before the generator (the client) connects; the generator stops its traffic
and drains before it exits, and only then is the device under test stopped.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)

GEN_LCORE = "0"
DUT_LCORE = "1"
DUT_MAC = "02:00:00:00:00:02"
VIP = "198.18.1.100"
NBACKENDS = 16
FNAT_LADDRS = ["198.18.0.%d" % (200 + i) for i in range(8)]

# Goals of issue 6 (ratio of Sluice's returned rate to the ceiling's).
GOALS = {"dsr-est": 0.90, "fnat-est": 0.80, "dsr-new": 0.50}


# A run whose generator or DUT lost more than this share of its CPU to other
# tasks is "disturbed": the best undisturbed run is quoted when there is one.
DISTURBED = 0.02
# ... and so is a run around which the core-to-core round trip between the two
# CPUs (bench_c2c) was in the slow group of the values seen, when they fall in
# groups this many times apart: the host had put the two virtual CPUs on cores
# that share no cache.
FAR_CORES = 2.0


def is_clean(r):
    return (r.get("disturbed") or 0) <= DISTURBED and not r.get("far_cores")


def disturbed_text(r):
    d = r.get("disturbed") or 0
    return "  (disturbed: %.0f%% of the CPU taken by other tasks)" % (100 * d) if d > DISTURBED else ""


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


class GenConnectError(Exception):
    pass


# ---- processes -------------------------------------------------------------


class Proc:
    """A child process stopped by its own pid, never by name."""

    def __init__(self, argv, logpath):
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "w")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log("pid %d did not stop on SIGTERM, killing it" % self.p.pid)
                self.p.kill()
                self.p.wait(timeout=10)
        self.logf.close()
        return self.p.returncode

    def tail(self, n=15):
        try:
            with open(self.logpath) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def eal_mem(mb, huge):
    """EAL memory options: hugepages if the machine has them, else --no-huge."""
    if huge:
        return ["--in-memory", "-m", str(mb)]
    return ["--no-huge", "-m", str(mb)]


def hugepages_usable(need_mb):
    try:
        with open("/proc/meminfo") as f:
            info = dict(l.split(":", 1) for l in f)
        free = int(info["HugePages_Free"].split()[0])
        size_kb = int(info["Hugepagesize"].split()[0])
        with open("/proc/mounts") as f:
            mounted = any(l.split()[2] == "hugetlbfs" for l in f)
    except (OSError, KeyError, ValueError, IndexError):
        return False
    return mounted and free * size_kb // 1024 >= need_mb


class Api:
    """One connection to sluice-dataplane's API socket: JSON lines."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def call(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise BenchError("API connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.s.close()


def far_ratio(ceil_runs, sluice_runs):
    """Best undisturbed ceiling and Sluice runs taken with the CPUs far apart."""
    def best(runs):
        f = [r["returned_mpps"] for r in runs
             if r.get("far_cores") and (r.get("disturbed") or 0) <= DISTURBED]
        return max(f) if f else None
    c, s = best(ceil_runs), best(sluice_runs)
    if not c or s is None:
        return None
    return {"ceiling_mpps": c, "sluice_mpps": s, "ratio": round(s / c, 4)}


def stats_delta(a, b):
    """What Sluice counted between two sluice_stats() answers: received,
    forwarded, dropped (by reason; tx_full included)."""
    out = {k: (b.get(k) or 0) - (a.get(k) or 0) for k in ("rx", "fwd")}
    reasons = set(a.get("drops", {})) | set(b.get("drops", {}))
    out["drops"] = {r: b.get("drops", {}).get(r, 0) - a.get("drops", {}).get(r, 0)
                    for r in sorted(reasons)}
    out["drops"] = {r: v for r, v in out["drops"].items() if v}
    out["dropped"] = sum(out["drops"].values())
    return out


def wait_sending(p, errpath, timeout=30):
    """Waits until sluice-gen says it is sending (its link is up)."""
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        with open(errpath) as f:
            if "sending" in f.read():
                return
        time.sleep(0.05)
    raise BenchError("sluice-gen did not start sending")


def task_times(pid):
    """{tid: (cpu_ns, wait_ns)} of a process's threads (schedstat)."""
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    c, w = f.read().split()[:2]
                out[int(tid)] = (int(c), int(w))
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return out


def poller_wait_ms(before, after):
    """Wait-for-CPU (ms) of the busiest thread between two task_times(): the
    polling lcore of a DPDK process; what other tasks took from it."""
    best = None
    for tid, (c1, w1) in after.items():
        if tid in before:
            c0, w0 = before[tid]
            if best is None or c1 - c0 > best[0]:
                best = (c1 - c0, w1 - w0)
    return round(best[1] / 1e6, 3) if best else None


def foreign_busy(own_pids, sample_s=0.3):
    """Processes other than ours using more than half a CPU (noise on 2 cores)."""

    def ticks():
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in own_pids:
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                name = st[st.index("(") + 1:st.rindex(")")]
                fields = st[st.rindex(")") + 2:].split()
                out[int(d)] = (name, int(fields[11]) + int(fields[12]))
            except (OSError, ValueError, IndexError):
                pass
        return out

    hz = os.sysconf("SC_CLK_TCK")
    a = ticks()
    time.sleep(sample_s)
    b = ticks()
    busy = []
    for pid, (name, t) in b.items():
        if pid in a:
            cpu = (t - a[pid][1]) / hz / sample_s
            if cpu > 0.5:
                busy.append({"pid": pid, "name": name, "cpu": round(cpu, 2)})
    return busy


# ---- the suite -------------------------------------------------------------


class Suite:

    def __init__(self, args):
        self.a = args
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="sluice-bench-")
        self.gen = os.path.join(self.build, "bench/tools/sluice-gen")
        self.dataplane = os.path.join(self.build, "dataplane/sluice-dataplane")
        self.pipeline = os.path.join(self.build, "bench/bench_pipeline")
        self.maglev = os.path.join(self.build, "bench/tools/bench_maglev")
        self.c2c_bin = os.path.join(self.build, "bench/tools/bench_c2c")
        self.c2c_seen = []
        self.testpmd = shutil.which("dpdk-testpmd")
        self.seq = 0
        self.own_pids = {os.getpid()}
        self.huge = not args.no_hugepages and hugepages_usable(1024)
        # Seconds the suite may spend waiting for other processes to go quiet.
        self.quiet_budget = 0 if args.smoke else args.quiet_wait
        self.results = {
            "suite": "sluice bench/run.py",
            "smoke": args.smoke,
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(self.huge),
            "settings": {
                "window_s": args.window,
                "warmup_s": args.warmup,
                "reps": args.reps,
                "frame_size": args.size,
                "generator_lcore": int(GEN_LCORE),
                "dut_lcore": int(DUT_LCORE),
                "link": "net_memif (DUT server, generator client)",
                "memory": "hugepages" if self.huge else "--no-huge",
            },
            "throughput": [],
            "ratios": [],
            "interference": [],
            "skipped": [],
        }

    # -- helpers --

    def prefix(self, what):
        self.seq += 1
        return "sluice-bench-%d-%s-%d" % (os.getpid(), what, self.seq)

    def sock(self):
        return os.path.join(self.work, "memif-%d.sock" % self.seq)

    def wait_quiet(self):
        """Waits (within the suite's budget) until no other process is busy."""
        while self.quiet_budget > 0:
            busy = foreign_busy(self.own_pids, 0.2)
            if not busy:
                return
            time.sleep(0.7)
            self.quiet_budget -= 1.0
            self.results["quiet_waited_s"] = self.results.get("quiet_waited_s", 0) + 1.0

    def note_interference(self, where):
        busy = foreign_busy(self.own_pids)
        if busy:
            log("%s: other busy processes: %s" % (where, ", ".join(
                "%s(%d) %.0f%%" % (b["name"], b["pid"], 100 * b["cpu"]) for b in busy)))
            self.results["interference"].append({"where": where, "busy": busy})

    def run_gen(self, sock, label, **kw):
        """run_gen_once(), again (at most twice more) when the memif connection was
        refused: the server accepts one connection at a time and may still be
        busy with the previous client's, when the machine is loaded."""
        for attempt in range(3):
            try:
                return self.run_gen_once(sock, label, **kw)
            except GenConnectError:
                if attempt == 2:
                    raise
                log("%s: memif connection refused, again in 1 s" % label)
                time.sleep(1)

    def run_gen_once(self, sock, label, pattern="est", flows=1024, proto="tcp", vport=80,
                     rate=0.0, window=None, warmup=None, interval_ms=0, until_signal=None,
                     dut_pid=None):
        """Runs sluice-gen against the DUT on <sock>; returns its JSON result, with
        "dut_wait_ms" (CPU time other tasks took from the DUT's polling thread)
        and "disturbed" (generator's and DUT's waits as a share of the run)."""
        window = self.a.window if window is None else window
        warmup = self.a.warmup if warmup is None else warmup
        argv = [self.gen, "-l", GEN_LCORE, "--file-prefix", self.prefix("gen"), "--no-pci",
                "--log-level", "lib.eal:warning"] + eal_mem(128, self.huge) + [
            "--vdev", "net_memif0,role=client,socket=%s,socket-abstract=no" % sock, "--",
            "--pattern", pattern, "--flows", str(flows), "--proto", proto,
            "--vip", VIP, "--vport", str(vport), "--dst-mac", DUT_MAC,
            "--size", str(self.a.size), "--duration", str(window), "--warmup", str(warmup),
            "--rate", str(rate), "--drain-ms", "200", "--link-wait-ms", "10000",
            "--label", label]
        if interval_ms:
            argv += ["--interval-ms", str(interval_ms)]
        errpath = os.path.join(self.work, "gen-%d.err" % self.seq)
        t_before = task_times(dut_pid) if dut_pid else {}
        t0 = time.time()
        with open(errpath, "w") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=err, text=True)
            self.own_pids.add(p.pid)
            try:
                if until_signal is not None:
                    wait_sending(p, errpath)
                    until_signal(p)  # runs while the generator sends, then signals it
                out, _ = p.communicate(timeout=window + warmup + 60)
            except subprocess.TimeoutExpired:
                raise BenchError("sluice-gen did not finish (%s)" % label)
            finally:
                if p.poll() is None:
                    # Stops its traffic and drains first; killed if it does not.
                    p.send_signal(signal.SIGINT)
                    try:
                        p.communicate(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                self.own_pids.discard(p.pid)
        elapsed = time.time() - t0
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if p.returncode != 0 or not lines:
            with open(errpath) as f:
                err = f.read()[-800:]
            if "Failed to connect socket" in err and until_signal is None:
                raise GenConnectError("sluice-gen could not connect (%s): %s" % (label, err))
            raise BenchError("sluice-gen failed (%s, status %s): %s" % (label, p.returncode, err))
        r = json.loads(lines[-1])
        # The DUT's wait covers the whole generator run (start-up included), so
        # it is compared with the elapsed time; the generator's with its window.
        r["dut_wait_ms"] = poller_wait_ms(t_before, task_times(dut_pid)) if dut_pid else None
        share = r.get("gen_wait_ms", 0) / 1e3 / max(r["window_s"], 1e-3)
        if r["dut_wait_ms"] is not None:
            share += r["dut_wait_ms"] / 1e3 / max(elapsed, 1e-3)
        r["disturbed"] = round(share, 4)
        return r

    # -- devices under test --

    def start_testpmd(self):
        sock = self.sock()
        argv = [self.testpmd, "-l", "%s,%s" % (GEN_LCORE, DUT_LCORE), "--main-lcore", GEN_LCORE,
                "--file-prefix", self.prefix("testpmd"), "--no-pci"] + eal_mem(
            256, self.huge) + [
            "--vdev", "net_memif0,role=server,socket=%s,socket-abstract=no" % sock, "--",
            "--forward-mode=io", "--port-topology=loop", "--nb-cores=1", "--rxq=1", "--txq=1",
            "--burst=32", "--total-num-mbufs=16384", "--stats-period=1"]
        p = Proc(argv, os.path.join(self.work, "testpmd-%d.log" % self.seq))
        self.own_pids.add(p.p.pid)
        deadline = time.time() + 20
        while time.time() < deadline:
            if not p.alive():
                raise BenchError("dpdk-testpmd exited:\n" + p.tail())
            with open(p.logpath) as f:
                started = "start packet forwarding" in f.read()
            if started and os.path.exists(sock):
                return p, sock
            time.sleep(0.1)
        p.stop()
        raise BenchError("dpdk-testpmd did not start:\n" + p.tail())

    def sluice_config(self, path, sock, mode="dsr", sched="wrr", capacity=2097152, proto="tcp",
                      vport=80, syn_timeout=None):
        api = os.path.join(self.work, "api-%d.sock" % self.seq)
        lines = [
            "# Generated by bench/run.py: one memif port (server), one VIP.",
            "dataplane:",
            "  api_socket: %s" % api,
            "  flow_capacity: %d" % capacity,
        ]
        if syn_timeout is not None:
            lines += ["  timeouts:", "    tcp_syn: %s" % syn_timeout]
        lines += [
            "ports:",
            "  - name: bench",
            '    devargs: "net_memif0,role=server,socket=%s,socket-abstract=no,mac=%s"' %
            (sock, DUT_MAC),
            "    ipv4: 198.18.0.2/24",
            "vips:",
            "  - name: bench",
            "    address: %s" % VIP,
            "    port: %d" % vport,
            "    protocol: %s" % proto,
            "    mode: %s" % mode,
            "    scheduler: %s" % sched,
        ]
        if mode == "fnat":
            lines.append("    local_addresses: [%s]" % ", ".join(FNAT_LADDRS))
        lines.append("    backends:")
        for i in range(NBACKENDS):
            lines.append('      - {address: 198.18.0.%d, mac: "02:00:00:00:01:%02x"}' %
                         (10 + i, i))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return api

    def start_sluice(self, **kw):
        sock = self.sock()
        cfg = os.path.join(self.work, "sluice-%d.yaml" % self.seq)
        api = self.sluice_config(cfg, sock, **kw)
        argv = [self.dataplane, "-l", DUT_LCORE, "--file-prefix", self.prefix("sluice"),
                "--no-pci", "--log-level", "lib.eal:warning"] + eal_mem(
            256, self.huge) + ["--", "--config", cfg]
        p = Proc(argv, os.path.join(self.work, "sluice-%d.log" % self.seq))
        self.own_pids.add(p.p.pid)
        deadline = time.time() + 60
        while time.time() < deadline:
            if not p.alive():
                raise BenchError("sluice-dataplane exited:\n" + p.tail())
            try:
                a = Api(api, timeout=5)
                ok = a.call({"cmd": "status"}).get("ok")
                a.close()
                if ok:
                    return p, sock, api
            except (OSError, ValueError, BenchError):
                pass
            time.sleep(0.1)
        p.stop()
        raise BenchError("sluice-dataplane did not start:\n" + p.tail())

    @staticmethod
    def sluice_stats(api):
        try:
            a = Api(api, timeout=10)
            st = a.call({"cmd": "stats"})
            a.close()
        except (OSError, ValueError, BenchError) as e:
            return {"error": str(e)}
        c = st.get("counters", {})
        keep = ["rx", "fwd", "flows_new", "flows_backstop", "flows_rescheduled", "nat_replies"]
        out = {k: c.get(k) for k in keep}
        out["drops"] = {k: v for k, v in c.get("drops", {}).items() if v}
        out["flows"] = sum(l.get("flows", 0) for l in c.get("lcores", []))
        return out

    # -- throughput --

    def scenarios(self):
        """(name, sluice kwargs, generator kwargs) of every Sluice run."""
        if self.a.smoke:
            return [
                ("dsr-est", {"mode": "dsr"}, {"pattern": "est", "flows": 1000}),
                ("fnat-est", {"mode": "fnat"}, {"pattern": "est", "flows": 1000}),
                ("dsr-new", {"mode": "dsr", "capacity": 65536}, {"pattern": "new"}),
            ]
        out = []
        for n in [1, 100, 10000, 100000, 1000000]:
            out.append(("dsr-est", {"mode": "dsr"}, {"pattern": "est", "flows": n}))
        # One lcore has 8 local addresses x 64512 source ports: at most 516096 fnat flows.
        for n in [1, 100, 10000, 100000, 500000]:
            out.append(("fnat-est", {"mode": "fnat"}, {"pattern": "est", "flows": n}))
        out.append(("dsr-est-udp", {"mode": "dsr", "proto": "udp"},
                    {"pattern": "est", "flows": 1000000, "proto": "udp"}))
        # The product's default table (1M flows): full after a fraction of a second,
        # then every new flow evicts a SYN-state one.
        out.append(("dsr-new", {"mode": "dsr", "capacity": 1048576}, {"pattern": "new"}))
        # A table too large to fill within the run: the cost of inserting alone.
        out.append(("dsr-new-unfilled", {"mode": "dsr", "capacity": 8388608},
                    {"pattern": "new", "window": min(1.0, self.a.window), "warmup": 0.2}))
        # Every new connection takes a source port until its SYN times out:
        # with the default 10 s, one lcore's 516096 ports are gone in a fraction of
        # a second and the rest is dropped (nat_no_port). A 50 ms SYN timeout
        # (what a SYN-flood-minded operator sets) gives ports back as fast as
        # they are taken, so this measures connections opened, not the drop.
        out.append(("fnat-new", {"mode": "fnat", "capacity": 1048576, "syn_timeout": 0.05},
                    {"pattern": "new"}))
        if self.a.scenarios:
            want = self.a.scenarios.split(",")
            out = [x for x in out if x[0] in want]
        return out

    @staticmethod
    def gen_key(g):
        return (g.get("pattern", "est"), g.get("proto", "tcp"),
                g.get("flows", 0) if g.get("pattern", "est") == "est" else 0,
                g.get("window"), g.get("warmup"))

    def throughput(self):
        if not os.access(self.gen, os.X_OK) or not os.access(self.dataplane, os.X_OK):
            self.skip("throughput", "sluice-gen or sluice-dataplane is not built")
            return
        scen = self.scenarios()
        gens = []
        for _, _, g in scen:
            if self.gen_key(g) not in [self.gen_key(x) for x in gens]:
                gens.append(g)
        ceil_runs = {}
        sl_runs = {}
        if self.testpmd is None:
            self.skip("ceiling", "dpdk-testpmd is not installed (Debian package dpdk-dev)")

        def ceiling(g):
            r = self.measure("ceiling", None, {}, g)
            ceil_runs.setdefault(self.gen_key(g), []).append(r)

        def sluice(name, skw, g):
            r = self.measure("sluice", name, skw, g)
            sl_runs.setdefault((name, self.gen_key(g)), []).append(r)

        def clean(runs):
            return any(is_clean(r) for r in runs)

        def all_runs():
            return [r for v in list(ceil_runs.values()) + list(sl_runs.values()) for r in v]

        # Each Sluice run right after the ceiling run of the same traffic (one
        # per traffic and repetition), --reps times: drift and noise hit both.
        for rep in range(self.a.reps):
            self.note_interference("throughput rep %d" % (rep + 1))
            done = set()
            for name, skw, g in scen:
                if self.testpmd is not None and self.gen_key(g) not in done:
                    ceiling(g)
                    done.add(self.gen_key(g))
                sluice(name, skw, g)
        # One more try for what other tasks disturbed every time (bounded).
        self.mark_far(all_runs())
        if not self.a.smoke:
            for g in gens:
                if self.testpmd is not None and not clean(ceil_runs.get(self.gen_key(g), [])):
                    log("again, undisturbed runs missing: ceiling %s" % self.describe(g))
                    ceiling(g)
            for name, skw, g in scen:
                if not clean(sl_runs[(name, self.gen_key(g))]):
                    log("again, undisturbed runs missing: %s %s" % (name, self.describe(g)))
                    sluice(name, skw, g)
            self.mark_far(all_runs())
        for g in gens:
            runs = ceil_runs.get(self.gen_key(g), [])
            if runs:
                self.results["throughput"].append(self.entry("testpmd-io", "io", g, runs))
        for name, skw, g in scen:
            runs = sl_runs[(name, self.gen_key(g))]
            e = self.entry("sluice", name, g, runs)
            self.results["throughput"].append(e)
            ceil = ceil_runs.get(self.gen_key(g))
            if ceil:
                ce = self.entry("testpmd-io", "io", g, ceil)
                cbest = ce["best_mpps"]
                goal_key = name if name in GOALS else None
                ratio = e["best_mpps"] / cbest if cbest > 0 else 0
                self.results["ratios"].append({
                    "scenario": name, "pattern": g.get("pattern", "est"),
                    "proto": g.get("proto", "tcp"),
                    "flows": g.get("flows") if g.get("pattern", "est") == "est" else None,
                    "sluice_mpps": e["best_mpps"], "ceiling_mpps": cbest,
                    "ratio": round(ratio, 4),
                    "goal": GOALS.get(goal_key) if goal_key else None,
                    # Share of CPU other tasks took during the two quoted runs.
                    "disturbed": max(ce.get("best_disturbed") or 0,
                                     e.get("best_disturbed") or 0),
                    "far_cores": bool(ce.get("best_far_cores") or e.get("best_far_cores")),
                    # The same from the runs taken with the CPUs far apart, if any.
                    "far": far_ratio(ceil, runs),
                })

    def c2c(self):
        """Core-to-core round trip (ns) between the generator's and the DUT's
        CPUs (bench_c2c), or None. Must run while neither is busy."""
        if not os.access(self.c2c_bin, os.X_OK):
            return None
        try:
            r = subprocess.run([self.c2c_bin, GEN_LCORE, DUT_LCORE], capture_output=True,
                               text=True, timeout=10)
            ns = json.loads(r.stdout)["round_trip_ns"]
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
            return None
        self.c2c_seen.append(ns)
        return ns

    def far_threshold(self):
        """The round trip above which the CPUs are far apart, or None while
        every value seen is within FAR_CORES of the next: the middle of the
        widest gap (by ratio) between the values seen, if it is that wide.
        Hosts have more than two placements (here about 60, 80-120 and 400 ns);
        only the last one slows the link."""
        v = sorted(x for x in self.c2c_seen if x > 0)
        best = None
        for a, b in zip(v, v[1:]):
            if b / a >= FAR_CORES and (best is None or b / a > best[0]):
                best = (b / a, (a * b) ** 0.5)
        return best[1] if best else None

    def near(self, ns):
        t = self.far_threshold()
        return ns is None or t is None or ns < t

    def wait_near(self):
        """Waits (within the suite's budget) until the host has the generator's
        and the DUT's virtual CPUs on cores that share a cache."""
        ns = self.c2c()
        while not self.near(ns) and self.quiet_budget > 0:
            time.sleep(0.5)
            self.quiet_budget -= 0.5
            self.results["placement_waited_s"] = self.results.get("placement_waited_s", 0) + 0.5
            ns = self.c2c()
        return ns

    def mark_far(self, runs):
        """Flags the runs taken while the two CPUs were far apart (bench_c2c)."""
        for r in runs:
            r["far_cores"] = not self.near(r.get("c2c_ns"))

    def measure(self, kind, name, skw, g):
        """One run of the generator against a device under test started for it
        (testpmd for the ceiling, else Sluice with <skw>); the DUT is started
        again once if the generator cannot connect to it."""
        for attempt in (1, 2):
            self.wait_quiet()
            c0 = self.wait_near()
            if kind == "ceiling":
                p, sock = self.start_testpmd()
                api = None
                label = "ceiling %s" % self.describe(g)
            else:
                p, sock, api = self.start_sluice(**skw)
                label = "sluice %s %s" % (name, self.describe(g))
            try:
                r = self.run_gen(sock, label, dut_pid=p.p.pid, **g)
                if api is not None:
                    r["sluice"] = self.sluice_stats(api)
                p.stop()
                c1 = self.c2c()
                r["c2c_ns"] = max(c0 or 0, c1 or 0) or None
                r["far_cores"] = not (self.near(c0) and self.near(c1))
                log("%-40s %7.3f Mpps returned%s%s" %
                    (label, r["returned_mpps"], disturbed_text(r),
                     "  (CPUs far apart: %.0f ns core to core)" % r["c2c_ns"]
                     if r["far_cores"] else ""))
                return r
            except GenConnectError as e:
                if attempt == 2:
                    raise BenchError(str(e))
                log("%s: starting the device under test again" % label)
            finally:
                p.stop()
                self.own_pids.discard(p.p.pid)
        raise BenchError("unreachable")

    @staticmethod
    def describe(g):
        if g.get("pattern", "est") == "new":
            return "new-flows %s" % g.get("proto", "tcp")
        return "%s flows %s" % (g.get("flows"), g.get("proto", "tcp"))

    @staticmethod
    def entry(dut, name, g, runs):
        clean = [r for r in runs if is_clean(r)]
        best = max(clean or runs, key=lambda r: r["returned_mpps"])
        rates = [r["returned_mpps"] for r in runs]
        return {
            "dut": dut, "scenario": name, "pattern": g.get("pattern", "est"),
            "proto": g.get("proto", "tcp"),
            "flows": g.get("flows") if g.get("pattern", "est") == "est" else None,
            "best_mpps": best["returned_mpps"], "median_mpps": statistics.median(rates),
            "min_mpps": min(rates), "best_offered_mpps": best["offered_mpps"],
            "best_loss": best["loss"], "clean_runs": len(clean),
            "best_disturbed": best.get("disturbed"), "best_far_cores": best.get("far_cores"),
            "runs": runs,
        }

    def skip(self, what, why):
        log("skipping %s: %s" % (what, why))
        self.results["skipped"].append({"what": what, "why": why})

    # -- control --

    def changes(self, n, net):
        """n hitless backend changes: weights, drain/ready, adding and removing extra
        backends (a new address each time, from 198.18.<net>.0/24: a removed backend
        keeps its address until the data plane has collected it)."""
        out = []
        for i in range(n):
            cycle = i // 8
            be = "198.18.0.%d" % (10 + cycle % NBACKENDS)
            extra = "198.18.%d.%d" % (net, 1 + cycle % 250)
            op = i % 8
            if op in (0, 4):
                out.append({"cmd": "backend.set", "vip": "bench", "address": be,
                            "weight": 1 + cycle % 5})
            elif op in (1, 5):
                out.append({"cmd": "backend.set", "vip": "bench", "address": be,
                            "state": "drain"})
            elif op in (2, 6):
                out.append({"cmd": "backend.set", "vip": "bench", "address": be,
                            "state": "ready", "weight": 1})
            elif op == 3:
                out.append({"cmd": "backend.add", "vip": "bench", "backend": {
                    "address": extra, "mac": "02:00:00:00:%02x:%02x" % (net, cycle % 250)}})
            else:
                out.append({"cmd": "backend.del", "vip": "bench", "address": extra})
        return out

    @staticmethod
    def apply(api, reqs):
        """Sends each request and waits for its answer; returns latencies in ms."""
        a = Api(api)
        lat = []
        try:
            for r in reqs:
                t = time.perf_counter()
                ans = a.call(r)
                lat.append((time.perf_counter() - t) * 1e3)
                if not ans.get("ok"):
                    raise BenchError("API refused %s: %s" % (json.dumps(r), ans.get("error")))
        finally:
            a.close()
        return lat

    @staticmethod
    def lat_summary(lat):
        if not lat:
            return {}
        s = sorted(lat)
        return {"n": len(s), "p50_ms": round(s[len(s) // 2], 3),
                "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))], 3),
                "max_ms": round(s[-1], 3), "mean_ms": round(statistics.mean(s), 3)}

    def vip_add_del(self, api, n):
        backends = [{"address": "198.18.0.%d" % (10 + i), "mac": "02:00:00:00:01:%02x" % i}
                    for i in range(NBACKENDS)]
        add = {"cmd": "vip.add", "vip": {"name": "extra", "address": "198.18.1.101",
                                          "port": 80, "mode": "dsr", "scheduler": "maglev",
                                          "backends": backends}}
        dele = {"cmd": "vip.del", "vip": "extra"}
        adds, dels = [], []
        for _ in range(n):
            l = self.apply(api, [add, dele])
            adds.append(l[0])
            dels.append(l[1])
        return adds, dels

    def control(self):
        if not os.access(self.gen, os.X_OK) or not os.access(self.dataplane, os.X_OK):
            self.skip("control", "sluice-gen or sluice-dataplane is not built")
            return
        n_changes = 20 if self.a.smoke else 1000
        n_idle = 20 if self.a.smoke else 200
        n_vip = 5 if self.a.smoke else 50
        flows = 1000 if self.a.smoke else 10000
        # Load: a quarter of what Sluice forwarded with these flows in this run, at
        # most 1 Mpps: well within its capacity, so that a lost packet is the
        # changes' doing and not overload; at 1 Mpps the worker's RX ring (1024
        # frames) also rides out a 1 ms stall of its CPU on a busy machine.
        rate = 0.5 if self.a.smoke else 1.0
        for e in self.results["throughput"]:
            if e["dut"] == "sluice" and e["scenario"] == "dsr-est" and e["flows"] == 10000:
                rate = round(min(1.0, 0.25 * e["best_mpps"]), 2)
        res = {"changes": n_changes, "flows": flows, "rate_mpps": rate, "scheduler": "maglev",
               "mode": "dsr"}
        self.note_interference("control")
        self.wait_quiet()
        res["c2c_ns_before"] = self.wait_near()
        p, sock, api = self.start_sluice(mode="dsr", sched="maglev")
        try:
            res["idle_backend_set"] = self.lat_summary(
                self.apply(api, self.changes(n_idle, 3)))
            adds, dels = self.vip_add_del(api, n_vip)
            res["idle_vip_add"] = self.lat_summary(adds)
            res["idle_vip_del"] = self.lat_summary(dels)

            # The same load twice, without and then with the changes.
            hold = 2.0 if self.a.smoke else 4.0
            st0 = self.sluice_stats(api)
            base = self.run_gen(sock, "control baseline", flows=flows, rate=rate,
                                window=hold, warmup=0.5, dut_pid=p.p.pid)
            st1 = self.sluice_stats(api)
            res["baseline"] = self.loss_fields(base)
            res["baseline"]["sluice"] = stats_delta(st0, st1)
            lat = []

            def during(gp):
                time.sleep(0.8)  # past the warm-up: every flow established
                t = time.perf_counter()
                lat.extend(self.apply(api, self.changes(n_changes, 2)))
                res["changes_s"] = round(time.perf_counter() - t, 3)
                time.sleep(0.3)
                gp.send_signal(signal.SIGINT)  # stop traffic, drain, report

            run = self.run_gen(sock, "control changes", flows=flows, rate=rate, window=120,
                               warmup=0.5, interval_ms=100, until_signal=during,
                               dut_pid=p.p.pid)
            st2 = self.sluice_stats(api)
            res["under_load"] = self.loss_fields(run)
            res["under_load"]["sluice"] = stats_delta(st1, st2)
            res["under_load_backend_change"] = self.lat_summary(lat)
            res["samples"] = run.get("samples", [])
            res["sluice"] = st2
        finally:
            p.stop()
            self.own_pids.discard(p.p.pid)
        res["c2c_ns_after"] = self.c2c()
        self.results["control"] = res
        log("control: %d changes in %.2f s: Sluice dropped %d, %d lost in all (baseline: %d, %d);"
            " backend change answered in %.2f ms (p50), %.2f ms (p99) under load" %
            (n_changes, res.get("changes_s", 0), res["under_load"]["sluice"]["dropped"],
             res["under_load"]["total_lost"], res["baseline"]["sluice"]["dropped"],
             res["baseline"]["total_lost"], res["under_load_backend_change"].get("p50_ms", 0),
             res["under_load_backend_change"].get("p99_ms", 0)))

    @staticmethod
    def loss_fields(r):
        keep = ["offered_mpps", "returned_mpps", "total_offered", "total_refused",
                "total_returned", "total_lost", "window_s", "gen_wait_ms", "dut_wait_ms",
                "disturbed"]
        return {k: r.get(k) for k in keep}

    # -- microbenchmarks --

    def maglev_bench(self):
        if not os.access(self.maglev, os.X_OK):
            self.skip("maglev", "bench_maglev is not built")
            return
        argv = [self.maglev] + (["--smoke"] if self.a.smoke else ["--reps", "7"])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
        self.results["maglev"] = [json.loads(l) for l in out.stdout.splitlines() if l]
        self.results["maglev_paper"] = {"build_ms": {"65537": 1.8, "655373": 22.9},
                                        "n": 1000, "hardware": "Google, 2016 (other hardware)"}

    def pipeline_bench(self):
        if not os.access(self.pipeline, os.X_OK):
            self.skip("pipeline", "bench_pipeline is not built")
            return
        scen = ["est-dsr", "new-dsr", "est-fnat", "fnat-reply", "new-fnat", "fnat-no-port",
                "sched-rr",
                "sched-wrr", "sched-lc", "sched-wlc", "sched-maglev"]
        n = 20000 if self.a.smoke else 2000000
        out = []
        for sc in scen:
            pk = min(n, 400000) if sc == "new-fnat" else n
            best = None
            for _ in range(1 if self.a.smoke else 3):
                r = subprocess.run([self.pipeline, sc, str(pk)], capture_output=True,
                                   text=True, timeout=120, check=True)
                j = json.loads(r.stdout.strip().splitlines()[-1])
                if best is None or j["ns_per_packet"] < best["ns_per_packet"]:
                    best = j
            out.append(best)
        self.results["pipeline"] = out
        if self.a.smoke or self.a.no_callgrind:
            return
        if shutil.which("valgrind") is None:
            self.skip("callgrind", "valgrind is not installed")
            return
        r = subprocess.run(["bash", os.path.join(BENCH, "callgrind.sh"), self.build],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            self.skip("callgrind", r.stderr.strip()[-300:])
            return
        ir = {}
        for line in r.stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 2 and f[1].isdigit():  # callgrind.sh: name, instructions, ...
                ir[f[0]] = int(f[1])
        for e in out:
            if e["scenario"] in ir:
                e["instructions_per_packet"] = ir[e["scenario"]]

    # -- all --

    def run(self):
        t0 = time.time()
        sections = self.a.only.split(",") if self.a.only else [
            "throughput", "control", "maglev", "pipeline"]
        try:
            for s in sections:
                log("== %s" % s)
                {"throughput": self.throughput, "control": self.control,
                 "maglev": self.maglev_bench, "pipeline": self.pipeline_bench}[s]()
        except BaseException:
            log("logs and configs kept in %s" % self.work)
            raise
        finally:
            self.results["duration_s"] = round(time.time() - t0, 1)
            if self.c2c_seen:
                self.results["c2c_ns"] = {"min": min(self.c2c_seen), "max": max(self.c2c_seen),
                                          "n": len(self.c2c_seen)}
        if self.a.keep_work:
            log("work directory kept: %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        return self.results


def machine_info(huge):
    info = {"hostname": platform.node(), "kernel": platform.release(),
            "cpus_online": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    info["cpu"] = l.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        info["dpdk"] = subprocess.run(["pkg-config", "--modversion", "libdpdk"],
                                      capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        info["commit"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                        capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    info["virtualized"] = os.path.exists("/proc/xen") or "hypervisor" in open(
        "/proc/cpuinfo").read()
    info["hugepages"] = huge
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build dir")
    ap.add_argument("--out", help="output directory (default bench/results; --smoke: a "
                    "temporary one, removed afterwards)")
    ap.add_argument("--smoke", action="store_true", help="short functional run (tests)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (best of)")
    ap.add_argument("--window", type=float, default=1.5, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.3, help="seconds before the window")
    ap.add_argument("--quiet-wait", type=float, default=90,
                    help="seconds the suite may wait in all for other busy processes")
    ap.add_argument("--size", type=int, default=64, help="frame size with FCS")
    ap.add_argument("--only", help="comma list: throughput,control,maglev,pipeline")
    ap.add_argument("--scenarios", help="throughput: only these (comma list of dsr-est, "
                    "fnat-est, dsr-est-udp, dsr-new, dsr-new-unfilled, fnat-new)")
    ap.add_argument("--no-hugepages", action="store_true", help="always --no-huge")
    ap.add_argument("--no-callgrind", action="store_true", help="skip valgrind")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--keep-work", action="store_true", help="keep logs and configs")
    ap.add_argument("--update-readme", action="store_true",
                    help="copy the summary into bench/README.md")
    a = ap.parse_args()
    if a.smoke:
        a.reps, a.window, a.warmup = 1, 0.3, 0.1
        a.no_plots = True
        a.no_hugepages = True
    if os.geteuid() != 0:
        log("SKIP: needs root (DPDK processes, the data plane's API socket)")
        return 77
    tmp_out = None
    if a.out is None:
        if a.smoke:
            a.out = tmp_out = tempfile.mkdtemp(prefix="sluice-bench-smoke-")
        else:
            a.out = os.path.join(BENCH, "results")
    os.makedirs(a.out, exist_ok=True)
    # This script (the API client of the control benchmark included) shares the
    # generator's CPU, never the device under test's: a control plane has cores
    # of its own on a real balancer. DPDK processes pin themselves to their lcores.
    try:
        os.sched_setaffinity(0, {int(GEN_LCORE)})
    except OSError as e:
        log("cannot pin to CPU %s: %s" % (GEN_LCORE, e))
    try:
        res = Suite(a).run()
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    import report  # bench/report.py
    path = os.path.join(a.out, "results.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    md = report.summary(res)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(md)
    if not a.no_plots:
        for p in report.plots(res, a.out):
            log("wrote %s" % p)
    if a.update_readme:
        report.update_readme(os.path.join(BENCH, "README.md"), md)
    log("wrote %s and summary.md (%.0f s)" % (path, res["duration_s"]))
    if a.smoke:
        rc = report.smoke_check(res)
        if tmp_out is not None and rc == 0:
            shutil.rmtree(tmp_out, ignore_errors=True)
        return rc
    print(md)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, BENCH)
    sys.exit(main())
