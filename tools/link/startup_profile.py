#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes tools/link/startup-functions.txt: the vmm functions that the
bench's empty guest runs (start-up, one guest instruction, tear-down),
in address order.

The kernel maps a program's code 64 KiB at a time (page-cache folios and
fault-around), so a function run once makes its whole window resident.
vmm is linked with these functions first, in one output section
(tools/link/startup.ld.sh builds the script from this list), so the
empty machine maps two windows of vmm's code rather than one per object
it touches (docs/bench.md, "Peak RSS"). The list only orders code: a name
missing from it, or one that no longer exists, costs RSS and nothing
else. Rerun this after changing what start-up and tear-down call:

    /usr/bin/python3 tools/link/startup_profile.py --vmm build/vmm \
        --guest build/bench/guest-0.bin

It runs vmm under gdb with a breakpoint on every function of vmm's own
(each one disabled at its first hit), so it takes a minute.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

GDB_SCRIPT = r'''
import gdb
hit = set()
class Once(gdb.Breakpoint):
    def stop(self):
        hit.add(self.off_)
        self.enabled = False
        return False
gdb.execute("set pagination off")
# vmm kicks its vCPU threads with a signal at tear-down: gdb must pass it
# on, not stop there (the list would then lack every tear-down function).
gdb.execute("handle SIGUSR1 SIGUSR2 SIGALRM SIGCHLD SIGPIPE nostop noprint pass")
gdb.execute("starti")
pid = gdb.selected_inferior().pid
base = None
for line in open("/proc/%d/maps" % pid):
    if line.rstrip().endswith(EXE):
        base = int(line.split("-")[0], 16)
        break
for name, off in FUNCS:
    b = Once("*0x%x" % (base + off), internal=True)
    b.off_ = off
gdb.execute("continue")
if gdb.selected_inferior().pid:
    raise SystemExit("vmm stopped before its exit: the list would be partial")
with open(OUT, "w") as f:
    names = [name for name, off in FUNCS if off in hit]
    for name in dict.fromkeys(names):
        f.write(name + "\n")
'''


def functions(exe):
    """(name, offset) of every function defined in exe, by address. Static
    functions of different files may share a name (each file's `save`):
    every copy is watched, and the linker script then places all of them,
    as it goes by section name."""
    out = subprocess.run(["nm", "--defined-only", exe], capture_output=True, text=True,
                         check=True).stdout
    seen, funcs = set(), []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT" and parts[0] not in seen:
            seen.add(parts[0])
            funcs.append((parts[2], int(parts[0], 16)))
    return sorted(funcs, key=lambda f: f[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmm", default="build/vmm")
    ap.add_argument("--guest", default="build/bench/guest-0.bin")
    ap.add_argument("--out", default=os.path.join(HERE, "startup-functions.txt"))
    a = ap.parse_args()
    exe = os.path.realpath(a.vmm)
    funcs = functions(exe)
    with tempfile.TemporaryDirectory() as tmp:
        listed = os.path.join(tmp, "hit.txt")
        script = os.path.join(tmp, "profile.py")
        with open(script, "w") as f:
            f.write("EXE = %r\nOUT = %r\nFUNCS = %r\n" % (exe, listed, funcs) + GDB_SCRIPT)
        # the bench's empty guest, as bench.py runs it (-cpu as its default)
        argv = [exe, "-m", "256", "-bios", os.path.abspath(a.guest), "-nodefaults",
                "-cpu", "qemu64", "-display", "none", "-serial", "null", "-no-reboot",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        r = subprocess.run(["setarch", "-R", "gdb", "-q", "-batch", "-x", script, "--args"]
                           + argv, capture_output=True, text=True, timeout=900)
        if not os.path.exists(listed):
            sys.stderr.write(r.stdout + r.stderr)
            print("startup_profile: gdb wrote no list", file=sys.stderr)
            return 1
        names = open(listed).read().split()
    with open(a.out, "w") as f:
        f.write("# vmm's start-up and tear-down functions (tools/link/startup_profile.py)\n")
        f.write("".join(n + "\n" for n in names))
    print("startup_profile: %d of %d functions -> %s" % (len(names), len(funcs), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
