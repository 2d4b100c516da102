#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm benchmark: vmm and QEMU side by side on this host's /dev/kvm.

Absolute figures depend on the host (on a software-nested /dev/kvm such as
kvm_pvm every guest instruction in real mode is emulated), so both VMMs run
in the same session, interleaved, and the table shows vmm/QEMU ratios.
Python 3 standard library only. See docs/bench.md.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import re
import tempfile
import threading
import time

EXIT_STATUS = 33  # the guests write 0x10 to isa-debug-exit: (0x10 << 1) | 1
BOOT_BANNER = "VMM-BOOT-OK"
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
KVMTOOL_START_MS = 34.0  # lkvm's do-nothing guest here (style-anchors.md)
RSS_GOAL_MIB = 4.0
BARE_LOOP_GOAL_PCT = 98.0

# The display rows (docs/bench.md): both VMMs get the same CPU model, the
# same firmware directory and the same devices (-nodefaults + the card).
# -cpu host does not do for QEMU 10 on kvm_pvm (it fails to set the
# ARCH_CAPABILITIES MSR), so the default is QEMU's own default model.
FIRMWARE_DIR = "/usr/share/seabios"  # bios-256k.bin, vgabios-stdvga/cirrus.bin
DISPLAY_CARDS = ("std", "cirrus")
VGA_READY = "VMM-VGA-READY"          # tools/bench/vgaidle.S: drawn, now idle
IDLE_MODES = (("13h", "mode 13h (320x200x8)"), ("vbe32", "VBE 0x142 (640x480x32)"))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Run:
    """One finished process: exit status, wall seconds, peak RSS."""

    def __init__(self, status, seconds, maxrss_kib, stdout, stderr, timed_out=False,
                 tsc_hz=0.0):
        self.status = status
        self.seconds = seconds
        self.maxrss_kib = maxrss_kib
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.tsc_hz = tsc_hz
        self.debugcon = ""
        self.cycles = None  # the loop guest's TSC count (debugcon runs)


class RunError(Exception):
    pass


SPAWN = None  # build/bench/spawn, set in main()


def spawn_timed(argv, timeout):
    """Runs argv through the spawn helper, with stdin from /dev/null and
    stdout/stderr captured. The helper times the command from just before
    posix_spawn to just after wait4, and reports the command's ru_maxrss.
    (From Python, ru_maxrss would include this interpreter's ~14 MiB: Linux
    keeps the pre-execve high-water mark.)"""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", prefix="bench-") as res:
        cmd = [SPAWN, "-o", res.name, "-t", str(int(timeout) + 1), "--"] + argv
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                               timeout=timeout + 30)
        except (OSError, subprocess.SubprocessError) as e:
            raise RunError(f"cannot run {argv[0]}: {e}") from e
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        fields = res.read().split()
        if p.returncode != 0 or len(fields) != 5:
            raise RunError(f"cannot run {argv[0]}: {stderr.strip()[-300:]}")
        status, seconds, maxrss, timed_out, tsc_hz = fields
        return Run(int(status), float(seconds), int(maxrss), stdout, stderr,
                   timed_out == "1", float(tsc_hz))


class Runner:
    """A VMM under test: a name and how to build its command line."""

    def __init__(self, name, argv_prefix, extra=(), timeout=60.0, bios_only=False):
        self.name = name
        self.prefix = list(argv_prefix)
        self.extra = list(extra)
        self.timeout = timeout
        self.bios_only = bios_only  # kvm-loop: takes just the -bios image
        self.errors = []

    def run(self, args, expect_banner=False, timeout=None, debugcon=False):
        """Runs the VMM once; with debugcon, Run.debugcon holds what the
        guest wrote to the debug console (kvm-loop prints it on stdout)."""
        args = list(args)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            dc = os.path.join(tmp, "debugcon")
            if self.bios_only:
                args = [args[args.index("-bios") + 1]]
            elif debugcon:
                args += ["-debugcon", f"file:{dc}"]
            argv = self.prefix + self.extra + args
            r = spawn_timed(argv, timeout or self.timeout)
            if debugcon:
                if self.bios_only:
                    r.debugcon = r.stdout
                elif os.path.exists(dc):
                    with open(dc, errors="replace") as f:
                        r.debugcon = f.read()
        problem = None
        if r.timed_out:
            problem = f"timed out after {timeout or self.timeout:.0f} s"
        elif r.status != EXIT_STATUS:
            problem = f"exit status {r.status}, expected {EXIT_STATUS}"
        elif expect_banner and BOOT_BANNER not in r.stdout:
            problem = f"no {BOOT_BANNER!r} on the serial port"
        elif debugcon:
            try:
                r.cycles = parse_guest_cycles(r.debugcon)
            except ValueError as e:
                problem = str(e)
            else:
                if r.tsc_hz <= 0:
                    problem = "the spawn helper could not measure the TSC rate"
        if problem:
            tail = (r.stderr.strip().splitlines() or [""])[-3:]
            raise RunError(f"{self.name}: {' '.join(argv)}: {problem}"
                           + (f"\n    stderr: {' | '.join(tail)}" if tail[0] else ""))
        return r


DEBUGCON_LINE = re.compile(r"[0-9a-f]{16}\n")


