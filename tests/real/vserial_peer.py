#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_virtio_console.py, run inside the L1 next to the VMM:
waits until the guest console log (argv[2]) shows VMM-VPORT-READY, connects
to the virtserialport's unix socket (argv[1]), sends one line and reads the
guest's answer. Prints "@@sent LINE" and "@@reply LINE" (or "@@error ...")."""
import os
import socket
import sys
import time


def main():
    sock_path, log_path = sys.argv[1], sys.argv[2]
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        try:
            with open(log_path, "rb") as f:
                log = f.read()
        except OSError:
            log = b""
        if b"VMM-VPORT-READY" in log:
            break
        if b"VMMKIT-DONE" in log:
            print("@@error guest finished before its port was ready", flush=True)
            return 1
        time.sleep(0.2)
    else:
        print("@@error no VMM-VPORT-READY", flush=True)
        return 1
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(120)
    s.connect(sock_path)
    line = "VMM-PING-%s" % os.urandom(8).hex()
    s.sendall(line.encode() + b"\n")
    print("@@sent " + line, flush=True)
    buf = b""
    try:
        while b"\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except socket.timeout:
        print("@@error timeout, got %r" % buf, flush=True)
        return 1
    print("@@reply " + buf.split(b"\n", 1)[0].decode(errors="replace"), flush=True)
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
