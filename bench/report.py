# SPDX-License-Identifier: BSD-3-Clause
"""Turns bench/run.py's results into a Markdown summary and PNG plots.

    python3 bench/report.py RESULTS.json [OUT_DIR]   # summary.md (+ plots) again

Plots need matplotlib (Debian: python3-matplotlib); without it they are
skipped with a message, the summary is still written.
"""

import json
import os
import sys

README_BEGIN = "<!-- bench-results:begin (written by bench/run.sh --update-readme) -->"
README_END = "<!-- bench-results:end -->"

SCENARIO_TEXT = {
    "io": "testpmd io-forward (ceiling)",
    "dsr-est": "DSR, established",
    "dsr-est-udp": "DSR, established, UDP",
    "fnat-est": "full-NAT, established",
    "dsr-new": "DSR, new flow per packet (1M table, full: evicts)",
    "dsr-new-unfilled": "DSR, new flow per packet (8M table, not full)",
    "fnat-new": "full-NAT, new flow per packet (1M table, tcp_syn 50 ms)",
}


def flows_text(n):
    if n is None:
        return "new"
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def machine_line(res):
    m = res.get("machine", {})
    parts = [m.get("cpu", "unknown CPU"), "%s CPUs" % m.get("cpus_online", "?"),
             "%s GiB" % m.get("mem_gib", "?"), "Linux %s" % m.get("kernel", "?"),
             "DPDK %s" % m.get("dpdk", "?")]
    if m.get("virtualized"):
        parts.append("virtual machine")
    parts.append("hugepages" if m.get("hugepages") else "no hugepages (--no-huge)")
    c = res.get("c2c_ns")
    if c:
        parts.append("core-to-core round trip %.0f–%.0f ns" % (c["min"], c["max"]))
    return ", ".join(parts)


