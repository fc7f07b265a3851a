#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The demo's control-plane act, told from what the client saw.

usage: demo_timeline.py EVENTS CONTROL_LOG T0 MARKS PNG
  EVENTS       one JSON line per request (tests/lib/http_client.py --events)
  CONTROL_LOG  sluice-control's log (lines start with epoch seconds)
  T0           epoch seconds the marks count from
  MARKS        "t:label,t:label,...": the faults, seconds after T0
  PNG          where to draw requests per backend over time ("" = no picture)

Prints, per phase between marks: requests, failures, which backends served
and the slowest request; then the control daemon's decisions on the same
clock. Draws the timeline with matplotlib when it is installed.
"""
import json
import sys


def load_events(path, t0):
    """The client's requests, their start "t" on the shell's clock (T0 = 0)."""
    with open(path) as f:
        events = [json.loads(line) for line in f if line.strip()]
    for e in events:
        e["t"] = e["wall"] - t0
    return events


def phases(events, marks, end):
    edges = [0.0] + [t for t, _ in marks] + [end]
    names = ["steady"] + [label for _, label in marks]
    for i, name in enumerate(names):
        lo, hi = edges[i], edges[i + 1]
        ev = [e for e in events if lo <= e["t"] < hi]
        ok = [e for e in ev if e["error"] is None]
        by = {}
        for e in ok:
            by[e["backend"]] = by.get(e["backend"], 0) + 1
        errors = {}
        for e in ev:
            if e["error"] is not None:
                errors[e["error"]] = errors.get(e["error"], 0) + 1
        slowest = max((e["ms"] for e in ok), default=0.0)
        bad = [e["t"] for e in ev if e["error"] is not None]
        print("  %5.1f-%5.1f s  %-13s %4d requests, %2d failed%s; served by %s; slowest %.0f ms"
              % (lo, hi, name, len(ev), len(bad),
                 " (%s, started %.2f-%.2f s)" % (", ".join("%s %d" % kv
                                                          for kv in sorted(errors.items())),
                                                min(bad), max(bad)) if bad else "",
                 " ".join("%s:%d" % kv for kv in sorted(by.items())) or "-", slowest))


def control_lines(path, t0):
    print("\nWhat sluice-control decided (seconds on the client's clock):")
    with open(path) as f:
        for line in f:
            head, _, rest = line.partition(" sluice-control: ")
            try:
                t = float(head) - t0
            except ValueError:
                continue
            if t >= -0.5 and ("UP" in rest or "DOWN" in rest or "breaker" in rest or
                              "level" in rest or "panic" in rest):
                print("  %6.2f s  %s" % (t, rest.rstrip()))


def draw(events, marks, end, png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no matplotlib: no timeline picture)")
        return
    width = 0.5
    bins = int(end / width) + 1
    backends = sorted({e["backend"] for e in events if e["error"] is None})
    series = {b: [0] * bins for b in backends}
    failed = [0] * bins
    for e in events:
        k = min(bins - 1, int(e["t"] / width))
        if e["error"] is None:
            series[e["backend"]][k] += 1
        else:
            failed[k] += 1
    xs = [k * width for k in range(bins)]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    bottom = [0] * bins
    for b in backends:
        ax.bar(xs, series[b], width=width, bottom=bottom, align="edge", label=b)
        bottom = [x + y for x, y in zip(bottom, series[b])]
    if any(failed):
        ax.bar(xs, failed, width=width, bottom=bottom, align="edge", color="red",
               label="failed")
    for t, label in marks:
        ax.axvline(t, color="black", linestyle="--", linewidth=1)
        ax.text(t + 0.1, ax.get_ylim()[1] * 0.95, label, fontsize=8, va="top")
    ax.set_xlabel("seconds")
    ax.set_ylabel("requests started per %.1f s" % width)
    ax.set_title("Sluice fnat VIP 'app': requests per backend (one connection each)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print("\ntimeline picture: %s" % png)


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    events_path, log_path, t0, marks_arg, png = sys.argv[1:6]
    events = load_events(events_path, float(t0))
    marks = [(float(m.split(":", 1)[0]), m.split(":", 1)[1]) for m in marks_arg.split(",") if m]
    end = max((e["t"] for e in events), default=0.0) + 0.5
    ok = sum(1 for e in events if e["error"] is None)
    print("\n%d requests, %d failed, each a new connection:" % (len(events), len(events) - ok))
    phases(events, marks, end)
    control_lines(log_path, float(t0))
    if png:
        draw(events, marks, end, png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
