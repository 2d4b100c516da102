#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-net guest-to-host TCP throughput, vmm vs QEMU, over user (slirp)
and tap networking, with a stock Linux guest.

Each VMM boots the guest kit's amd64 CD under hardware virtualization (the
nested L1 on machines without VT-x, see docs/testing.md) with a virtio
script disk and one virtio-net NIC, given the same way to both VMMs:
  user: -netdev user,id=n0 -device virtio-net-pci,netdev=n0
  tap:  -netdev tap,id=n0,ifname=btap0,script=IFUP,downscript=no
        -device virtio-net-pci,netdev=n0   (IFUP puts it on a bridge in a
        network namespace; the host side is the bridge's address)
The guest sends `dd if=/dev/zero bs=64k count=N | nc HOST PORT` RUNS times
to tools/bench/net_sink.py, which times each stream from its first byte to
EOF. Prints MB/s (best of runs) per VMM and the ratio vmm/qemu; --json
writes every figure. Both VMMs get the same -cpu (--cpu, default host),
-nodefaults and -no-reboot. A pass over a backend counts only when every
VMM's script streamed all RUNS times; otherwise it is discarded for every
VMM and run again in a fresh L1 (--max-passes in all).

    tools/bench/virtio_net.py [--runs N] [--size-mb M] [--backends user,tap] [--json FILE]
        [--cpu MODEL] [--max-passes N]
"""
import argparse
import json
import os
import re
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "real"))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))

import guestkit  # noqa: E402
import nested  # noqa: E402

PORT = 15001
NET = {  # guest address, host (sink) address
    "user": ("10.0.2.15", "10.0.2.2", "127.0.0.1"),
    "tap": ("192.168.78.10", "192.168.78.1", "192.168.78.1"),
}

GUEST = """#VMMKIT-SCRIPT
ip addr add %(ip)s/24 dev eth0
ip link set eth0 up
ip route add default via %(host)s 2>/dev/null
i=0; until ping -c 1 -W 1 %(host)s >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 30 ] && break; sleep 1; done
i=0
while [ $i -lt %(runs)d ]; do
	dd if=/dev/zero bs=64k count=%(blocks)d 2>/dev/null | nc %(host)s %(port)d
	i=$((i + 1))
done
echo "bench net done"
"""


def command(batch, vmm, backend, runs, size_mb, cpu="host", attempt=1):
    ip, host, sink_addr = NET[backend]
    body = (GUEST % {"ip": ip, "host": host, "runs": runs, "blocks": size_mb * 16,
                     "port": PORT}).encode()
    name = "%s-net-%s" % (vmm, backend) + ("" if attempt == 1 else "-%d" % attempt)
    script = batch.stage_bytes("%s-script.img" % name, body + b"\0" * (-len(body) % 512 + 512))
    if backend == "user":
        net = ["-netdev", "user,id=n0"]
    else:
        net = ["-netdev", "tap,id=n0,ifname=btap0,script=$d/ifup,downscript=no"]
    # The same -cpu and the same explicit devices for both VMMs
    # (-nodefaults); -no-reboot: a guest reset ends the run instead of
    # running the script a second time.
    argv = guestkit.vmm_argv(vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"), cpu=cpu,
                             nodefaults=True,
                             extra=["-no-reboot", "-drive", "file=%s,if=virtio" % script] + net +
                             ["-device", "virtio-net-pci,netdev=n0"])
    cmd = " ".join(a if "$d/" in a else shlex.quote(a) for a in argv)
    sink = "/usr/bin/python3 %s %s %d %d" % (shlex.quote(os.path.join(HERE, "net_sink.py")),
                                             sink_addr, PORT, runs)
    wrap = 'ip netns exec $ns ' if backend == "tap" else ""
    shell = r"""set -u
d="${TMPDIR:-/tmp}/%(name)s"; mkdir -p "$d"; ns=vmmbench$$
ip link set lo up 2>/dev/null
if [ %(tap)d = 1 ]; then
  printf '#!/bin/sh\nip link set "$1" master br0 && ip link set "$1" up\n' > "$d/ifup"; chmod +x "$d/ifup"
  ip netns add $ns && ip netns exec $ns sh -c "ip link set lo up && ip link add br0 type bridge && ip link set br0 up && ip addr add %(host)s/24 dev br0" || echo "@@fail netns"
