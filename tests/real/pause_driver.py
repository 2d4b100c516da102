# SPDX-License-Identifier: GPL-2.0-or-later
"""Pauses a running VMM through QMP a few times while its guest works:
stop, half a second, cont, a second, COUNT times. With vhost=on each pause
takes the rings back from the kernel and each cont hands them over again
(tests/real/test_virtio_net_tap.py runs it during a transfer).

    pause_driver.py SOCKET COUNT

Prints "@@pause I STATUS-AFTER-STOP STATUS-AFTER-CONT" per cycle and
"@@pauses done N", N the cycles that saw paused, then running."""
import sys
import time

import qmp_client


def connect(path, seconds=10):
    end = time.monotonic() + seconds
    while True:
        try:
            return qmp_client.Qmp(path)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def status(q):
    return q.cmd("query-status")["return"]["status"]


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    q = connect(path)
    q.cmd("qmp_capabilities")
    done = 0
    for i in range(count):
        q.cmd("stop")
        stopped = status(q)
        time.sleep(0.5)
        q.cmd("cont")
        running = status(q)
        qmp_client.out("@@pause %d %s %s" % (i + 1, stopped, running))
        done += stopped == "paused" and running == "running"
        time.sleep(1)
    qmp_client.out("@@pauses done %d" % done)


if __name__ == "__main__":
    main()
