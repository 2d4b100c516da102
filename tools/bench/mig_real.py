#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration of a running Linux guest, vmm against QEMU in the nested
L1 (issue 18's bench): downtime and total time, the guest idle and while
it dirties memory.

  tools/bench/mig_real.py [--runs N] [--mem MB] [--cpu MODEL] [--vmm PATH]

Each VMM boots the amd64 guest kit directly (-kernel/-initrd, the same
command line for both: -M pc -m MB -smp 1 -cpu MODEL -nodefaults, the
serial console only) with a kit script that either idles or, before it
says it is ready, starts a writer: one 1 MiB chunk of random bytes into a
64 MiB tmpfs buffer, then 0.1 s of sleep, round after round (the
writer of tests/real/test_migration.py). Five seconds after the guest is
ready, the source migrates it over a unix socket to a destination with the
same command line and -incoming, with downtime-limit 300 ms and
max-bandwidth 128 MiB/s (both VMMs' defaults, set explicitly), and
query-migrate is polled every 50 ms to the end. Each (VMM, guest) pair is
one L1 command of --runs migrations; the two VMMs' commands of a guest run
at once in the batch's two L1s.

Prints each migration ("@@bench" lines), then per guest the medians and
vmm / QEMU as ratios (below 1: vmm shorter). docs/bench.md ("Migration of
a real guest") has the figures.

--l1 (internal): the L1 side, one command's migrations."""
import argparse
import base64
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(REPO, "tests", "nested"), os.path.join(REPO, "tests", "real")]

READY = b"MIGBENCH-READY"
SETTLE_S = 5
DOWNTIME_LIMIT_MS = 300
MAX_BANDWIDTH = 128 << 20
STEP_WAIT_S = 300

GUESTS = {
    "idle": "echo MIGBENCH-READY\nwhile :; do sleep 1; done\n",
    "dirty": "mkdir -p /mnt/b && mount -t tmpfs -o size=72m none /mnt/b || exit 1\n"
             "head -c 1048576 /dev/urandom > /tmp/r\n"
             "(i=0; while :; do dd if=/tmp/r of=/mnt/b/x bs=1M seek=$((i % 64)) count=1 "
             "conv=notrunc 2>/dev/null; i=$((i + 1)); sleep 0.1; done) &\n"
             "echo MIGBENCH-READY\nwhile :; do sleep 1; done\n",
}


# ---- the L1 side ----------------------------------------------------------------

def wait_ready(proc, deadline):
    """Reads the source's console until the guest is ready."""
    seen = b""
    while READY not in seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the guest did not get ready: %r" % seen[-300:])
        r, _, _ = select.select([proc.stdout], [], [], 1)
        if r:
            seen += os.read(proc.stdout.fileno(), 65536)


def one_migration(argv, d):
    import qmp_client
    sock = os.path.join(d, "mig.sock")
    procs = []
    try:
        for name, extra in (("dst", ["-incoming", "unix:" + sock]), ("src", [])):
            qmp = ["-qmp", "unix:%s/%s.qmp,server=on,wait=off" % (d, name)]
            procs.append(subprocess.Popen(argv + qmp + extra, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE if name == "src" else
                                          subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        src = procs[1]
        wait_ready(src, time.monotonic() + STEP_WAIT_S)
        # the console is not read from here on: keep it from filling the pipe
        drain = subprocess.Popen(["cat"], stdin=src.stdout, stdout=subprocess.DEVNULL)
        procs.append(drain)
        time.sleep(SETTLE_S)
        q = qmp_client.Qmp(os.path.join(d, "src.qmp"), timeout=60)
        q.cmd("qmp_capabilities")
        q.cmd("migrate-set-parameters", **{"downtime-limit": DOWNTIME_LIMIT_MS,
                                           "max-bandwidth": MAX_BANDWIDTH})
        r = q.cmd("migrate", uri="unix:" + sock)
        if "return" not in r:
            raise RuntimeError("migrate: %s" % r)
        end = time.monotonic() + STEP_WAIT_S
        info = {}
        while info.get("status") not in ("completed", "failed", "cancelled"):
            if time.monotonic() > end:
                raise RuntimeError("the migration did not end: %s" % info)
            time.sleep(0.05)
            info = q.cmd("query-migrate").get("return", {})
        return info
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def l1_main(a, argv):
    for i in range(a.runs):
        d = tempfile.mkdtemp()
        try:
            info = one_migration(argv, d)
        except Exception as e:  # noqa: BLE001 - reported, and the next run tries again
            print("@@bench %s run=%d error=%s" % (a.tag, i + 1, str(e).replace("\n", " ")),
                  flush=True)
            continue
        finally:
            shutil.rmtree(d, ignore_errors=True)
        ram = info.get("ram", {})
        print("@@bench %s run=%d status=%s total_ms=%s downtime_ms=%s setup_ms=%s "
              "transferred=%s dirty_sync=%s" % (
                  a.tag, i + 1, info.get("status"), info.get("total-time"),
                  info.get("downtime"), info.get("setup-time"), ram.get("transferred"),
                  ram.get("dirty-sync-count")), flush=True)
    print("@@bench done", flush=True)
    return 0


# ---- the host side --------------------------------------------------------------

def parse(lines):
    """tag -> list of (total_ms, downtime_ms) of completed migrations."""
    out = {}
    for ln in lines:
        f = ln.split()
        if len(f) < 4 or f[0] != "@@bench" or "status=completed" not in f:
            continue
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        out.setdefault(f[1], []).append((int(kv["total_ms"]), int(kv["downtime_ms"])))
    return out


def host_main(a):
    import guestkit
    import nested
    guestkit.VMM_BINARY = a.vmm
    kernel, initrd = guestkit.kit("vmlinuz-amd64"), guestkit.kit("initrd-amd64.xz")
    b = nested.Batch(mode="l1", l1s=2)
    for guest, script in GUESTS.items():
        append = "console=ttyS0 quiet panic=-1 vmmkit.script=%s" % (
            base64.b64encode(script.encode()).decode())
        for vmm in ("vmm", "qemu"):
            argv = guestkit.vmm_argv(vmm, a.mem, cpu=a.cpu, nodefaults=True, extra=[
                "-kernel", kernel, "-initrd", initrd, "-append", append])
            tag = "%s-%s" % (vmm, guest)
            b.add(tag, ["/usr/bin/python3", os.path.abspath(__file__), "--l1", "--runs",
                        str(a.runs), "--tag", tag, "--", *argv],
                  timeout=a.runs * (2 * STEP_WAIT_S + 60), marker="@@bench done", grace=10)
    results = b.run()
    lines = []
    for name, r in results.items():
        got = [ln.strip() for ln in (r.stdout or "").splitlines() if ln.startswith("@@bench")]
        if not got:
            got = ["@@bench %s error=no output (rc=%s)" % (name, r.rc)]
        lines += got
    print("\n".join(lines))
    figures = parse(lines)
    print("\n-m %d, -cpu %s, %d runs each: medians, ms (vmm / QEMU)" % (a.mem, a.cpu, a.runs))
    ok = True
    for guest in GUESTS:
        v, q = figures.get("vmm-" + guest), figures.get("qemu-" + guest)
        if not v or not q:
            print("%-5s not measured (vmm %d, QEMU %d completed)" % (guest, len(v or ()),
                                                                     len(q or ())))
            ok = False
            continue
        vt, vd = (statistics.median(x) for x in zip(*v))
        qt, qd = (statistics.median(x) for x in zip(*q))
        print("%-5s downtime %6.0f / %6.0f (%.2f)   total %7.0f / %7.0f (%.2f)" % (
            guest, vd, qd, vd / qd, vt, qt, vt / qt))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mem", type=int, default=512)
    ap.add_argument("--cpu", default="qemu64")
    ap.add_argument("--vmm", default=os.path.join(REPO, "build", "vmm"))
    ap.add_argument("--l1", action="store_true")
    ap.add_argument("--tag", default="")
    argv = sys.argv[1:]
    rest = []
    if "--" in argv:
        rest = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    a = ap.parse_args(argv)
    return l1_main(a, rest) if a.l1 else host_main(a)


if __name__ == "__main__":
    sys.exit(main())