def summary(res):
    s = res.get("settings", {})
    out = []
    w = out.append
    w("### Results%s — %s" % (" (smoke run)" if res.get("smoke") else "", res.get("started", "")))
    w("")
    w("Machine: %s. Sluice commit %s. Suite time %s s." %
      (machine_line(res), res.get("machine", {}).get("commit", "?"), res.get("duration_s", "?")))
    w("")
    w("Link: %s; generator `sluice-gen` on lcore %s, device under test on lcore %s "
      "(one Sluice worker); %d-byte frames; best of %d run(s) of %.1f s after a %.1f s warm-up."
      % (s.get("link", "?"), s.get("generator_lcore"), s.get("dut_lcore"),
         s.get("frame_size", 64), s.get("reps", 1), s.get("window_s", 0), s.get("warmup_s", 0)))
    w("")

    ratios = res.get("ratios", [])
    thr = res.get("throughput", [])
    if thr:
        w("#### Throughput: Sluice against the testpmd ceiling")
        w("")
        w("| scenario | flows | ceiling Mpps | Sluice Mpps | ratio | goal | Sluice runs (Mpps) "
          "| disturbed | CPUs far apart: ceiling, Sluice, ratio |")
        w("|---|---:|---:|---:|---:|---|---|---:|---|")
        for r in ratios:
            e = next((t for t in thr if t["dut"] == "sluice" and t["scenario"] == r["scenario"]
                      and t["flows"] == r["flows"] and t["proto"] == r["proto"]), None)
            runs = ", ".join("%.2f" % x["returned_mpps"] for x in e["runs"]) if e else ""
            goal = ""
            if r.get("goal") is not None and (r["flows"] is None or r["scenario"] != "dsr-est"
                                              or r["flows"] >= 1000000):
                goal = "≥ %.2f %s" % (r["goal"], "met" if r["ratio"] >= r["goal"] else "**not met**")
            d = r.get("disturbed") or 0
            dtext = "**%.0f%%**" % (100 * d) if d > 0.02 else "%.1f%%" % (100 * d)
            if r.get("far_cores"):
                dtext += ", **CPUs far apart**"
            far = r.get("far")
            ftext = ("%.2f, %.2f, %.2f" % (far["ceiling_mpps"], far["sluice_mpps"], far["ratio"])
                     if far else "")
            w("| %s | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s |" %
              (SCENARIO_TEXT.get(r["scenario"], r["scenario"]), flows_text(r["flows"]),
               r["ceiling_mpps"], r["sluice_mpps"], r["ratio"], goal, runs, dtext, ftext))
        sl_only = [t for t in thr if t["dut"] == "sluice" and not any(
            r["scenario"] == t["scenario"] and r["flows"] == t["flows"] for r in ratios)]
        for t in sl_only:
            w("| %s | %s | — | %.2f | — | | %s | | |" %
              (SCENARIO_TEXT.get(t["scenario"], t["scenario"]), flows_text(t["flows"]),
               t["best_mpps"], ", ".join("%.2f" % x["returned_mpps"] for x in t["runs"])))
        w("")
        notes = []
        for t in thr:
            if t["dut"] != "sluice":
                continue
            best = max(t["runs"], key=lambda x: x["returned_mpps"])
            st = best.get("sluice", {})
            drops = st.get("drops", {})
            big = {k: v for k, v in drops.items() if k != "tx_full"}
            if big or st.get("flows_backstop"):
                notes.append("%s %s: Sluice drops %s, backstop %s" % (
                    t["scenario"], flows_text(t["flows"]), json.dumps(big),
                    st.get("flows_backstop", 0)))
        if notes:
            w("Sluice counters worth a look: " + "; ".join(notes) + ".")
            w("")
        w("*disturbed*: the share of CPU time other tasks took from the generator or the device "
          "under test during the quoted runs (schedstat); above 2% (bold) the figures are low "
          "and the ratio is unreliable. *CPUs far apart*: the core-to-core round trip between "
          "the two CPUs (bench_c2c) was, around the quoted runs, in the slow group of the "
          "values the suite saw (groups at least twice apart): the host had moved the virtual "
          "CPUs to cores that share no cache, where the memif link (the ceiling included) runs "
          "at about 40% of its rate.")
        w("")
        w("Returned rate = frames that came back to the generator per second. At full speed "
          "the generator offers more than either device forwards; what the device's RX ring "
          "cannot take is refused at the link (counted in `results.json`: `refused`).")
        w("")

    c = res.get("control")
    if c:
        w("#### Control plane: change → data plane")
        w("")
        w("| measure | n | p50 ms | p99 ms | max ms |")
        w("|---|---:|---:|---:|---:|")
        for key, text in [("idle_backend_set", "backend change answered, idle"),
                          ("idle_vip_add", "vip.add (16 backends, maglev) answered, idle"),
                          ("idle_vip_del", "vip.del answered, idle"),
                          ("under_load_backend_change",
                           "backend change answered, under load")]:
            l = c.get(key) or {}
            if l:
                w("| %s | %d | %.3f | %.3f | %.3f |" % (text, l["n"], l["p50_ms"], l["p99_ms"],
                                                       l["max_ms"]))
        w("")
        b, u = c.get("baseline", {}), c.get("under_load", {})
        us, bs = u.get("sluice", {}), b.get("sluice", {})
        w("Under load (%s, %s, %d established flows, %.2f Mpps offered), %d backend changes "
          "applied in %.2f s: **Sluice dropped %s of the %s packets it received** (goal 0%s); "
          "in all %d of %d offered packets did not come back, against %d of %d over the same "
          "load without changes (Sluice dropped %s)." %
          (c.get("mode"), c.get("scheduler"), c.get("flows", 0), c.get("rate_mpps", 0),
           c.get("changes", 0), c.get("changes_s", 0), us.get("dropped", "?"), us.get("rx", "?"),
           (": " + json.dumps(us.get("drops"))) if us.get("drops") else "",
           u.get("total_lost", -1), u.get("total_offered", 0), b.get("total_lost", -1),
           b.get("total_offered", 0), bs.get("dropped", "?")))
        w("")
        if u.get("dut_wait_ms") is not None:
            w("A packet Sluice never received was refused at the link: its RX ring (1024 frames) "
              "was full because the worker's CPU was taken (%.1f ms by other tasks during the run "
              "with changes, %.1f ms during the baseline; at this rate the ring lasts %.1f ms)."
              % (u.get("dut_wait_ms") or 0, b.get("dut_wait_ms") or 0,
                 1024 / (c.get("rate_mpps") or 1) / 1e3))
            w("")
        w("An answer comes only once every worker runs the new generation (read-your-writes), "
          "so the answer time is the latency from the API change to the data plane using it.")
        w("")

    mg = res.get("maglev")
    if mg:
        paper = res.get("maglev_paper", {}).get("build_ms", {})
        w("#### Maglev (lib/sched/maglev.c)")
        w("")
        w("| N | M | build ms (min / median) | paper ms | entries min–max | max/mean | "
          "moved on remove (ideal 1/N) | moved on add (ideal 1/(N+1)) |")
        w("|---:|---:|---|---:|---|---:|---|---|")
        for r in mg:
            p = paper.get(str(r["m"])) if r["n"] == 1000 else None
            w("| %d | %d | %.2f / %.2f | %s | %d–%d | %.4f | %.3f%% (%.3f%%, ×%.1f) | "
              "%.3f%% (%.3f%%, ×%.1f) |" %
              (r["n"], r["m"], r["build_ms_min"], r["build_ms_median"],
               "%.1f" % p if p else "", r["entries_min"], r["entries_max"], r["max_over_mean"],
               100 * r["remove_moved"], 100 * r["remove_ideal"],
               r["remove_moved"] / r["remove_ideal"], 100 * r["add_moved"],
               100 * r["add_ideal"], r["add_moved"] / r["add_ideal"]))
        w("")

    pl = res.get("pipeline")
    if pl:
        w("#### Pipeline microbenchmark (bench_pipeline, no PMD, one lcore)")
        w("")
        w("| scenario | ns/packet | instructions/packet (callgrind) |")
        w("|---|---:|---:|")
        for r in pl:
            w("| %s | %.1f | %s |" % (r["scenario"], r["ns_per_packet"],
                                      r.get("instructions_per_packet", "")))
        w("")

    if res.get("interference"):
        w("Other busy processes seen during the run (figures may be low): " + "; ".join(
            "%s: %s" % (i["where"], ", ".join("%s %.0f%%" % (b["name"], 100 * b["cpu"])
                                                for b in i["busy"]))
            for i in res["interference"]) + ".")
        w("")
    if res.get("skipped"):
        w("Skipped: " + "; ".join("%s (%s)" % (x["what"], x["why"]) for x in res["skipped"]) +
          ".")
        w("")
    return "\n".join(out)


