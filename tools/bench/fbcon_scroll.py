#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""fbcon scrolling: the time for the guest to write 10,000 lines to the
framebuffer console, vmm against QEMU (issue 14; part of `make bench`).

Both VMMs boot the same machine in the real-guest harness (tests/nested:
the nested L1 here):

  -m 256 -cpu CPU -nodefaults -display none -serial stdio -vga std|cirrus
  -no-reboot -kernel vmlinuz-amd64 -initrd initrd-amd64.xz -hda SCRIPT
  -append "vga=0x311 console=tty0 console=ttyS0 vt.global_cursor_default=0
           consoleblank=0 quiet panic=-1"

(QEMU with guestkit's peer options: -M pc, -L, kvm-apic.vapic=false).
vga=0x311 is VESA 640x480 16 bpp through the card's VGA BIOS, so vesafb
drives the card and fbcon runs on it: the setup tests/real/test_display.py
checks with screendumps, for both cards. The guest's serial console is
the last console=, so the kit script's output comes out on stdout, while
tty1 (the current VT) is on fbcon.

The script (run once by the kit init, from the -hda script disk) waits
until a frame-buffer vtconsole is bound, silences the kernel log and the
cursor blink, then --runs times writes `seq LINES > /dev/tty1` and prints

  @@fbscroll run=R lines=N us0=... us1=... up0=... up1=...

with the guest's clock around the write (microseconds from busybox
adjtimex, as the kit's busybox date has no %N; /proc/uptime, 10 ms, as the
fallback). A tty write to a VT returns after
the console drew it (con_write draws under the console lock), so this is
the time fbcon takes to draw and scroll N lines.

vmm and QEMU alternate within a pass (the order flips pass by pass), all
passes in one L1 batch. A pass counts only when both VMMs' scripts ran
exactly once to the end with every run's line; otherwise it is discarded
for both and run again in a fresh batch (--max-passes in all). Prints
seconds for N lines and lines/s per VMM (median over runs) and vmm/QEMU
(time ratio: below 1 is vmm faster); --json writes every figure.

    tools/bench/fbcon_scroll.py [--runs N] [--lines N] [--card std|cirrus]
        [--cpu MODEL] [--passes N] [--max-passes N] [--json FILE] [--strict]
        [--print]
