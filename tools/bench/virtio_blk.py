#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk sequential throughput, vmm vs QEMU, with a stock Linux guest.

Both VMMs boot the guest kit's amd64 CD under hardware virtualization (the
nested L1 on machines without VT-x, see docs/testing.md) with two virtio
disks: a script disk and a blank 64 MiB disk. The guest writes the disk
with O_DIRECT 1 MiB blocks, then reads it back the same way RUNS times,
timing each pass with /proc/uptime (10 ms resolution). Prints MB/s per VMM
and the ratio vmm/qemu; --json writes the raw figures.

    tools/bench/virtio_blk.py [--runs N] [--json FILE] [--size-mb M]
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "real"))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))

import guestkit  # noqa: E402
import nested  # noqa: E402

SCRIPT = """#VMMKIT-SCRIPT
d=/dev/vdb
up() { cut -d' ' -f1 /proc/uptime; }
t0=$(up)
dd if=/dev/zero of=$d bs=1M count=%(mb)d oflag=direct 2>/dev/null
sync
t1=$(up)
echo "bench write $t0 $t1"
i=0
while [ $i -lt %(runs)d ]; do
	t0=$(up)
	dd if=$d of=/dev/null bs=1M count=%(mb)d iflag=direct 2>/dev/null
	t1=$(up)
	echo "bench read $t0 $t1"
	i=$((i + 1))
done
"""


def parse(stdout, mb):
    out = {"write": [], "read": []}
    for ln in stdout.replace("\r", "").split("\n"):
        m = re.search(r"bench (write|read) ([\d.]+) ([\d.]+)", ln)
        if m:
            dt = float(m.group(3)) - float(m.group(2))
            out[m.group(1)].append(mb / dt if dt > 0 else float("inf"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=64)
    ap.add_argument("--json")
    ap.add_argument("--vmms", default="vmm,qemu")
    a = ap.parse_args()

    missing = guestkit.kit_missing()
    if missing:
        print("virtio-blk bench: %s" % missing, file=sys.stderr)
        return 2
    batch = nested.Batch()
    body = (SCRIPT % {"mb": a.size_mb, "runs": a.runs}).encode()
    vmms = [v for v in a.vmms.split(",") if v]
    for vmm in vmms:
        if guestkit.vmm_missing(vmm):
            print("virtio-blk bench: %s" % guestkit.vmm_missing(vmm), file=sys.stderr)
            return 2
        script = batch.stage_bytes("%s-bench-script.img" % vmm,
                                   body + b"\0" * (-len(body) % 512 + 512))
        disk = batch.stage_bytes("%s-bench-disk.img" % vmm, size=a.size_mb << 20)
        argv = guestkit.vmm_argv(vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio,format=raw" % script,
                                        "-drive", "file=%s,if=virtio,format=raw" % disk])
        batch.add("%s-virtio-bench" % vmm, argv, timeout=600, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE, retries=1)
    results = batch.run()
    figures = {}
    for vmm in vmms:
        r = results["%s-virtio-bench" % vmm]
        f = parse(r.stdout, a.size_mb)
        if not f["read"]:
            print("virtio-blk bench: %s produced no figures\n%s" % (vmm, r.describe()),
                  file=sys.stderr)
            return 1
        figures[vmm] = f

    def best(vmm, kind):
        v = figures.get(vmm, {}).get(kind) or []
        return max(v) if v else None

    print("%-28s %10s %10s %8s" % ("metric (MB/s, best of runs)", "vmm", "qemu", "ratio"))
    for kind in ("write", "read"):
        v, q = best("vmm", kind), best("qemu", kind)
        ratio = "%.2f" % (v / q) if v and q else "n/a"
        print("%-28s %10s %10s %8s" % ("virtio-blk seq %s %d MiB" % (kind, a.size_mb),
                                       "%.1f" % v if v else "n/a",
                                       "%.1f" % q if q else "n/a", ratio))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"size_mb": a.size_mb, "runs": a.runs, "figures": figures}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
