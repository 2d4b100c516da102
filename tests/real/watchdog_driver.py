#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a VMM with a QMP socket (added to the given command line) for
test_watchdog.py, inside the L1: copies the guest console (the VMM's
stdout) to ours, and prints, with the seconds since the VMM started,
"@@t MARK" for every console line that starts with WDT- and "@@qmp EVENT
k=v ..." for every QMP event. When the guest prints WDT-REBOOTED (its
second boot), it switches the watchdog action to poweroff over QMP
(watchdog-set-action), so that the second expiry ends the VMM. Prints
"@@vmm rc=N" at the end and exits with the VMM's status."""
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time

import qmp_client

START = time.monotonic()


def out(line):
    sys.stdout.buffer.write(line.encode() + b"\n")
    sys.stdout.buffer.flush()


def now():
    return time.monotonic() - START


class Qmp(qmp_client.Qmp):
    def note(self, m):
        data = m.get("data", {})
        out("@@qmp %s %s t=%.1f" % (m["event"], " ".join("%s=%s" % kv for kv in sorted(data.items())),
                                    now()))


def connect(path, proc):
    """The VMM makes its socket while it starts: try for up to 30 s."""
    for _ in range(300):
        if proc.poll() is not None:
            return None
        try:
            q = Qmp(path)
            assert "return" in q.cmd("qmp_capabilities")
            return q
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.1)
    return None


def main():
    sock = os.path.join(tempfile.mkdtemp(prefix="vmmwdt"), "qmp.sock")
    argv = sys.argv[1:] + ["-qmp", "unix:%s,server=on,wait=off" % sock]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    qmp = connect(sock, p)
    line = b""
    while True:
        fds = [p.stdout] + ([qmp.sock] if qmp else [])
        r, _, _ = select.select(fds, [], [], 1.0)
        if qmp and qmp.sock in r:
            try:
                qmp.note(qmp.read())
                while b"\n" in qmp.buf:
                    qmp.note(qmp.read())
            except (EOFError, OSError, ValueError):
                qmp = None
        if p.stdout not in r:
            continue
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            break
        line += data
        # The console goes out a whole line at a time: a note written after
        # half a line (the rest of it still on its way) would not start a
        # line, and the test reads notes only at the start of one.
        while b"\n" in line:
            one, line = line.split(b"\n", 1)
            sys.stdout.buffer.write(one + b"\n")
            sys.stdout.buffer.flush()
            text = one.decode(errors="replace").strip()
            # A kernel message may land in the middle of a marker's line.
            m = re.match(r"WDT-[A-Z0-9]+(?:-[A-Z0-9]+)*", text)
            if not m:
                continue
            out("@@t %s t=%.1f" % (m.group(0), now()))
            if text.startswith("WDT-REBOOTED") and qmp:
                rep = qmp.cmd("watchdog-set-action", action="poweroff")
                out("@@qmp watchdog-set-action -> %s t=%.1f" % (json.dumps(rep), now()))
    if line:
        sys.stdout.buffer.write(line + b"\n")
        sys.stdout.buffer.flush()
    rc = p.wait()
    if qmp:
        qmp.drain()
    out("@@vmm rc=%d after %.1fs" % (rc, now()))
    sys.exit(rc)


if __name__ == "__main__":
    main()
