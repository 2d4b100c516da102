#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk throughput and IOPS, vmm vs QEMU, with a stock Linux guest.

Each VMM boots the guest kit's amd64 CD under hardware virtualization (the
nested L1 on machines without VT-x, see docs/testing.md) with three virtio
disks, all `cache=CACHE` (writeback by default) and the same options for
both VMMs: vda holds the guest script and, at 1 MiB, the static
`blkrand` program (tools/bench/blkrand.c, `gcc -static`), which the
script dd's out; vdb is a blank raw image, vdc a qcow2 (64 KiB clusters).
The guest measures, all with O_DIRECT:

* sequential write (once) and read (RUNS times) of vdb in 1 MiB blocks
  (dd; /proc/uptime timing, 10 ms resolution),
* 4 KiB random read and random write IOPS on vdb at queue depth 1 and QD
  (blkrand: QD threads, one synchronous request each), SECS seconds each,
* 4 KiB random write IOPS on vdc at the same depths, after a sequential
  fill (steady state: clusters allocated) -> qcow2/raw ratio (issue 6).

VMMs: "vmm" (io_uring for raw images), "vmm-pool" (VMM_BLK_URING=0: the
worker threads only), "qemu", all with the same -cpu (--cpu, default host;
run again with --cpu qemu64), -nodefaults with the same explicit devices,
and -no-reboot. A pass is one run of every VMM in one L1; it counts only
when every VMM ran its script exactly once to the end (a guest reset ends
that VMM's run: -no-reboot), else the pass is discarded for all of them
and run again (--max-passes in all). A fourth L1 command runs blkrand on an L1
file of the same size (page cache, the L1's tmpfs: O_DIRECT is refused
there) for the host's own figure. Prints a table (ratios vmm/qemu and
guest/host); --json writes every figure.

With --bus ide the three disks are IDE drives instead (ide0 master and
slave, ide1 slave; the CD is ide1 master), the guest's ata_piix doing
bus-master DMA (one command at a time: QD here is the number of threads
waiting on the one drive); "vmm-pool" has no meaning there.

    tools/bench/virtio_blk.py [--runs N] [--secs S] [--qd N] [--json FILE]
        [--size-mb M] [--vmms vmm,vmm-pool,qemu] [--cache MODE] [--cpu MODEL]
        [--bus virtio|ide]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "real"))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))

import guestkit  # noqa: E402
import nested  # noqa: E402

PROG_OFFSET = 1 << 20
# Per --bus: the guest's names of the script, raw and qcow2 disks, and
# where each -drive goes.
BUSES = {
    "virtio": (("vda", "vdb", "vdc"), ("if=virtio",) * 3),
    "ide": (("sda", "sdb", "sdc"), ("if=ide,index=0", "if=ide,index=1", "if=ide,index=3")),
}

SCRIPT = """#VMMKIT-SCRIPT
up() { cut -d' ' -f1 /proc/uptime; }
dd if=/dev/%(d0)s of=/blkrand bs=512 skip=%(skip)d count=%(count)d 2>/dev/null
chmod +x /blkrand
d=/dev/%(d1)s
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
for qd in 1 %(qd)d; do
	echo "bench rand raw $(/blkrand $d read %(secs)s $qd 2>&1)"
	echo "bench rand raw $(/blkrand $d write %(secs)s $qd 2>&1)"
done
dd if=/dev/zero of=/dev/%(d2)s bs=1M count=%(mb)d oflag=direct 2>/dev/null
sync
for qd in 1 %(qd)d; do
	echo "bench rand qcow2 $(/blkrand /dev/%(d2)s write %(secs)s $qd 2>&1)"
done
"""

HOST_SCRIPT = """set -e
f="$1"; prog="$2"
for qd in 1 %(qd)d; do
	echo "bench rand host $("$prog" "$f" read %(secs)s $qd 4096 buffered 2>&1)"
	echo "bench rand host $("$prog" "$f" write %(secs)s $qd 4096 buffered 2>&1)"
done
t0=$(date +%%s.%%N); dd if=/dev/zero of="$f" bs=1M count=%(mb)d conv=notrunc,fdatasync 2>/dev/null
t1=$(date +%%s.%%N); echo "bench write $t0 $t1"
t0=$(date +%%s.%%N); dd if="$f" of=/dev/null bs=1M 2>/dev/null
t1=$(date +%%s.%%N); echo "bench read $t0 $t1"
"""

RAND_RE = re.compile(r"bench rand (raw|qcow2|host) blkrand (read|write) qd=(\d+) \S+ \S+ iops=(\d+)")


