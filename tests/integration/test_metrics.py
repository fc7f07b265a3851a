#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration: the data plane's /metrics (--metrics ADDR:PORT).

A data plane on a net_pcap port reads a few crafted packets (new flows to a
VIP, packets for no VIP), then this script scrapes /metrics as Prometheus
would and checks that:
- every line parses with Prometheus' own text-format parser
  (python3-prometheus-client), every family has HELP and TYPE;
- every counter of the counter schema (lib/common/counter_schema.h) is there,
  per lcore, per VIP and per backend;
- the values are the API's (`stats`): one schema, one set of numbers;
- `sluicectl show stats` prints every lcore counter of the schema;
- other paths and methods are refused, a bad address stops the start.

And the control daemon's /metrics (sluice-control --metrics): parsed the
same way, one series per backend, the values its health.list shows.

usage: test_metrics.py PATH/TO/sluice-dataplane PATH/TO/sluicectl SOURCE_ROOT [PATH/TO/sluice-control]
Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sluice_checks import Api, Checks  # noqa: E402  (tests/lib)

try:
    from prometheus_client.parser import text_string_to_metric_families
    from scapy.all import IP, TCP, UDP, Ether, wrpcap
    from scapy.config import conf as scapy_conf
    scapy_conf.verb = 0
except ImportError as e:
    print("SKIP: %s (python3-prometheus-client, python3-scapy)" % e)
    sys.exit(77)

CONFIG = """
dataplane: {{api_socket: {sock}, flow_capacity: 1024}}
ports:
  - {{name: p0, devargs: "net_pcap0,rx_pcap={tmp}/in.pcap,tx_pcap={tmp}/out.pcap", ipv4: 198.18.0.2/24}}
vips:
  - name: "we\\"b\\\\4"
    address: 198.18.1.100
    port: 80
    # exec checks: nothing leaves this host (198.18.0.x are not reachable here)
    health_check: {{type: exec, command: "exit 0", interval: 0.2, timeout: 1, fall: 1}}
    breaker: {{consecutive_failures: 3}}
    backends:
      - {{address: 198.18.0.11, mac: "02:00:00:00:00:11"}}
      - {{address: 198.18.0.12, mac: "02:00:00:00:00:12",
          health_check: {{command: "exit 1"}}}}
"""
N_SYN, N_STRAY = 40, 7
SERVED = set()  # sample names of both scrapes, for the dashboard check


def api(sock, **req):
    """One request on a connection of its own."""
    a = Api(sock, timeout=10)
    try:
        return a(**req)
    finally:
        a.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def schema(root):
    """(lcore metrics, traffic metrics) named in counter_schema.h."""
    text = open(os.path.join(root, "lib/common/counter_schema.h")).read()
    lists = {}
    for name in ("COUNTER_LCORE_LIST", "COUNTER_TRAFFIC_LIST"):
        body = text.split("#define %s(X)" % name, 1)[1].split("\n\n", 1)[0]
        lists[name] = re.findall(r'X\((\w+),\s*"(\w+)"', body)
    return lists["COUNTER_LCORE_LIST"], lists["COUNTER_TRAFFIC_LIST"]


def start(binary, tmp, metrics):
    sock = os.path.join(tmp, "api.sock")
    cfg = os.path.join(tmp, "sluice.yaml")
    pkts = [Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") /
            IP(src="198.18.5.%d" % (i + 1), dst="198.18.1.100") /
            TCP(sport=10000 + i, dport=80, flags="S") for i in range(N_SYN)]
    pkts += [Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") /
             IP(src="198.18.5.1", dst="198.18.9.9") / UDP(sport=1, dport=2)] * N_STRAY
    wrpcap(os.path.join(tmp, "in.pcap"), pkts)
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock=sock, tmp=tmp))
    cmd = [binary, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
           "sluice-metrics-%d" % os.getpid(), "--log-level", "warning", "--", "--config", cfg,
           "--metrics", metrics]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, sock


def wait_rx(proc, sock, want, seconds=30):
    """The API's counters once rx reached <want> (or the last seen)."""
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline and proc.poll() is None:
        try:
            last = api(sock, cmd="stats")
            if last["counters"]["rx"] >= want:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return last


