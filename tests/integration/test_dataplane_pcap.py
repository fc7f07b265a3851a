#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Integration: sluice-dataplane on net_pcap ports.

Crafted traffic (many flows, several VIPs, every scheduler, IPv4 and IPv6,
malformed packets, ARP, NS, ICMP echo) is written to a pcap file, the data
plane reads it through a net_pcap port and writes what it sends to another
pcap file; this script then checks the output packet by packet and the
counters the data plane printed on exit.

usage: test_dataplane_pcap.py PATH/TO/sluice-dataplane [--lcores N]
Exit 0 pass, 1 fail, 77 skip.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sluice_checks import Checks  # noqa: E402  (tests/lib)

try:
    from scapy.all import (ARP, Dot1Q, ICMP, IP, TCP, UDP, Ether, ICMPv6EchoRequest,
                           ICMPv6EchoReply, ICMPv6ND_NA, ICMPv6ND_NS,
                           ICMPv6NDOptSrcLLAddr, IPv6, Raw, rdpcap, wrpcap)
    from scapy.config import conf as scapy_conf
    scapy_conf.verb = 0
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
except ImportError:
    print("SKIP: python3-scapy is not installed")
    sys.exit(77)

CLIENT_MAC = "02:00:00:00:00:01"
LB_IP4, LB_IP6 = "198.18.0.2", "2001:db8::2"
VIP4, VIP6 = "198.18.1.100", "2001:db8:1::100"


def bmac(i):
    return "02:00:00:00:01:%02x" % i


CONFIG = """
dataplane:
  flow_capacity: 65536
  api_socket: {sock}
ports:
  - name: pcap0
    devargs: "{devargs}"
    ipv4: 198.18.0.2/24
    ipv6: 2001:db8::2/64
vips:
  - name: web-wrr
    address: 198.18.1.100
    port: 80
    scheduler: wrr
    backends:
      - {{address: 198.18.0.11, weight: 3, mac: "{m11}"}}
      - {{address: 198.18.0.12, weight: 1, mac: "{m12}"}}
      - {{address: 198.18.0.13, weight: 1, mac: "{m13}"}}
  - name: dns-rr
    address: 198.18.1.100
    port: 53
    protocol: udp
    scheduler: rr
    backends:
      - {{address: 198.18.0.11, mac: "{m11}"}}
      - {{address: 198.18.0.12, mac: "{m12}"}}
  - name: lc
    address: 198.18.1.100
    port: 81
    scheduler: lc
    backends:
      - {{address: 198.18.0.11, mac: "{m11}"}}
      - {{address: 198.18.0.12, mac: "{m12}"}}
      - {{address: 198.18.0.13, mac: "{m13}"}}
  - name: wlc
    address: 198.18.1.100
    port: 82
    scheduler: wlc
    backends:
      - {{address: 198.18.0.11, weight: 2, mac: "{m11}"}}
      - {{address: 198.18.0.12, weight: 1, mac: "{m12}"}}
  - name: maglev
    address: 198.18.1.100
    port: 83
    scheduler: maglev
    maglev_table_size: 251
    backends:
      - {{address: 198.18.0.11, mac: "{m11}"}}
      - {{address: 198.18.0.12, mac: "{m12}"}}
      - {{address: 198.18.0.13, mac: "{m13}"}}
  - name: affinity
    address: 198.18.1.100
    port: 84
    scheduler: maglev
    hash: source-ip
    backends:
      - {{address: 198.18.0.11, mac: "{m11}"}}
      - {{address: 198.18.0.12, mac: "{m12}"}}
  - name: arp-resolved
    address: 198.18.1.100
    port: 85
    scheduler: rr
    backends:
      - {{address: 198.18.0.21}}
  - name: web6
    address: "2001:db8:1::100"
    port: 80
    scheduler: rr
    backends:
      - {{address: "2001:db8::11", mac: "{m11}"}}
      - {{address: "2001:db8::12", mac: "{m12}"}}
  - name: tunnel4
    address: 198.18.1.100
    port: 87
    mode: tunnel
    scheduler: rr
    backends:
      - {{address: 198.18.0.11, mac: "{m11}"}}
      - {{address: 198.18.0.12, mac: "{m12}"}}
  - name: tunnel6
    address: "2001:db8:1::100"
    port: 87
    mode: tunnel
    scheduler: rr
    backends:
      - {{address: "2001:db8::11", mac: "{m11}"}}
      - {{address: "2001:db8::12", mac: "{m12}"}}
  - name: fnat4
    address: 198.18.1.100
    port: 88
    mode: fnat
    scheduler: rr
    local_addresses: [198.18.0.50]
    backends:
      - {{address: 198.18.0.11, port: 8080, mac: "{m11}"}}
  - name: refusing
    address: 198.18.1.100
    port: 89
    when_empty: reset
    backends:
      - {{address: 198.18.0.11, mac: "{m11}", state: maint}}
  - name: refusing-udp
    address: 198.18.1.100
    port: 89
    protocol: udp
    when_empty: reset
    backends:
      - {{address: 198.18.0.11, mac: "{m11}", state: maint}}
  - name: drained
    address: 198.18.1.100
    port: 86
    scheduler: rr
    backends:
      - {{address: 198.18.0.11, mac: "{m11}", state: drain}}
      - {{address: 198.18.0.12, mac: "{m12}"}}
"""

