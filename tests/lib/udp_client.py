#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sluice test UDP client: N datagrams, each from a NEW socket (new source port = new
flow), to HOST:PORT; waits for the backend's echo "<name> <payload>".

Stdlib only; run it with /usr/bin/python3 inside the client namespace, e.g.
  ip netns exec P-cl /usr/bin/python3 udp_client.py --host 198.18.1.100 --count 100

The socket is connect()ed, so only a reply whose source is exactly HOST:PORT counts:
a DSR backend that answered from its own address instead of the VIP shows up as
"timeout". Prints ONE JSON object (same shape as http_client.py):
  {"ok": n, "failed": n, "by_backend": {"b1": n, ...}, "errors": {"timeout": n, ...},
   "seconds": x, "requests": n, "not_run": n, "latency_ms": {...}, ...}
Error keys: timeout, refused (ICMP port unreachable), unreachable, bad_reply,
oserror_<errno>. Exit 0 after a run, 2 on bad usage.
"""

import argparse
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True   # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_client import Failure, Runner, classify_oserror, install_stop_handlers, resolve  # noqa: E402


class UdpTarget:
    def __init__(self, host, port, size):
        self.family, self.sockaddr = resolve(host, port, socket.SOCK_DGRAM)
        self.size = size

    def one(self, end):
        token = "req-%s-%d" % (os.urandom(6).hex(), os.getpid())
        payload = token.encode()
        if len(payload) < self.size:
            payload += b"." * (self.size - len(payload))
        s = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            try:
                s.connect(self.sockaddr)       # binds a fresh ephemeral port
                s.send(payload)
            except OSError as e:
                raise Failure(classify_oserror(e, False)) from None
            while True:
                rem = end - time.monotonic()
                if rem <= 0:
                    raise Failure("timeout")
                s.settimeout(rem)
                try:
                    data = s.recv(65535)
                except OSError as e:
                    raise Failure(classify_oserror(e, False)) from None
                name, sep, rest = data.partition(b" ")
                if sep and rest == payload and name:
                    return name.decode("utf-8", "replace")
                # a stray / stale datagram: keep waiting for ours
                if not sep or rest[:len(token)] != payload[:len(token)]:
                    continue
                raise Failure("bad_reply")
        finally:
            s.close()


def main():
    ap = argparse.ArgumentParser(description="Sluice test UDP client (JSON summary on stdout)")
    ap.add_argument("--host", required=True, help="destination address (VIP), v4 or v6")
    ap.add_argument("--port", type=int, default=9000, help="destination port (default 9000)")
    ap.add_argument("--count", type=int, default=100, help="datagrams / flows (default 100)")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="hard stop (default 30)")
    ap.add_argument("--timeout", type=float, default=2.0, help="wait per echo, s (default 2)")
    ap.add_argument("--concurrency", type=int, default=1, help="parallel flows (default 1)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="start at most this many flows per second in total (0 = no limit)")
    ap.add_argument("--size", type=int, default=0, help="pad payload to this many bytes")
    args = ap.parse_args()
    if args.count < 0 or args.max_seconds <= 0 or args.timeout <= 0 or args.concurrency < 1 \
            or args.concurrency > 1024 or not 0 < args.port < 65536 or args.rate < 0 \
            or not 0 <= args.size <= 65000:
        ap.error("bad numeric argument")
    host = args.host.strip("[]")
    try:
        target = UdpTarget(host, args.port, args.size)
    except OSError as e:
        ap.error("bad --host: %s" % e)
    stop = install_stop_handlers()
    runner = Runner(args.count, args.concurrency, args.max_seconds, args.rate, stop)
    if args.count > 0:
        runner.run(target.one, args.timeout)
    else:
        runner.seconds = 0.0
    out = runner.summary()
    out["target"] = "[%s]:%d" % (host, args.port) if ":" in host else "%s:%d" % (host, args.port)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
