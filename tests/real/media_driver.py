#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a VMM with a QMP socket (added to the given command line), copies
its stdout (the guest console) to ours, and when the guest prints
VMM-MEDIA-READY swaps the disc in ide1-cd0 over QMP
(blockdev-change-medium to $VMM_MEDIA_FILE, again while the guest holds
the drive locked). Prints "@@qmp EVENT ..." for
the QMP events seen, "@@qmp change -> REPLY", the query-block entry after
it, and "@@vmm rc=N" at the end; exits with the VMM's status. Used by
tests/real/test_media.py inside the L1."""
import json
import os
import sys
import time

import qmp_client
from qmp_client import out

READY = b"VMM-MEDIA-READY"
LOCKED_TRIES = 240


class Qmp(qmp_client.Qmp):
    def note(self, m):
        data = m.get("data", {})
        out("@@qmp %s %s" % (m["event"], " ".join("%s=%s" % kv for kv in sorted(data.items()))))


def change_medium(qmp):
    """blockdev-change-medium, again while the drive is locked: the guest's
    sr driver locks the door for as long as /dev/sr0 is open (each dd of
    its polling loop), and QEMU's answer then is "wait for tray to open and
    try again", as a person at the monitor would. Returns the last reply
    and the number of tries."""
    for tries in range(1, LOCKED_TRIES + 1):
        r = qmp.cmd("blockdev-change-medium", device="ide1-cd0",
                    filename=os.environ["VMM_MEDIA_FILE"], format="raw")
        if "is locked" not in r.get("error", {}).get("desc", ""):
            break
        time.sleep(0.25)
    return r, tries


def main():
    state = {}

    def on_console(sock, seen, start):
        if "qmp" in state or READY not in seen:
            return
        qmp = state["qmp"] = Qmp(sock)
        assert "return" in qmp.cmd("qmp_capabilities")
        r, tries = change_medium(qmp)
        out("@@qmp change -> %s at %.1fs after %d tries" % (json.dumps(r), time.monotonic() - start,
                                                            tries))
        blk = [b for b in qmp.cmd("query-block").get("return", [])
               if b.get("device") == "ide1-cd0"]
        out("@@qmp query-block ide1-cd0 %s" % json.dumps(blk))

    rc, start = qmp_client.run_vmm_relayed(sys.argv[1:], on_console, "vmmmedia")
    if state:
        state["qmp"].drain()
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
