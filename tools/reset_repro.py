#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The slirp bulk-transmit guest reset, vmm and QEMU side by side.

docs/testing.md ("Known issues") records that vmm's Linux guest reset in
about half the `make bench-net` user-networking runs, during the first
guest->host `dd | nc` stream. This reproducer answers whether vmm resets
more often than QEMU under the same conditions: both VMMs run, interleaved
in the SAME nested L1 (tests/nested), the same guest with the same -cpu and
the same explicit devices:

    -M pc -m 256 -cpu MODEL -nodefaults -no-reboot -display none -serial stdio
    -kernel vmlinuz-amd64 -initrd initrd-amd64.xz
    -append "console=ttyS0 panic=0 loglevel=4"   (or --boot cdrom: -cdrom kit-amd64.iso)
    -drive file=SCRIPT,if=virtio,format=raw
    -netdev user,id=n0 -device virtio-net-pci,netdev=n0

(QEMU also gets -L for its firmware and kvm-apic.vapic=false, as in the
real-guest tests.) The guest brings eth0 up, pings the host and sends
STREAMS x SIZE MiB of zeros with `dd | nc` to tools/bench/net_sink.py.
-no-reboot makes any reset end the VMM, and panic=0 keeps a panicking
guest on screen instead of rebooting it, so a reset is a reset.

State at the fault: the L1's ftrace records kvm_amd's kvm_exit (reason,
guest RIP, exit info, pending event), injected interrupts and exceptions,
nested page faults, MSR and CR accesses. When the run contains a
`reason shutdown` exit (a triple fault, for either VMM), the trace lines
before it are printed with the run. vmm also runs with VMM_DEBUG=1 (it
prints the reset's source and the vCPU's state as KVM returns it).

Every run is classified: ok (all streams complete, the guest powered off),
reset (a shutdown exit in the trace, or the VMM exiting without the final
marker), oops (Kernel panic / BUG: / Oops in the console), hang (timeout or
idle), incomplete (a stream short). Prints per arm N, resets, rate and its
95 % Wilson interval; --json writes every run, --logs DIR every console.

    flock /tmp/vmm-l1.lock tools/reset_repro.py [--runs N] [--cpus host,qemu64]
        [--vmms vmm,qemu] [--streams S] [--size-mb M] [--no-trace] [--json F] [--logs DIR]
"""
import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "real"))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))

import guestkit  # noqa: E402
import nested  # noqa: E402
import test_nics  # noqa: E402

NICS_MODELS = ["virtio-net-pci", "e1000-82544gc", "e1000-82545em", "ne2k_pci", "pcnet"]


def nics_script(rounds):
    """test_nics.py's guest script, taking every card `rounds` times."""
    body = test_nics.GUEST_SCRIPT
    loop = "for n in /sys/class/net/eth*; do"
    end = 'done\necho "VMM-NICS-DONE"'
    ready = 'echo "VMM-FWD-READY $mac $pci"'
    assert loop in body and end in body and ready in body
    body = body.replace(loop, "r=0\nwhile [ $r -lt %d ]; do\nr=$((r + 1))\n%s" % (rounds, loop))
    body = body.replace(ready, 'echo "VMM-FWD-READY $mac $pci r$r"')
    return body.replace(end, 'done\ndone\necho "VMM-NICS-DONE"')

PORT = 15011
GUEST_IP, HOST_IP = "10.0.2.15", "10.0.2.2"
APPEND = "console=ttyS0 panic=0 loglevel=4"
# kvm tracepoints enabled in the L1 (kvm_amd is the L1's KVM).
TRACE_EVENTS = ("kvm_exit", "kvm_inj_virq", "kvm_inj_exception", "kvm_page_fault",
                "kvm_msr", "kvm_cr", "kvm_mmio", "kvm_pio")
