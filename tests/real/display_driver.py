#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_display.py, run inside the L1 next to the VMM.

Runs the VMM (argv) with a QMP socket added, copies its stdout (the guest
console) to ours, and at each "VMM-FB-READY N name=.. bpp=B stride=S
size=W,H" line from the guest takes a QMP screendump and compares it with
what the guest wrote to /dev/fb0: the pattern bytes of pattern_byte() from
the framebuffer's first byte, decoded as the framebuffer's format (16 bpp
RGB565, 32 bpp XRGB8888; the screendump widens 5 and 6 bits by repeating
their top bits). N = 0 (the kernel log on fbcon) is only checked for not
being blank. At "VMM-FB-TEXT" (known text on fbcon) it prints the dump's
row checksums ("@@text w=.. h=.. lit=.. rows=crc,crc,...") for the test
to compare with QEMU's. Prints "@@shot N w=.. h=.. lit=.. differing=.." per dump and
"@@vmm rc=N" at the end; exits with the VMM's status."""
import os
import re
import sys
import tempfile
import time
import zlib

import qmp_client
from qmp_client import out

READY = re.compile(rb"VMM-FB-READY (\d) name=(.*?) bpp=(\d+) stride=(\d+) size=(\d+),(\d+)")
TEXT = b"VMM-FB-TEXT"


def pattern_byte(j):
    """Byte j of the pattern on the script disk (test_display.py writes it)."""
    return (j * 7 + (j >> 11)) & 0xFF


def expected_pixel(bpp, stride, x, y):
    o = y * stride + x * (bpp // 8)
    if bpp == 16:
        v = pattern_byte(o) | pattern_byte(o + 1) << 8
        r, g, b = v >> 11, (v >> 5) & 63, v & 31
        return bytes(((r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2)))
    return bytes((pattern_byte(o + 2), pattern_byte(o + 1), pattern_byte(o)))


def read_ppm(path):
    data = open(path, "rb").read()
    magic, size, _, pixels = data.split(b"\n", 3)
    w, h = map(int, size.split())
    return w, h, pixels


def shot(qmp, d, m):
    n, bpp, stride = int(m.group(1)), int(m.group(3)), int(m.group(4))
    path = os.path.join(d, "shot%d.ppm" % n)
    r = qmp.cmd("screendump", filename=path)
    if "return" not in r:
        out("@@shot %d error %r" % (n, r))
        return
    w, h, px = read_ppm(path)
    lit = sum(1 for i in range(0, len(px), 3) if px[i:i + 3] != b"\0\0\0")
    differing, rows = -1, []
    if n > 0:
        differing = 0
        for y in range(h):
            bad = sum(1 for x in range(w)
                      if px[(y * w + x) * 3:(y * w + x) * 3 + 3] != expected_pixel(bpp, stride, x, y))
            differing += bad
            if bad:
                rows.append(y)
    out("@@shot %d w=%d h=%d lit=%d differing=%d" % (n, w, h, lit, differing))
    if rows:  # where, to tell a stale band from a wrong format
        out("@@shot %d rows %d-%d (%d rows)" % (n, rows[0], rows[-1], len(rows)))


def text_shot(qmp, d):
    """The fbcon text screendump: lit pixels and a CRC-32 per pixel row,
    which the test compares with QEMU's row by row."""
    path = os.path.join(d, "text.ppm")
    r = qmp.cmd("screendump", filename=path)
    if "return" not in r:
        out("@@text error %r" % (r,))
        return
    w, h, px = read_ppm(path)
    lit = sum(1 for i in range(0, len(px), 3) if px[i:i + 3] != b"\0\0\0")
    rows = ",".join("%08x" % zlib.crc32(px[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    out("@@text w=%d h=%d lit=%d rows=%s" % (w, h, lit, rows))


def main():
    d = tempfile.mkdtemp(prefix="vmmdisp")
    state = {"done": set()}

    def take(sock, what, fn, *args):
        """fn(qmp, ...) once per `what`, on one QMP connection made at first use."""
        state["done"].add(what)
        try:
            if "qmp" not in state:
                state["qmp"] = qmp_client.Qmp(sock)
                state["qmp"].cmd("qmp_capabilities")
            fn(state["qmp"], *args)
        except Exception as e:  # report it; the guest still finishes
            out("@@display driver error: %r" % e)

    def on_console(sock, seen, start):
        if TEXT in seen and "text" not in state["done"] and seen.split(TEXT, 1)[1].count(b"\n"):
            take(sock, "text", text_shot, d)
        for m in READY.finditer(seen):
            if m.group(1) not in state["done"] and seen[m.end():].count(b"\n"):
                take(sock, m.group(1), shot, d, m)

    rc, start = qmp_client.run_vmm_relayed(sys.argv[1:], on_console, "vmmdisp", window=8192)
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
