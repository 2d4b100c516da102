#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP sink for tools/bench/nics.py and tests/real/test_nics_tap.py:
listens on ADDR at PORT (or at every port of FIRST-LAST), accepts RUNS
connections per port, whichever port comes first, reads each to EOF and
prints "@@run BYTES SECONDS PORT" (first byte to EOF, host clock; with
--sha256 " sha=HEX" after it), then exits. While a stream runs, it prints
"@@sink PORT BYTES" every PROGRESS seconds in which bytes came, so that a
slow stream is not taken for a silent (hung) guest.

    net_sink.py [--sha256] ADDR PORT|FIRST-LAST RUNS [TIMEOUT]
"""
import hashlib
import selectors
import socket
import sys
import time

PROGRESS = 20.0


def port_range(text):
    """[ports] from "15001" or "15001-15004"."""
    first, _, last = text.partition("-")
    ports = list(range(int(first), int(last or first) + 1))
    if not ports:
        raise ValueError("empty port range %r" % text)
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


def drain(conn, port, timeout, sha):
    """(bytes, seconds from the first byte to EOF, sha256 or None)."""
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
            print("@@sink %d %d" % (port, n), flush=True)
            said, said_n = now, n
    dt = time.monotonic() - t0 if t0 is not None else 0.0
    return n, dt, h.hexdigest() if h else None


def main(argv):
    sha = "--sha256" in argv
    argv = [a for a in argv if a != "--sha256"]
    addr, ports, runs = argv[1], port_range(argv[2]), int(argv[3])
    timeout = float(argv[4]) if len(argv) > 4 else 600
    sel = selectors.DefaultSelector()
    left = {}
    for s in listen(addr, ports):
        sel.register(s, selectors.EVENT_READ)
        left[s] = runs
    print("@@sink listening %s:%s" % (addr, argv[2]), flush=True)
    while left:
        ready = sel.select(timeout)
        if not ready:
            print("@@sink no connection in %.0f s" % timeout, flush=True)
            return 1
        for key, _ in ready:
            s = key.fileobj
            conn, _ = s.accept()
            port = s.getsockname()[1]
            n, dt, digest = drain(conn, port, timeout, sha)
            conn.close()
            print("@@run %d %.4f %d%s" % (n, dt, port, " sha=" + digest if digest else ""),
                  flush=True)
            left[s] -= 1
            if not left[s]:
                sel.unregister(s)
                s.close()
                del left[s]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
