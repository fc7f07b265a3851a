#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sluice test HTTP client: one new TCP connection per request, bounded in count and time.

Stdlib only; run it with /usr/bin/python3 inside the client namespace, e.g.
  ip netns exec P-cl /usr/bin/python3 http_client.py --url http://198.18.1.100/ --count 200

Prints ONE JSON object on stdout at the end:
  {"ok": n, "failed": n, "by_backend": {"b1": n, ...}, "errors": {"timeout": n, ...},
   "seconds": x (wall time, holds included), "run_seconds": x (request loop only),
   "requests": attempted, "not_run": n, "latency_ms": {...},
   "first_failure_s": x|null, "last_failure_s": x|null, "url": ...,
   "held": {...}   (only with --hold; "final_request" = one more request on each
                    held connection at the end, showing it survived)}
The backend name comes from the X-Backend response header (else the body's first line).
Error keys: connect_timeout (no SYN-ACK in time), timeout (connected, no complete
response in time), refused, reset, unreachable, short_read, bad_response,
status_<code> (anything but 200), bad_sha (--bytes body or digest wrong), oserror_<errno>.
Exit status: 0 after a run (even with failures: callers judge), 2 on bad usage.
SIGTERM/SIGINT stop the run early; the summary is still printed.
"""

import argparse
import errno
import hashlib
import json
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse


def make_bytes(n):
    """Must match http_backend.make_bytes."""
    return random.Random(n).randbytes(n)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


class Failure(Exception):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def classify_oserror(e, connecting):
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "connect_timeout" if connecting else "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "reset"
    if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
        return "unreachable"
    if e.errno == errno.ETIMEDOUT:
        return "connect_timeout" if connecting else "timeout"
    return "oserror_%s" % (errno.errorcode.get(e.errno, e.errno) if e.errno else type(e).__name__)


class Runner:
    """Runs fn(end_time) -> backend name, count times, C at a time, bounded by time."""

    def __init__(self, count, concurrency, max_seconds, rate, stop, events=None):
        self.count = count
        self.events = events  # file: one JSON line per request (--events)
        self.concurrency = max(1, min(concurrency, max(1, count)))
        self.max_seconds = max_seconds
        self.rate = rate
        self.stop = stop
        self.lock = threading.Lock()
        self.next_index = 0
        self.ok = 0
        self.failed = 0
        self.by_backend = {}
        self.errors = {}
        self.lat_ms = []
        self.first_fail = None
        self.last_fail = None
        self.t0 = None
        self.deadline = None

    def _take(self):
        with self.lock:
            if self.next_index >= self.count:
                return None
            i = self.next_index
            self.next_index += 1
            return i

    def _worker(self, fn, timeout):
        while not self.stop.is_set():
            if time.monotonic() >= self.deadline:
                return
            i = self._take()
            if i is None:
                return
            if self.rate > 0:
                start_at = self.t0 + i / self.rate
                delay = start_at - time.monotonic()
                if delay > 0:
                    if start_at >= self.deadline or self.stop.wait(delay):
                        return   # counted in not_run
            t = time.monotonic()
            end = min(t + timeout, self.deadline)
            try:
                backend = fn(end)
                err = None
            except Failure as f:
                err = f.key
            except OSError as e:
                err = classify_oserror(e, False)
            el = time.monotonic() - t
            with self.lock:
                if self.events is not None:
                    self.events.write(json.dumps({
                        "t": round(t - self.t0, 4),
                        "wall": round(time.time() - el, 4),  # epoch seconds at the start
                        "backend": backend if err is None else None, "error": err,
                        "ms": round(el * 1000.0, 3)}) + "\n")
                if err is None:
                    self.ok += 1
                    self.by_backend[backend] = self.by_backend.get(backend, 0) + 1
                    self.lat_ms.append(el * 1000.0)
                else:
                    self.failed += 1
                    self.errors[err] = self.errors.get(err, 0) + 1
                    off = round(t - self.t0, 3)
                    if self.first_fail is None:
                        self.first_fail = off
                    self.last_fail = off

    def run(self, fn, timeout):
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.max_seconds
        threads = [threading.Thread(target=self._worker, args=(fn, timeout), daemon=True)
                   for _ in range(self.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, self.deadline - time.monotonic()) + timeout + 2.0)
        self.seconds = time.monotonic() - self.t0

    def summary(self):
        with self.lock:
            lat = sorted(self.lat_ms)
            attempted = self.ok + self.failed
            return {
                "ok": self.ok,
                "failed": self.failed,
                "by_backend": dict(sorted(self.by_backend.items())),
                "errors": dict(sorted(self.errors.items())),
                "seconds": round(self.seconds, 3),
                "requests": attempted,
                "not_run": max(0, self.count - attempted),
                "latency_ms": {
                    "min": round(lat[0], 3) if lat else None,
                    "p50": round(percentile(lat, 50), 3) if lat else None,
                    "p90": round(percentile(lat, 90), 3) if lat else None,
                    "p99": round(percentile(lat, 99), 3) if lat else None,
                    "max": round(lat[-1], 3) if lat else None,
                },
                "first_failure_s": self.first_fail,
                "last_failure_s": self.last_fail,
            }


def install_stop_handlers():
    stop = threading.Event()

    def _h(_sig, _frm):
        stop.set()
    signal.signal(signal.SIGTERM, _h)
    signal.signal(signal.SIGINT, _h)
    return stop


def resolve(host, port, kind):
    try:
        ai = socket.getaddrinfo(host, port, 0, kind, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        ai = socket.getaddrinfo(host, port, 0, kind)
    fam, _, _, _, sa = ai[0]
    return fam, sa


class HttpTarget:
    def __init__(self, url, nbytes):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("only http://HOST[:PORT]/PATH URLs are supported")
        self.host = u.hostname
        self.port = u.port or 80
        self.path = u.path or "/"
        if u.query:
            self.path += "?" + u.query
        self.nbytes = nbytes
        self.expect_sha = None
        if nbytes is not None:
            self.path = "/bytes/%d" % nbytes
            self.expect_sha = hashlib.sha256(make_bytes(nbytes)).hexdigest()
        self.family, self.sockaddr = resolve(self.host, self.port, socket.SOCK_STREAM)
        hosthdr = "[%s]" % self.host if ":" in self.host else self.host
        if self.port != 80:
            hosthdr += ":%d" % self.port
        self.hosthdr = hosthdr

    def request_bytes(self, keepalive):
        return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-test-client\r\n"
                "Connection: %s\r\n\r\n" % (self.path, self.hosthdr,
                                            "keep-alive" if keepalive else "close")).encode()

    def connect(self, end):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            rem = end - time.monotonic()
            if rem <= 0:
                raise Failure("connect_timeout")
            s.settimeout(rem)
            s.connect(self.sockaddr)
        except OSError as e:
            s.close()
            raise Failure(classify_oserror(e, True)) from None
        except BaseException:
            s.close()
            raise
        return s

    @staticmethod
    def _recv(s, end, n=65536):
        rem = end - time.monotonic()
        if rem <= 0:
            raise Failure("timeout")
        s.settimeout(rem)
        try:
            return s.recv(n)
        except OSError as e:
            raise Failure(classify_oserror(e, False)) from None

    def exchange(self, s, end, keepalive):
        """Send one request on s, read the whole response; return backend name."""
        s.settimeout(max(0.001, end - time.monotonic()))
        try:
            s.sendall(self.request_bytes(keepalive))
        except OSError as e:
            raise Failure(classify_oserror(e, False)) from None
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self._recv(s, end)
            if not chunk:
                raise Failure("short_read" if buf else "reset")
            buf += chunk
            if len(buf) > 65536:
                raise Failure("bad_response")
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            _ver, code, _ = (lines[0] + " ").split(" ", 2)
            code = int(code)
        except ValueError:
            raise Failure("bad_response") from None
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        clen = hdrs.get("content-length")
        h = hashlib.sha256() if self.expect_sha else None
        got = 0
        first = b""
        if clen is not None:
            try:
                clen = int(clen)
            except ValueError:
                raise Failure("bad_response") from None
            while True:
                take = body[:clen - got]
                if take:
                    got += len(take)
                    if h:
                        h.update(take)
                    if len(first) < 256:
                        first += take[:256]
                if got >= clen:
                    break
                body = self._recv(s, end, 262144)
                if not body:
                    raise Failure("short_read")
        else:   # read to EOF
            while True:
                if body:
                    got += len(body)
                    if h:
                        h.update(body)
                    if len(first) < 256:
                        first += body[:256]
                body = self._recv(s, end, 262144)
                if not body:
                    break
        if code != 200:
            raise Failure("status_%d" % code)
        if self.expect_sha:
            if got != self.nbytes or h.hexdigest() != self.expect_sha \
                    or hdrs.get("x-sha256", self.expect_sha) != self.expect_sha:
                raise Failure("bad_sha")
        name = hdrs.get("x-backend")
        if not name:
            name = first.split(b"\n", 1)[0].decode("utf-8", "replace").strip() or "?"
        return name

    def one(self, end):
        s = self.connect(end)
        try:
            name = self.exchange(s, end, keepalive=False)
            # Let the server close first (its FIN follows the response), so the
            # TIME_WAIT lands on the backend rather than eating client ports.
            try:
                s.settimeout(max(0.001, min(0.2, end - time.monotonic())))
                s.recv(1)
            except OSError:
                pass
            return name
        finally:
            s.close()


def open_holds(target, k, timeout, deadline, stop, gap):
    held = []
    res = {"ok": 0, "failed": 0, "by_backend": {}, "errors": {}}
    for i in range(k):
        if i and gap > 0:
            stop.wait(max(0.0, min(gap, deadline - time.monotonic())))
        if stop.is_set() or time.monotonic() >= deadline:
            break
        end = min(time.monotonic() + timeout, deadline)
        s = None
        try:
            s = target.connect(end)
            name = target.exchange(s, end, keepalive=True)
        except Failure as f:
            if s is not None:
                s.close()
            res["failed"] += 1
            res["errors"][f.key] = res["errors"].get(f.key, 0) + 1
            continue
        held.append(s)
        res["ok"] += 1
        res["by_backend"][name] = res["by_backend"].get(name, 0) + 1
    res["by_backend"] = dict(sorted(res["by_backend"].items()))
    return held, res


def main():
    ap = argparse.ArgumentParser(description="Sluice test HTTP client (JSON summary on stdout)")
    ap.add_argument("--url", required=True, help="http://HOST[:PORT]/PATH, HOST may be [v6]")
    ap.add_argument("--count", type=int, default=100, help="max requests (default 100)")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="hard stop (default 30)")
    ap.add_argument("--timeout", type=float, default=2.0, help="per request, s (default 2)")
    ap.add_argument("--concurrency", type=int, default=1, help="parallel requests (default 1)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="start at most this many requests per second in total (0 = no limit)")
    ap.add_argument("--bytes", type=int, default=None, metavar="N",
                    help="fetch /bytes/N and verify its SHA-256")
    ap.add_argument("--hold", type=int, default=0, metavar="K",
                    help="first open K keep-alive connections (one request each) and keep them "
                         "open until the end; with --count 0, until --max-seconds or SIGTERM")
    ap.add_argument("--hold-gap", type=float, default=0.0, metavar="S",
                    help="wait S seconds between opening one --hold connection and the next "
                         "(a multi-lcore balancer shares its connection counts with a delay)")
    ap.add_argument("--events", default=None, metavar="FILE",
                    help="write one JSON line per request: start (s into the run, and epoch "
                         "seconds), backend or error, duration in ms")
    ap.add_argument("--ready-file", default=None,
                    help="touch this file once the --hold connections are open")
    args = ap.parse_args()
    if args.count < 0 or args.max_seconds <= 0 or args.timeout <= 0 or args.concurrency < 1 \
            or args.concurrency > 1024 or args.hold < 0 or args.hold > 60000 or args.rate < 0 \
            or not 0 <= args.hold_gap <= 10 \
            or (args.bytes is not None and not 0 <= args.bytes <= 64 * 1024 * 1024):
        ap.error("bad numeric argument")
    try:
        target = HttpTarget(args.url, args.bytes)
    except (ValueError, OSError) as e:
        ap.error("bad --url: %s" % e)

    stop = install_stop_handlers()
    t_start = time.monotonic()
    hard_deadline = t_start + args.max_seconds
    held, held_res = [], None
    if args.hold:
        held, held_res = open_holds(target, args.hold, args.timeout, hard_deadline, stop,
                                      args.hold_gap)
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write("%d\n" % len(held))

    events = open(args.events, "w") if args.events else None
    runner = Runner(args.count, args.concurrency,
                    max(0.001, hard_deadline - time.monotonic()), args.rate, stop, events)
    if args.count > 0:
        runner.run(target.one, args.timeout)
    else:
        runner.t0 = time.monotonic()
        if held:
            stop.wait(max(0.0, hard_deadline - time.monotonic()))
        runner.seconds = time.monotonic() - runner.t0
    out = runner.summary()
    out["run_seconds"] = out["seconds"]
    out["seconds"] = round(time.monotonic() - t_start, 3)
    out["url"] = args.url
    if held_res is not None:
        held_res["open_at_end"] = len(held)
        # One more request on every held connection: shows it survived the run
        # (e.g. its backend was drained or removed meanwhile) and where it went.
        fin = {"ok": 0, "failed": 0, "by_backend": {}, "errors": {}}
        for s in held:
            try:
                name = target.exchange(s, time.monotonic() + args.timeout, keepalive=False)
                fin["ok"] += 1
                fin["by_backend"][name] = fin["by_backend"].get(name, 0) + 1
            except Failure as f:
                fin["failed"] += 1
                fin["errors"][f.key] = fin["errors"].get(f.key, 0) + 1
        fin["by_backend"] = dict(sorted(fin["by_backend"].items()))
        held_res["final_request"] = fin
        out["held"] = held_res
    for s in held:
        s.close()
    if events is not None:
        events.close()
    sys.stdout.write(json.dumps(out, sort_keys=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