"""
import argparse
import json
import os
import re
import shlex
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "real"))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))

import guestkit  # noqa: E402
import nested  # noqa: E402

VMMS = ("vmm", "qemu")
CARDS = ("std", "cirrus")
# quiet: the boot's kernel log stays off the slow serial port (fbcon still
# takes the console over when vesafb registers: no deferred takeover in the
# kit's kernel config)
APPEND = ("vga=0x311 console=tty0 console=ttyS0 vt.global_cursor_default=0 consoleblank=0 "
          "quiet panic=-1")
MARKER = guestkit.MARKER_DONE

GUEST = """#VMMKIT-SCRIPT
dmesg -n 1
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
fb="" i=0
while [ $i -lt 60 ]; do
	for v in /sys/class/vtconsole/vtcon*; do
		grep -q "frame buffer" $v/name 2>/dev/null && [ "$(cat $v/bind)" = 1 ] && fb=${v##*/}
	done
	[ -n "$fb" ] && break
	sleep 0.5; i=$((i + 1))
done
vt=$(cat /sys/class/tty/tty0/active 2>/dev/null)
f=/sys/class/graphics/fb0
echo "@@fbscroll fb=$(tr ' ' _ < $f/name) size=$(cat $f/virtual_size) bpp=$(cat $f/bits_per_pixel) vtcon=$fb vt=$vt"
[ -n "$fb" ] || { echo "@@fbscroll no fbcon"; exit 1; }
[ "$vt" = tty1 ] || { echo "@@fbscroll tty1 is not the current VT"; exit 1; }
# microseconds of the guest's wall clock: busybox's date has no %%N
us() { adjtimex | awk '/tv_sec/ {s = $2} /tv_usec/ {u = $2} END {printf "%%d%%06d", s, u}'; }
seq 30 > /dev/tty1
r=1
while [ $r -le %(runs)d ]; do
	u0=$(cut -d' ' -f1 /proc/uptime); t0=$(us)
	seq %(lines)d > /dev/tty1
	t1=$(us); u1=$(cut -d' ' -f1 /proc/uptime)
	echo "@@fbscroll run=$r lines=%(lines)d us0=$t0 us1=$t1 up0=$u0 up1=$u1"
	r=$((r + 1))
done
echo "@@fbscroll end"
"""


def guest_script(runs, lines):
    return GUEST % {"runs": runs, "lines": lines}


def argv_for(vmm, script, card="std", cpu="host"):
    """The command line of one VMM: the same machine for both (guestkit's
    vmm_argv gives QEMU its peer options before -m)."""
    return guestkit.vmm_argv(vmm, 256, hda=script, cpu=cpu, nodefaults=True, extra=[
        "-vga", card, "-no-reboot", "-kernel", guestkit.kit("vmlinuz-amd64"),
        "-initrd", guestkit.kit("initrd-amd64.xz"), "-append", APPEND])


RUN_RE = re.compile(r"@@fbscroll run=(\d+) lines=(\d+) us0=(\S*) us1=(\S*) "
                    r"up0=([\d.]+) up1=([\d.]+)\s*$")


def parse(stdout, runs, lines):
    """The runs of one boot as [{"run", "lines", "seconds", "clock"}], or
    None unless the script ran exactly once to the end (one
    VMMKIT-SCRIPT-BEGIN, one "@@fbscroll end", rc=0) with runs 1..RUNS of
    LINES lines each, in order."""
    text = stdout.replace("\r", "")
    if (text.count("VMMKIT-SCRIPT-BEGIN") != 1 or text.count("@@fbscroll end") != 1
            or text.count("VMMKIT-SCRIPT-END rc=0") != 1):
        return None
    out = []
    for ln in text.split("\n"):
        if "@@fbscroll run=" not in ln:
            continue
        m = RUN_RE.search(ln[ln.index("@@fbscroll run="):])
        if not m:
            return None
        us0, us1 = m.group(3), m.group(4)
        if us0.isdigit() and us1.isdigit() and int(us1) > int(us0):
            seconds, clock = (int(us1) - int(us0)) / 1e6, "adjtimex"
        else:
            seconds, clock = float(m.group(6)) - float(m.group(5)), "uptime"
        out.append({"run": int(m.group(1)), "lines": int(m.group(2)),
                    "seconds": round(seconds, 6), "clock": clock})
    if [r["run"] for r in out] != list(range(1, runs + 1)):
        return None
    if any(r["lines"] != lines or r["seconds"] <= 0 for r in out):
        return None
    return out


def add_pass(batch, p, a):
    """Queue pass p: both VMMs, the order flipped every other pass. Returns
    {vmm: command name}."""
    order = VMMS if p % 2 == 0 else VMMS[::-1]
    names = {v: "%s-fbscroll-%s-%d" % (v, a.card, p) for v in VMMS}
    body = guestkit.script_image(guest_script(a.runs, a.lines))
    for vmm in order:
        script = batch.stage_bytes(names[vmm] + "-script.img", body)
        batch.add(names[vmm], argv_for(vmm, script, a.card, a.cpu), timeout=a.timeout,
                  marker=MARKER, grace=10, idle=a.idle, retries=guestkit.BOOT_RETRIES,
                  flake_signs=guestkit.BOOT_FLAKE_SIGNS, retry_guest=vmm == "qemu",
                  peer=names["qemu"] if vmm == "vmm" else None)
    return names


def table(figures, a, mode, passes_run):
    med = {v: statistics.median(x["seconds"] for x in figures[v]) if figures[v] else None
           for v in VMMS}
    print("\nfbcon: %d lines to tty1, -vga %s (vesafb 640x480x16), -cpu %s, harness mode %s, "
          "%d runs per boot, %d boots per VMM (%d passes run)"
          % (a.lines, a.card, a.cpu, mode, a.runs, len(figures["vmm"]) // max(a.runs, 1),
             passes_run))
    print("| VMM | median s | lines/s | runs (s) |")
    print("|---|---:|---:|---|")
    for v in VMMS:
        if med[v] is None:
            print("| %s | n/a | n/a | - |" % v)
        else:
            runs = " ".join("%.2f" % x["seconds"] for x in figures[v])
            print("| %s | %.3f | %.0f | %s |" % (v, med[v], a.lines / med[v], runs))
    ratio = med["vmm"] / med["qemu"] if med["vmm"] and med["qemu"] else None
    print("vmm / qemu (time): %s" % ("%.2f" % ratio if ratio else "n/a"))
    return med, ratio


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vmm", help="the vmm binary (default $VMM or build/vmm)")
    ap.add_argument("--runs", type=int, default=3, help="timed writes per boot (default 3)")
    ap.add_argument("--lines", type=int, default=10000, help="lines per write (default 10000)")
    ap.add_argument("--card", choices=CARDS, default="std")
    ap.add_argument("--cpu", default="host", help="-cpu for both VMMs (default host)")
    ap.add_argument("--passes", type=int, default=1,
                    help="complete passes (one boot of each VMM) to measure (default 1)")
    ap.add_argument("--max-passes", type=int, default=3,
                    help="passes run at most for --passes complete ones (default 3)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per boot (default 1800)")
    ap.add_argument("--idle", type=int, default=900,
                    help="a boot silent this long is hung (default 900: the console is "
                         "silent while a write scrolls)")
    ap.add_argument("--json")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless both VMMs gave every figure")
    ap.add_argument("--print", action="store_true",
                    help="print the command lines and the guest script, run nothing")
    a = ap.parse_args(argv)
    if a.vmm:
        guestkit.VMM_BINARY = os.path.abspath(a.vmm)
    if a.runs < 1 or a.lines < 1 or a.passes < 1:
        print("fbcon bench: --runs, --lines and --passes must be at least 1", file=sys.stderr)
        return 2
    if a.print:
        for v in VMMS:
            print(" ".join(shlex.quote(x) for x in argv_for(v, "SCRIPT.img", a.card, a.cpu)))
        sys.stdout.write(guest_script(a.runs, a.lines))
        return 0
    for f in (guestkit.kit("vmlinuz-amd64"), guestkit.kit("initrd-amd64.xz")):
        if not os.path.exists(f):
            print("fbcon bench: %s is missing (make guests)" % f, file=sys.stderr)
            return 2
    for v in VMMS:
        if guestkit.vmm_missing(v):
            print("fbcon bench: %s" % guestkit.vmm_missing(v), file=sys.stderr)
            return 2

    figures = {v: [] for v in VMMS}
    discarded, p, mode = [], 0, None
    while len(figures["vmm"]) < a.passes * a.runs and p < a.max_passes:
        want = min(a.passes - len(figures["vmm"]) // a.runs, a.max_passes - p)
        try:
            batch = nested.Batch()
        except nested.Unavailable as e:
            print("fbcon bench: no hardware virtualization harness: %s" % e, file=sys.stderr)
            return 1
        mode = batch.mode
        queued = [(q, add_pass(batch, q, a)) for q in range(p, p + want)]
        p += want
        results = batch.run()
        for q, names in queued:
            got, bad = {}, []
            for v in VMMS:
                r = results[names[v]]
                got[v] = parse(r.stdout, a.runs, a.lines)
                if got[v] is None:
                    bad.append("%s: the script did not run once to the end (rc=%s%s)" % (
                        v, r.rc, " timeout" if r.timed_out else ""))
                    print(r.describe(), file=sys.stderr)
            if bad:
                # Both columns compare the same passes.
                discarded.append("pass %d: %s" % (q, "; ".join(bad)))
                print("fbcon bench: pass %d discarded for both VMMs: %s" % (q, "; ".join(bad)),
                      file=sys.stderr)
                continue
            for v in VMMS:
                figures[v] += [dict(x, passno=q) for x in got[v]]

    med, ratio = table(figures, a, mode, p)
    for d in discarded:
        print("discarded: " + d)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump({"lines": a.lines, "runs": a.runs, "card": a.card, "cpu": a.cpu,
                       "mode": mode, "median_s": med, "vmm_over_qemu": ratio,
                       "discarded_passes": discarded, "figures": figures}, fh, indent=1)
    complete = all(len(figures[v]) == a.passes * a.runs for v in VMMS)
    if a.strict and not complete:
        print("NOT MEASURED (--strict): %d of %d complete passes" % (
            len(figures["vmm"]) // a.runs, a.passes))
        return 1
    # Without --strict only vmm's failure fails the bench; QEMU is the reference.
    return 0 if figures["vmm"] else 1


if __name__ == "__main__":
    sys.exit(main())
