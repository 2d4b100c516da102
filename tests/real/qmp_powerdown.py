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
import sys
import time

import qmp_client
from qmp_client import out

READY = os.environ.get("VMM_PWRBTN_READY", "VMM-PWRBTN-READY").encode()


class Qmp(qmp_client.Qmp):
    def __init__(self, path):
        self.events = []
        super().__init__(path)

    def note(self, m):
        self.events.append(m)
        data = m.get("data", {})
        out("@@qmp %s %s" % (m["event"], " ".join("%s=%s" % kv for kv in sorted(data.items()))))


def main():
    state = {}

    def on_console(sock, seen, start):
        if "qmp" in state or READY not in seen:
            return
        qmp = state["qmp"] = Qmp(sock)
        assert "return" in qmp.cmd("qmp_capabilities")
        r = qmp.cmd("system_powerdown")
        out("@@qmp system_powerdown -> %s at %.1fs" % (json.dumps(r), time.monotonic() - start))

    rc, start = qmp_client.run_vmm_relayed(sys.argv[1:], on_console, "vmmqmp")
    if state:
        state["qmp"].drain()
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
