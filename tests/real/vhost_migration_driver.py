#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_virtio_net_tap.py's vhost migration, run in the L1
inside a network namespace whose bridge is 192.168.77.1/24:

    vhost_migration_driver.py DIR MAC -- VMM ARGV...

A runs ARGV with `-netdev tap,...,ifname=vmig0,vhost=on` and a
virtio-net-pci card (MAC), and a QMP socket. The guest pings the bridge
every 0.2 s and prints "pong N" or "lost N". Once A's guest has printed
pong 10, B starts with the same command line on tap vmig1 and
`-incoming unix:DIR/mig.sock`, A migrates to it live (pre-copy: the
vhost-net data path hands the rings back to vmm while the dirty log is
on), A quits, and B's guest pings on through B's vhost-net; 20 pongs
later B quits too (QMP).

Output: both consoles (with vmm's debug lines), each line prefixed "A: "
or "B: " and followed by the L1's monotonic time in brackets, as they
come (the kit's report block as it is, for its parser);
"@@vhost A|B TICKS" (user + system CPU ticks of that vmm's vhost-PID
kernel worker, read while A's guest pings before the migration, and while
B's does after it); "@@mig status S" (query-migrate's final status);
"@@migrated at pong N"; "@@rc A=N B=N"."""
import os
import re
import subprocess
import sys
import threading
import time

import qmp_client

PONG = re.compile(rb"(pong|lost) (\d+)")


class Vm:
    def __init__(self, tag, argv):
        self.tag, self.lines, self.last = tag, [], -1
        # VMM_DEBUG: vmm says when vhost-net takes the queues and when
        # vmm takes them back, and why (the test reads it)
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=dict(os.environ, VMM_DEBUG="1"))
        threading.Thread(target=self.relay, daemon=True).start()

    def relay(self):
        report = False  # the kit's report goes out as it is, for its parser
        for raw in iter(self.p.stdout.readline, b""):
            text = raw.decode(errors="replace").rstrip()
            report = report or "VMMKIT-REPORT-BEGIN" in text
            qmp_client.out(text if report else "%s: %s [%.1f]" % (self.tag, text,
                                                                  time.monotonic()))
            report = report and "VMMKIT-REPORT-END" not in text
            m = PONG.search(raw)
            if m and m.group(1) == b"pong":
                self.last = int(m.group(2))

    def wait_pong(self, n, seconds):
        end = time.monotonic() + seconds
        while self.last < n and self.p.poll() is None and time.monotonic() < end:
            time.sleep(0.2)
        return self.last >= n


def vhost_ticks(pid):
    """User + system ticks of the kernel's vhost-PID worker, or -1."""
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() != "vhost-%d" % pid:
                    continue
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return -1


def vm_argv(base, d, mac, tap, qmp, incoming=None):
    argv = base + ["-netdev", "tap,id=n0,ifname=%s,script=%s/ifup,downscript=no,vhost=on"
                   % (tap, d),
                   "-device", "virtio-net-pci,netdev=n0,mac=%s" % mac,
                   "-qmp", "unix:%s,server=on,wait=off" % qmp]
    return argv + (["-incoming", incoming] if incoming else [])


def connect(path, seconds=30):
    end = time.monotonic() + seconds
    while True:
        try:
            return qmp_client.Qmp(path, timeout=60)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def main():
    d, mac = sys.argv[1], sys.argv[2]
    base = sys.argv[sys.argv.index("--") + 1:]
    mig = "unix:%s/mig.sock" % d
    a = Vm("A", vm_argv(base, d, mac, "vmig0", "%s/a.qmp" % d))
    if not a.wait_pong(10, 400):
        qmp_client.out("@@mig A never pinged")
        a.p.kill()
        return 1
    qmp_client.out("@@vhost A %d" % vhost_ticks(a.p.pid))
    b = Vm("B", vm_argv(base, d, mac, "vmig1", "%s/b.qmp" % d, incoming=mig))
    qa = connect("%s/a.qmp" % d)
    qa.cmd("qmp_capabilities")
    qb = connect("%s/b.qmp" % d)
    qb.cmd("qmp_capabilities")
    # a few seconds of pre-copy while the guest pings: its frames go
    # through vmm meanwhile, then B's kernel path continues from there
    qa.cmd("migrate-set-parameters", **{"max-bandwidth": 32 << 20})
    qa.cmd("migrate", uri=mig)
    status = "?"
    for _ in range(1200):
        status = qa.cmd("query-migrate")["return"].get("status", "?")
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.25)
    qmp_client.out("@@mig status %s" % status)
    qmp_client.out("@@migrated at pong %d" % a.last)
    at = a.last
    t0 = time.monotonic()
    qa.cmd("quit")
    rc_a = a.p.wait(30)
    qmp_client.out("@@A quit in %.1f s" % (time.monotonic() - t0))
    if status == "completed" and b.wait_pong(at + 20, 200):
        qmp_client.out("@@vhost B %d" % vhost_ticks(b.p.pid))
    if b.p.poll() is None:
        qb.cmd("quit")
    try:
        rc_b = b.p.wait(60)
    except subprocess.TimeoutExpired:
        b.p.kill()
        rc_b = b.p.wait()
    time.sleep(0.5)  # the relays' last lines
    qmp_client.out("@@rc A=%d B=%d" % (rc_a, rc_b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