BACKEND_BY_MAC = {bmac(11): "b11", bmac(12): "b12", bmac(13): "b13"}


def syn(sport, dport, src="198.18.0.1", dst=VIP4):
    return Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / TCP(
        sport=sport, dport=dport, flags="S", seq=1000)


def build_input():
    """Returns (packets, expectations) where expectations name packet groups."""
    pkts = []
    # 1. wrr 3:1:1 over 250 new flows, then one ACK per flow (stickiness).
    for i in range(250):
        pkts.append(syn(10000 + i, 80))
    for i in range(250):
        p = syn(10000 + i, 80)
        p[TCP].flags = "A"
        p[TCP].seq = 1001
        pkts.append(p)
    # 2. rr UDP, 100 flows.
    for i in range(100):
        pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst=VIP4) /
                    UDP(sport=20000 + i, dport=53) / Raw(b"q" * 20))
    # 3. lc: 90 flows held open -> 30 each.
    for i in range(90):
        pkts.append(syn(30000 + i, 81))
    # 4. wlc 2:1 over 90 flows -> 60/30.
    for i in range(90):
        pkts.append(syn(31000 + i, 82))
    # 5. maglev: 300 flows, each sent twice.
    for rep in range(2):
        for i in range(300):
            pkts.append(syn(32000 + i, 83))
    # 6. source-ip affinity: 20 clients x 5 ports each.
    for c in range(20):
        for i in range(5):
            pkts.append(syn(33000 + i, 84, src="198.18.0.%d" % (100 + c)))
    # 7. backend without static MAC: dropped (neigh_unresolved) until ARP answers.
    for i in range(5):
        pkts.append(syn(34000 + i, 85))
    pkts.append(Ether(src=bmac(21), dst="02:00:00:00:00:02") /
                ARP(op=2, hwsrc=bmac(21), psrc="198.18.0.21",
                    hwdst="02:00:00:00:00:02", pdst=LB_IP4))
    # 8. IPv6 rr.
    for i in range(40):
        pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst=VIP6) /
                    TCP(sport=35000 + i, dport=80, flags="S"))
    # 9. drain: all new flows go to the ready backend.
    for i in range(20):
        pkts.append(syn(36000 + i, 86))
    # 9b. one 802.1Q-tagged flow: balanced, tag kept.
    pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / Dot1Q(vlan=42) /
                IP(src="198.18.0.1", dst=VIP4) / TCP(sport=36999, dport=86, flags="S"))
    # 9c. tunnel: 20 IPv4 and 10 IPv6 flows encapsulated; packets that would not
    # fit the port's MTU once encapsulated: ICMP back (DF / IPv6), or dropped.
    for i in range(20):
        pkts.append(syn(38000 + i, 87))
    for i in range(10):
        pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") /
                    IPv6(src="2001:db8::1", dst=VIP6) / TCP(sport=38100 + i, dport=87, flags="S"))
    big = Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst=VIP4, flags="DF") / \
        TCP(sport=38200, dport=87, flags="A") / Raw(b"x" * 1460)
    pkts.append(big)
    big_nodf = big.copy()
    big_nodf[IP].flags = 0
    big_nodf[TCP].sport = 38201
    pkts.append(Ether(bytes(big_nodf)))
    pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst=VIP6) /
                TCP(sport=38202, dport=87, flags="A") / Raw(b"y" * 1440))
    # 9d. fnat (one lcore: the first source port handed out is 1024): a SYN, the
    # backend's SYN-ACK, an ICMP error from the backend about our packet, and one
    # from the client about the reply.
    if LCORES == 1:
        pkts.append(syn(39000, 88))
        synack = IP(src="198.18.0.11", dst="198.18.0.50") / TCP(sport=8080, dport=1024, flags="SA")
        pkts.append(Ether(src=bmac(11), dst="02:00:00:00:00:02") / synack)
        fwd_quote = bytes(IP(src="198.18.0.50", dst="198.18.0.11", ttl=63) /
                          TCP(sport=1024, dport=8080, flags="S", seq=1000))[:28]
        pkts.append(Ether(src=bmac(11), dst="02:00:00:00:00:02") /
                    IP(src="198.18.0.11", dst="198.18.0.50") / ICMP(type=3, code=1) / Raw(fwd_quote))
        rep_quote = bytes(IP(src=VIP4, dst="198.18.0.1", ttl=63) /
                          TCP(sport=88, dport=39000, flags="SA"))[:28]
        pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") /
                    IP(src="198.18.0.1", dst=VIP4) / ICMP(type=3, code=3) / Raw(rep_quote))
    # 9e. no backend can take the flow, when_empty: reset -> RST / port unreachable.
    s89 = syn(40000, 89)
    s89[TCP].seq = 5000
    pkts.append(s89)
    pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst=VIP4) /
                UDP(sport=40001, dport=89) / Raw(b"hello"))
    # 10. answers: ARP for VIP and for port address, ICMP echo v4/v6, NS for VIP.
    pkts.append(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") /
                ARP(op=1, hwsrc=CLIENT_MAC, psrc="198.18.0.1", pdst=VIP4))
    pkts.append(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") /
                ARP(op=1, hwsrc=CLIENT_MAC, psrc="198.18.0.1", pdst=LB_IP4))
    pkts.append(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") /
                ARP(op=1, hwsrc=CLIENT_MAC, psrc="198.18.0.1", pdst="198.18.0.77"))
    pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst=VIP4) /
                ICMP(type=8, id=7, seq=1) / Raw(b"ping-payload"))
    pkts.append(Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst=VIP6) /
                ICMPv6EchoRequest(id=7, seq=1, data=b"ping6"))
    pkts.append(Ether(src=CLIENT_MAC, dst="33:33:ff:00:01:00") /
                IPv6(src="2001:db8::1", dst="ff02::1:ff00:100", hlim=255) /
                ICMPv6ND_NS(tgt=VIP6) / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC))
    # 11. not ours / no service / malformed.
    pkts.append(syn(37000, 80, dst="198.18.5.5"))          # not_ours
    pkts.append(syn(37001, 9999))                            # vip_no_service
    good = bytes(syn(37002, 80))
    pkts.append(Raw(good[:20]))                            # trunc_ip4
    bad_ihl = bytearray(good)
    bad_ihl[14] = 0x44
    pkts.append(Raw(bytes(bad_ihl)))                       # ip4_bad_ihl
    pkts.append(Raw(good[:14 + 20 + 10]))                  # ip4_bad_len (length says 40)
    pkts.append(Raw(good[:10]))                            # trunc_eth
    frag = Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst=VIP4, frag=100, proto=6) / Raw(b"x" * 40)
    pkts.append(frag)                                        # fragment
    # 12. hostile: sources no client can have, to the when_empty: reset VIP
    # (which would otherwise answer) and to the echo; a broadcast source MAC;
    # TTL 0; a damaged IPv4 header; a UDP length past the datagram.
    eth = Ether(src=CLIENT_MAC, dst="02:00:00:00:00:02")
    for src in MARTIANS4:
        pkts.append(eth / IP(src=src, dst=VIP4) / TCP(sport=41000, dport=89, flags="S"))
    pkts.append(eth / IP(src="255.255.255.255", dst=VIP4) / ICMP(type=8, id=9, seq=1))
    pkts.append(eth / IPv6(src="ff02::1", dst=VIP6) / ICMPv6EchoRequest(id=9, seq=1))
    pkts.append(eth / IP(src=VIP4, dst=VIP4) / TCP(sport=89, dport=89, flags="S"))      # land
    pkts.append(Ether(src="ff:ff:ff:ff:ff:ff", dst="02:00:00:00:00:02") /
                IP(src="198.18.0.1", dst=VIP4) / TCP(sport=41001, dport=89, flags="S"))  # bad_src_mac
    pkts.append(eth / IP(src="198.18.0.1", dst=VIP4, ttl=0) / TCP(sport=41002, dport=80, flags="S"))
    badsum = bytearray(bytes(eth / IP(src="198.18.0.1", dst=VIP4) / TCP(sport=41003, dport=80, flags="S")))
    badsum[24] ^= 0x5a                                       # the IPv4 header checksum
    pkts.append(Raw(bytes(badsum)))                          # bad_checksum
    pkts.append(eth / IP(src="198.18.0.1", dst=VIP4) / UDP(sport=41004, dport=89, len=40) / Raw(b"hi"))
    pkts.append(eth / IP(src="198.18.0.1", dst=VIP4) / TCP(sport=0, dport=89, flags="S"))  # port 0
    return pkts