fi
%(wrap)s%(sink)s > "$d/sink.log" 2>&1 & sp=$!
i=0; while [ $i -lt 100 ] && ! grep -q listening "$d/sink.log"; do sleep 0.1; i=$((i+1)); done
%(wrap)s%(cmd)s > "$d/vmm.log" 2>&1 < /dev/null & vp=$!
# The console streams out, so the harness sees a hung guest (idle) or a
# spurious reset (flake signs) and retries.
tail -n +1 -f "$d/vmm.log" & tp=$!
i=0; while [ $i -lt 3000 ] && kill -0 $vp 2>/dev/null && ! grep -q VMMKIT-DONE "$d/vmm.log"; do sleep 0.2; i=$((i+1)); done
sleep 2; kill $vp 2>/dev/null; wait $vp; kill $sp 2>/dev/null; wait $sp; kill $tp
[ %(tap)d = 1 ] && ip netns del $ns
cat "$d/sink.log"; echo "@@bench-end"
""" % {"name": name, "tap": backend == "tap", "host": host, "wrap": wrap, "sink": sink,
       "cmd": cmd}
    batch.add(name, shell, timeout=600, marker="@@bench-end", grace=5, idle=guestkit.BOOT_IDLE,
              retries=1, flake_signs=guestkit.BOOT_FLAKE_SIGNS)
    return name


def parse(stdout):
    out = []
    for ln in stdout.replace("\r", "").split("\n"):
        m = re.search(r"@@run (\d+) ([\d.]+)", ln)
        if m and float(m.group(2)) > 0:
            out.append({"bytes": int(m.group(1)), "seconds": float(m.group(2)),
                        "mb_s": int(m.group(1)) / float(m.group(2)) / 1e6})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=16)
    ap.add_argument("--backends", default="user,tap")
    ap.add_argument("--vmms", default="vmm,qemu")
    ap.add_argument("--cpu", default="host", help="-cpu for both VMMs (default host)")
    ap.add_argument("--max-passes", type=int, default=3,
                    help="L1 runs at most per backend for one complete pass (default 3)")
    ap.add_argument("--json")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless every VMM gave a figure over every backend")
    a = ap.parse_args()

    missing = guestkit.kit_missing()
    if missing:
        print("virtio-net bench: %s" % missing, file=sys.stderr)
        return 2
    vmms = [v for v in a.vmms.split(",") if v]
    backends = [b for b in a.backends.split(",") if b]
    for vmm in vmms:
        if guestkit.vmm_missing(vmm):
            print("virtio-net bench: %s" % guestkit.vmm_missing(vmm), file=sys.stderr)
            return 2
    figures, discarded = {}, []
    todo = list(backends)
    for attempt in range(1, a.max_passes + 1):
        if not todo:
            break
        batch = nested.Batch()
        names = {}
        # Alternate the VMMs within each backend.
        for backend in todo:
            for vmm in vmms:
                names[(vmm, backend)] = command(batch, vmm, backend, a.runs, a.size_mb, a.cpu,
                                                attempt)
        results = batch.run()
        for backend in list(todo):
            got, bad = {}, []
            for vmm in vmms:
                r = results[names[(vmm, backend)]]
                runs = parse(r.stdout)
                good = [x for x in runs if x["bytes"] == a.size_mb << 20]
                if len(runs) != a.runs or len(good) != a.runs:
                    # Not the script's one complete pass (a reset, a lost stream)
                    bad.append("%s: %d complete streams of %d" % (vmm, len(good), a.runs))
                    print(r.describe(), file=sys.stderr)
                got[vmm] = runs
            if bad:
                # Every VMM's figures of this pass go: the columns compare
                # the same pass.
                print("virtio-net bench: %s pass %d discarded for every VMM: %s"
                      % (backend, attempt, "; ".join(bad)), file=sys.stderr)
                discarded.append("%s pass %d: %s" % (backend, attempt, "; ".join(bad)))
                continue
            todo.remove(backend)
            for vmm in vmms:
                figures.setdefault(vmm, {})[backend] = got[vmm]

    # only vmm's own failure fails the bench without --strict
    failed = "vmm" in vmms and any(b not in figures.get("vmm", {}) for b in backends)

    def best(vmm, backend):
        v = [x["mb_s"] for x in figures.get(vmm, {}).get(backend, [])
             if x["bytes"] == a.size_mb << 20]
        return max(v) if v else None

    print("%-40s %10s %10s %8s" % ("metric (MB/s, best of %d)" % a.runs, "vmm", "qemu", "ratio"))
    unmeasured = ["%s over %s" % (vmm, backend) for vmm in vmms for backend in backends
                  if not best(vmm, backend)]
    for backend in backends:
        v, q = best("vmm", backend), best("qemu", backend)
        print("%-40s %10s %10s %8s" % (
            "virtio-net TCP guest->host, %s, %d MiB" % (backend, a.size_mb),
            "%.1f" % v if v else "n/a", "%.1f" % q if q else "n/a",
            "%.2f" % (v / q) if v and q else "n/a"))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump({"size_mb": a.size_mb, "runs": a.runs, "cpu": a.cpu,
                       "discarded_passes": discarded, "figures": figures}, fh, indent=1)
    if a.strict and unmeasured:
        print("NOT MEASURED (--strict): " + ", ".join(unmeasured))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