def parse_guest_cycles(text):
    """The loop guest's TSC count: exactly 16 hex digits and a newline on
    the debug console (port 0xE9), nothing else. Anything else (a doubled
    or missing byte, a second console mixed in) is an error, never 0."""
    if not DEBUGCON_LINE.fullmatch(text):
        raise ValueError(f"debug console: expected 16 hex digits and a newline, got {text[:80]!r}")
    cycles = int(text, 16)
    if cycles <= 0:
        raise ValueError(f"debug console: the guest reports {cycles} TSC cycles")
    return cycles


def guest_cycles(run):
    """The loop guest's TSC count, parsed when the run was checked."""
    return run.cycles


def median(xs):
    return statistics.median(xs) if xs else None


SETTLE_S = 0.05  # pause between runs: lets the last VM's teardown finish


def interleave(runners, count, args, warmup=0, **kw):
    """Runs each runner `count` times, alternating between them so that
    drift on the host (another job starting) hits all of them alike.
    Returns {name: [Run]}; a runner that fails once is dropped (None)."""
    res = {r.name: [] for r in runners}
    live = list(runners)
    for i in range(warmup + count):
        for r in list(live):
            time.sleep(SETTLE_S)
            try:
                run = r.run(args, **kw)
            except RunError as e:
                print(f"  ! {e}", file=sys.stderr)
                r.errors.append(str(e))
                live.remove(r)
                res[r.name] = None
                continue
            if i >= warmup:
                res[r.name].append(run)
        if not live:
            break
    return res


def paired_pct(t4, name, loops):
    """The VMM's exit rate (guest TSC) as % of the bare loop's, round by
    round: interleave() runs every runner once per round, so run i of each
    is a neighbour in time and a load change on the host hits both. The
    median of these ratios is steadier than best(VMM) / best(loop), which
    compares two extremes from different moments. [] when not measured."""
    mine, bare = t4.get(name), t4.get("kvm-loop")
    if not mine or not bare or len(mine) != len(bare):
        return []
    out = []
    for x, b in zip(mine, bare):
        cx, cb = guest_cycles(x), guest_cycles(b)
        if not cx or not cb or cx <= 0 or cb <= 0:
            return []
        # rate = loops * hz / cycles; the loop count cancels
        out.append(100.0 * (x.tsc_hz / cx) / (b.tsc_hz / cb))
    return out


def progress(msg):
    print(f"-- {msg}", file=sys.stderr, flush=True)


# ---- display: the VGA BIOS boot and the cost of a static screen ----------

def display_boot_args(card, cpu, disk):
    """SeaBIOS and the card's VGA BIOS to the boot sector of disk-0.img
    (VMM-BOOT-OK on COM1, exit through port 0xF4)."""
    return ["-m", "64", "-cpu", cpu, "-L", FIRMWARE_DIR, "-vga", card,
            "-display", "none", "-serial", "stdio", "-no-reboot"] + DEBUG_EXIT \
        + ["-drive", f"file={disk},format=raw,if=ide", "-boot", "order=c"]


def idle_args(image, cpu, serial_file, vnc_display=None):
    """A standard VGA guest that draws once and idles (vgaidle.S), headless
    or with a VNC server on 127.0.0.1:vnc_display."""
    return ["-m", "64", "-cpu", cpu, "-L", FIRMWARE_DIR, "-vga", "std",
            "-display", "none"] \
        + ([] if vnc_display is None else ["-vnc", f"127.0.0.1:{vnc_display}"]) \
        + ["-drive", f"file={image},format=raw,if=ide", "-serial", f"file:{serial_file}",
           "-no-reboot"]


def proc_cpu_ticks(stat_text):
    """utime + stime (clock ticks, all threads) from /proc/PID/stat. The
    command name, field 2, may hold spaces and parentheses: the fields are
    counted from the last ')'."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def process_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        return proc_cpu_ticks(f.read()) / os.sysconf("SC_CLK_TCK")


def process_sched_s(pid):
    """CPU seconds of the process's live threads from their schedstat (run
    time in ns): a finer clock than /proc/PID/stat's ticks, shown beside
    the figure. A thread that ends inside the window takes its time along."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def free_vnc_display():
    """A display number whose port (5900+N) is free on 127.0.0.1."""
    for n in range(60, 99):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 5900 + n))
            except OSError:
                continue
            return n
    raise RunError("no free VNC port 5960-5998 on 127.0.0.1")


class VncViewer(threading.Thread):
    """A VNC client as a viewer keeps one: always one update request
    outstanding, a new incremental one as soon as an update arrives (RFC
    6143; the handshake is tests/fw/rfb.py's). Pixels are read and
    dropped; updates and bytes are counted."""

    def __init__(self, port, timeout=30.0):
        super().__init__(daemon=True)
        fw_tests = os.path.join(REPO, "tests", "fw")
        if fw_tests not in sys.path:
            sys.path.insert(0, fw_tests)
        import rfb
        self.rfb = rfb
        end = time.monotonic() + timeout
        while True:
            try:
                self.client = rfb.Rfb(("127.0.0.1", port), timeout=timeout)
                break
            except OSError as e:
                if time.monotonic() > end:
                    raise RunError(f"VNC: cannot connect to 127.0.0.1:{port}: {e}") from e
                time.sleep(0.2)
        self.updates = 0
        self.first = threading.Event()
        self.stopping = False
        self.error = None

    def run(self):
        c = self.client
        c.sock.settimeout(None)  # a static screen sends nothing for long
        try:
            c.request(False)
            while True:
                kind = c.recv(1)[0]
                if kind == 0:
                    resized = self.read_update()
                    self.updates += 1
                    self.first.set()
                    c.request(not resized)
                elif kind == 2:
                    pass  # bell
                elif kind == 3:
                    c.recv(3)
                    c.recv(struct.unpack(">I", c.recv(4))[0])
                else:
                    raise ConnectionError(f"server message {kind}")
        except (OSError, ConnectionError, struct.error) as e:
            if not self.stopping:
                self.error = str(e) or type(e).__name__

    def read_update(self):
        c = self.client
        resized = False
        for _ in range(struct.unpack(">xH", c.recv(3))[0]):
            _x, _y, w, h, enc = struct.unpack(">HHHHi", c.recv(12))
            if enc == self.rfb.RAW:
                left = w * h * 4
                while left:
                    left -= len(c.recv(min(left, 1 << 20)))
            elif enc == self.rfb.DESKTOP_SIZE:
                c.width, c.height, resized = w, h, True
            else:
                raise ConnectionError(f"encoding {enc}")
        return resized

    def stop(self):
        self.stopping = True
        try:
            self.client.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(10)
        self.client.sock.close()


