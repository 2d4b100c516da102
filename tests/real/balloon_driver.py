#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_virtio_balloon.py, run inside the L1 next to the VMM.

Runs the VMM (argv) with a QMP and a human-monitor socket added, copies its
stdout (the guest console) to ours, and when the guest prints
VMM-BALLOON-FILLED (it has touched ~300 MiB and freed it again):

1. reads the VMM's VmRSS, asks QMP `balloon` for 128 MiB, polls
   `query-balloon` until actual <= 136 MiB, reads VmRSS again;
2. asks the monitor `info balloon` (twice, 2.5 s apart: the first request
   also hands the stats buffer back to the guest for fresh figures);
3. asks for 512 MiB again and polls until actual is back.

Prints "@@balloon ..." lines with the figures, "@@qmp ..." for replies and
events (BALLOON_CHANGE summarised as a count and the last value), and
"@@vmm rc=N" at the end; exits with the VMM's status."""
import json
import os
import select
import socket
import subprocess
import sys
import re
import tempfile
import threading
import time

import qmp_client

READY = b"VMM-BALLOON-FILLED"
MiB = 1 << 20
LOW, HIGH = 128 * MiB, 512 * MiB
POLL_TIMEOUT = 150


LOCK = threading.Lock()


def out(line, raw=False):
    with LOCK:
        sys.stdout.buffer.write(line if raw else line.encode() + b"\n")
        sys.stdout.buffer.flush()


class Qmp(qmp_client.Qmp):
    def __init__(self, path):
        self.changes = []
        super().__init__(path)

    def note(self, m):
        if m["event"] == "BALLOON_CHANGE":
            self.changes.append(m["data"]["actual"])
        else:
            out("@@qmp %s %s" % (m["event"], json.dumps(m.get("data", {}))))

    def drain(self):
        # BALLOON_CHANGE comes at most once a second (QEMU and vmm): the
        # last value may follow the last change by up to a second.
        super().drain(1.5)


class Monitor:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(30)
        self.buf = b""
        self.until_prompt()

    def until_prompt(self):
        while not self.buf.rstrip().endswith(b")"):
            d = self.sock.recv(4096)
            if not d:
                raise EOFError
            self.buf += d
        text, self.buf = self.buf, b""
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text.decode(errors="replace"))

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        text = self.until_prompt()
        # Drop the echo (QEMU) and the prompt.
        return [ln.strip() for ln in text.replace("\r", "").split("\n")
                if ln.strip() and not ln.strip().startswith("(") and ln.strip() != line]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return -1


def poll_actual(qmp, cond, start):
    t0 = time.monotonic()
    n = 0
    while True:
        r = qmp.cmd("query-balloon")
        actual = r.get("return", {}).get("actual", -1)
        if cond(actual) or time.monotonic() - t0 > POLL_TIMEOUT:
            return actual, time.monotonic() - t0
        n += 1
        if n % 20 == 0:  # the harness kills a command silent for too long
            out("@@balloon polling actual=%d" % actual)
        time.sleep(0.5)


def exercise(p, qsock, msock, start):
    try:
        qmp, mon = Qmp(qsock), Monitor(msock)
        steps(p, qmp, mon, start)
    except Exception as e:  # report it; the guest still finishes
        out("@@balloon driver error: %r" % e)


def steps(p, qmp, mon, start):
    qmp.cmd("qmp_capabilities")
    out("@@qmp query-balloon -> %s" % json.dumps(qmp.cmd("query-balloon")))
    r = qmp.cmd("balloon", value=0)
    out("@@qmp balloon-zero -> %s" % json.dumps(r.get("error", r)))
    time.sleep(1)
    rss0 = rss_kib(p.pid)
    r = qmp.cmd("balloon", value=LOW)
    out("@@qmp balloon-low -> %s at %.1fs" % (json.dumps(r), time.monotonic() - start))
    actual, dt = poll_actual(qmp, lambda a: 0 < a <= LOW + 8 * MiB, start)
    time.sleep(1)
    rss1 = rss_kib(p.pid)
    out("@@balloon inflated actual=%d after %.1fs rss_before_kib=%d rss_after_kib=%d drop_mib=%d"
        % (actual, dt, rss0, rss1, (rss0 - rss1) // 1024))
    for i in range(2):
        for ln in mon.cmd("info balloon"):
            out("@@hmp info balloon %d: %s" % (i, ln))
        time.sleep(2.5)
    r = qmp.cmd("balloon", value=HIGH)
    out("@@qmp balloon-high -> %s" % json.dumps(r))
    actual, dt = poll_actual(qmp, lambda a: a >= HIGH, start)
    out("@@balloon deflated actual=%d after %.1fs rss_kib=%d" % (actual, dt, rss_kib(p.pid)))
    qmp.drain()
    out("@@qmp BALLOON_CHANGE count=%d min=%s last=%s" % (
        len(qmp.changes), min(qmp.changes) if qmp.changes else None,
        qmp.changes[-1] if qmp.changes else None))


def main():
    d = tempfile.mkdtemp(prefix="vmmbal")
    qsock, msock = os.path.join(d, "qmp.sock"), os.path.join(d, "mon.sock")
    argv = sys.argv[1:] + ["-qmp", "unix:%s,server=on,wait=off" % qsock,
                           "-monitor", "unix:%s,server=on,wait=off" % msock]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    worker = None
    seen = b""
    while True:
        r, _, _ = select.select([p.stdout], [], [], 1.0)
        if not r:
            continue
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            break
        out(data, raw=True)
        seen = (seen + data)[-4096:]
        if not worker and READY in seen:
            worker = threading.Thread(target=exercise, args=(p, qsock, msock, start))
            worker.start()
    rc = p.wait()
    if worker:
        worker.join(5)
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