MARTIANS4 = ["255.255.255.255", "224.0.0.1", "0.0.0.0", "127.0.0.1", "240.0.0.9",
             "198.18.0.255", LB_IP4]


LCORES = 1


def run(binary, lcores):
    tmp = tempfile.mkdtemp(prefix="sluice-pcap-")
    ins = [os.path.join(tmp, "in%d.pcap" % q) for q in range(lcores)]
    outs = [os.path.join(tmp, "out%d.pcap" % q) for q in range(lcores)]
    pkts = build_input()
    if lcores == 1:
        wrpcap(ins[0], pkts)
    else:
        # Split by flow (as RSS would): the same client flow always on one queue.
        per_q = [[] for _ in range(lcores)]
        for p in pkts:
            key = 0
            # Section 7's SYNs stay on queue 0 with the ARP reply: that they
            # come before it is the point, and queues run at their own pace.
            if TCP in p and p[TCP].dport == 85:
                key = 0
            elif TCP in p:
                key = p[TCP].sport
            elif UDP in p:
                key = p[UDP].sport
            per_q[key % lcores].append(p)
        for q in range(lcores):
            wrpcap(ins[q], per_q[q] or [Ether()])
    devargs = "net_pcap0," + ",".join("rx_pcap=%s,tx_pcap=%s" % (i, o)
                                      for i, o in zip(ins, outs))
    cfg = os.path.join(tmp, "sluice.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock=os.path.join(tmp, "api.sock"), devargs=devargs,
                              m11=bmac(11), m12=bmac(12), m13=bmac(13)))
    cmd = [binary, "-l", "0-%d" % (lcores - 1), "--no-huge", "-m", "256",
           "--no-pci", "--file-prefix", "sluice-pcap-%d" % os.getpid(), "--log-level", "warning",
           "--", "--config", cfg, "--exit-idle-ms", "1500", "--stats-on-exit",
           "--ports-from-lowest"]
    if lcores > 1:
        # Two workers on a 2-core host share the CPUs with this test: the
        # yielding loop must forward exactly what the spinning one does.
        cmd.append("--idle-yield")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(proc.stdout)
        print(proc.stderr)
        raise SystemExit("sluice-dataplane exited with %d" % proc.returncode)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    out = []
    for o in outs:
        out.extend(rdpcap(o))
    return pkts, out, stats