class IdleRun:
    """One static-screen measurement: the VMM's CPU seconds per second over
    the window, and what a connected viewer received in it."""

    def __init__(self, cpu_s_per_s, window_s, updates=None, bytes_received=None,
                 sched_s_per_s=None):
        self.cpu_s_per_s = cpu_s_per_s
        self.sched_s_per_s = sched_s_per_s
        self.window_s = window_s
        self.updates = updates
        self.bytes_received = bytes_received


def wait_serial(path, text, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"exited with status {proc.returncode} before {text!r}"
        try:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return None
        except OSError:
            pass
        time.sleep(0.1)
    return f"no {text!r} on the serial port within {timeout:.0f} s"


def static_screen_run(runner, image, cpu, window, settle, vnc, boot_timeout):
    """Boots the idle guest, waits until it has drawn (VGA_READY), attaches
    the viewer (vnc), lets the VMM settle, then reads the process's CPU
    time over `window` seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, \
            tempfile.TemporaryFile() as err:
        serial = os.path.join(tmp, "serial")
        display = free_vnc_display() if vnc else None
        argv = runner.prefix + runner.extra + idle_args(image, cpu, serial, display)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err)
        except OSError as e:
            raise RunError(f"{runner.name}: cannot run {argv[0]}: {e}") from e
        viewer = None
        problem = None
        try:
            problem = wait_serial(serial, VGA_READY, p, boot_timeout)
            if not problem and vnc:
                viewer = VncViewer(5900 + display)
                viewer.start()
                if not viewer.first.wait(30):
                    problem = "VNC: no first update within 30 s"
            if not problem:
                time.sleep(settle)
                u0 = viewer.updates if viewer else None
                b0 = viewer.client.received if viewer else None
                c0, s0, t0 = process_cpu_s(p.pid), process_sched_s(p.pid), time.monotonic()
                time.sleep(window)
                c1, s1, t1 = process_cpu_s(p.pid), process_sched_s(p.pid), time.monotonic()
                if p.poll() is not None:
                    problem = f"exited with status {p.returncode} during the window"
                elif viewer and (viewer.error or not viewer.is_alive()):
                    problem = f"VNC client: {viewer.error or 'stopped'}"
                else:
                    return IdleRun((c1 - c0) / (t1 - t0), t1 - t0,
                                   None if not viewer else viewer.updates - u0,
                                   None if not viewer else viewer.client.received - b0,
                                   (s1 - s0) / (t1 - t0))
        except (OSError, RunError, AssertionError, struct.error) as e:
            problem = str(e) or type(e).__name__
        finally:
            if viewer:
                viewer.stop()
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
        raise RunError(f"{runner.name}: {' '.join(argv)}: {problem}"
                       + (f"\n    stderr: {' | '.join(tail)}" if tail else ""))


def interleave_idle(runners, count, **kw):
    """static_screen_run() `count` times per runner, alternating; a runner
    that fails once is dropped (None), as in interleave()."""
    res = {r.name: [] for r in runners}
    live = list(runners)
    for _ in range(count):
        for r in list(live):
            time.sleep(SETTLE_S)
            try:
                res[r.name].append(static_screen_run(r, **kw))
            except RunError as e:
                print(f"  ! {e}", file=sys.stderr)
                r.errors.append(str(e))
                live.remove(r)
                res[r.name] = None
    return res


# ---- formatting ----------------------------------------------------------

def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "ms":
        return f"{v:.1f} ms"
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "exits/s":
        return f"{v:,.0f}/s"
    if unit == "%":
        return f"{v:.1f} %"
    if unit == "cpu":  # CPU seconds per second, shown as ms per s
        return f"{v * 1e3:.2f} ms/s"
    return f"{v:g} {unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def metric(name, unit, vmm, qemu, goal_text, met, **extra):
    m = {"metric": name, "unit": unit, "vmm": vmm, "qemu": qemu,
         "ratio": ratio(vmm, qemu), "goal": goal_text, "goal_met": met}
    m.update(extra)
    return m


def static_screen_metric(desc, vnc, runs, window, v, q, tick_s):
    """The static-screen row. /proc/PID/stat counts CPU time in clock ticks
    (tick_s seconds each), so a window of `window` seconds resolves
    tick_s / window CPU seconds per second: the goal (vmm at or below QEMU)
    is judged with that much slack, as a difference of one tick is not a
    measured one. A VMM that spends nothing on a still screen reads 0 here,
    a real figure (zero_ok)."""
    name = (f"static screen, {desc}, {'VNC viewer attached' if vnc else 'headless'}: "
            f"VMM CPU per s (median of {runs} x {window:g} s)")
    resolution = tick_s / window
    met = None if v is None or q is None else v <= q + resolution
    return metric(name, "cpu", v, q, f"<= qemu (+-{fmt(resolution, 'cpu')}, one tick)",
                  met, zero_ok=True, resolution=resolution)


def table(metrics):
    rows = [("metric", "vmm", "qemu", "ratio (vmm/qemu)", "goal")]
    for m in metrics:
        r = m["ratio"]
        status = {True: " (met)", False: " (MISSED)", None: ""}[m["goal_met"]]
        rows.append((m["metric"], fmt(m["vmm"], m["unit"]), fmt(m["qemu"], m["unit"]),
                     "n/a" if r is None else f"{r:.2f}", m["goal"] + status))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i == 0 or i == 4 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) if i in (0, 4) else "-" * (w + 1) + ":"
                                        for i, w in enumerate(widths)) + "|")
    return "\n".join(lines)


# ---- host facts ----------------------------------------------------------

def kvm_kind():
    kinds = [k for k in ("kvm_pvm", "kvm_intel", "kvm_amd")
             if os.path.isdir(f"/sys/module/{k}")]
    return ",".join(kinds) or "unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def host_busy(load, cpus):
    """A note when the 1-minute load average says the host is busy."""
    try:
        one = float(load.split()[0])
    except (ValueError, IndexError):
        return None
    if cpus and one > 0.5 * cpus:
        return f"load average {one:.2f} on {cpus} CPUs"
    return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def qemu_version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=20).stdout
        return out.splitlines()[0].strip() if out else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---- the benchmark -------------------------------------------------------

def runner_extras(qemu_defaults=False):
    """What vmm and QEMU get before every guest's own arguments: -nodefaults
    for both (no default NIC in vmm; no NIC and no VGA in QEMU), QEMU's
    machine and accelerator; with qemu_defaults, each VMM's own defaults."""
    nodefaults = [] if qemu_defaults else ["-nodefaults"]
    return nodefaults, ["-M", "pc", "-enable-kvm"] + nodefaults


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmm", default="build/vmm")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"),
                    help="QEMU binary (default: qemu-system-x86_64 on PATH)")
    ap.add_argument("--no-qemu", action="store_true", help="vmm figures only")
    ap.add_argument("--qemu-defaults", action="store_true",
                    help="do not pass -nodefaults to QEMU (it then adds a VGA card, "
                         "a NIC with an option ROM, floppy and parallel port)")
    ap.add_argument("--bench-dir", default="build/bench",
                    help="holds guest-0.bin, guest-LOOPS.bin, kvm-loop, spawn; "
                         "results.json goes here")
    ap.add_argument("--disk", default="build/fw/disk-0.img")
    ap.add_argument("--json", help="output file (default BENCH_DIR/results.json)")
    ap.add_argument("--runs", type=int, default=10, help="start-to-exit runs (default 10)")
    ap.add_argument("--boot-runs", type=int, default=3, help="SeaBIOS boots (default 3)")
    ap.add_argument("--pio-runs", type=int, default=15,
                    help="port-I/O loop runs (default 15)")
    ap.add_argument("--rss-runs", type=int, default=3, help="-m 2048 RSS runs (default 3)")
    ap.add_argument("--pio-loops", type=int, default=100000,
                    help="port writes of the loop guest (default 100000; "
                         "BENCH_DIR/guest-LOOPS.bin must exist)")
    ap.add_argument("--boot-timeout", type=float, default=60.0,
                    help="seconds before a SeaBIOS boot counts as hung (default 60)")
    ap.add_argument("--skip-boot", action="store_true", help="skip the SeaBIOS boot metric")
    ap.add_argument("--skip-display", action="store_true",
                    help="skip the display rows (VGA BIOS boots, static screen)")
    ap.add_argument("--display-cpu", default="qemu64",
                    help="-cpu of both VMMs in the display rows (default qemu64)")
    ap.add_argument("--display-boot-runs", type=int, default=3,
                    help="SeaBIOS + VGA BIOS boots per card (default 3)")
    ap.add_argument("--idle-runs", type=int, default=3,
                    help="static-screen runs per mode and front-end (default 3)")
    ap.add_argument("--idle-window", type=float, default=10.0,
                    help="seconds of CPU time read per static-screen run (default 10)")
    ap.add_argument("--idle-settle", type=float, default=2.0,
                    help="seconds between the picture (and the viewer's first update) "
                         "and the window (default 2)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when a goal is missed or could not be judged")
    ap.add_argument("--smoke", action="store_true",
                    help="the quick check of `make check`: vmm and kvm-loop only, 3 runs of "
                         "each host-level metric (1 SeaBIOS boot); exit 1 when a figure is "
                         "missing or vmm's is far off its recorded value (see --recorded)")
    ap.add_argument("--recorded", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "recorded.json"),
                    help="vmm's figures from the last full run on this kind of host, "
                         "for --smoke (default tools/bench/recorded.json)")
    ap.add_argument("--write-recorded", metavar="FILE",
                    help="after a full run with every figure measured, write vmm's figures "
                         "to FILE as the smoke run's reference (tools/bench/recorded.json)")
    a = ap.parse_args()
    if a.smoke:
        a.no_qemu = True
        a.skip_display = True  # a minute or more of boots: not for make check
        a.runs, a.pio_runs, a.rss_runs, a.boot_runs = 3, 3, 3, 1
        if not a.json:
            a.json = os.path.join(a.bench_dir, "smoke-results.json")

    if not os.path.exists("/dev/kvm"):
        print("bench: /dev/kvm is missing; nothing to measure", file=sys.stderr)
        return 1
    empty = os.path.join(a.bench_dir, "guest-0.bin")
    pio = os.path.join(a.bench_dir, f"guest-{a.pio_loops}.bin")
    loop = os.path.join(a.bench_dir, "kvm-loop")
    global SPAWN
    SPAWN = os.path.abspath(os.path.join(a.bench_dir, "spawn"))
    idle_images = {mode: os.path.abspath(os.path.join(a.bench_dir, f"vgaidle-{mode}.img"))
                   for mode, _ in IDLE_MODES}
    needed = (a.vmm, empty, pio, loop, SPAWN) + (() if a.skip_boot else (a.disk,)) \
        + (() if a.skip_display else (a.disk,) + tuple(idle_images.values()))
    for f in needed:
        if not os.path.exists(f):
            print(f"bench: {f} is missing (run `make bench`)", file=sys.stderr)
            return 1

    vmm_extra, qemu_extra = runner_extras(a.qemu_defaults)
    vmm = Runner("vmm", [os.path.abspath(a.vmm)], vmm_extra)
    runners = [vmm]
    qemu = None
    qemu_note = "not run"
    if a.no_qemu or not a.qemu or not os.path.exists(a.qemu):
        if not a.no_qemu:
            print(f"bench: {a.qemu or 'qemu-system-x86_64'} not found: QEMU columns are n/a",
                  file=sys.stderr)
    else:
        qemu = Runner("qemu", [os.path.abspath(a.qemu)], qemu_extra)
        qemu_note = " ".join(qemu_extra)
        runners.append(qemu)
    bare = Runner("kvm-loop", [os.path.abspath(loop)], bios_only=True)

    tiny = ["-display", "none", "-serial", "null", "-no-reboot"] + DEBUG_EXIT
    res = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "host": {"uname": " ".join(platform.uname()), "cpu": cpu_model(),
                    "cpus": os.cpu_count(), "kvm_module": kvm_kind(),
                    "loadavg_before": loadavg()},
           "vmm": os.path.abspath(a.vmm),
           "qemu": None if not qemu else {"path": qemu.prefix[0],
                                          "version": qemu_version(qemu.prefix[0]),
                                          "extra_args": qemu.extra},
           "metrics": [], "samples": {}, "errors": []}

    def secs(runs):
        return None if runs is None else [r.seconds for r in runs]

    def rss(runs):
        return None if runs is None else [r.maxrss_kib for r in runs]

    def med(d, name, f=secs):
        v = d.get(name)
        return None if not v else median(f(v))

    # 1 + 3a: start-to-exit and RSS of the empty guest, -m 256.
    progress(f"empty guest, -m 256: {a.runs} runs each (+1 warm-up), kvm-loop too")
    args256 = ["-m", "256", "-bios", empty] + tiny
    t1 = interleave(runners + [bare], a.runs, args256, warmup=1)

    # 3b: RSS at -m 2048.
    progress(f"empty guest, -m 2048: {a.rss_runs} runs each")
    args2g = ["-m", "2048", "-bios", empty] + tiny
    t3 = interleave(runners, a.rss_runs, args2g)

    # 4: port-I/O exits.
    progress(f"port-I/O loop ({a.pio_loops} exits): {a.pio_runs} runs each")
    t4 = interleave(runners + [bare], a.pio_runs, ["-m", "256", "-bios", pio] + tiny,
                    debugcon=True)

    # 2: SeaBIOS to boot sector (the slowest, last).
    t2 = {}
    if not a.skip_boot:
        progress(f"SeaBIOS boot to {BOOT_BANNER}, -m 64: {a.boot_runs} runs each")
        boot = ["-m", "64", "-display", "none", "-serial", "stdio", "-no-reboot"] + DEBUG_EXIT \
            + ["-hda", os.path.abspath(a.disk), "-boot", "order=c"]
        t2 = interleave(runners, a.boot_runs, boot, expect_banner=True,
                        timeout=a.boot_timeout)

    # 5: the display rows: SeaBIOS + VGA BIOS per card, then the static screen.
    t5, t6 = {}, {}
    if not a.skip_display:
        for card in DISPLAY_CARDS:
            progress(f"SeaBIOS + VGA BIOS (-vga {card}) to {BOOT_BANNER}: "
                     f"{a.display_boot_runs} runs each")
            t5[card] = interleave(runners, a.display_boot_runs,
                                  display_boot_args(card, a.display_cpu,
                                                    os.path.abspath(a.disk)),
                                  expect_banner=True, timeout=a.boot_timeout)
        for mode, _ in IDLE_MODES:
            for vnc in (False, True):
                progress(f"static screen, {mode}, {'VNC viewer' if vnc else 'headless'}: "
                         f"{a.idle_runs} runs of {a.idle_window:g} s each")
                t6[(mode, vnc)] = interleave_idle(
                    runners, a.idle_runs, image=idle_images[mode], cpu=a.display_cpu,
                    window=a.idle_window, settle=a.idle_settle, vnc=vnc,
                    boot_timeout=a.boot_timeout)

    res["host"]["loadavg_after"] = loadavg()
    res["guest_args"] = {"empty_m256": args256, "empty_m2048": args2g,
                         "pio": ["-m", "256", "-bios", pio] + tiny,
                         "boot": None if a.skip_boot else boot,
                         "display_boot": {c: display_boot_args(c, a.display_cpu, a.disk)
                                          for c in t5},
                         "static_screen": {f"{mode}{'-vnc' if vnc else ''}":
                                           idle_args(idle_images[mode], a.display_cpu,
                                                     "SERIAL", 59 if vnc else None)
                                           for mode, vnc in t6}}
    res["host"]["busy"] = host_busy(res["host"]["loadavg_before"], res["host"]["cpus"])

    # ---- figures
    def start_ms(name):
        v = med(t1, name)
        return None if v is None else v * 1e3

    def rss_mib(d, name):
        v = med(d, name, rss)
        return None if v is None else v / 1024

    def best(d, name):
        v = d.get(name)
        return None if not v else min(secs(v))

    # Throughput from the best (shortest) runs: on a shared host, load only
    # ever adds time, so the minimum is the steadiest estimate of the cost.
    def exits_per_s(pio_runs, empty_runs, name):
        tp, te = best(pio_runs, name), best(empty_runs, name)
        if tp is None or te is None or tp <= te:
            return None
        return a.pio_loops / (tp - te)

    m = res["metrics"]
    v, q = start_ms("vmm"), start_ms("qemu")
    m.append(metric("start-to-exit, empty -bios guest, -m 256 (median of %d)" % a.runs,
                    "ms", v, q, f"<= {KVMTOOL_START_MS:.0f} ms (kvmtool here, ~0.38x qemu)",
                    None if v is None else v <= KVMTOOL_START_MS,
                    vmm_best=None if not t1.get("vmm") else best(t1, "vmm") * 1e3))
    if not a.skip_boot:
        v, q = med(t2, "vmm"), med(t2, "qemu")
        r = ratio(v, q)
        m.append(metric("SeaBIOS POST to boot sector, -m 64 (median of %d)" % a.boot_runs,
                        "s", v, q, "<= qemu (ratio <= 1.00)", None if r is None else r <= 1.0))
    for label, d in (("-m 256", t1), ("-m 2048", t3)):
        v, q = rss_mib(d, "vmm"), rss_mib(d, "qemu")
        m.append(metric(f"peak RSS, empty guest, {label}", "MiB", v, q,
                        f"< {RSS_GOAL_MIB:.0f} MiB", None if v is None else v < RSS_GOAL_MIB))
    # The guest's own timing of the loop: TSC cycles between the first and
    # the last out, converted with the host TSC rate the spawn helper saw.
    # Free of start-up and tear-down jitter; the best run again.
    def guest_rate(name):
        runs = t4.get(name)
        if not runs:
            return None
        cyc = [guest_cycles(x) for x in runs]
        if any(c is None or c <= 0 for c in cyc):
            return None
        hz = median([x.tsc_hz for x in runs])
        return a.pio_loops * hz / min(cyc)

    v = exits_per_s(t4, t1, "vmm")
    q = exits_per_s(t4, t1, "qemu")
    r = ratio(v, q)
    m.append(metric(f"port-I/O exits/s, {a.pio_loops:,} outs to port 0xE0: loops / "
                    f"(t_loop - t_empty), best of {a.pio_runs}", "exits/s", v, q,
                    ">= qemu", None if r is None else r >= 1.0))
    v, q, bare_rate = guest_rate("vmm"), guest_rate("qemu"), guest_rate("kvm-loop")
    r = ratio(v, q)
    m.append(metric(f"port-I/O exits/s, same loop timed by the guest's TSC, best of "
                    f"{a.pio_runs}", "exits/s", v, q, ">= qemu", None if r is None else r >= 1.0))
    vpair, qpair = paired_pct(t4, "vmm", a.pio_loops), paired_pct(t4, "qemu", a.pio_loops)
    vp = None if not vpair else median(vpair)
    qp = None if not qpair else median(qpair)
    m.append(metric("  the same as % of a bare KVM_RUN loop, median of the rounds' "
                    "pairs" + ("" if bare_rate is None else f" (loop best {bare_rate:,.0f}/s)"),
                    "%", vp, qp, f">= {BARE_LOOP_GOAL_PCT:.0f} %",
                    None if vp is None else vp >= BARE_LOOP_GOAL_PCT,
                    vmm_range=None if not vpair else [min(vpair), max(vpair)],
                    qemu_range=None if not qpair else [min(qpair), max(qpair)]))

    for card, d in t5.items():
        v, q = med(d, "vmm"), med(d, "qemu")
        r = ratio(v, q)
        m.append(metric(f"SeaBIOS + VGA BIOS to boot sector, -vga {card}, -m 64 "
                        f"(median of {a.display_boot_runs})", "s", v, q,
                        "<= qemu (ratio <= 1.00)", None if r is None else r <= 1.0))
    for mode, desc in IDLE_MODES:
        for vnc in (False, True):
            d = t6.get((mode, vnc))
            if d is None:
                continue
            v, q = (None if not d.get(n) else median([x.cpu_s_per_s for x in d[n]])
                    for n in ("vmm", "qemu"))
            m.append(static_screen_metric(desc, vnc, a.idle_runs, a.idle_window, v, q,
                                          1.0 / os.sysconf("SC_CLK_TCK")))
            m[-1]["schedstat"] = {n: None if not d.get(n) else
                                  median([x.sched_s_per_s for x in d[n]])
                                  for n in ("vmm", "qemu")}

    res["bare_kvm_loop"] = {
        "start_to_exit_ms": None if not t1.get("kvm-loop") else med(t1, "kvm-loop") * 1e3,
        "peak_rss_mib": rss_mib(t1, "kvm-loop"),
        "exits_per_s_wall": exits_per_s(t4, t1, "kvm-loop"),
        "exits_per_s_guest_tsc": bare_rate,
    }
    for key, d in (("start_m256", t1), ("rss_m2048", t3), ("pio", t4), ("boot", t2)):
        res["samples"][key] = {n: None if runs is None else
                               [dict({"s": round(x.seconds, 6), "maxrss_kib": x.maxrss_kib},
                                     **({"guest_tsc_cycles": guest_cycles(x),
                                         "tsc_hz": round(x.tsc_hz)} if x.debugcon else {}))
                                for x in runs]
                               for n, runs in d.items()}
    for card, d in t5.items():
        res["samples"][f"display_boot_{card}"] = {
            n: None if runs is None else [{"s": round(x.seconds, 6), "maxrss_kib": x.maxrss_kib}
                                          for x in runs] for n, runs in d.items()}
    for (mode, vnc), d in t6.items():
        res["samples"][f"static_screen_{mode}_{'vnc' if vnc else 'headless'}"] = {
            n: None if runs is None else [{"cpu_s_per_s": round(x.cpu_s_per_s, 6),
                                           "schedstat_s_per_s": round(x.sched_s_per_s, 6),
                                           "window_s": round(x.window_s, 3),
                                           "vnc_updates": x.updates,
                                           "vnc_bytes": x.bytes_received} for x in runs]
            for n, runs in d.items()}
    for r in runners + [bare]:
        res["errors"] += r.errors

    # ---- report
    host = res["host"]
    print()
    print(f"vmm benchmark, {res['date']}, {host['cpus']} CPUs, /dev/kvm from "
          f"{host['kvm_module']}, load average {host['loadavg_before']} before, "
          f"{host['loadavg_after']} after")
    print(f"qemu: {res['qemu']['version'] + ', ' + qemu_note if res['qemu'] else 'n/a'}")
    print()
    print(table(m))
    br = res["bare_kvm_loop"]
    if br["start_to_exit_ms"] is not None:
        print(f"\nbare KVM_RUN loop (build/bench/kvm-loop): start-to-exit "
              f"{br['start_to_exit_ms']:.1f} ms, peak RSS {br['peak_rss_mib']:.1f} MiB, "
              f"port-I/O exits {fmt(br['exits_per_s_wall'], 'exits/s')} (wall), "
              f"{fmt(br['exits_per_s_guest_tsc'], 'exits/s')} (guest TSC)")
    for x in m:
        if x.get("vmm_range") or x.get("qemu_range"):
            spread = ", ".join(f"{who} {x[who]:.1f} % ({x[who + '_range'][0]:.1f}-"
                               f"{x[who + '_range'][1]:.1f})" for who in ("vmm", "qemu")
                               if x.get(who + "_range"))
            print(f"exits as % of the bare loop, round by round ({a.pio_runs} rounds), "
                  f"median (range): {spread}")
    for x in m:
        if x.get("schedstat"):
            print(f"  {x['metric'].split(': VMM')[0]}: threads' schedstat, median "
                  + ", ".join(f"{who} {fmt(x['schedstat'][who], 'cpu')}"
                              for who in ("vmm", "qemu") if x["schedstat"][who] is not None))
    print("wall times run from spawn to reap; QEMU gets "
          + (qemu_note if qemu else "n/a"))
    busy = host["busy"]
    if busy:
        print(f"WARNING: {busy}: other work on this host makes the figures noisy; "
              "compare ratios, or rerun on an idle host")
    if res["errors"]:
        print("\nerrors:\n  " + "\n  ".join(res["errors"]))

    out = a.json or os.path.join(a.bench_dir, "results.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print(f"\nwrote {out}")

    # Every figure measured, or the run fails: a metric that silently reads
    # 0 or n/a is how a broken benchmark went unnoticed before.
    missing = unmeasured(m, res["bare_kvm_loop"], qemu is not None)
    if missing:
        print("\nNOT MEASURED (the run fails):\n  " + "\n  ".join(missing))
    if a.smoke:
        bad = smoke_check(m, res["bare_kvm_loop"], a.recorded)
        print("\nbench smoke: " + ("FAILED:\n  " + "\n  ".join(bad) if bad else
                                   "every figure measured and within bounds"))
        if bad:
            return 1
    if res["errors"] or missing:
        return 1
    if a.write_recorded and not a.smoke:
        write_recorded(a.write_recorded, res)
    if a.strict:
        failed = strict_failures(m)
        if failed:
            print("\n--strict: " + "\n  ".join(["goals missed or not judged:"] + failed))
            return 1
    return 0


def strict_failures(metrics):
    """What fails --strict: a goal missed, or a goal that could not be
    judged (a figure of either VMM missing, QEMU not run)."""
    out = []
    for x in metrics:
        if x["goal_met"] is False:
            out.append(f"MISSED: {x['metric'].strip()} ({x['goal']})")
        elif x["goal_met"] is None and x["goal"]:
            out.append(f"NOT JUDGED: {x['metric'].strip()} ({x['goal']}): "
                       f"vmm {fmt(x['vmm'], x['unit'])}, qemu {fmt(x['qemu'], x['unit'])}")
    return out


def write_recorded(path, res):
    """vmm's figures of this run, the reference of --smoke."""
    rec = {"note": "vmm's figures from a full `make bench` (docs/bench.md), the reference "
                   "of `make bench-smoke`; written by bench.py --write-recorded",
           "date": res["date"], "loadavg_before": res["host"]["loadavg_before"],
           "loadavg_after": res["host"]["loadavg_after"]}
    for x in res["metrics"]:
        name = x["metric"]
        if name.startswith("start-to-exit"):
            rec["start_to_exit_ms"] = round(x["vmm"], 1)
        elif name.startswith("SeaBIOS + VGA BIOS"):
            card = name.split("-vga ", 1)[1].split(",")[0]
            rec[f"display_boot_s_{card}"] = round(x["vmm"], 2)
        elif name.startswith("SeaBIOS"):
            rec["seabios_boot_s"] = round(x["vmm"], 2)
        elif name.startswith("peak RSS"):
            rec["peak_rss_mib_m256" if "-m 256" in name else "peak_rss_mib_m2048"] = \
                round(x["vmm"], 2)
        elif "% of a bare" in name:
            rec["pct_of_bare_loop"] = round(x["vmm"], 1)
        elif name.startswith("static screen"):
            rec[recorded_key_static(name)] = round(x["vmm"] * 1e3, 2)
    with open(path, "w") as f:
        json.dump(rec, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


def recorded_key_static(name):
    """recorded.json's key of a static-screen row: CPU ms per s."""
    mode = next(m for m, desc in IDLE_MODES if desc in name)
    return f"static_screen_ms_per_s_{mode}_{'vnc' if 'VNC' in name else 'headless'}"


def unmeasured(metrics, bare, with_qemu):
    """Names of the figures that have no value (None, zero, NaN)."""
    def bad(v, zero_ok=False):
        return v is None or v != v or v < 0 or (v == 0 and not zero_ok)
    out = []
    for x in metrics:
        for who in ("vmm", "qemu") if with_qemu else ("vmm",):
            if bad(x[who], x.get("zero_ok", False)):
                out.append(f"{who}: {x['metric'].strip()}")
    for k, v in bare.items():
        if bad(v):
            out.append(f"kvm-loop: {k}")
    return out


# --smoke bounds: vmm's figure against its recorded one (tools/bench/recorded.json)
SMOKE_SLOWER = 2.0      # start-to-exit (best run): at most 2x the recorded median
SMOKE_RSS = 1.5         # peak RSS: at most 1.5x the recorded size
SMOKE_BARE_LOOP = 0.8   # port-I/O exits (guest TSC): at least 0.8x the bare KVM_RUN loop, best round


def smoke_check(metrics, bare, recorded_path):
    """The problems that fail `make check`'s benchmark smoke run."""
    try:
        with open(recorded_path) as f:
            rec = json.load(f)
    except (OSError, ValueError) as e:
        return [f"cannot read the recorded figures {recorded_path}: {e}"]
    by = {}
    for x in metrics:
        name = x["metric"]
        if name.startswith("start-to-exit"):
            # the best run: load on the host only ever adds time, and
            # `make check` runs beside other jobs
            by["start_to_exit_ms"] = x.get("vmm_best")
        elif name.startswith("peak RSS") and "-m 256" in name:
            by["peak_rss_mib_m256"] = x["vmm"]
        elif name.startswith("peak RSS") and "-m 2048" in name:
            by["peak_rss_mib_m2048"] = x["vmm"]
        elif "% of a bare" in name:
            # the best round: 3 rounds beside other jobs can put the
            # median of the pairs under the bound with nothing wrong; a
            # broken or grossly slower exit path has no round above it
            rng = x.get("vmm_range")
            by["pct_of_bare_loop"] = rng[1] if rng else x["vmm"]
    # The SeaBIOS boot is only required to be measured (unmeasured() checks
    # that): POST is guest code in KVM's instruction emulator here, and its
    # time follows the host's load more than vmm.
    checks = [("start_to_exit_ms", SMOKE_SLOWER, "ms"), ("peak_rss_mib_m256", SMOKE_RSS, "MiB"),
              ("peak_rss_mib_m2048", SMOKE_RSS, "MiB")]
    bad = []
    for key, limit, unit in checks:
        v, r = by.get(key), rec.get(key)
        if v is None or not r:
            bad.append(f"{key}: measured {v}, recorded {r}")
        elif v > limit * r:
            bad.append(f"{key}: {v:.2f} {unit}, over {limit}x the recorded {r} {unit}")
    pct = by.get("pct_of_bare_loop")
    if pct is None:
        bad.append("port-I/O exits as % of the bare loop: not measured")
    elif pct < 100 * SMOKE_BARE_LOOP:
        bad.append(f"port-I/O exits: {pct:.1f} % of the bare KVM_RUN loop in the best round "
                   f"({fmt(bare.get('exits_per_s_guest_tsc'), 'exits/s')}), "
                   f"under {100 * SMOKE_BARE_LOOP:.0f} %")
    return bad


if __name__ == "__main__":
    sys.exit(main())