def fetch(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""


def sample(families, name, **labels):
    for fam in families.values():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def total(families, name):
    return sum(s.value for fam in families.values() for s in fam.samples if s.name == name)


def scrape_checks(t, url, text, stats, root):
    lcore_schema, traffic_schema = schema(root)
    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # the parser's own error: the exposition is not valid
        t.check(False, "Prometheus' parser reads /metrics", repr(e))
        return
    t.check(len(families) > 40, "Prometheus' parser reads /metrics (%d families)" % len(families))
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    names = set(re.findall(r"^([a-z_]+)[{ ]", text, re.M))
    SERVED.update(names)
    orphans = [n for n in names if not any(f in helps and f in types
                                           for f in (n, re.sub(r"_total$", "", n)))]
    t.check(names and not orphans, "every sample's family has HELP and TYPE", str(orphans))
    missing = [m for _, m in lcore_schema if sample(families, "sluice_%s_total" % m, lcore="0")
               is None]
    t.check(not missing and lcore_schema, "every lcore counter of the schema, per lcore (%d)"
            % len(lcore_schema), str(missing))
    vip_label = 'we"b\\4'
    missing = [m for _, m in traffic_schema
               if sample(families, "sluice_vip_%s_total" % m, vip=vip_label) is None or
               sample(families, "sluice_backend_%s_total" % m, vip=vip_label,
                      backend="198.18.0.11:80") is None]
    t.check(not missing, "every traffic counter of the schema, per VIP and backend (%d)"
            % len(traffic_schema), str(missing))
    c = stats["counters"]
    differ = [(f, c[f], total(families, "sluice_%s_total" % m)) for f, m in lcore_schema
              if c[f] != total(families, "sluice_%s_total" % m)]
    t.check(not differ, "lcore counters equal the API's", str(differ))
    t.check(c["flows_new"] == N_SYN and c["drops"]["not_ours"] == N_STRAY,
            "the traffic was seen (flows_new %d, not_ours %d)"
            % (c["flows_new"], c["drops"]["not_ours"]))
    drops = {k: sample(families, "sluice_dropped_packets_total", lcore="0", reason=k)
             for k in c["drops"]}
    t.check(drops == c["drops"], "drops by reason equal the API's",
            str({k: (v, c["drops"][k]) for k, v in drops.items() if v != c["drops"][k]}))
    v = stats["vips"][0]
    t.check(all(sample(families, "sluice_vip_%s_total" % m, vip=vip_label) == v[f]
                for f, m in traffic_schema),
            "VIP counters equal the API's (packets %d)" % v["pkts"])
    for b in v["backends"]:
        ep = "%s:%d" % (b["address"], b["port"])
        t.check(all(sample(families, "sluice_backend_%s_total" % m, vip=vip_label,
                           backend=ep) == b[f] for f, m in traffic_schema) and
                sample(families, "sluice_backend_active_flows", vip=vip_label,
                       backend=ep) == b["active_flows"] and
                sample(families, "sluice_backend_up", vip=vip_label, backend=ep) == 1,
                "backend %s: counters, active flows (%d) and up equal the API's"
                % (ep, b["active_flows"]))
    busy = sample(families, "sluice_lcore_busy_seconds_total", lcore="0")
    t.check(busy is not None and 0 < busy < 30, "lcore 0 was busy for a while: %s s" % busy)
    t.check(sample(families, "sluice_flows", lcore="0") == N_SYN,
            "sluice_flows is the flow table's size")
    t.check(sample(families, "sluice_port_received_packets_total", port="p0") ==
            N_SYN + N_STRAY, "port statistics by port name")
    t.check(sample(families, "sluice_generation") == stats["generation"],
            "sluice_generation is the API's")


def lookup_checks(t, sock, sluicectl):
    """flow.lookup reads the worker's flow entry (not only Maglev's answer)."""
    held = api(sock, cmd="flow.lookup", vip='we"b\\4', client="198.18.5.3", client_port=10002)
    fresh = api(sock, cmd="flow.lookup", vip='we"b\\4', client="198.18.5.200",
                client_port=10002)
    t.check(held.get("from") == "flow" and held.get("lcore") == 0 and
            held.get("backend") in ("198.18.0.11", "198.18.0.12"),
            "flow.lookup of a flow the worker holds: its entry (lcore 0)", str(held))
    t.check(fresh.get("from") == "pickup" and "lcore" not in fresh,
            "flow.lookup of a flow no worker holds: the scheduler's answer", str(fresh))
    out = subprocess.run([sluicectl, "--socket", sock, "lookup", "198.18.1.100:80",
                          "198.18.5.3:10002", "tcp"], capture_output=True, text=True,
                         timeout=30).stdout
    t.check("(flow entry on lcore 0)" in out, "sluicectl lookup says it is a flow entry", out)


def control_checks(t, control, tmp, sock, sluicectl):
    """sluice-control beside the data plane: its /metrics against its health.list."""
    port = free_port()
    ctl = os.path.join(tmp, "ctl.sock")
    proc = subprocess.Popen([control, "--config", os.path.join(tmp, "sluice.yaml"),
                             "--api-socket", sock, "--control-socket", ctl,
                             "--metrics", "127.0.0.1:%d" % port],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        families, text, health = None, "", None
        deadline = time.time() + 30
        # Wait until each backend's check has run at least twice (200 ms apart).
        while time.time() < deadline and proc.poll() is None:
            try:
                status, _, text = fetch("http://127.0.0.1:%d/metrics" % port)
                families = {f.name: f for f in text_string_to_metric_families(text)}
                if total(families, "sluice_control_checks_total") >= 4:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        t.check(families is not None and proc.poll() is None,
                "control daemon: Prometheus' parser reads its /metrics",
                proc.communicate(timeout=10)[0][-1000:] if proc.poll() is not None else text[-500:])
        if families is None:
            return
        out = subprocess.run([sluicectl, "--control-socket", ctl, "--json", "show", "health"],
                             capture_output=True, text=True, timeout=30).stdout
        health = json.loads(out)["backends"]
        status, _, text = fetch("http://127.0.0.1:%d/metrics" % port)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        SERVED.update(re.findall(r"^([a-z_]+)[{ ]", text, re.M))
        t.check(sample(families, "sluice_control_backends") == 2 and
                sample(families, "sluice_control_dataplane_reachable") == 1,
                "control daemon: backends and data plane reachability")
        for b in health:
            ep = "%s:%d" % (b["address"], b["port"])
            lab = {"vip": b["vip"], "backend": ep}
            got = (sample(families, "sluice_control_checks_total", **lab),
                   sample(families, "sluice_control_backend_healthy", **lab),
                   sample(families, "sluice_control_breaker_state", state=b.get("breaker", "?"),
                          **lab))
            # The two reads are a moment apart: a check may land between them.
            t.check(got[0] is not None and abs(got[0] - b["checks"]) <= 2 and
                    b["health"] == ("up" if ep.startswith("198.18.0.11") else "down") and
                    got[1] == (1 if b["health"] == "up" else 0) and got[2] == 1,
                    "control daemon: %s checks %d, healthy %d, breaker %s as health.list says "
                    "(%s, last check %s)" % (ep, got[0], got[1], b.get("breaker"), b["health"],
                                             b.get("last_check")), "%s %s" % (got, b))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    if len(sys.argv) < 4:
        print("usage: test_metrics.py SLUICE_DATAPLANE SLUICECTL SOURCE_ROOT")
        return 2
    binary, sluicectl, root = sys.argv[1:4]
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK EAL)")
        return 77
    t = Checks()
    tmp = tempfile.mkdtemp(prefix="sluice-metrics-")
    try:
        proc, _ = start(binary, tmp, "127.0.0.1:99999")
        out = proc.communicate(timeout=60)[0]
        t.check(proc.returncode != 0 and "metrics address '127.0.0.1:99999'" in out,
                "a bad --metrics address stops the start, naming it", out[-300:])

        port = free_port()
        url = "http://127.0.0.1:%d" % port
        proc, sock = start(binary, tmp, "127.0.0.1:%d" % port)
        try:
            stats = wait_rx(proc, sock, N_SYN + N_STRAY)
            if stats is None or proc.poll() is not None:
                t.check(False, "data plane running with --metrics",
                        proc.communicate(timeout=30)[0][-2000:] if proc.poll() is not None else "")
                return 1
            status, ctype, text = fetch(url + "/metrics")
            t.check(status == 200 and ctype.startswith("text/plain; version=0.0.4"),
                    "GET /metrics: 200, Prometheus text format", "%s %s" % (status, ctype))
            scrape_checks(t, url, text, api(sock, cmd="stats"), root)
            t.check(fetch(url + "/")[0] == 404, "GET /: 404")
            t.check(fetch(url + "/metrics", method="POST")[0] == 405, "POST /metrics: 405")
            out = subprocess.run([sluicectl, "--socket", sock, "show", "stats"],
                                 capture_output=True, text=True, timeout=30).stdout
            lcore_schema, _ = schema(root)
            missing = [f for f, _ in lcore_schema if not re.search(r"^%s\s+\d+$" % f, out, re.M)]
            t.check(not missing, "sluicectl show stats prints every lcore counter", str(missing))
            lookup_checks(t, sock, sluicectl)
            if len(sys.argv) > 4:
                control_checks(t, sys.argv[4], tmp, sock, sluicectl)
                dash = open(os.path.join(root, "configs/grafana-dashboard.json")).read()
                used = set(re.findall(r"\b(sluice_[a-z_]+)", dash))
                t.check(used and used <= SERVED,
                        "configs/grafana-dashboard.json: its %d metrics are all served" % len(used),
                        str(sorted(used - SERVED)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 0 if t.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
