#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debugs a booting Linux with Debian's gdb through the VMM's gdb stub, as
a kernel developer would, then lets it run on. Usage:

    gdb_driver.py VMM-ARGV...

The VMM is started with `-S -gdb unix:PATH,server=on,wait=off` added
(stopped before the first instruction; a unix socket, as the L1's chroot
has no loopback network); gdb attaches, sets a hardware breakpoint on the
kernel's 64-bit entry (the vmlinux entry point, 0x1000000 with nokaslr),
continues, and once it hits reads the registers and memory there, then
detaches, leaving the guest to boot to the kit's marker and power off.
gdb's output lines are printed as "@@gdb ...", the VMM's console relayed;
"@@vmm rc=N" at the end, and the VMM's status is ours. Used by
tests/real/test_gdb.py inside the L1."""
import os
import subprocess
import sys
import tempfile
import threading
import time

ENTRY = 0x1000000
GDB_TIMEOUT = 400  # from start to the breakpoint: SeaBIOS, the ROM, the decompressor


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def gdb_session(sock):
    cmds = ["set pagination off", "set confirm off", "set architecture i386:x86-64",
            "target remote %s" % sock, "hbreak *0x%x" % ENTRY, "continue",
            "p/x $pc", "p/x $rsi", "p/x $cs", "x/16xb $pc", "x/4cb $rsi+0x202",
            "delete", "detach"]
    argv = ["gdb", "-nx", "-batch"] + [a for c in cmds for a in ("-ex", c)]
    end = time.monotonic() + 60
    while True:  # the stub listens once the VMM has set the machine up
        start = time.monotonic()
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=GDB_TIMEOUT, text=True)
        except subprocess.TimeoutExpired as e:
            out("@@gdb timed out after %ds" % GDB_TIMEOUT)
            for line in (e.stdout or "").splitlines():
                out("@@gdb " + line)
            return
        text = p.stdout + p.stderr
        if ("Connection refused" in text or "No such file" in text) and time.monotonic() < end:
            time.sleep(0.5)
            continue
        for line in text.splitlines():
            out("@@gdb " + line)
        out("@@gdb rc=%d after %.1fs" % (p.returncode, time.monotonic() - start))
        return


def main():
    sock = os.path.join(tempfile.mkdtemp(prefix="vmmgdb"), "gdb.sock")
    argv = sys.argv[1:] + ["-S", "-gdb", "unix:%s,server=on,wait=off" % sock]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    t = threading.Thread(target=gdb_session, args=(sock,), daemon=True)
    t.start()
    for chunk in iter(lambda: p.stdout.read1(4096), b""):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    rc = p.wait()
    t.join(timeout=5)
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
