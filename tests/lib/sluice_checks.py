# SPDX-License-Identifier: BSD-3-Clause
"""What the Python integration tests share: the "ok - / FAIL -" reporting
and a client of the data plane's API socket (one JSON request per line)."""
import json
import socket


class Checks:
    """Counts and prints each check: "ok   - what" or "FAIL - what detail"."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   - " + what)
        else:
            self.failed += 1
            print("FAIL - %s %s" % (what, detail) if detail else "FAIL - " + what)


class Api:
    """One connection to the data plane's API: api(cmd="stats") -> the answer."""

    def __init__(self, path, timeout=None):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if timeout is not None:
            self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rw")

    def __call__(self, **req):
        self.f.write(json.dumps(req) + "\n")
        self.f.flush()
        return json.loads(self.f.readline())

    def raw(self, line):
        """Sends <line> as it is (a newline added); the one answer."""
        self.f.write(line + "\n")
        self.f.flush()
        return json.loads(self.f.readline())

    def close(self):
        self.f.close()
        self.s.close()