TRACE_LINES_BEFORE = 120
GUEST_SCRIPT = """#VMMKIT-SCRIPT
ip addr add %(ip)s/24 dev eth0
ip link set eth0 up
ip route add default via %(host)s 2>/dev/null
i=0; until ping -c 1 -W 1 %(host)s >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 30 ] && break; sleep 1; done
echo "repro ping done $i"
i=0
while [ $i -lt %(streams)d ]; do
	echo "repro stream $i"
	dd if=/dev/zero bs=64k count=%(blocks)d 2>/dev/null | nc %(host)s %(port)d
	i=$((i + 1))
done
echo "repro streams done"
"""
BAD_CONSOLE = re.compile(r"Kernel panic|BUG:|Oops|general protection fault|double fault")


def nics_devices():
    """test_nics.py's "nic" boot without the RTL8139 (QEMU's is a C+ chip,
    which the kit's 8139too refuses): the same cards for both VMMs."""
    args = []
    for k, model in enumerate(NICS_MODELS):
        args += ["-netdev", "user,id=n%d,hostfwd=tcp::%d-:8080" % (k, test_nics.FWD_BASE + k),
                 "-device", "%s,netdev=n%d" % (model, k)]
    return args


def vmm_command(vmm, cpu, script, boot, workload="stream"):
    if boot == "cdrom":
        # The kit CD as make bench-net boots it: SeaBIOS, ISOLINUX, the
        # kit's own command line ("quiet panic=-1": -no-reboot still ends
        # the VMM at a panic, after the panic message).
        media = ["-cdrom", guestkit.kit("kit-amd64.iso")]
    else:
        media = ["-kernel", guestkit.kit("vmlinuz-amd64"),
                 "-initrd", guestkit.kit("initrd-amd64.xz"), "-append", APPEND]
    common = ["-M", "pc", "-m", "256", "-cpu", cpu, "-nodefaults", "-no-reboot",
              "-display", "none", "-serial", "stdio"] + media + [
              "-drive", "file=%s,if=virtio,format=raw" % script]
    if workload == "nics":
        common += nics_devices()
    else:
        common += ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]
    if vmm == "qemu":
        return ["qemu-system-x86_64", "-enable-kvm", "-L", "/usr/share/seabios",
                "-L", "/usr/share/qemu", "-global", "kvm-apic.vapic=false"] + common
    if vmm in _no_cpu_option:
        # A build from before -cpu existed: its only model was "host".
        i = common.index("-cpu")
        common = common[:i] + common[i + 2:]
    return [vmm_binaries()[vmm]] + common


def vmm_binaries():
    """--vmms entries: "vmm" (build/vmm or $VMM), "qemu", or LABEL=PATH for
    another vmm build (e.g. an older commit's, to bisect)."""
    return dict(_binaries)


_binaries = {"vmm": guestkit.VMM_BINARY}
_no_cpu_option = set()


def nics_driver_argv(argv):
    """test_nics.py's host side around the VMM: the HTTP blob, each card's
    hostfwd fetch, "@@vmm rc=" at the end."""
    ports = ["%s=%d" % (test_nics.MODELS[m][0], test_nics.FWD_BASE + k)
             for k, m in enumerate(NICS_MODELS)]
    return ["/usr/bin/python3", test_nics.DRIVER, str(test_nics.HTTP_PORT), str(test_nics.BLOB),
            *ports, "--", *argv]


