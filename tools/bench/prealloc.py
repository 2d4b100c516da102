#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Start-up time and resident memory of guest RAM preallocation (issue 21):
`-m SIZE` against `-m SIZE -mem-prealloc` (and prealloc-threads=1, and a
shared memfd), for vmm and, if it is installed, QEMU. Each run starts the
VMM paused (-S, a -bios image, no devices) and times exec to the answer of
QMP's first command (set-up, preallocation included, is over by then),
reads VmRSS from /proc, and quits. Runs alternate between configurations;
the table has the median of each.

    tools/bench/prealloc.py --vmm build/vmm --bios build/fw/migcount.bin [--size 4G] [--runs 3]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time


def qmp_ready(path, proc, timeout=120):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            break
        except OSError:
            s.close()
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the VMM did not start: %s" % proc.stderr.read())
            time.sleep(0.005)
    f = s.makefile("rwb")
    f.readline()  # greeting
    f.write(b'{"execute": "qmp_capabilities"}\n')
    f.flush()
    f.readline()
    return s, f


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as st:
        for line in st:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_run(cmd, qmp):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    s, f = qmp_ready(qmp, p)
    t = time.monotonic() - t0
    rss = rss_kib(p.pid)
    f.write(b'{"execute": "quit"}\n')
    f.flush()
    # the CPU time of every thread (the preallocating ones included): on a
    # loaded host the wall time says more about the neighbours
    _, code, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(code)
    s.close()
    return t, rss, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--bios", required=True)
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--size", default="4G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="prealloc-bench-")
    qmp = os.path.join(tmp, "qmp.sock")
    common = ["-bios", a.bios, "-m", a.size, "-nodefaults", "-display", "none", "-S",
              "-qmp", f"unix:{qmp},server=on,wait=off"]
    mem = f"size={a.size}"
    configs = {
        "vmm": [a.vmm, *common],
        "vmm -mem-prealloc": [a.vmm, *common, "-mem-prealloc"],
        "vmm prealloc-threads=1": [a.vmm, *common, "-object",
                                   f"memory-backend-ram,id=m,{mem},prealloc=on,prealloc-threads=1",
                                   "-machine", "memory-backend=m"],
        "vmm memfd prealloc": [a.vmm, *common, "-object",
                               f"memory-backend-memfd,id=m,{mem},prealloc=on",
                               "-machine", "memory-backend=m"],
    }
    if a.qemu:
        qcommon = [a.qemu, "-accel", "kvm", *common]
        configs["qemu"] = qcommon
        configs["qemu -mem-prealloc"] = [*qcommon, "-mem-prealloc"]
        # QEMU's -mem-prealloc uses one thread per vCPU
        configs["qemu -smp 2 -mem-prealloc"] = [*qcommon, "-smp", "2", "-mem-prealloc"]
    samples = {k: [] for k in configs}
    for _ in range(a.runs):
        for name, cmd in configs.items():
            if os.path.exists(qmp):
                os.unlink(qmp)
            samples[name].append(one_run(cmd, qmp))
    print(f"| -m {a.size} | start to QMP ready: median (each run) | CPU time, median | "
          "VmRSS at start |")
    print("|---|---|---|---|")
    for name, s in samples.items():
        t = statistics.median(x[0] for x in s)
        rss = statistics.median(x[1] for x in s)
        cpu = statistics.median(x[2] for x in s)
        spread = ", ".join(f"{x[0]:.2f}" for x in s)
        print(f"| {name} | {t:.3f} s ({spread}) | {cpu:.2f} s | {rss / 1024:.0f} MiB |")
    if a.json:
        with open(a.json, "w") as out:
            json.dump({"size": a.size, "samples": samples}, out, indent=1)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