def plots(res, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib is not installed (python3-matplotlib): no plots",
              file=sys.stderr)
        return []
    written = []
    thr = res.get("throughput", [])
    title_m = machine_line(res)

    est = [t for t in thr if t["pattern"] == "est" and t["proto"] == "tcp"]
    if est:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, label, style in [("io", "testpmd io (ceiling)", "k--o"),
                                   ("dsr-est", "Sluice DSR", "b-o"),
                                   ("fnat-est", "Sluice full-NAT", "r-s")]:
            pts = sorted((t["flows"], t["best_mpps"]) for t in est if t["scenario"] == name)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("established flows")
        ax.set_ylabel("returned Mpps (64-byte frames)")
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        ax.set_title("Throughput vs flows, net_memif, 1 lcore", fontsize=10)
        fig.text(0.01, 0.01, title_m, fontsize=6)
        p = os.path.join(outdir, "throughput_vs_flows.png")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)

    ratios = res.get("ratios", [])
    if ratios:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        labels = ["%s\n%s" % (r["scenario"], flows_text(r["flows"])) for r in ratios]
        vals = [r["ratio"] for r in ratios]
        colors = []
        for r in ratios:
            g = r.get("goal")
            colors.append("tab:gray" if g is None else ("tab:green" if r["ratio"] >= g
                                                          else "tab:red"))
        ax.bar(range(len(vals)), vals, color=colors)
        for name, g in [("dsr-est", 0.9), ("fnat-est", 0.8), ("dsr-new", 0.5)]:
            ax.axhline(g, linestyle=":", linewidth=1, color="k")
            ax.text(len(vals) - 0.5, g, " goal %s %.2f" % (name, g), fontsize=7, va="bottom",
                    ha="right")
        ax.set_xticks(range(len(vals)))
        ax.set_xticklabels(labels, fontsize=7, rotation=45, ha="right")
        ax.set_ylabel("Sluice / testpmd io (returned Mpps)")
        ax.set_ylim(0, 1.05)
        ax.set_title("Ratio to the ceiling (green: goal met, red: not met)", fontsize=10)
        fig.text(0.01, 0.01, title_m, fontsize=6)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        p = os.path.join(outdir, "ratio_to_ceiling.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)

    mg = res.get("maglev")
    if mg:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for m, style in [(65537, "-o"), (655373, "-s")]:
            pts = sorted((r["n"], r["remove_moved"], r["add_moved"]) for r in mg if r["m"] == m)
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "b" + style,
                    label="remove one, M=%d" % m)
            ax.plot([p[0] for p in pts], [100 * p[2] for p in pts], "r" + style,
                    label="add one, M=%d" % m)
        ns = sorted({r["n"] for r in mg})
        ax.plot(ns, [100.0 / n for n in ns], "k:", label="ideal 1/N")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("backends N")
        ax.set_ylabel("table entries that change backend (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Maglev disruption vs N", fontsize=10)
        fig.tight_layout()
        p = os.path.join(outdir, "maglev_disruption.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)

    c = res.get("control")
    if c and c.get("samples"):
        smp = c["samples"]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        t = [(a[0] + b[0]) / 2 for a, b in zip(smp, smp[1:])]
        off = [(b[1] - a[1]) / (b[0] - a[0]) / 1e6 for a, b in zip(smp, smp[1:])]
        ret = [(b[2] - a[2]) / (b[0] - a[0]) / 1e6 for a, b in zip(smp, smp[1:])]
        ax.plot(t, off, "k--", label="offered")
        ax.plot(t, ret, "b-", label="returned")
        ax.set_xlabel("seconds (1000 backend changes applied from ~1 s on)")
        ax.set_ylabel("Mpps")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.set_title("Traffic while backend changes are applied", fontsize=10)
        fig.tight_layout()
        p = os.path.join(outdir, "control_under_load.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def update_readme(path, md):
    """Replaces the results block of bench/README.md (between the markers)."""
    with open(path) as f:
        text = f.read()
    block = "%s\n%s\n%s" % (README_BEGIN, md.rstrip(), README_END)
    if README_BEGIN in text and README_END in text:
        a = text.index(README_BEGIN)
        b = text.index(README_END) + len(README_END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def smoke_check(res):
    """The smoke run passes if every piece ran and traffic came back."""
    bad = []
    for t in res.get("throughput", []):
        for r in t["runs"]:
            if r["returned"] <= 0:
                bad.append("%s %s: nothing came back" % (t["dut"], t["scenario"]))
    if not any(t["dut"] == "sluice" for t in res.get("throughput", [])):
        bad.append("no Sluice throughput run")
    c = res.get("control")
    if not c or c.get("under_load", {}).get("total_returned", 0) <= 0:
        bad.append("control: no traffic under load")
    if not res.get("maglev"):
        bad.append("maglev: no result")
    if not res.get("pipeline"):
        bad.append("pipeline: no result")
    for b in bad:
        print("bench smoke: FAIL: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        r = json.load(f)
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(sys.argv[1]))
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(summary(r))
    for p in plots(r, out):
        print(p)