def run_shell(name, argv, streams, trace, workload="stream", limit_s=380):
    if workload == "nics":
        argv = nics_driver_argv(argv)
        sink = "echo listening"
    else:
        sink = "/usr/bin/python3 %s 127.0.0.1 %d %d 400" % (
            shlex.quote(os.path.join(REPO, "tools", "bench", "net_sink.py")), PORT, streams)
    cmd = " ".join(shlex.quote(a) for a in argv)
    events = " ".join(TRACE_EVENTS)
    return r"""set -u
d="${TMPDIR:-/tmp}/%(name)s"; mkdir -p "$d"
ip link set lo up 2>/dev/null
T=/sys/kernel/tracing tr=0
if [ %(trace)d = 1 ]; then
  [ -e $T/tracing_on ] || mount -t tracefs nodev $T 2>/dev/null
  if [ -w $T/tracing_on ]; then
    echo 0 > $T/tracing_on; echo 0 > $T/events/enable; echo 2048 > $T/buffer_size_kb; echo > $T/trace
    for e in %(events)s; do echo 1 > $T/events/kvm/$e/enable; done
    echo 1 > $T/tracing_on; tr=1
  else echo "@@repro no-trace"; fi
fi
%(sink)s > "$d/sink.log" 2>&1 & sp=$!
i=0; while [ $i -lt 100 ] && ! grep -q listening "$d/sink.log"; do sleep 0.1; i=$((i+1)); done
t0=$(cut -d' ' -f1 /proc/uptime)
VMM_DEBUG=1 %(cmd)s > "$d/vmm.log" 2>&1 < /dev/null & vp=$!
tail -n +1 -f "$d/vmm.log" & tp=$!
i=0; while [ $i -lt %(ticks)d ] && kill -0 $vp 2>/dev/null; do sleep 0.2; i=$((i+1)); done
kill $vp 2>/dev/null; wait $vp; rc=$?
[ $tr = 1 ] && echo 0 > $T/tracing_on
sleep 0.5; kill $tp 2>/dev/null
echo "@@repro vmm-rc $rc after $(cut -d' ' -f1 /proc/uptime) (start $t0)"
kill $sp 2>/dev/null; wait $sp 2>/dev/null
sed 's/^/@@repro sink /' "$d/sink.log"
if [ $tr = 1 ]; then
  n=$(grep -c 'reason shutdown' $T/trace)
  echo "@@repro shutdown-exits $n"
  if [ "$n" != 0 ]; then
    echo "@@repro trace-begin"
    grep -m1 -B%(before)d 'reason shutdown' $T/trace | tail -n %(lines)d
    echo "@@repro trace-end"
  fi
  echo > $T/trace
  for e in %(events)s; do echo 0 > $T/events/kvm/$e/enable; done
fi
echo "@@repro-end"
""" % {"name": name, "trace": 1 if trace else 0, "events": events, "sink": sink, "cmd": cmd,
       "before": TRACE_LINES_BEFORE, "lines": TRACE_LINES_BEFORE + 1, "ticks": limit_s * 5}


def classify(result, streams, size_mb, workload="stream"):
    out = result.stdout.replace("\r", "")
    if workload == "nics":
        # a card is a "stream": its 1 MiB download with the right sha256
        sha = re.search(r"@@blob sha=(\w+)", out)
        want = "wget size=%d sha=%s" % (test_nics.BLOB, sha.group(1) if sha else "?")
        complete = out.count(want)
        done = "VMM-NICS-DONE" in out
    else:
        runs = [int(m.group(1)) for m in re.finditer(r"@@repro sink @@run (\d+) ", out)]
        complete = sum(1 for n in runs if n == size_mb << 20)
        done = "VMMKIT-DONE" in out
    m = re.search(r"@@repro shutdown-exits (\d+)", out)
    shutdowns = int(m.group(1)) if m else None
    info = {"streams_complete": complete, "shutdown_exits": shutdowns, "done": done,
            "stream_at_fault": None, "attempts": result.attempts,
            "elapsed": result.elapsed}
    started = re.findall(r"repro stream (\d+)" if workload != "nics" else
                         r"nic (52:54:\S+) pci=", out)
    if started:
        info["stream_at_fault"] = started[-1] if workload == "nics" else int(started[-1])
    m = re.search(r"@@repro vmm-rc (-?\d+)", out)
    vmm_rc = int(m.group(1)) if m else None
    info["vmm_rc"] = vmm_rc
    if "@@repro-end" not in out or result.timed_out:
        kind = "hang"
    elif shutdowns:
        kind = "reset"
    elif vmm_rc not in (0, None):
        kind = "error"   # the VMM failed (a bad option...): not a run
    elif BAD_CONSOLE.search(out):
        kind = "oops"
    elif not done:
        kind = "reset"   # the VMM ended (-no-reboot) before the final marker
    elif complete < streams:
        kind = "incomplete"
    else:
        kind = "ok"
    info["kind"] = kind
    return info


