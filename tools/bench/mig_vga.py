#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration of a default-VGA firmware guest (issue 18): the VBE boot
sector of the display tests (tests/fw/vgaboot.S, VGA_TEST 4: 640x480x32
drawn through the LFB, then halted), -m 256 -smp 2, migrated over a unix
socket to a destination on the same host; prints downtime and what
query-migrate says was transferred, for vmm or QEMU (-accel kvm).

  tools/bench/mig_vga.py [--qemu] [--runs N] [--vmm PATH] [--fw DIR]
                         [--vga cirrus --test 8] [--cache unsafe]

docs/bench.md ("Migration") has the figures."""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def qmp(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rwb")
    f.readline()

    def cmd(name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        f.write(json.dumps(msg).encode() + b"\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(r["error"])
    cmd("qmp_capabilities")
    return cmd


def wait(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def one_run(binary, is_qemu, disk, d, vga="std", cache=None):
    common = [binary, "-m", "256", "-smp", "2", "-nodefaults", "-vga", vga, "-display", "none",
              "-drive", f"file={disk},format=raw,if=ide" + (f",cache={cache}" if cache else "")]
    if is_qemu:
        common[1:1] = ["-accel", "kvm"]
    serial, uri = os.path.join(d, "serial.log"), f"unix:{d}/mig.sock"
    procs = []
    try:
        for name, extra in (("dst", ["-incoming", uri]), ("src", [])):
            sock = os.path.join(d, f"{name}.qmp")
            procs.append(subprocess.Popen(
                common + ["-serial", f"file:{serial}" if name == "src" else "null",
                          "-qmp", f"unix:{sock},server=on,wait=off", *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
            wait(lambda: os.path.exists(sock), 30, f"{name}'s QMP socket")
        src = qmp(os.path.join(d, "src.qmp"))
        wait(lambda: os.path.exists(serial) and b"VMM-VGA-READY" in open(serial, "rb").read(),
             120, "VMM-VGA-READY")
        time.sleep(1)
        src("migrate", {"uri": uri})
        r = {}
        end = time.time() + float(os.environ.get("MIG_VGA_TIMEOUT", "120"))
        while r.get("status") not in ("completed", "failed"):
            if time.time() > end:
                # where the two are stuck: each thread's stack
                for name, p in zip(("dst", "src"), procs):
                    bt = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex",
                                         "thread apply all bt"], capture_output=True,
                                        text=True).stdout
                    print(f"--- {name} ---\n{bt}", file=sys.stderr)
                sys.exit(f"the migration did not end: {r}")
            time.sleep(0.1)
            r.update(src("query-migrate"))
        return r
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for n in ("src.qmp", "dst.qmp", "mig.sock", "serial.log"):
            if os.path.exists(os.path.join(d, n)):
                os.unlink(os.path.join(d, n))


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--vmm", default=os.path.join(root, "build", "vmm"))
    ap.add_argument("--fw", default=os.path.join(root, "build", "fw"))
    ap.add_argument("--vga", default="std", help="-vga (cirrus: use --test 8)")
    ap.add_argument("--cache", help="the disk's cache= (unsafe: no fsync at the switchover)")
    ap.add_argument("--test", type=int, default=4, help="the vgaboot.S picture (VGA_TEST)")
    a = ap.parse_args()
    binary = shutil.which("qemu-system-x86_64") if a.qemu else a.vmm
    with tempfile.TemporaryDirectory() as d:
        disk = os.path.join(d, "disk.img")
        shutil.copyfile(os.path.join(a.fw, f"vgadisk-{a.test}.img"), disk)
        for i in range(a.runs):
            r = one_run(binary, a.qemu, disk, d, a.vga, a.cache)
            ram = r.get("ram", {})
            print(f"run {i + 1}: status {r.get('status')} downtime {r.get('downtime')} ms "
                  f"total-time {r.get('total-time')} ms transferred {ram.get('transferred')} "
                  f"bytes (normal {ram.get('normal')}, duplicate {ram.get('duplicate')}, "
                  f"dirty-sync-count {ram.get('dirty-sync-count')})", flush=True)


if __name__ == "__main__":
    main()
