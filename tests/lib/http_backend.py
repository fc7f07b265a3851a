#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sluice test backend: a small dual-stack HTTP/1.1 server (+ optional UDP echo).

Stdlib only; run it with the Debian interpreter, /usr/bin/python3.

HTTP (TCP, --port, bound to '::' with IPV6_V6ONLY off, so it also takes IPv4,
including any VIP configured on the namespace's loopback):
  GET /              -> "<name>\\n"
  GET /bytes/N       -> N deterministic pseudo-random bytes:
                        random.Random(N).randbytes(N), header X-SHA256 = hex digest
                        (0 <= N <= 64 MiB)
  GET /health        -> 200 "ok\\n", or 503 "fail\\n" while --fail-file exists
  GET /status/C      -> status C (100 < C <= 599) with body "<name> C\\n"
  GET /sleep/MS      -> waits MS milliseconds (<= 60000), then "<name>\\n"
  anything else      -> 404
Every response carries "X-Backend: <name>". HEAD is supported. Keep-alive is
honoured (HTTP/1.1); a client that sends "Connection: close" gets one response.

UDP echo (--udp-port, 0 = off): a datagram with payload P is answered with
"<name> P", sent FROM the address the datagram was sent TO (IP_PKTINFO /
IPV6_PKTINFO), so a reply to a VIP on lo leaves with the VIP as source (DSR).

Logging: only errors, to stderr.
"""

import argparse
import errno
import hashlib
import http.server
import os
import random
import selectors
import socket
import socketserver
import struct
import sys
import threading
import time

MAX_BYTES = 64 * 1024 * 1024
CACHE_LIMIT = 128 * 1024 * 1024   # total cached body bytes for /bytes/N
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; missing before 3.12


def make_bytes(n):
    """The deterministic body for /bytes/N (the client computes the same)."""
    return random.Random(n).randbytes(n)


class BytesCache:
    """Bounded cache N -> (body, sha256 hex) so benchmarks don't burn CPU."""

    def __init__(self, limit):
        self.limit = limit
        self.lock = threading.Lock()
        self.items = {}
        self.size = 0

    def get(self, n):
        with self.lock:
            hit = self.items.get(n)
        if hit is not None:
            return hit
        body = make_bytes(n)
        val = (body, hashlib.sha256(body).hexdigest())
        with self.lock:
            if n not in self.items:
                while self.items and self.size + n > self.limit:
                    old = next(iter(self.items))
                    self.size -= old
                    del self.items[old]
                if n <= self.limit:
                    self.items[n] = val
                    self.size += n
        return val


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sluice-test-backend"
    sys_version = ""

    def setup(self):
        self.timeout = self.server.idle_timeout
        super().setup()

    # quiet: no access log; errors only
    def log_message(self, fmt, *args):  # noqa: D401
        pass

    def log_error(self, fmt, *args):
        sys.stderr.write("%s: %s: %s\n" % (self.server.name, self.address_string(), fmt % args))

    def _send(self, code, body, extra=None, head=False):
        self.send_response(code)
        self.send_header("X-Backend", self.server.name)
        self.send_header("Content-Type", "text/plain" if not extra or "X-SHA256" not in extra
                         else "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            mv = memoryview(body)
            for off in range(0, len(body), 256 * 1024):
                self.wfile.write(mv[off:off + 256 * 1024])

    def _route(self, head):
        name = self.server.name
        path = self.path.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        try:
            if not parts:
                return self._send(200, (name + "\n").encode(), head=head)
            if parts[0] == "bytes" and len(parts) == 2:
                n = int(parts[1])
                if n < 0 or n > MAX_BYTES:
                    return self._send(400, b"bad size\n", head=head)
                body, digest = self.server.cache.get(n)
                return self._send(200, body, {"X-SHA256": digest}, head=head)
            if parts[0] == "health" and len(parts) == 1:
                ff = self.server.fail_file
                if ff and os.path.exists(ff):
                    return self._send(503, b"fail\n", head=head)
                return self._send(200, b"ok\n", head=head)
            if parts[0] == "status" and len(parts) == 2:
                code = int(parts[1])
                if not 100 < code <= 599:
                    return self._send(400, b"bad status\n", head=head)
                return self._send(code, ("%s %d\n" % (name, code)).encode(), head=head)
            if parts[0] == "sleep" and len(parts) == 2:
                ms = int(parts[1])
                if ms < 0 or ms > 60000:
                    return self._send(400, b"bad delay\n", head=head)
                time.sleep(ms / 1000.0)
                return self._send(200, (name + "\n").encode(), head=head)
        except ValueError:
            return self._send(400, b"bad number\n", head=head)
        return self._send(404, b"not found\n", head=head)

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)


class DualStackServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096
    block_on_close = False

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)   # skip HTTPServer's getfqdn()
        self.server_name = self.name
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout, BrokenPipeError)):
            return
        sys.stderr.write("%s: error from %r: %r\n" % (self.name, client_address, exc))


