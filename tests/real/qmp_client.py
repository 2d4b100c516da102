# SPDX-License-Identifier: GPL-2.0-or-later
"""A small QMP client for the host-side drivers of the real-guest tests
(qmp_powerdown.py, balloon_driver.py), which run inside the L1 next to the
VMM: connect, skip the greeting, run commands, and hand every event to
note() (subclasses decide what to print)."""
import json
import socket


class Qmp:
    def __init__(self, path, timeout=30):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.read()  # greeting

    def read(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        """Runs a command; events that arrive before its reply go to note()."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self.read()
            if "event" in m:
                self.note(m)
            else:
                return m

    def note(self, m):
        pass

    def drain(self, wait=0.2):
        """Reads the events that arrive within 'wait' seconds of each other."""
        self.sock.settimeout(wait)
        try:
            while True:
                self.note(self.read())
        except (socket.timeout, EOFError, OSError, ValueError):
            pass
        self.sock.settimeout(self.timeout)
