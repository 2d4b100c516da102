#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img against qemu-img on the same images, run by run alternating:
convert raw->qcow2, qcow2->raw, compressed convert (-c), compare of the
raw image against its compressed qcow2 and convert from that compressed
qcow2 (the inflate on the reading threads), for a ~256 MiB
raw image holding ~96 MiB of data (a third random, the rest compressible,
the rest holes), and convert -c and dd of 256 MiB of random data. Each
run starts after a sync. Prints `metric | vmm-img | qemu-img | ratio | goal` and
writes every sample to BENCH_DIR/img-results.json. See docs/bench.md."""
import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time

MiB = 1 << 20


def make_image(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    rnd = random.Random(7)
    words = [b"qcow2", b"cluster", b"refcount", b"vmm", b"guest", b"sector", b"table "]
    with open(path + ".tmp", "wb") as f:
        f.truncate(size)
        chunk = 4 * MiB
        for i in range(24):  # 24 x 4 MiB of data, scattered
            f.seek(rnd.randrange(0, size // chunk) * chunk)
            if i % 3 == 0:
                f.write(rnd.randbytes(chunk))
            else:
                text = b" ".join(rnd.choice(words) for _ in range(chunk // 6))
                f.write(text[:chunk].ljust(chunk, b"."))
    os.rename(path + ".tmp", path)


def timed(argv):
    # The run before left its output's pages dirty: without a sync the
    # writeback (or the dirty limit's throttling) lands on whichever tool
    # runs next, and single runs of a 512 MiB dd ranged 0.6-2.8 s.
    os.sync()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    p = subprocess.run(argv, capture_output=True)
    dt = time.monotonic() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        sys.exit(f"img_bench: {argv} failed: {p.stderr.decode(errors='replace')}")
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return dt, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vmm-img", default="build/vmm-img")
    ap.add_argument("--qemu-img", default=shutil.which("qemu-img"))
    ap.add_argument("--bench-dir", default="build/bench")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--random-mib", type=int, default=256)
    a = ap.parse_args()
    os.makedirs(a.bench_dir, exist_ok=True)
    src = os.path.join(a.bench_dir, "img-src.raw")
    make_image(src, a.size_mib * MiB)
    q_src = os.path.join(a.bench_dir, "img-src.qcow2")
    subprocess.run([a.qemu_img or a.vmm_img, "convert", "-O", "qcow2", src, q_src], check=True)
    # compare reads both sides whole: a raw image against its compressed
    # qcow2 (inflate on every chunk), made by qemu-img
    qc_src = os.path.join(a.bench_dir, "img-src-c.qcow2")
    subprocess.run([a.qemu_img or a.vmm_img, "convert", "-c", "-O", "qcow2", src, qc_src],
                   check=True)
    # Incompressible data, for the compressor's worst case and for dd's
    # plain copy (only its size differs from the mixed image's data).
    rnd_src = os.path.join(a.bench_dir, "img-random.raw")
    if not (os.path.exists(rnd_src) and os.path.getsize(rnd_src) == a.random_mib * MiB):
        with open(rnd_src + ".tmp", "wb") as f:
            for _ in range(a.random_mib):
                f.write(os.urandom(MiB))
        os.rename(rnd_src + ".tmp", rnd_src)
    out = os.path.join(a.bench_dir, "img-out")
    cases = [
        ("convert raw->qcow2", ["convert", "-f", "raw", "-O", "qcow2", src, out]),
        ("convert qcow2->raw", ["convert", "-f", "qcow2", "-O", "raw", q_src, out]),
        ("convert -c raw->qcow2", ["convert", "-c", "-f", "raw", "-O", "qcow2", src, out]),
        ("compare raw qcow2 -c", ["compare", "-f", "raw", "-F", "qcow2", src, qc_src]),
        ("convert qcow2 -c->qcow2", ["convert", "-f", "qcow2", "-O", "qcow2", qc_src, out]),
        ("convert -c random->qcow2", ["convert", "-c", "-f", "raw", "-O", "qcow2", rnd_src, out]),
        ("dd bs=1M random raw->raw", ["dd", "-f", "raw", "-O", "raw", "bs=1M",
                                      "if=" + rnd_src, "of=" + out]),
        ("dd bs=64k raw->qcow2", ["dd", "-f", "raw", "-O", "qcow2", "bs=64k",
                                  "if=" + src, "of=" + out]),
    ]
    tools = [("vmm-img", a.vmm_img)] + ([("qemu-img", a.qemu_img)] if a.qemu_img else [])
    results = {}
    sizes = {}
    for name, args in cases:
        samples = {t: [] for t, _ in tools}
        cpu = {t: [] for t, _ in tools}
        for r in range(a.runs):
            order = tools if r % 2 == 0 else tools[::-1]
            for t, exe in order:
                wall, used = timed([exe, *args])
                samples[t].append(wall)
                cpu[t].append(used)
                if os.path.exists(out):
                    sizes.setdefault(name, {})[t] = os.path.getsize(out)
                    os.unlink(out)
        results[name] = (samples, cpu)
    # Wall time is the goal; CPU time (user + system, the child's own)
    # stays readable when other work shares the host's CPUs.
    print(f"{'metric':28} | {'vmm-img':>9} | {'qemu-img':>9} | {'ratio':>6} | {'CPU':>5} | goal")
    print("-" * 80)
    summary = {}
    for name, (samples, cpu) in results.items():
        v = statistics.median(samples["vmm-img"])
        q = statistics.median(samples["qemu-img"]) if "qemu-img" in samples else None
        ratio = v / q if q else None
        qc = statistics.median(cpu["qemu-img"]) if "qemu-img" in cpu else None
        cpu_ratio = statistics.median(cpu["vmm-img"]) / qc if qc else None
        summary[name] = {"vmm_img_s": v, "qemu_img_s": q, "ratio": ratio,
                         "cpu_ratio": cpu_ratio, "samples": samples, "cpu_samples": cpu,
                         "output_bytes": sizes.get(name)}
        print(f"{name:28} | {v:8.3f}s | " + (f"{q:8.3f}s | {ratio:6.2f} | {cpu_ratio:5.2f}" if q
                                             else f"{'n/a':>9} | {'n/a':>6} | {'n/a':>5}")
              + " | <= 1.0x")
        if name.startswith("convert -c"):
            s = sizes[name]
            print(f"{'  output size (MiB)':28} | {s['vmm-img'] / MiB:9.1f} | "
                  + (f"{s['qemu-img'] / MiB:9.1f} |" if "qemu-img" in s else "n/a |"))
    cpus = len(os.sched_getaffinity(0))
    print(f"(vmm-img -c and compare threads: {min(cpus, 8)}, one per CPU; "
          f"load {os.getloadavg()[0]:.1f})")
    with open(os.path.join(a.bench_dir, "img-results.json"), "w") as f:
        json.dump({"size_mib": a.size_mib, "runs": a.runs, "cpus": cpus,
                   "load": os.getloadavg()[0], "results": summary}, f, indent=2)


if __name__ == "__main__":
    main()
