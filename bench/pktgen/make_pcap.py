#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes a pktgen scenario's flows into a pcap file, every flow once.

pktgen 23.03 builds its range-mode packets once per mbuf when a port starts
and then sends the same mbufs again and again, so range mode sends at most
as many distinct flows as the TX queue's mempool holds (24,576). In pcap
mode it loads every packet of the file into a mempool of its own and sends
them in turn: a pcap with N flows sends N flows. So the scenarios are pcaps.

usage: make_pcap.py NAME [OUTDIR]      writes OUTDIR/NAME.pcap (default /tmp/sluice-pktgen)
       make_pcap.py --list              the scenario names and flow counts
       make_pcap.py --verify FILE.pcap  distinct flows and bad checksums in FILE
       make_pcap.py --selftest          writes the scenarios up to 100k flows in a
                                        temporary directory and verifies each

Frames: 60 bytes (64 on the wire with the FCS), to Sluice's port MAC
02:00:00:00:00:02, IPv4 198.19.0.0 + client index, source ports from 1024,
valid IPv4 and L4 checksums (Sluice checks the IPv4 header of packets that
create flows). TCP segments are ACKs.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DST_MAC = bytes.fromhex("020000000002")
SRC_MAC = bytes.fromhex("020000000001")
SRC_FIRST = (198 << 24) | (19 << 16)  # 198.19.0.0
SPORT_FIRST = 1024
FRAME = 60


def scenarios():
    out = {}
    with open(os.path.join(HERE, "scenarios.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, proto, vip, port, clients, ports = line.split()[:6]
                out[name] = {"proto": proto, "vip": vip, "port": int(port),
                             "clients": int(clients), "ports": int(ports),
                             "flows": int(clients) * int(ports)}
    return out


def fold(s):
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def ip_num(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def frames(sc):
    """Yields each flow's frame: clients outer, ports inner."""
    tcp = sc["proto"] == "tcp"
    proto = 6 if tcp else 17
    l4len = 20 if tcp else 8
    iplen = 20 + l4len
    pad = bytes(FRAME - 14 - iplen)
    dst = ip_num(sc["vip"])
    dport = sc["port"]
    eth = DST_MAC + SRC_MAC + b"\x08\x00"
    # Sums that do not depend on the client: the rest is added per frame.
    ip_base = 0x4500 + iplen + 0x4000 + (64 << 8 | proto) + (dst >> 16) + (dst & 0xffff)
    l4_base = proto + l4len + (dst >> 16) + (dst & 0xffff) + dport
    if tcp:
        l4_base += (5 << 12 | 0x10) + 0xffff  # data offset + ACK, window
    else:
        l4_base += l4len
    for c in range(sc["clients"]):
        src = SRC_FIRST + c
        s_hi, s_lo = src >> 16, src & 0xffff
        ip_csum = 0xffff - fold(ip_base + s_hi + s_lo)
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, iplen, 0, 0x4000, 64, proto, ip_csum, src, dst)
        for p in range(sc["ports"]):
            sport = SPORT_FIRST + p
            csum = 0xffff - fold(l4_base + s_hi + s_lo + sport)
            if tcp:
                l4 = struct.pack("!HHIIHHHH", sport, dport, 0, 0, 5 << 12 | 0x10, 0xffff, csum, 0)
            else:
                l4 = struct.pack("!HHHH", sport, dport, l4len, csum or 0xffff)
            yield eth + ip + l4 + pad


def write(name, outdir):
    sc = scenarios()[name]
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, name + ".pcap")
    tmp = path + ".tmp"
    rec = struct.pack("<IIII", 0, 0, FRAME, FRAME)
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for fr in frames(sc):
            f.write(rec)
            f.write(fr)
    os.replace(tmp, path)
    print("%s: %d flows, %d bytes" % (path, sc["flows"], os.path.getsize(path)))
    return path


def csum(data):
    if len(data) % 2:
        data += b"\0"
    return 0xffff - fold(sum(struct.unpack("!%dH" % (len(data) // 2), data)))


def verify(path):
    """(packets, distinct 5-tuples, frames with a bad IPv4 or L4 checksum)."""
    seen, bad, n = set(), 0, 0
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            incl = struct.unpack("<IIII", h)[2]
            fr = f.read(incl)
            n += 1
            ihl = (fr[14] & 15) * 4
            ip = fr[14:14 + ihl]
            iplen = struct.unpack("!H", ip[2:4])[0]
            proto = ip[9]
            l4 = fr[14 + ihl:14 + iplen]
            pseudo = ip[12:20] + struct.pack("!BBH", 0, proto, len(l4))
            if csum(ip) != 0 or csum(pseudo + l4) != 0:
                bad += 1
            seen.add((ip[12:16], ip[16:20], proto, l4[0:4]))
    return n, len(seen), bad


def main():
    args = sys.argv[1:]
    if args[:1] == ["--list"]:
        for name, sc in scenarios().items():
            print("%-14s %9d flows" % (name, sc["flows"]))
        return 0
    if args[:1] == ["--selftest"]:
        import tempfile
        bad = 0
        with tempfile.TemporaryDirectory() as tmp:
            for name, sc in scenarios().items():
                if sc["flows"] > 100000:
                    continue
                n, flows, csum_bad = verify(write(name, tmp))
                ok = n == sc["flows"] and flows == sc["flows"] and csum_bad == 0
                bad += not ok
                print("%s %s: %d packets, %d distinct flows, %d bad checksums"
                      % ("ok  " if ok else "FAIL", name, n, flows, csum_bad))
        return 1 if bad else 0
    if len(args) == 2 and args[0] == "--verify":
        n, flows, bad = verify(args[1])
        print("packets=%d flows=%d bad_checksums=%d" % (n, flows, bad))
        return 0 if bad == 0 else 1
    if len(args) not in (1, 2) or args[0] not in scenarios():
        print(__doc__, file=sys.stderr)
        print("scenarios: %s" % " ".join(scenarios()), file=sys.stderr)
        return 2
    write(args[0], args[1] if len(args) == 2 else "/tmp/sluice-pktgen")
    return 0


if __name__ == "__main__":
    sys.exit(main())