def selftest(a):
    """Checks the tooling on a known triple fault: both VMMs must end with
    the reset classified and the shutdown exit found in the L1 trace."""
    disk = os.path.join(REPO, "build", "fw", "disk-4.img")
    if not os.path.exists(disk):
        print("reset_repro: %s missing (make fw-images)" % disk, file=sys.stderr)
        return 2
    batch = nested.Batch()
    names = []
    for vmm in ("vmm", "qemu"):
        argv = vmm_command(vmm, "host", disk, "kernel")
        # The boot sector from the disk instead of the kit: no -kernel and
        # no script disk; -snapshot keeps the host file untouched.
        argv = argv[:argv.index("-kernel")] + ["-snapshot", "-hda", disk, "-device",
                                               "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        name = "%s-selftest-%s" % (a.tag, vmm)
        batch.add(name, run_shell(name, argv, 0, True), timeout=120, marker="@@repro-end",
                  grace=5)
        names.append(name)
    results = batch.run()
    bad = 0
    for name in names:
        info = classify(results[name], 0, a.size_mb)
        ok = info["kind"] == "reset" and (info["shutdown_exits"] or 0) >= 1
        bad += not ok
        print("%s: %s, shutdown exits %s: %s" % (name, info["kind"], info["shutdown_exits"],
                                                 "ok" if ok else "FAILED"))
        out = results[name].stdout
        if "@@repro trace-begin" in out:
            print("\n".join(out[out.index("@@repro trace-begin"):].split("\n")[-12:]))
    return 1 if bad else 0


def wilson(k, n, z=1.96):
    """95 % Wilson score interval of k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per VMM and CPU model")
    ap.add_argument("--cpus", default="host,qemu64")
    ap.add_argument("--vmms", default="vmm,qemu",
                    help="comma list: vmm, qemu, LABEL=PATH (another vmm binary)")
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--size-mb", type=int, default=16)
    ap.add_argument("--no-trace", action="store_true")
    ap.add_argument("--boot", choices=("kernel", "cdrom"), default="kernel",
                    help="-kernel/-initrd with panic=0 (default), or the kit CD as make bench-net boots it")
    ap.add_argument("--workload", choices=("stream", "nics"), default="stream",
                    help="stream: dd | nc to the host over virtio-net (default); nics: "
                    "test_nics.py's guest script over five cards (virtio-net, 82544GC, "
                    "82545EM, NE2000 PCI, PCnet), each on its own slirp (use --boot cdrom)")
    ap.add_argument("--cards", help="nics: comma list of -device models (default: %s)"
                    % ",".join(NICS_MODELS))
    ap.add_argument("--rounds", type=int, default=1, help="nics: take every card this many times")
    ap.add_argument("--json")
    ap.add_argument("--logs", default=os.path.join(REPO, "build", "reset-repro"))
    ap.add_argument("--tag", default=time.strftime("%H%M%S"))
    ap.add_argument("--selftest", action="store_true",
                    help="instead: the firmware layer's triple-fault boot sector (build/fw/"
                    "disk-4.img) under each VMM, which must come out as a reset with a "
                    "traced shutdown exit")
    a = ap.parse_args()
    if a.selftest:
        return selftest(a)

    for f in ("vmlinuz-amd64", "initrd-amd64.xz"):
        if not os.path.exists(guestkit.kit(f)):
            print("reset_repro: %s missing (VMM_GUEST_CACHE)" % guestkit.kit(f), file=sys.stderr)
            return 2
    vmms = []
    for v in (v for v in a.vmms.split(",") if v):
        if "=" in v:
            label, path = v.split("=", 1)
            if not os.access(path, os.X_OK):
                print("reset_repro: %s is not an executable" % path, file=sys.stderr)
                return 2
            _binaries[label] = os.path.abspath(path)
            probe = subprocess.run([path, "-cpu", "host", "-version"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            if probe.returncode != 0:
                _no_cpu_option.add(label)
            v = label
        elif guestkit.vmm_missing(v):
            print("reset_repro: %s" % guestkit.vmm_missing(v), file=sys.stderr)
            return 2
        vmms.append(v)
    cpus = [c for c in a.cpus.split(",") if c]
    if _no_cpu_option and cpus != ["host"]:
        print("reset_repro: %s has no -cpu (host only): use --cpus host"
              % ",".join(sorted(_no_cpu_option)), file=sys.stderr)
        return 2
    if a.workload == "nics":
        if a.cards:
            NICS_MODELS[:] = a.cards.split(",")
        a.streams = len(NICS_MODELS) * a.rounds
        body = nics_script(a.rounds).encode()
    else:
        body = (GUEST_SCRIPT % {"ip": GUEST_IP, "host": HOST_IP, "streams": a.streams,
                                "blocks": a.size_mb * 16, "port": PORT}).encode()
    batch = nested.Batch()
    arms = {}
    # Interleave the arms so that each sees the same L1 over time.
    for i in range(a.runs):
        for cpu in cpus:
            for vmm in vmms:
                name = "%s-%s-%s-%d" % (a.tag, vmm, cpu, i)
                # Each run gets its own copy of the script disk (vmm and
                # QEMU both lock it).
                disk = batch.stage_bytes("%s.img" % name, body + b"\0" * (-len(body) % 512 + 512))
                limit = 380 + (a.streams * 20 if a.workload == "nics" else 0)
                shell = run_shell(name, vmm_command(vmm, cpu, disk, a.boot, a.workload), a.streams,
                                  not a.no_trace, a.workload, limit)
                batch.add(name, shell, timeout=limit + 40, marker="@@repro-end", grace=5, idle=150)
                arms.setdefault((vmm, cpu), []).append(name)
    results = batch.run()
    os.makedirs(a.logs, exist_ok=True)
    report = {"streams": a.streams, "size_mb": a.size_mb, "boot": a.boot, "workload": a.workload,
              "trace": not a.no_trace, "runs": {}}
    print("%-8s %-8s %4s %6s %5s %5s %6s  %-8s %s" % (
        "vmm", "cpu", "N", "resets", "oops", "hangs", "other", "rate", "95% Wilson"))
    for (vmm, cpu), names in arms.items():
        kinds = []
        for name in names:
            r = results[name]
            info = classify(r, a.streams, a.size_mb, a.workload)
            info.update(vmm=vmm, cpu=cpu)
            report["runs"][name] = info
            kinds.append(info["kind"])
            path = os.path.join(a.logs, "%s.log" % name)
            with open(path, "w") as fh:
                fh.write(r.describe(tail=10 ** 7))
            print("  %s: %s (stream %s, shutdown exits %s, attempts %s) %s" % (
                name, info["kind"], info["stream_at_fault"], info["shutdown_exits"],
                info["attempts"], path), file=sys.stderr)
        n = sum(1 for k in kinds if k not in ("hang", "error"))
        resets = kinds.count("reset")
        lo, hi = wilson(resets, n)
        print("%-8s %-8s %4d %6d %5d %5d %6d  %-8s [%.2f, %.2f]" % (
            vmm, cpu, n, resets, kinds.count("oops"), kinds.count("hang"),
            kinds.count("incomplete"), "%.2f" % (resets / n) if n else "n/a", lo, hi))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
