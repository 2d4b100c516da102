#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a VMM with a QMP socket (added to the given command line), copies
its stdout (the guest console) to ours, and when the guest prints
VMM-PWRBTN-READY presses the ACPI power button over QMP (system_powerdown).
Prints "@@qmp EVENT ..." for the QMP events seen and "@@vmm rc=N" at the
end; exits with the VMM's status. Used by test_vmm_qmp.py inside the L1.
VMM_PWRBTN_READY overrides the ready line (to try it on a firmware-level
guest, e.g. VMM-BOOT-OK from build/fw/disk-5.img)."""
import json
import os
import select
import subprocess
import sys
import tempfile
import time

import qmp_client

READY = os.environ.get("VMM_PWRBTN_READY", "VMM-PWRBTN-READY").encode()


class Qmp(qmp_client.Qmp):
    def __init__(self, path):
        self.events = []
        super().__init__(path)

    def note(self, m):
        self.events.append(m)
        data = m.get("data", {})
        out("@@qmp %s %s" % (m["event"], " ".join("%s=%s" % kv for kv in sorted(data.items()))))


def out(line):
    sys.stdout.buffer.write(line.encode() + b"\n")
    sys.stdout.buffer.flush()


def main():
    sock = os.path.join(tempfile.mkdtemp(prefix="vmmqmp"), "qmp.sock")
    argv = sys.argv[1:] + ["-qmp", "unix:%s,server=on,wait=off" % sock]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    qmp = None
    seen = b""
    while True:
        r, _, _ = select.select([p.stdout], [], [], 1.0)
        if not r:
            continue
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        seen = (seen + data)[-4096:]
        if qmp is None and READY in seen:
            qmp = Qmp(sock)
            assert "return" in qmp.cmd("qmp_capabilities")
            r = qmp.cmd("system_powerdown")
            out("@@qmp system_powerdown -> %s at %.1fs" % (json.dumps(r), time.monotonic() - start))
    rc = p.wait()
    if qmp:
        qmp.drain()
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
