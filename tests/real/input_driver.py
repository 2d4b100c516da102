#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_input.py, run inside the L1 next to the VMM.

Runs the VMM (argv) with a QMP socket added, copies its stdout (the guest
console) to ours, and when the guest says VMM-INPUT-READY (its readers of
the keyboard's and the mouse's /dev/input/event* are running) injects the
keys and mouse actions of ACTIONS with QMP input-send-event, one command
per action, a moment apart (so that each mouse action is one PS/2 packet).
Prints "@@sent N" after them and "@@vmm rc=N" at the end; exits with the
VMM's status."""
import sys
import time

import qmp_client
from qmp_client import out

READY = b"VMM-INPUT-READY"


def key(name, down):
    return {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": name}}}


def tap(*names):
    """Press the keys in order and release them in reverse order."""
    return [key(n, True) for n in names] + [key(n, False) for n in reversed(names)]


def btn(name, down):
    return {"type": "btn", "data": {"down": down, "button": name}}


def rel(x, y):
    return [{"type": "rel", "data": {"axis": "x", "value": x}},
            {"type": "rel", "data": {"axis": "y", "value": y}}]


# Each entry is one input-send-event command. test_input.py holds the
# events Linux must report for them.
ACTIONS = [tap("v"), tap("m"), tap("m"), tap("shift", "a"), tap("up"), tap("kp_enter"),
           tap("ret"),
           rel(10, -5), [btn("left", True)], [btn("left", False)],
           [btn("wheel-down", True)], [btn("wheel-down", False)],
           [btn("side", True)], [btn("side", False)], rel(-3, 7)]


def inject(qmp, start):
    sent = 0
    for events in ACTIONS:
        r = qmp.cmd("input-send-event", events=events)
        if "return" not in r:
            out("@@input-send-event error %r" % (r,))
            break
        sent += 1
        time.sleep(0.3)
    out("@@sent %d at %.1fs" % (sent, time.monotonic() - start))


def main():
    state = {}

    def on_console(sock, seen, start):
        if "qmp" in state or READY not in seen or not seen.split(READY, 1)[1].count(b"\n"):
            return
        qmp = state["qmp"] = qmp_client.Qmp(sock)
        qmp.cmd("qmp_capabilities")
        inject(qmp, start)

    rc, start = qmp_client.run_vmm_relayed(sys.argv[1:], on_console, "vmminput")
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