def main():
    if len(sys.argv) < 2:
        print("usage: test_dataplane_pcap.py SLUICE_DATAPLANE [--lcores N]")
        return 2
    binary = sys.argv[1]
    lcores = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--lcores" else 1
    global LCORES
    LCORES = lcores
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK EAL)")
        return 77
    t = Checks()
    inp, out, stats = run(binary, lcores)
    lb_mac = stats["ports"][0]["mac"]
    c = stats["counters"]

    by_dport = collections.defaultdict(list)
    answers = []
    for p in out:
        if (IP in p or IPv6 in p) and (TCP in p or UDP in p) and p.dst in BACKEND_BY_MAC:
            l4 = p[TCP] if TCP in p else p[UDP]
            by_dport[l4.dport].append(p)
        else:
            answers.append(p)

    def spread(dport):
        return collections.Counter(BACKEND_BY_MAC[p.dst] for p in by_dport[dport])

    def sticky(dport):
        seen = {}
        for p in by_dport[dport]:
            l3 = p[IP] if IP in p else p[IPv6]
            key = (l3.src, (p[TCP] if TCP in p else p[UDP]).sport)
            if seen.setdefault(key, p.dst) != p.dst:
                return False
        return True

    # Forwarded packets are the input packets with new MACs only.
    fwd_pkts = [p for d, v in by_dport.items() if d not in (87, 88, 8080) for p in v]
    t.check(all(p.src == lb_mac for p in fwd_pkts), "DSR source MAC is the port's MAC")
    sent = collections.Counter(bytes(p)[12:] for p in inp)
    t.check(all(sent[bytes(p)[12:]] > 0 for p in fwd_pkts),
            "DSR changes nothing but the MACs: every forwarded frame's bytes after them were sent")
    t.check(len(out) == c["fwd"] + c["replied"] + c["tx_ctrl"],
            "every packet counted as sent is in the output (%d = %d + %d + %d)" %
            (len(out), c["fwd"], c["replied"], c["tx_ctrl"]))

    # wrr 3:1:1 -> SYNs 150/50/50 exactly on one lcore (smooth WRR is exact per lcore).
    syns = collections.Counter(BACKEND_BY_MAC[p.dst] for p in by_dport[80]
                               if IP in p and p[TCP].flags == "S")
    if lcores == 1:
        t.check(syns == {"b11": 150, "b12": 50, "b13": 50}, "wrr 3:1:1 shares exact: %s" % dict(syns))
    else:
        t.check(abs(syns["b11"] - 150) <= 3 * lcores and abs(syns["b12"] - 50) <= 2 * lcores,
                "wrr 3:1:1 shares within per-lcore rounding: %s" % dict(syns))
    t.check(sticky(80), "wrr: every packet of a flow goes to one backend (SYN then ACK)")
    t.check(len([p for p in by_dport[80] if IP in p]) == 500, "wrr: all 500 packets forwarded")

    s = spread(53)
    t.check(abs(s["b11"] - s["b12"]) <= lcores and sum(s.values()) == 100,
            "rr UDP alternates: %s" % dict(s))
    s = spread(81)
    t.check(sum(s.values()) == 90 and max(s.values()) - min(s.values()) <= 2 * lcores,
            "lc: held flows spread evenly over the least loaded: %s" % dict(s))
    s = spread(82)
    t.check(sum(s.values()) == 90 and abs(s["b11"] - 60) <= 2 * lcores,
            "wlc 2:1: %s" % dict(s))
    s = spread(83)
    t.check(sum(s.values()) == 600 and all(v > 100 for v in s.values()),
            "maglev spreads 300 flows over 3 backends: %s" % dict(s))
    t.check(sticky(83), "maglev: repeated flows stick")
    clients = collections.defaultdict(set)
    for p in by_dport[84]:
        clients[p[IP].src].add(p.dst)
    t.check(len(clients) == 20 and all(len(v) == 1 for v in clients.values()),
            "maglev source-ip: each client always on one backend")
    t.check(len(set(d for v in clients.values() for d in v)) == 2,
            "maglev source-ip: clients use both backends")
    s = spread(86)
    t.check(s == {"b12": 21}, "drained backend gets no new flows: %s" % dict(s))
    tagged = [p for p in by_dport[86] if Dot1Q in p]
    t.check(len(tagged) == 1 and tagged[0][Dot1Q].vlan == 42 and tagged[0][TCP].sport == 36999,
            "802.1Q-tagged packet forwarded with its tag")
    v6 = [p for p in by_dport[80] if IPv6 in p]
    s6 = collections.Counter(BACKEND_BY_MAC[p.dst] for p in v6)
    t.check(len(v6) == 40 and abs(s6["b11"] - s6["b12"]) <= lcores, "IPv6 rr: %s" % dict(s6))

    # Neighbour resolution: an ARP request for the unresolved backend was sent;
    # until its MAC is known the backend takes no new flows (no_backend: the
    # VIP has no other); the reply was learnt and the backend put in service.
    arp_req = [p for p in answers if ARP in p and p[ARP].op == 1 and p[ARP].pdst == "198.18.0.21"]
    t.check(len(arp_req) >= 1 and arp_req[0][ARP].psrc == LB_IP4 and
            arp_req[0].dst == "ff:ff:ff:ff:ff:ff", "ARP request sent for a backend without MAC")
    t.check(c["drops"]["no_backend"] == 5,
            "new flows to a VIP whose only backend is unresolved: dropped, counted as no_backend")
    vip85 = [v for v in stats["vips"] if v["name"] == "arp-resolved"][0]
    t.check(vip85["backends"][0]["neighbour"] == "reachable" and
            vip85["backends"][0]["mac"] == bmac(21) and vip85["backends"][0]["effective_weight"] == 1,
            "ARP reply learnt: backend MAC reachable, backend in service")

    # Answers.
    arp_rep = [p for p in answers if ARP in p and p[ARP].op == 2]
    t.check(any(p[ARP].psrc == VIP4 and p[ARP].hwsrc == lb_mac and p.dst == CLIENT_MAC
                for p in arp_rep), "ARP request for the VIP answered with the port MAC")
    t.check(any(p[ARP].psrc == LB_IP4 for p in arp_rep), "ARP request for the port address answered")
    t.check(not any(p[ARP].psrc == "198.18.0.77" for p in arp_rep), "ARP for another host not answered")
    echo = [p for p in answers if ICMP in p and p[ICMP].type == 0]
    t.check(len(echo) == 1 and echo[0][ICMP].type == 0 and echo[0][IP].src == VIP4 and
            bytes(echo[0][ICMP].payload) == b"ping-payload", "ICMP echo to the VIP answered")
    if echo:
        ri = echo[0][IP].copy()
        del ri.chksum
        del ri[ICMP].chksum
        ri = IP(bytes(ri))
        t.check(ri.chksum == echo[0][IP].chksum and ri[ICMP].chksum == echo[0][ICMP].chksum,
                "ICMP echo reply: IPv4 header and ICMP checksums valid")
    e6 = [p for p in answers if ICMPv6EchoReply in p]
    t.check(len(e6) == 1 and e6[0][IPv6].src == VIP6, "ICMPv6 echo to the VIP answered")
    if e6:
        r = e6[0][IPv6].copy()
        del r[ICMPv6EchoReply].cksum
        t.check(IPv6(bytes(r))[ICMPv6EchoReply].cksum == e6[0][ICMPv6EchoReply].cksum,
                "ICMPv6 echo reply checksum valid")
    na = [p for p in answers if ICMPv6ND_NA in p]
    t.check(len(na) == 1 and na[0][ICMPv6ND_NA].tgt == VIP6 and na[0][ICMPv6ND_NA].S == 1 and
            na[0].src == lb_mac and na[0].dst == CLIENT_MAC and na[0][IPv6].hlim == 255 and
            na[0][IPv6].dst == "2001:db8::1" and na[0][IPv6].src == VIP6 and
            bytes(na[0][ICMPv6ND_NA].payload)[:8] == b"\x02\x01" + bytes.fromhex(lb_mac.replace(":", "")),
            "neighbour solicitation for the IPv6 VIP answered (target, TLLA = port MAC, hop limit 255)")
    if na:
        r = na[0][IPv6].copy()
        del r[ICMPv6ND_NA].cksum
        t.check(IPv6(bytes(r))[ICMPv6ND_NA].cksum == na[0][ICMPv6ND_NA].cksum, "NA checksum valid")

    # Tunnel: the outer header from the port's address to the backend, the client's
    # packet unchanged inside.
    inp_l3 = collections.Counter(bytes(p)[14:] for p in inp)
    mac_ip4 = {bmac(11): "198.18.0.11", bmac(12): "198.18.0.12"}
    mac_ip6 = {bmac(11): "2001:db8::11", bmac(12): "2001:db8::12"}
    t4 = [p for p in out if IP in p and p[IP].proto == 4]
    t6 = [p for p in out if IPv6 in p and p[IPv6].nh == 41]
    def ok4(p):
        o = p[IP]
        r = o.copy()
        del r.chksum
        inner = bytes(o.payload)
        return (o.src == LB_IP4 and o.dst == mac_ip4.get(p.dst) and o.ttl == 64 and
                o.len == 20 + len(inner) and IP(bytes(r)).chksum == o.chksum and
                inp_l3[inner] > 0 and p.src == lb_mac)
    def ok6(p):
        o = p[IPv6]
        inner = bytes(o.payload)
        return (o.src == LB_IP6 and o.dst == mac_ip6.get(p.dst) and o.hlim == 64 and
                o.plen == len(inner) and inp_l3[inner] > 0 and p.src == lb_mac)
    t.check(len(t4) == 20 and all(ok4(p) for p in t4) and
            collections.Counter(p.dst for p in t4) == {bmac(11): 10, bmac(12): 10},
            "tunnel IPv4: 20 flows IP-in-IP to the backends (outer fields, checksum, inner bytes)")
    t.check(len(t6) == 10 and all(ok6(p) for p in t6),
            "tunnel IPv6: 10 flows IPv6-in-IPv6 to the backends (outer fields, inner bytes)")
    fn = [p for p in answers if ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 4]
    t.check(len(fn) == 1 and fn[0][ICMP].code == 4 and fn[0][ICMP].nexthopmtu == 1480 and
            fn[0][IP].dst == "198.18.0.1" and fn[0][IP].src == LB_IP4 and fn[0].dst == CLIENT_MAC and
            bytes(fn[0][ICMP].payload)[:20] ==
            [bytes(p[IP]) for p in inp if TCP in p and p[TCP].sport == 38200][0][:20],
            "tunnel: a DF packet too big once encapsulated gets ICMP fragmentation-needed, MTU 1480")
    from scapy.all import ICMPv6PacketTooBig
    ptb = [p for p in answers if ICMPv6PacketTooBig in p]
    t.check(len(ptb) == 1 and ptb[0][ICMPv6PacketTooBig].mtu == 1460 and
            ptb[0][IPv6].dst == "2001:db8::1" and ptb[0][IPv6].src == LB_IP6,
            "tunnel: an IPv6 packet too big once encapsulated gets packet-too-big, MTU 1460")
    if ptb:
        r = ptb[0][IPv6].copy()
        del r[ICMPv6PacketTooBig].cksum
        t.check(IPv6(bytes(r))[ICMPv6PacketTooBig].cksum == ptb[0][ICMPv6PacketTooBig].cksum,
                "packet-too-big checksum valid")
    t.check(c["too_big_sent"] == 2, "too_big_sent counts the two ICMP answers")

    if lcores == 1:
        def valid4(p):
            r = p[IP].copy()
            del r.chksum
            if TCP in r:
                del r[TCP].chksum
            x = IP(bytes(r))
            return x.chksum == p[IP].chksum and (TCP not in p or x[TCP].chksum == p[TCP].chksum)
        f = [p for p in out if TCP in p and p[TCP].dport == 8080 and ICMP not in p]
        t.check(len(f) == 1 and f[0][IP].src == "198.18.0.50" and f[0][TCP].sport == 1024 and
                f[0][IP].dst == "198.18.0.11" and f[0][IP].ttl == 63 and f[0].dst == bmac(11) and
                valid4(f[0]), "fnat: SYN translated to local address:1024 -> backend:8080, TTL-1, "
                "checksums valid")
        r = [p for p in out if TCP in p and p[TCP].sport == 88 and ICMP not in p]
        t.check(len(r) == 1 and r[0][IP].src == VIP4 and r[0][IP].dst == "198.18.0.1" and
                r[0][TCP].dport == 39000 and r[0].dst == CLIENT_MAC and r[0].src == lb_mac and
                valid4(r[0]), "fnat: the backend's SYN-ACK goes back to the client from the VIP")
        ie = [p for p in out if ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 1]
        ok = False
        if len(ie) == 1:
            inner = IP(bytes(ie[0][ICMP].payload))
            ok = (ie[0][IP].src == VIP4 and ie[0][IP].dst == "198.18.0.1" and ie[0].dst == CLIENT_MAC
                  and inner.src == "198.18.0.1" and inner.dst == VIP4 and
                  bytes(inner)[20:24] == (39000).to_bytes(2, "big") + (88).to_bytes(2, "big"))
            x = ie[0][IP].copy()
            del x.chksum
            del x[ICMP].chksum
            x = IP(bytes(x))
            ok = ok and x.chksum == ie[0][IP].chksum and x[ICMP].chksum == ie[0][ICMP].chksum
        t.check(ok, "fnat: an ICMP error from the backend reaches the client, quoting its own packet")
        ic = [p for p in out if ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 3 and p.dst == bmac(11)]
        ok = False
        if len(ic) == 1:
            inner = IP(bytes(ic[0][ICMP].payload))
            ok = (ic[0][IP].src == "198.18.0.50" and ic[0][IP].dst == "198.18.0.11" and
                  ic[0].dst == bmac(11) and inner.src == "198.18.0.11" and inner.dst == "198.18.0.50" and
                  bytes(inner)[20:24] == (8080).to_bytes(2, "big") + (1024).to_bytes(2, "big"))
        t.check(ok, "fnat: an ICMP error from the client about a reply reaches the backend, translated")
        t.check(c["nat_replies"] == 1 and c["icmp_translated"] == 2, "nat_replies and icmp_translated counted")

    rst = [p for p in out if TCP in p and p[TCP].sport == 89 and p[TCP].flags == "RA"]
    ok = len(rst) == 1
    if ok:
        r = rst[0][IP].copy()
        del r.chksum
        del r[TCP].chksum
        r = IP(bytes(r))
        ok = (rst[0][IP].src == VIP4 and rst[0][IP].dst == "198.18.0.1" and rst[0][TCP].dport == 40000 and
              rst[0][TCP].ack == 5001 and rst[0].dst == CLIENT_MAC and
              r.chksum == rst[0][IP].chksum and r[TCP].chksum == rst[0][TCP].chksum)
    t.check(ok, "when_empty reset: a SYN with no backend to take it gets RST+ACK (ack = seq+1) from the VIP")
    pu = [p for p in answers if ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 3 and p[IP].src == VIP4]
    t.check(len(pu) == 1 and pu[0][IP].dst == "198.18.0.1", "when_empty reset: UDP gets ICMP port unreachable from the VIP")
    t.check(c["refused"] == 2, "refused counts both")

    hostile = set(MARTIANS4) | {"ff02::1"}
    t.check(not any((IP in p and p[IP].dst in hostile) or (IPv6 in p and p[IPv6].dst in hostile) or
                    (p.dst == "ff:ff:ff:ff:ff:ff" and IP in p) for p in out),
            "nothing answers a forged source, nor goes out broadcast")
    t.check(not any(TCP in p and p[TCP].sport in (41002, 41003) for p in out),
            "TTL 0 and a damaged IPv4 header are not forwarded")
    d = c["drops"]
    for reason, n in [("not_ours", 2), ("vip_no_service", 1), ("trunc_ip4", 1), ("ip4_bad_ihl", 1),
                      ("ip4_bad_len", 1), ("trunc_eth", 1), ("fragment", 1), ("too_big", 1),
                      ("martian", len(MARTIANS4) + 3), ("land", 1), ("bad_src_mac", 1), ("ttl_exceeded", 1),
                      ("bad_checksum", 1), ("udp_bad_len", 1)]:
        # not_ours: the TCP packet to 198.18.5.5 and the ARP for 198.18.0.77.
        t.check(d[reason] == n, "drop %s counted: %d (expected %d)" % (reason, d[reason], n))
    total_drops = sum(v for k, v in d.items() if k != "tx_full")
    t.check(c["rx"] == len(inp) + 0 and c["rx"] == c["fwd"] + c["replied"] + c["to_mgmt"] + total_drops,
            "rx = fwd + replied + to_mgmt + drops (%d = %d + %d + %d + %d)" %
            (c["rx"], c["fwd"], c["replied"], c["to_mgmt"], total_drops))
    t.check(len(stats["counters"]["lcores"]) == lcores, "%d worker lcore(s) ran" % lcores)
    if lcores > 1:
        t.check(all(l["rx"] > 0 for l in stats["counters"]["lcores"]), "every lcore received traffic")
    t.check(c["flows_new"] == sum(v["new_flows"] for v in stats["vips"]), "per-VIP new flows add up")

    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
