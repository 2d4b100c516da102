#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP sink for tools/bench/virtio_net.py: accepts RUNS connections one
after the other on ADDR:PORT, reads each to EOF and prints
"@@run BYTES SECONDS" (first byte to EOF, host clock), then exits.

    net_sink.py ADDR PORT RUNS [TIMEOUT]
"""
import socket
import sys
import time


def main(argv):
    addr, port, runs = argv[1], int(argv[2]), int(argv[3])
    timeout = float(argv[4]) if len(argv) > 4 else 600
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    s.settimeout(timeout)
    print("@@sink listening %s:%d" % (addr, port), flush=True)
    buf = bytearray(1 << 20)
    for _ in range(runs):
        c, _ = s.accept()
        c.settimeout(timeout)
        n, t0 = 0, None
        while True:
            k = c.recv_into(buf)
            if not k:
                break
            if t0 is None:
                t0 = time.monotonic()
            n += k
        dt = time.monotonic() - t0 if t0 is not None else 0.0
        c.close()
        print("@@run %d %.4f" % (n, dt), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