def parse(stdout, mb):
    out = {"write": [], "read": [], "rand": {}, "errors": [],
           "passes": stdout.count("VMMKIT-SCRIPT-BEGIN")}
    for ln in stdout.replace("\r", "").split("\n"):
        m = re.search(r"bench (write|read) ([\d.]+) ([\d.]+)", ln)
        if m:
            dt = float(m.group(3)) - float(m.group(2))
            out[m.group(1)].append(mb / dt if dt > 0 else float("inf"))
        m = RAND_RE.search(ln)
        if m:
            out["rand"]["%s-%s-qd%s" % m.groups()[:3]] = int(m.group(4))
        elif "blkrand error" in ln:
            out["errors"].append(ln.strip())
    return out


def build_blkrand(bench_dir):
    os.makedirs(bench_dir, exist_ok=True)
    exe = os.path.join(bench_dir, "blkrand")
    src = os.path.join(HERE, "blkrand.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-static",
                        "-pthread", "-o", exe, src], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=float, default=5)
    ap.add_argument("--qd", type=int, default=8)
    ap.add_argument("--size-mb", type=int, default=64)
    ap.add_argument("--cache", default="writeback")
    ap.add_argument("--cpu", default="host", help="-cpu for every VMM (default host)")
    ap.add_argument("--max-passes", type=int, default=3,
                    help="L1 runs at most, to get one pass where every VMM ran once (default 3)")
    ap.add_argument("--bus", choices=sorted(BUSES), default="virtio")
    ap.add_argument("--json")
    ap.add_argument("--vmms", default="vmm,vmm-pool,qemu")
    ap.add_argument("--bench-dir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--vmm-img", default=os.path.join(REPO, "build", "vmm-img"))
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless every figure of every VMM and of the host was measured")
    a = ap.parse_args()

    missing = guestkit.kit_missing()
    if missing:
        print("virtio-blk bench: %s" % missing, file=sys.stderr)
        return 2
    prog = build_blkrand(a.bench_dir)
    with open(prog, "rb") as fh:
        prog_bytes = fh.read()
    names = BUSES[a.bus][0]
    body = (SCRIPT % {"mb": a.size_mb, "runs": a.runs, "secs": a.secs, "qd": a.qd,
                      "d0": names[0], "d1": names[1], "d2": names[2],
                      "skip": PROG_OFFSET // 512,
                      "count": (len(prog_bytes) + 511) // 512}).encode()
    assert len(body) < PROG_OFFSET
    script_img = body + b"\0" * (PROG_OFFSET - len(body)) + prog_bytes
    script_img += b"\0" * (-len(script_img) % 512)
    tmp = tempfile.mkdtemp(prefix="vmm-bench-")
    qcow2 = os.path.join(tmp, "disk.qcow2")
    subprocess.run([a.vmm_img, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", qcow2,
                    "%dM" % a.size_mb], check=True)

    vmms = [v for v in a.vmms.split(",") if v]
    for vmm in vmms:
        kind = "qemu" if vmm == "qemu" else "vmm"
        if guestkit.vmm_missing(kind):
            print("virtio-blk bench: %s" % guestkit.vmm_missing(kind), file=sys.stderr)
            return 2
    figures, discarded = None, []
    for attempt in range(1, a.max_passes + 1):
        figures, why = one_pass(a, vmms, script_img, qcow2, prog)
        if not why:
            break
        # Every VMM's figures of this pass go, not only the failed one's:
        # the columns compare the same pass.
        print("virtio-blk bench: pass %d discarded for every VMM: %s" % (attempt, why),
              file=sys.stderr)
        discarded.append(why)
        figures = None
    if figures is None:
        print("virtio-blk bench: no complete pass in %d" % a.max_passes, file=sys.stderr)
        return 1
    unmeasured = report(figures, vmms, a)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"bus": a.bus, "size_mb": a.size_mb, "runs": a.runs, "secs": a.secs,
                       "qd": a.qd,
                       "cache": a.cache, "cpu": a.cpu, "discarded_passes": discarded,
                       "figures": figures}, fh, indent=1)
    if a.strict and unmeasured:
        print("NOT MEASURED (--strict): " + ", ".join(unmeasured))
        return 1
    return 0


def vmm_argv(kind, a, script, disk, qdisk):
    """The same machine for every VMM: -cpu, -nodefaults and the explicit
    devices (the kit CD on IDE, three disks on --bus), -no-reboot."""
    c = a.cache
    where = BUSES[a.bus][1]
    return guestkit.vmm_argv(kind, 256, cdrom=guestkit.kit("kit-amd64.iso"), cpu=a.cpu,
                             nodefaults=True, extra=[
                                 "-no-reboot",
                                 "-drive", "file=%s,%s,format=raw,cache=%s" % (script, where[0], c),
                                 "-drive", "file=%s,%s,format=raw,cache=%s" % (disk, where[1], c),
                                 "-drive", "file=%s,%s,format=qcow2,cache=%s" % (qdisk, where[2],
                                                                                c)])


