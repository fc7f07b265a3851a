#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the seed corpora of tests/fuzz/corpus/{parse,pipeline,api} (small
files, checked in); the conf seeds are hand-written YAML. Run it again after
changing a harness's input format: python3 tests/fuzz/make-seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(t, vlan=None):
    h = bytes.fromhex("020000000002") + bytes.fromhex("020000000099")
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", t)


def ip4(src, dst, proto, payload, ttl=64, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, frag, ttl, proto, 0,
                    bytes(src), bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hlim) + bytes(src) + bytes(dst) + payload


def tcp(sport, dport, flags, pseudo, data=b""):
    h = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 65535, 0, 0) + data
    c = csum(pseudo(6, len(h)) + h)
    return h[:16] + struct.pack("!H", c) + h[18:]


def udp(sport, dport, pseudo, data=b""):
    h = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(pseudo(17, len(h)) + h) or 0xFFFF
    return h[:6] + struct.pack("!H", c) + h[8:]


def ps4(s, d):
    return lambda p, n: bytes(s) + bytes(d) + struct.pack("!BBH", 0, p, n)


def ps6(s, d):
    return lambda p, n: bytes(s) + bytes(d) + struct.pack("!IxxxB", n, p)


C4, V4 = [192, 0, 2, 7], [10, 0, 0, 12]
C6 = bytes.fromhex("20010db8ffff00000000000000000007")
V6 = bytes.fromhex("20010db8000000000000000000000102")


def frames():
    yield "tcp4_syn", eth(0x0800) + ip4(C4, V4, 6, tcp(40000, 80, 0x02, ps4(C4, V4), b"hi"))
    yield "udp6", eth(0x86DD) + ip6(C6, V6, 17, udp(40000, 53, ps6(C6, V6), b"q"))
    yield "tcp4_vlan", eth(0x0800, 100) + ip4(C4, V4, 6, tcp(40001, 80, 0x10, ps4(C4, V4)))
    ext = bytes([17, 0, 1, 4, 0, 0, 0, 0])  # destination options, then UDP
    yield "udp6_ext", eth(0x86DD) + ip6(C6, V6, 60, ext + udp(1, 53, ps6(C6, V6)))
    yield "frag4", eth(0x0800) + ip4(C4, V4, 17, b"\0" * 16, frag=0x2000)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + bytes.fromhex("020000000099") + \
        bytes(C4) + bytes(6) + bytes(V4)
    yield "arp", eth(0x0806) + arp
    icmp = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"ping")
    icmp[2:4] = struct.pack("!H", csum(bytes(icmp)))
    yield "echo4", eth(0x0800) + ip4(C4, V4, 1, bytes(icmp))


def write(corpus, name, data):
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def raw(frame, op=0x00):
    """A pipeline operation: a raw frame (op 0) arriving on the clients' port (bit 3)."""
    return bytes([op | 0x08]) + struct.pack("!H", len(frame)) + frame


def built(vip, flags, sel=0, sport=40000, plen=4, ttl=0x20, op=0x01):
    return bytes([op, vip, flags, sel, plen, ttl]) + struct.pack("!H", sport) + b"\0"


FLUSH, SWEEP, RESEND = b"\x04", b"\x06\xf6", b"\x07"
JUMP_S = b"\x0d\x0a"  # time + 10 * 100 ms
JUMP_H = b"\x15\x10\x00"  # time + 4096 s


def main():
    for name, f in frames():
        write("parse", name, f)
    # The pipeline's programs (fuzz_pipeline.c): VIP k = mode k // 4,
    # v4 tcp, v4 udp, v6 tcp, v6 udp; 16, 17 the weight-0 VIPs.
    for mode, name in enumerate(["dsr", "tunnel", "fnat", "nat"]):
        k = mode * 4
        p = b"\x00" + built(k, 0x02) + built(k + 1, 0) + built(k + 2, 0x02) + built(k + 3, 0)
        p += FLUSH + b"\x02\x00\x12" + b"\x02\x01\x12" + b"\x0a\x02\x00" + FLUSH
        p += built(k, 0x10) + built(k, 0x11) + FLUSH + JUMP_S + RESEND + JUMP_H + SWEEP
        write("pipeline", name + "_1w", p)
        write("pipeline", name + "_2w", b"\x01" + p[1:] + b"\x82\x00\x12" + FLUSH)
    raws = b"".join(raw(f) for _, f in frames())
    write("pipeline", "raw_frames", b"\x01" + raws + FLUSH + b"\x03\x10\x00" + b"\x0b\x12\x00" +
          b"\x0b\x00\x00" + built(16, 0x02) + built(17, 0) + FLUSH)
    write("pipeline", "martians", b"\x00" + b"".join(built(0, 0x02, sel) for sel in
                                                        (3, 4, 5, 6, 0x86, 7, 0x0f)) + FLUSH)
    reqs = [
        b'{"cmd":"status"}\n{"cmd":"help"}\n{"cmd":"stats"}\n',
        b'{"cmd":"vip.add","vip":{"name":"web","address":"10.0.0.100","port":80,'
        b'"mode":"fnat","local_addresses":["10.0.0.50"],"backends":[{"address":"10.0.0.11",'
        b'"port":8080,"weight":2,"mac":"02:00:00:00:01:01"}]}}\n'
        b'{"cmd":"backend.add","vip":"web","backend":{"address":"10.0.0.12","port":8080}}\n'
        b'{"cmd":"backend.set","vip":"web","address":"10.0.0.12","port":8080,'
        b'"state":"drain","drain_deadline":5}\n'
        b'{"cmd":"vip.set","vip":{"name":"web","scheduler":"maglev","maglev_table_size":251}}\n'
        b'{"cmd":"vip.list"}\n{"cmd":"backend.del","vip":"web","address":"10.0.0.11",'
        b'"port":8080}\n{"cmd":"vip.del","vip":"web"}\n',
        b'{"cmd":"vip.add","vip":{"address":"2001:db8::100","port":53,"protocol":"udp",'
        b'"backends":[{"address":"2001:db8::11"}]}}\n{"cmd":"stats"}\n'
        b'{"cmd":"vip.del","vip":"[2001:db8::100]:53/udp"}\n',
        b'{"cmd":"status"} {"cmd":"status"}\n{"cmd":"x","cmd":"y"}\n{"cmd":"a\\u0000b"}\n',
    ]
    for i, r in enumerate(reqs):
        write("api", "req%d" % i, r)


main()
