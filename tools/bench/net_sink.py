#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP sink for tools/bench/nics.py and tests/real/test_nics_tap.py:
listens on ADDR at every port of PORTS (a port, FIRST-LAST, or several of
those joined by commas), accepts RUNS connections per port, whichever
port comes first, reads each to EOF, several at once (a multiqueue leg
streams to two ports together), and prints "@@run BYTES SECONDS PORT"
(first byte to EOF, host clock; with --sha256 " sha=HEX" after it; with
--times " at=T", the first byte's time on the host's monotonic clock, so
that concurrent streams can be put on one time line), then exits. While
a stream runs, it prints "@@sink PORT BYTES" every PROGRESS seconds in
which bytes came, so that a slow stream is not taken for a silent (hung)
guest. TIMEOUT bounds the wait for a connection while no stream runs.

    net_sink.py [--sha256] [--times] ADDR PORTS RUNS [TIMEOUT]
"""
import hashlib
import selectors
import socket
import sys
import threading
import time

PROGRESS = 20.0


def port_range(text):
    """[ports] from "15001", "15001-15004" or "15001-15002,15007"."""
    ports = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        span = list(range(int(first), int(last or first) + 1))
        if not span:
            raise ValueError("empty port range %r" % part)
        ports += span
    if len(set(ports)) != len(ports):
        raise ValueError("a port given twice in %r" % text)
    return ports


def listen(addr, ports):
    socks = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(4)
        socks.append(s)
    return socks


def drain(conn, port, timeout, sha, say=print):
    """(bytes, seconds from the first byte to EOF, sha256 or None, the
    first byte's monotonic time or None)."""
    conn.settimeout(timeout)
    buf = bytearray(1 << 20)
    n, t0, said, said_n = 0, None, time.monotonic(), 0
    h = hashlib.sha256() if sha else None
    while True:
        k = conn.recv_into(buf)
        if not k:
            break
        if t0 is None:
            t0 = time.monotonic()
        n += k
        if h:
            h.update(memoryview(buf)[:k])
        now = time.monotonic()
        if now - said >= PROGRESS and n != said_n:
            say("@@sink %d %d" % (port, n))
            said, said_n = now, n
    dt = time.monotonic() - t0 if t0 is not None else 0.0
    return n, dt, h.hexdigest() if h else None, t0


class Streams:
    """The streams being drained, each on its own thread; their lines are
    printed whole, one at a time."""

    def __init__(self, timeout, sha, times):
        self.timeout, self.sha, self.times = timeout, sha, times
        self.lock = threading.Lock()
        self.threads = []

    def start(self, conn, port):
        t = threading.Thread(target=self._one, args=(conn, port), daemon=True)
        self.threads.append(t)
        t.start()

    def _one(self, conn, port):
        try:
            n, dt, digest, t0 = drain(conn, port, self.timeout, self.sha, self.say)
        except OSError as e:  # a reset or a stalled stream: no figure
            n, dt, digest, t0 = 0, 0.0, None, None
            self.say("@@sink %d error %s" % (port, e))
        finally:
            conn.close()
        self.say("@@run %d %.4f %d%s%s" % (n, dt, port, " sha=" + digest if digest else "",
                                           " at=%.4f" % t0 if self.times and t0 else ""))

    def say(self, line):
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def running(self):
        self.threads = [t for t in self.threads if t.is_alive()]
        return bool(self.threads)

    def wait(self):
        for t in self.threads:
            t.join()


def main(argv):
    flags = {"--sha256", "--times"}
    sha, times = "--sha256" in argv, "--times" in argv
    argv = [a for a in argv if a not in flags]
    addr, ports, runs = argv[1], port_range(argv[2]), int(argv[3])
    timeout = float(argv[4]) if len(argv) > 4 else 600
    sel = selectors.DefaultSelector()
    left = {}
    for s in listen(addr, ports):
        sel.register(s, selectors.EVENT_READ)
        left[s] = runs
    print("@@sink listening %s:%s" % (addr, argv[2]), flush=True)
    streams = Streams(timeout, sha, times)
    idle_since = time.monotonic()
    while left:
        ready = sel.select(1.0)
        if streams.running():
            idle_since = time.monotonic()
        elif not ready and time.monotonic() - idle_since >= timeout:
            print("@@sink no connection in %.0f s" % timeout, flush=True)
            return 1
        for key, _ in ready:
            s = key.fileobj
            conn, _ = s.accept()
            streams.start(conn, s.getsockname()[1])
            idle_since = time.monotonic()
            left[s] -= 1
            if not left[s]:
                sel.unregister(s)
                s.close()
                del left[s]
    streams.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
