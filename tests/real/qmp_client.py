# SPDX-License-Identifier: GPL-2.0-or-later
"""A small QMP client for the host-side drivers of the real-guest tests
(qmp_powerdown.py, balloon_driver.py, media_driver.py, input_driver.py,
display_driver.py),
which run inside the L1 next to the VMM: connect, skip the greeting, run
commands, and hand every event to note() (subclasses decide what to
print); and run_vmm_relayed, the VMM started with a QMP socket and its
console relayed, which those drivers share."""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time


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

    def cmd(self, command, /, **args):
        """Runs a command; events that arrive before its reply go to note().
        (command is positional only: set_link has an argument "name".)"""
        msg = {"execute": command}
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


def out(line):
    """One line of the driver's own on stdout, beside the guest console."""
    sys.stdout.buffer.write(line.encode() + b"\n")
    sys.stdout.buffer.flush()


def run_vmm_relayed(argv, on_console, prefix="vmmqmp", window=4096):
    """Runs the VMM (argv) with a QMP socket added, copies its stdout (the
    guest console) to ours, and calls on_console(sock, seen, start) after
    each chunk, seen being the console's last `window` bytes; returns the VMM's
    status and the monotonic time it started. The drivers of the real-guest
    tests act on the console through on_console."""
    sock = os.path.join(tempfile.mkdtemp(prefix=prefix), "qmp.sock")
    argv = list(argv) + ["-qmp", "unix:%s,server=on,wait=off" % sock]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    seen = b""
    while True:
        r, _, _ = select.select([p.stdout], [], [], 1.0)
        if not r:
            continue
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        seen = (seen + data)[-window:]
        on_console(sock, seen, start)
    return p.wait(), start