def one_pass(a, vmms, script_img, qcow2, prog):
    """One L1 run: every VMM once, and the L1 host's figures. Returns
    (figures, None), or (None, why) when some VMM did not run its script
    exactly once to the end or gave no figures."""
    batch = nested.Batch()
    for vmm in vmms:
        kind = "qemu" if vmm == "qemu" else "vmm"
        script = batch.stage_bytes("%s-bench-script.img" % vmm, script_img)
        disk = batch.stage_bytes("%s-bench-disk.img" % vmm, size=a.size_mb << 20)
        qdisk = batch.stage(qcow2, "%s-bench-disk.qcow2" % vmm)
        argv = vmm_argv(kind, a, script, disk, qdisk)
        if vmm == "vmm-pool":
            argv = "VMM_BLK_URING=0 exec " + " ".join("'%s'" % x for x in argv)
        batch.add("%s-virtio-bench" % vmm, argv, timeout=900, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE)
    hostfile = batch.stage_bytes("host-bench-disk.img", size=a.size_mb << 20)
    hs = HOST_SCRIPT % {"qd": a.qd, "secs": a.secs, "mb": a.size_mb}
    batch.add("host-blk-bench", ["/bin/sh", "-c", hs, "sh", hostfile, prog], timeout=300)
    results = batch.run()
    figures = {}
    for name in vmms + ["host"]:
        r = results["%s-virtio-bench" % name if name != "host" else "host-blk-bench"]
        f = parse(r.stdout, a.size_mb)
        if name != "host" and (f["passes"] != 1 or not r.marker_seen):
            return None, "%s ran its script %d times%s" % (
                name, f["passes"], "" if r.marker_seen else ", without reaching the end")
        if not f["read"] or not f["rand"]:
            print(r.describe(), file=sys.stderr)
            return None, "%s produced no figures" % name
        figures[name] = f
    return figures, None


def report(figures, vmms, a):
    """Prints the table; returns the figures that have no value (the host
    has no qcow2 rows: those are not counted)."""
    def seq(name, kind):
        v = figures.get(name, {}).get(kind) or []
        return max(v) if v else None

    def rand(name, key):
        return figures.get(name, {}).get("rand", {}).get(key)

    def fmt(v, f="%.0f"):
        return f % v if v else "n/a"

    cols = vmms + ["host"]
    print("%s, %d MiB disks, cache=%s, -cpu %s, nested L1 (QEMU TCG + SVM): absolute "
          "figures are not hardware figures; compare columns"
          % ("virtio-blk" if a.bus == "virtio" else "IDE (PIIX3, bus-master DMA)", a.size_mb,
             a.cache, a.cpu))
    print("%-30s" % "metric" + "".join("%10s" % c for c in cols) +
          "%12s %12s" % ("vmm/qemu", "vmm/host"))
    rows = [("seq write MB/s", lambda n: seq(n, "write"), "%.1f"),
            ("seq read MB/s", lambda n: seq(n, "read"), "%.1f")]
    for op in ("read", "write"):
        for qd in (1, a.qd):
            key = "raw-%s-qd%d" % (op, qd)
            rows.append(("rand %s 4K QD%d IOPS" % (op, qd),
                         (lambda k: lambda n: rand(n, k if n != "host" else
                                                   k.replace("raw", "host")))(key), "%.0f"))
    for qd in (1, a.qd):
        key = "qcow2-write-qd%d" % qd
        rows.append(("qcow2 rand write QD%d IOPS" % qd,
                     (lambda k: lambda n: rand(n, k) if n != "host" else None)(key), "%.0f"))
    unmeasured = []
    for label, get, f in rows:
        vals = [get(c) for c in cols]
        unmeasured += ["%s: %s" % (c, label) for c, x in zip(cols, vals)
                       if not x and not (c == "host" and label.startswith("qcow2"))]
        v, q, h = get("vmm"), get("qemu"), get("host")
        print("%-30s" % label + "".join("%10s" % fmt(x, f) for x in vals) +
              "%12s %12s" % ("%.2f" % (v / q) if v and q else "n/a",
                             "%.2f" % (v / h) if v and h else "n/a"))
    for name in vmms:
        for qd in (1, a.qd):
            qv, rv = rand(name, "qcow2-write-qd%d" % qd), rand(name, "raw-write-qd%d" % qd)
            if qv and rv:
                print("%s: qcow2/raw random write QD%d = %.2f" % (name, qd, qv / rv))
    for name in cols:
        for e in figures[name]["errors"]:
            print("%s: %s" % (name, e))
    return unmeasured


if __name__ == "__main__":
    sys.exit(main())
