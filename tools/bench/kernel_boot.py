#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Direct kernel boot, vmm against QEMU, side by side (part of `make bench`).

The stock Debian 12 amd64 kernel and the guest kit's initramfs boot with
-kernel/-initrd/-append until the kit's final marker (VMMKIT-DONE), under

  vmm                  build/vmm -m 256 -kernel vmlinuz ...: the bzImage
                       entered at its 64-bit entry without firmware
                       (src/board/pc_direct_boot.c), vmm's default
  vmm firmware         the same through SeaBIOS and vmm's option ROM
                       (-machine kernel-boot=firmware)
  vmm pvh              the same kernel uncompressed (the kit's vmlinux, a
                       PVH ELF): no decompressor runs in the guest
  qemu -M pc           the same machine in QEMU (bzImage, SeaBIOS)
  qemu -M microvm      QEMU's minimal machine (-M microvm, its own qboot
                       firmware; bzImage)
  qemu -M pc pvh       QEMU's pc with the vmlinux (its PVH option ROM)
  qemu -M microvm pvh  microvm with the vmlinux: QEMU's fastest way in

every one with the same -cpu (--cpu, default host; run again with --cpu
qemu64), -nodefaults (no VGA, no NIC: the serial port is the one device
given), and -no-reboot, so a guest reset ends the boot instead of booting
a second time. A pass is one boot of every VMM; it counts only when every
VMM reached the marker, else it is discarded for all of them and run again
(up to --runs extra passes, each counted and printed).

all in ONE run of the real-guest harness (tests/nested: the host's /dev/kvm
if it can boot an OS, else the nested L1), alternating between the VMMs run
by run. The time is from process start to the marker, as the harness
measures it. Figures from the nested L1 are not hardware figures: compare
the ratios. See docs/bench.md.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))
import nested  # noqa: E402

MARKER = "VMMKIT-DONE"
APPEND = "console=ttyS0 quiet panic=-1"


def command_lines(vmm, kernel, vmlinux, initrd, cpu="host"):
    """The same guest and devices for every VMM: -cpu, -nodefaults with the
    serial port on stdout, -no-reboot."""
    def common(k):
        return ["-m", "256", "-cpu", cpu, "-kernel", k, "-initrd", initrd,
                "-append", APPEND, "-nodefaults", "-display", "none", "-serial", "stdio",
                "-no-reboot"]
    qemu = ["qemu-system-x86_64", "-enable-kvm", "-L", "/usr/share/seabios", "-L",
            "/usr/share/qemu"]
    # vapic=false: see tests/real/guestkit.py (QEMU's TPR patching and TCG).
    qemu_pc = qemu + ["-M", "pc", "-global", "kvm-apic.vapic=false"]
    return {
        "vmm": [vmm] + common(kernel),
        "vmm firmware": [vmm, "-machine", "kernel-boot=firmware"] + common(kernel),
        "vmm pvh": [vmm] + common(vmlinux),
        "qemu -M pc": qemu_pc + common(kernel),
        "qemu -M microvm": qemu + ["-M", "microvm"] + common(kernel),
        "qemu -M pc pvh": qemu_pc + common(vmlinux),
        "qemu -M microvm pvh": qemu + ["-M", "microvm"] + common(vmlinux),
    }


def warm_page_cache(paths):
    """The L1 reads the files over 9p from the host: whichever VMM boots
    first would also pay for the host's first read from disk."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vmm", default=os.path.join(REPO, "build", "vmm"))
    ap.add_argument("--kit", default=os.environ.get("VMM_GUEST_CACHE",
                                                    os.path.join(REPO, "build", "guests")))
    ap.add_argument("--runs", type=int, default=3, help="boots per VMM (default 3)")
    ap.add_argument("--cpu", default="host", help="-cpu for every VMM (default host)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless every boot of every VMM reached the marker")
    a = ap.parse_args()
    vmm = os.path.abspath(a.vmm)
    kernel = os.path.join(os.path.abspath(a.kit), "vmlinuz-amd64")
    vmlinux = os.path.join(os.path.abspath(a.kit), "vmlinux-amd64")
    initrd = os.path.join(os.path.abspath(a.kit), "initrd-amd64.xz")
    for f in (vmm, kernel, vmlinux, initrd):
        if not os.path.exists(f):
            print("kernel_boot: %s is missing (make all guests)" % f, file=sys.stderr)
            return 1
    warm_page_cache((kernel, vmlinux, initrd))
    lines = command_lines(vmm, kernel, vmlinux, initrd, a.cpu)
    times = {label: [] for label in lines}
    failed, passes, mode = [], 0, None
    # Passes until --runs complete ones, or --runs passes more than that.
    while len(times["vmm"]) < a.runs and passes < 2 * a.runs:
        want = a.runs - len(times["vmm"])
        try:
            batch = nested.Batch()
        except nested.Unavailable as e:
            print("kernel_boot: no hardware virtualization harness: %s" % e, file=sys.stderr)
            return 1
        mode = batch.mode
        names = []
        for run in range(passes, passes + want):
            for label, argv in lines.items():
                batch.add("%s #%d" % (label, run), argv, timeout=300, marker=MARKER, grace=5,
                          idle=90)
            names.append(run)
        passes += want
        results = batch.run()
        for run in names:
            bad = []
            for label in lines:
                r = results["%s #%d" % (label, run)]
                if not r.marker_seen:
                    bad.append("%s #%d: no marker (rc=%s%s)" % (
                        label, run, r.rc, " timeout" if r.timed_out else ""))
            if bad:
                # The whole pass goes: every column compares the same passes.
                failed += bad
                print("kernel_boot: pass %d discarded for every VMM: %s" % (run, "; ".join(bad)),
                      file=sys.stderr)
                continue
            for label in lines:
                times[label].append(results["%s #%d" % (label, run)].marker_time)
    print("\nDirect kernel boot to %s, Debian 12 amd64, -m 256, -cpu %s, harness mode %s "
          "(%d complete passes of %d)" % (MARKER, a.cpu, mode, len(times["vmm"]), passes))
    print("| VMM | median s | runs (s) | vmm / this |")
    print("|---|---:|---|---:|")
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for label, v in times.items():
        if not v:
            print("| %s | n/a | - | n/a |" % label)
            continue
        ratio = "%.2f" % (med["vmm"] / med[label]) if "vmm" in med else "n/a"
        print("| %s | %.2f | %s | %s |" % (label, med[label],
                                          " ".join("%.1f" % t for t in v), ratio))
    for f in failed:
        print("failed: " + f)
    if a.strict and (failed or len(times["vmm"]) < a.runs):
        print("NOT MEASURED (--strict): " + ", ".join(
            ["%d of %d passes" % (len(times["vmm"]), a.runs)] + failed))
        return 1
    # Otherwise only a vmm failure fails the bench; the peers are references.
    return 1 if any(f.startswith("vmm ") for f in failed) or "vmm" not in med else 0


if __name__ == "__main__":
    sys.exit(main())