# ---------------------------------------------------------------- UDP echo
def _udp_socket(family, port):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))
    s.setblocking(False)
    return s


def _reply_cmsg(family, ancdata):
    """Build the PKTINFO cmsg that sets the reply's source = request's destination."""
    for level, ctype, data in ancdata:
        if family == socket.AF_INET and level == socket.IPPROTO_IP and ctype == IP_PKTINFO:
            # struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
            _ifindex, _spec, addr = struct.unpack("i4s4s", data[:12])
            return [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, addr, b"\0" * 4))]
        if family == socket.AF_INET6 and level == socket.IPPROTO_IPV6 \
                and ctype == socket.IPV6_PKTINFO:
            # struct in6_pktinfo { in6_addr addr; unsigned int ifindex; }
            addr = data[:16]
            return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, struct.pack("16sI", addr, 0))]
    return []


def udp_echo(name, port, ready, status):
    try:
        _udp_echo(name, port, ready)
    except Exception as e:  # noqa: BLE001 - report any start-up failure to main()
        status["error"] = e
        ready.set()


def _udp_echo(name, port, ready):
    sel = selectors.DefaultSelector()
    socks = []
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            s = _udp_socket(fam, port)
        except OSError as e:
            # e.g. IPv6 disabled in this namespace
            if fam == socket.AF_INET6 and e.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                continue
            raise
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, fam)
    ready.set()
    prefix = (name + " ").encode()
    while True:
        for key, _ in sel.select():
            s, fam = key.fileobj, key.data
            for _ in range(64):
                try:
                    data, anc, _flags, addr = s.recvmsg(65535, 256)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                try:
                    s.sendmsg([prefix + data], _reply_cmsg(fam, anc), 0, addr)
                except OSError as e:
                    sys.stderr.write("%s: udp reply to %r failed: %s\n" % (name, addr, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--name", required=True, help="backend name, e.g. b1")
    ap.add_argument("--port", type=int, default=80, help="TCP port for HTTP (default 80)")
    ap.add_argument("--udp-port", type=int, default=0, help="UDP echo port (0 = off)")
    ap.add_argument("--fail-file", default="",
                    help="while this file exists, GET /health answers 503")
    ap.add_argument("--idle-timeout", type=float, default=300.0,
                    help="close a keep-alive connection idle this long (s, default 300)")
    args = ap.parse_args()
    if not 0 < args.port < 65536 or not 0 <= args.udp_port < 65536:
        ap.error("bad port")

    srv = DualStackServer.__new__(DualStackServer)
    srv.name = args.name
    srv.fail_file = args.fail_file
    srv.idle_timeout = args.idle_timeout if args.idle_timeout > 0 else None
    srv.cache = BytesCache(CACHE_LIMIT)
    DualStackServer.__init__(srv, ("::", args.port), Handler)

    if args.udp_port:
        ready, status = threading.Event(), {}
        t = threading.Thread(target=udp_echo, args=(args.name, args.udp_port, ready, status),
                             daemon=True)
        t.start()
        if not ready.wait(5) or "error" in status:
            sys.stderr.write("%s: UDP echo did not start: %r\n"
                             % (args.name, status.get("error")))
            return 1
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
