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
# The front-ends of the display rows, as the rows name them. SDL's window
# goes to an Xvfb the bench starts (tests/fw/xvfb.py).
FRONTENDS = {"headless": "headless", "vnc": "VNC viewer attached", "sdl": "SDL window (Xvfb)"}
SCROLL_DESC = "text mode 3 (80x25), a line per BIOS tick"  # tools/bench/vgascroll.S
SCROLL_FRONTENDS = ("headless", "vnc")
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


# Issue 21's scale: the seeds' 160 CPUs, and RAM far past what the guest
# touches (32 TiB needs a host with two-dimensional paging: docs/bench.md,
# "RAM past 1 TiB"; 512 GiB keeps KVM's shadow-paging metadata here to
# 1.25 GiB of host kernel memory per run).
SCALE_BOOTS = (("-smp 160, -m 1G", "1G", 160), ("-m 512G", "512G", 1))


def boot_sector_args(mem, cpu, disk, smp=None):
    """SeaBIOS to the boot sector of disk-0.img with `mem` of RAM (and
    `smp` CPUs when given), the same for both VMMs: the SeaBIOS row's
    command line, and the scale rows' (scale_extra adds QEMU's RAM
    backend)."""
    return ["-m", mem] + ([] if smp is None else ["-smp", str(smp)]) \
        + ["-cpu", cpu, "-display", "none", "-serial", "stdio", "-no-reboot"] + DEBUG_EXIT \
        + ["-hda", disk, "-boot", "order=c"]


def scale_extra(name, mem):
    """QEMU reserves its RAM by default, which the host refuses at hundreds
    of GiB; an unreserved backend maps it as vmm does (MAP_NORESERVE)."""
    if name != "qemu" or mem == "1G":
        return []
    return ["-object", f"memory-backend-ram,id=scale-ram,size={mem},reserve=off",
            "-machine", "memory-backend=scale-ram"]


def idle_args(image, cpu, serial_file, vnc_display=None, sdl=False):
    """A standard VGA guest booted from `image` (vgaidle.S, vgascroll.S),
    headless, with a VNC server on 127.0.0.1:vnc_display, or with an SDL
    window (on $DISPLAY)."""
    return ["-m", "64", "-cpu", cpu, "-L", FIRMWARE_DIR, "-vga", "std",
            "-display", "sdl" if sdl else "none"] \
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


def parse_vmhwm_kib(status_text):
    """The peak resident set (VmHWM, KiB) from /proc/PID/status."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                break
            return int(value)
    raise ValueError("no VmHWM line in kB in /proc/PID/status")


def process_hwm_kib(pid):
    """The process's peak RSS so far: unlike ru_maxrss, readable while it
    runs, and the VMM's own even when Python started it (VmHWM belongs to
    the address space, which execve replaces; ru_maxrss outlives it)."""
    with open(f"/proc/{pid}/status") as f:
        return parse_vmhwm_kib(f.read())


# Libraries that say how a front-end draws: SDL itself, and the OpenGL
# stack (Mesa's software rasteriser under Xvfb) a renderer may pull in.
DRAWING_LIBS = re.compile(r"/(libSDL2[^/]*|lib(GL|GLX|EGL)[^/]*|libLLVM[^/]*|[^/]*_dri\.so)$")


def drawing_libs(maps_text):
    """The drawing libraries (DRAWING_LIBS) mapped, from /proc/PID/maps,
    by base name without the version suffix, sorted."""
    out = set()
    for line in maps_text.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6:
            m = DRAWING_LIBS.search(fields[5].strip())
            if m:
                out.add(m.group(1).split(".so")[0] + ".so")
    return sorted(out)


def process_drawing_libs(pid):
    with open(f"/proc/{pid}/maps") as f:
        return drawing_libs(f.read())


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
        self.encodings = {}  # rectangles received, by encoding number
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
            self.encodings[enc] = self.encodings.get(enc, 0) + 1
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
    """One display measurement (a static screen, or text scrolling): the
    VMM's CPU seconds per second over the window, what a connected viewer
    received in it, the VMM's peak RSS at its end (VmHWM), and for the
    scrolling guest the lines it scrolled in the window."""

    def __init__(self, cpu_s_per_s, window_s, updates=None, bytes_received=None,
                 sched_s_per_s=None, hwm_kib=None, lines=None, encodings=None,
                 drawing=None):
        self.cpu_s_per_s = cpu_s_per_s
        self.sched_s_per_s = sched_s_per_s
        self.window_s = window_s
        self.updates = updates
        self.bytes_received = bytes_received
        self.hwm_kib = hwm_kib
        self.lines = lines
        self.encodings = encodings  # {encoding number: rectangles}, whole connection
        self.drawing = drawing      # drawing_libs() of the process

    def per_s(self, what):
        """updates, bytes_received or lines, per second of the window."""
        v = getattr(self, what)
        return None if v is None else v / self.window_s


def wait_text(path, text, proc, timeout, where="serial port", poll=0.1):
    """None once `text` is in the file at `path` (what the guest wrote to
    its `where`), else why not."""
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
        time.sleep(poll)
    return f"no {text!r} on the {where} within {timeout:.0f} s"


def serial_lines(path):
    """The scrolling guest's line count: the '.'s it wrote to COM1."""
    with open(path, "rb") as f:
        return f.read().count(b".")


def display_run(runner, image, cpu, window, settle, frontend, boot_timeout, xdisplay=None,
                count_lines=False):
    """Boots a display guest (vgaidle.S, vgascroll.S), waits until it has
    drawn (VGA_READY), attaches the viewer (frontend "vnc") or opens the
    window on the X display `xdisplay` ("sdl"), lets the VMM settle, then
    reads the process's CPU time over `window` seconds, and its peak RSS
    at the end; with count_lines, the lines the guest scrolled meanwhile."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, \
            tempfile.TemporaryFile() as err:
        serial = os.path.join(tmp, "serial")
        vnc, sdl = frontend == "vnc", frontend == "sdl"
        display = free_vnc_display() if vnc else None
        argv = runner.prefix + runner.extra + idle_args(image, cpu, serial, display, sdl)
        env = None
        if sdl:
            import xvfb
            env = xvfb.sdl_env(xdisplay)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err, env=env)
        except OSError as e:
            raise RunError(f"{runner.name}: cannot run {argv[0]}: {e}") from e
        viewer = None
        problem = None
        try:
            problem = wait_text(serial, VGA_READY, p, boot_timeout)
            if not problem and vnc:
                viewer = VncViewer(5900 + display)
                viewer.start()
                if not viewer.first.wait(30):
                    problem = "VNC: no first update within 30 s"
            if not problem:
                time.sleep(settle)
                u0 = viewer.updates if viewer else None
                b0 = viewer.client.received if viewer else None
                n0 = serial_lines(serial) if count_lines else None
                c0, s0, t0 = process_cpu_s(p.pid), process_sched_s(p.pid), time.monotonic()
                time.sleep(window)
                c1, s1, t1 = process_cpu_s(p.pid), process_sched_s(p.pid), time.monotonic()
                n1 = serial_lines(serial) if count_lines else None
                hwm, drawing = process_hwm_kib(p.pid), process_drawing_libs(p.pid)
                if p.poll() is not None:
                    problem = f"exited with status {p.returncode} during the window"
                elif viewer and (viewer.error or not viewer.is_alive()):
                    problem = f"VNC client: {viewer.error or 'stopped'}"
                elif sdl and not any(x.startswith("libSDL2") for x in drawing):
                    problem = "-display sdl, but no libSDL2 in the process: no window"
                elif count_lines and n1 <= n0:
                    problem = "the guest scrolled no line in the window"
                else:
                    return IdleRun((c1 - c0) / (t1 - t0), t1 - t0,
                                   None if not viewer else viewer.updates - u0,
                                   None if not viewer else viewer.client.received - b0,
                                   (s1 - s0) / (t1 - t0), hwm,
                                   None if not count_lines else n1 - n0,
                                   None if not viewer else dict(viewer.encodings),
                                   drawing)
        except (OSError, RunError, AssertionError, ValueError, struct.error) as e:
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
    """display_run() `count` times per runner, alternating; a runner
    that fails once is dropped (None), as in interleave()."""
    res = {r.name: [] for r in runners}
    live = list(runners)
    for _ in range(count):
        for r in list(live):
            time.sleep(SETTLE_S)
            try:
                res[r.name].append(display_run(r, **kw))
            except RunError as e:
                print(f"  ! {e}", file=sys.stderr)
                r.errors.append(str(e))
                live.remove(r)
                res[r.name] = None
    return res


# ---- sound: the CPU a VMM spends per second of playback ------------------

# The playback rows (docs/bench.md): both VMMs boot the same firmware-level
# program (tests/fw/*play.S built FOREVER: auto-init DMA without end) with
# the same card on -audiodev wav in its default format (44100 Hz s16
# stereo: both VMMs' default), SeaBIOS's debug port to a file for the
# program's start marker. (-device, image in the fw build directory, the
# program's start marker, what it plays)
PLAY_CARDS = (
    ("sb16", "sb16play-forever.img", "VMM-SB16 start", "SB16, 16-bit stereo 22050 Hz"),
    ("ES1370", "es1370play-forever.img", "VMM-ES1370 start",
     "ES1370 DAC2, 16-bit stereo 22050 Hz"),
    ("cs4231a", "cs4231aplay-forever.img", "VMM-CS4231A start",
     "CS4231A, 16-bit stereo 44100 Hz"),
    ("gus", "gusplay-forever.img", "VMM-GUS start",
     "GUS, a 16-bit and an 8-bit voice at 44100 Hz"),
)
WAV_BYTES_PER_S = 44100 * 4  # -audiodev wav's default format
PLAY_PACE_SLACK = 0.1        # the recording may grow 10 % off the window's time


def playback_args(image, device, cpu, wav, debug_log):
    """The playing guest: the program's disk, the card on a wav audiodev
    at `wav`, SeaBIOS's debug port (0x402, where the program prints its
    start marker) to `debug_log`."""
    return ["-m", "32", "-cpu", cpu, "-L", FIRMWARE_DIR, "-display", "none", "-no-reboot",
            "-chardev", f"file,id=seabios,path={debug_log}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios",
            "-audiodev", f"wav,id=snd,path={wav}", "-device", f"{device},audiodev=snd",
            "-drive", f"file={image},format=raw,if=ide,snapshot=on"]


class PlayRun:
    """One playback measurement: the VMM's CPU seconds (user + sys from
    /proc/PID/stat; its threads' schedstat beside) per second of sound the
    recording grew by in the window."""

    def __init__(self, cpu_s, sched_s, played_s, window_s):
        self.cpu_s_per_s = cpu_s / played_s
        self.sched_s_per_s = sched_s / played_s
        self.played_s = played_s
        self.window_s = window_s


def played_seconds(wav_bytes):
    """Seconds of sound in `wav_bytes` of a default-format recording."""
    return wav_bytes / WAV_BYTES_PER_S


def pace_problem(played_s, window_s):
    """Why a window does not measure playback: the recording did not grow
    by about the window's time (the guest stopped playing, or the VMM did
    not keep the card's pace). None when it did."""
    if window_s <= 0 or abs(played_s - window_s) > PLAY_PACE_SLACK * window_s:
        return (f"the recording grew by {played_s:.2f} s of sound in a {window_s:.2f} s "
                "window: not playing at the card's pace")
    return None


def playback_run(runner, image, device, marker, cpu, window, settle, boot_timeout):
    """Boots the playing guest, waits for its start marker, lets it play
    `settle` seconds, then reads the VMM's CPU time and the recording's
    size over `window` seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, \
            tempfile.TemporaryFile() as err:
        wav, log = os.path.join(tmp, "play.wav"), os.path.join(tmp, "debugcon")
        argv = runner.prefix + runner.extra + playback_args(image, device, cpu, wav, log)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err)
        except OSError as e:
            raise RunError(f"{runner.name}: cannot run {argv[0]}: {e}") from e
        problem = None
        try:
            problem = wait_text(log, marker, p, boot_timeout, where="debug port", poll=0.05)
            if not problem:
                time.sleep(settle)
                c0, s0, w0, t0 = (process_cpu_s(p.pid), process_sched_s(p.pid),
                                  os.path.getsize(wav), time.monotonic())
                time.sleep(window)
                c1, s1, w1, t1 = (process_cpu_s(p.pid), process_sched_s(p.pid),
                                  os.path.getsize(wav), time.monotonic())
                played = played_seconds(w1 - w0)
                if p.poll() is not None:
                    problem = f"exited with status {p.returncode} during the window"
                else:
                    problem = pace_problem(played, t1 - t0)
                if not problem:
                    return PlayRun(c1 - c0, s1 - s0, played, t1 - t0)
        except OSError as e:
            problem = str(e) or type(e).__name__
        finally:
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


def interleave_play(runners, count, **kw):
    """playback_run() `count` times per runner, alternating; a runner that
    fails once is dropped (None), as in interleave()."""
    res = {r.name: [] for r in runners}
    live = list(runners)
    for _ in range(count):
        for r in list(live):
            time.sleep(SETTLE_S)
            try:
                res[r.name].append(playback_run(r, **kw))
            except RunError as e:
                print(f"  ! {e}", file=sys.stderr)
                r.errors.append(str(e))
                live.remove(r)
                res[r.name] = None
    return res


def playback_metric(desc, runs, window, v, q, tick_s):
    """A playback row: the VMM's CPU per second of playback. /proc/PID/stat
    counts in ticks, so the goal (vmm at or below QEMU) allows one tick
    over the window (as the display rows)."""
    name = (f"sound playback, {desc}, -audiodev wav: VMM CPU per s of playback "
            f"(median of {runs} x {window:g} s)")
    resolution = tick_s / window
    met = None if v is None or q is None else v <= q + resolution
    return metric(name, "cpu", v, q, f"<= qemu (+-{fmt(resolution, 'cpu')}, one tick)", met,
                  resolution=resolution)


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
    if unit == "B/s":
        return f"{v / 1024:,.1f} KiB/s"
    if unit == "/s":
        return f"{v:.2f}/s"
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


def display_cpu_metric(what, frontend, runs, window, v, q, tick_s, zero_ok):
    """A display row's VMM CPU per second. /proc/PID/stat counts CPU time
    in clock ticks (tick_s seconds each), so a window of `window` seconds
    resolves tick_s / window CPU seconds per second: the goal (vmm at or
    below QEMU) is judged with that much slack, as a difference of one tick
    is not a measured one."""
    name = (f"{what}, {FRONTENDS[frontend]}: "
            f"VMM CPU per s (median of {runs} x {window:g} s)")
    resolution = tick_s / window
    met = None if v is None or q is None else v <= q + resolution
    return metric(name, "cpu", v, q, f"<= qemu (+-{fmt(resolution, 'cpu')}, one tick)",
                  met, zero_ok=zero_ok, resolution=resolution)


def static_screen_metric(desc, frontend, runs, window, v, q, tick_s):
    """The static-screen CPU row (display_cpu_metric). A VMM that spends
    nothing on a still screen reads 0 here, a real figure (zero_ok)."""
    return display_cpu_metric(f"static screen, {desc}", frontend, runs, window, v, q, tick_s,
                              zero_ok=True)


def display_rss_metric(desc, frontend, runs, v_kib, q_kib):
    """The static-screen peak RSS row: VmHWM at the end of the window, in
    MiB; lower is better (the guest's RAM and video memory that it touched
    are in both VMMs' figures alike)."""
    v, q = (None if x is None else x / 1024 for x in (v_kib, q_kib))
    name = (f"static screen, {desc}, {FRONTENDS[frontend]}: VMM peak RSS "
            f"(VmHWM, median of {runs})")
    return metric(name, "MiB", v, q, "<= qemu", None if v is None or q is None else v <= q)


def scroll_metrics(d, runs, window, tick_s):
    """The text-scrolling rows from {frontend: {vmm/qemu: [IdleRun]}}: CPU
    per s for each front-end (no zero: scrolling is never free), and with
    the viewer, the bytes and updates it received per second (no goal: a
    server that sends more pictures may be the better one; read them with
    the updates)."""
    def med(runs_of, f):
        return None if not runs_of else median([f(x) for x in runs_of])
    out = []
    what = f"text scrolling, {SCROLL_DESC}"
    for fe in SCROLL_FRONTENDS:
        if fe not in d:
            continue
        v, q = (med(d[fe].get(n), lambda x: x.cpu_s_per_s) for n in ("vmm", "qemu"))
        out.append(display_cpu_metric(what, fe, runs, window, v, q, tick_s, zero_ok=False))
        out[-1]["schedstat"] = {n: med(d[fe].get(n), lambda x: x.sched_s_per_s)
                                for n in ("vmm", "qemu")}
        out[-1]["lines_per_s"] = {n: med(d[fe].get(n), lambda x: x.per_s("lines"))
                                  for n in ("vmm", "qemu")}
    if "vnc" in d:
        for what_vnc, unit, key in (("bytes received per s", "B/s", "bytes_received"),
                                    ("updates received per s", "/s", "updates")):
            v, q = (med(d["vnc"].get(n), lambda x: x.per_s(key)) for n in ("vmm", "qemu"))
            out.append(metric(f"{what}, {FRONTENDS['vnc']}: {what_vnc} (median of {runs})",
                              unit, v, q, "", None))
    return out


def encoding_names(counts):
    """{encoding number: rectangles} as 'Raw 123, DesktopSize 1'."""
    names = {0: "Raw", 1: "CopyRect", 2: "RRE", 5: "Hextile", 7: "Tight", 16: "ZRLE",
             -223: "DesktopSize"}
    return ", ".join(f"{names.get(e, e)} {n}" for e, n in sorted(counts.items(), reverse=True))


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


def bare_loop_args(cpu):
    """kvm-loop's options for the same model: -c gives its vCPU KVM's
    whole supported CPUID, what -cpu host starts from; otherwise it keeps
    KVM's empty CPUID, nearest to qemu64's minimal one (neither has XSAVE
    or AVX)."""
    return ["-c"] if cpu == "host" else []


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
    ap.add_argument("--cpu", default="qemu64",
                    help="-cpu of both VMMs in the host-level rows, and the bare loop's model "
                         "(default qemu64; host: kvm-loop -c. QEMU 10 cannot run -cpu host on "
                         "kvm_pvm)")
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
    ap.add_argument("--skip-scale", action="store_true",
                    help="skip the -smp 160 and -m 512G boots (issue 21's scale rows)")
    ap.add_argument("--scale-runs", type=int, default=3,
                    help="boots per VMM of each scale row (default 3)")
    ap.add_argument("--skip-display", action="store_true",
                    help="skip the display rows (VGA BIOS boots, static screen, text "
                         "scrolling)")
    ap.add_argument("--skip-sdl", action="store_true",
                    help="skip the static-screen rows with an SDL window (which need Xvfb "
                         "and, for QEMU, its SDL module)")
    ap.add_argument("--display-cpu", default="qemu64",
                    help="-cpu of both VMMs in the display rows (default qemu64)")
    ap.add_argument("--display-boot-runs", type=int, default=3,
                    help="SeaBIOS + VGA BIOS boots per card (default 3)")
    ap.add_argument("--idle-runs", type=int, default=3,
                    help="static-screen runs per mode and front-end (default 3)")
    ap.add_argument("--idle-window", type=float, default=10.0,
                    help="seconds of CPU time read per static-screen run (default 10)")
    ap.add_argument("--scroll-runs", type=int, default=3,
                    help="text-scrolling runs per front-end (default 3)")
    ap.add_argument("--idle-settle", type=float, default=2.0,
                    help="seconds between the picture (and the viewer's first update) "
                         "and the window (default 2)")
    ap.add_argument("--skip-sound", action="store_true",
                    help="skip the sound playback rows")
    ap.add_argument("--fw-dir", default="build/fw",
                    help="holds the playing guests (sb16play-forever.img, "
                         "es1370play-forever.img, cs4231aplay-forever.img, "
                         "gusplay-forever.img; tests/fw/fw.mk)")
    ap.add_argument("--play-card", action="append", choices=[c[0] for c in PLAY_CARDS],
                    help="only this card's playback row (repeatable; default every card)")
    ap.add_argument("--play-runs", type=int, default=3,
                    help="playback runs per card (default 3)")
    ap.add_argument("--play-window", type=float, default=10.0,
                    help="seconds of playback whose CPU time is read per run (default 10)")
    ap.add_argument("--play-settle", type=float, default=1.0,
                    help="seconds between the program's start marker and the window "
                         "(default 1)")
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
        a.skip_sound = True    # a boot and a window per card: not quick either
        a.skip_scale = True    # 160 CPUs and 512 GiB of KVM metadata: neither quick
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
    scroll_image = os.path.abspath(os.path.join(a.bench_dir, "vgascroll.img"))
    play_images = {dev: os.path.abspath(os.path.join(a.fw_dir, img))
                   for dev, img, _, _ in PLAY_CARDS if not a.play_card or dev in a.play_card}
    needed = (a.vmm, empty, pio, loop, SPAWN) \
        + (() if a.skip_boot and a.skip_scale else (a.disk,)) \
        + (() if a.skip_display else (a.disk, scroll_image) + tuple(idle_images.values())) \
        + (() if a.skip_sound else tuple(play_images.values()))
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
    bare = Runner("kvm-loop", [os.path.abspath(loop)] + bare_loop_args(a.cpu), bios_only=True)

    # the same CPU model for both VMMs (vmm's default is host, QEMU's
    # qemu64) and for the bare loop (bare_loop_args)
    tiny = ["-cpu", a.cpu, "-display", "none", "-serial", "null", "-no-reboot"] + DEBUG_EXIT
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
        boot = boot_sector_args("64", a.cpu, os.path.abspath(a.disk))
        t2 = interleave(runners, a.boot_runs, boot, expect_banner=True,
                        timeout=a.boot_timeout)

    # 7: scale: SeaBIOS to boot sector with 160 CPUs, and with 512 GiB.
    t9 = {}
    if not a.skip_scale:
        for label, mem, smp in SCALE_BOOTS:
            progress(f"SeaBIOS boot to {BOOT_BANNER}, {label}: {a.scale_runs} runs each")
            scaled = [Runner(r.name, r.prefix, r.extra + scale_extra(r.name, mem), r.timeout)
                      for r in runners]
            t9[label] = interleave(scaled, a.scale_runs,
                                   boot_sector_args(mem, a.cpu, os.path.abspath(a.disk), smp),
                                   expect_banner=True, timeout=a.boot_timeout)
            for r, sr in zip(runners, scaled):
                r.errors += sr.errors

    # 5: the display rows: SeaBIOS + VGA BIOS per card, the static screen
    # (headless, VNC viewer, SDL window), text scrolling (headless, VNC).
    t5, t6, t7 = {}, {}, {}
    if not a.skip_display:
        for card in DISPLAY_CARDS:
            progress(f"SeaBIOS + VGA BIOS (-vga {card}) to {BOOT_BANNER}: "
                     f"{a.display_boot_runs} runs each")
            t5[card] = interleave(runners, a.display_boot_runs,
                                  display_boot_args(card, a.display_cpu,
                                                    os.path.abspath(a.disk)),
                                  expect_banner=True, timeout=a.boot_timeout)
        # one X server for every SDL window, up only while they run
        frontends = [fe for fe in FRONTENDS if not (fe == "sdl" and a.skip_sdl)]
        xserver = None
        if "sdl" in frontends:
            sys.path.insert(0, os.path.join(REPO, "tests", "fw"))
            import xvfb
            try:
                xserver = xvfb.start_xvfb()
            except (OSError, RuntimeError) as e:
                msg = f"SDL rows: cannot start Xvfb ({e}); --skip-sdl leaves them out"
                print(f"  ! {msg}", file=sys.stderr)
                res["errors"].append(msg)
                frontends.remove("sdl")
        try:
            for mode, _ in IDLE_MODES:
                for fe in frontends:
                    progress(f"static screen, {mode}, {FRONTENDS[fe]}: "
                             f"{a.idle_runs} runs of {a.idle_window:g} s each")
                    t6[(mode, fe)] = interleave_idle(
                        runners, a.idle_runs, image=idle_images[mode], cpu=a.display_cpu,
                        window=a.idle_window, settle=a.idle_settle, frontend=fe,
                        boot_timeout=a.boot_timeout,
                        xdisplay=None if fe != "sdl" else xserver[1])
        finally:
            if xserver:
                xvfb.stop_xvfb(xserver[0])
        for fe in SCROLL_FRONTENDS:
            progress(f"text scrolling, {FRONTENDS[fe]}: {a.scroll_runs} runs of "
                     f"{a.idle_window:g} s each")
            t7[fe] = interleave_idle(runners, a.scroll_runs, image=scroll_image,
                                     cpu=a.display_cpu, window=a.idle_window,
                                     settle=a.idle_settle, frontend=fe,
                                     boot_timeout=a.boot_timeout, count_lines=True)

    # 6: sound: the CPU per second of playback, per card.
    t8 = {}
    if not a.skip_sound:
        for dev, _, marker, desc in PLAY_CARDS:
            if dev not in play_images:
                continue
            progress(f"sound playback, {desc}: {a.play_runs} runs of {a.play_window:g} s each")
            t8[dev] = interleave_play(runners, a.play_runs, image=play_images[dev], device=dev,
                                      marker=marker, cpu=a.display_cpu, window=a.play_window,
                                      settle=a.play_settle, boot_timeout=a.boot_timeout)

    res["host"]["loadavg_after"] = loadavg()
    res["guest_args"] = {"empty_m256": args256, "empty_m2048": args2g,
                         "pio": ["-m", "256", "-bios", pio] + tiny,
                         "boot": None if a.skip_boot else boot,
                         "scale": {label: boot_sector_args(mem, a.cpu, os.path.abspath(a.disk),
                                                           smp)
                                   for label, mem, smp in SCALE_BOOTS if label in t9},
                         "display_boot": {c: display_boot_args(c, a.display_cpu, a.disk)
                                          for c in t5},
                         "static_screen": {f"{mode}-{fe}":
                                           idle_args(idle_images[mode], a.display_cpu,
                                                     "SERIAL", 59 if fe == "vnc" else None,
                                                     fe == "sdl")
                                           for mode, fe in t6},
                         "text_scroll": {fe: idle_args(scroll_image, a.display_cpu, "SERIAL",
                                                       59 if fe == "vnc" else None)
                                         for fe in t7},
                         "playback": {dev: playback_args(play_images[dev], dev, a.display_cpu,
                                                         "WAV", "DEBUGCON")
                                      for dev in t8}}
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
    for label, d in t9.items():
        v, q = med(d, "vmm"), med(d, "qemu")
        r = ratio(v, q)
        m.append(metric(f"SeaBIOS POST to boot sector, {label} (median of {a.scale_runs})",
                        "s", v, q, "<= qemu (ratio <= 1.00)", None if r is None else r <= 1.0))
        v, q = rss_mib(d, "vmm"), rss_mib(d, "qemu")
        r = ratio(v, q)
        m.append(metric(f"  peak RSS of the same boots, {label}", "MiB", v, q, "<= qemu",
                        None if r is None else r <= 1.0))
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
    tick_s = 1.0 / os.sysconf("SC_CLK_TCK")

    def idle_med(d, n, f):
        return None if not d.get(n) else median([f(x) for x in d[n]])
    for mode, desc in IDLE_MODES:
        for fe in FRONTENDS:
            d = t6.get((mode, fe))
            if d is None:
                continue
            v, q = (idle_med(d, n, lambda x: x.cpu_s_per_s) for n in ("vmm", "qemu"))
            m.append(static_screen_metric(desc, fe, a.idle_runs, a.idle_window, v, q, tick_s))
            m[-1]["schedstat"] = {n: idle_med(d, n, lambda x: x.sched_s_per_s)
                                  for n in ("vmm", "qemu")}
    for mode, desc in IDLE_MODES:
        for fe in FRONTENDS:
            d = t6.get((mode, fe))
            if d is not None:
                m.append(display_rss_metric(desc, fe, a.idle_runs,
                                            *(idle_med(d, n, lambda x: x.hwm_kib)
                                              for n in ("vmm", "qemu"))))
    m += scroll_metrics(t7, a.scroll_runs, a.idle_window, tick_s)
    for dev, _, _, desc in PLAY_CARDS:
        d = t8.get(dev)
        if d is None:
            continue
        v, q = (idle_med(d, n, lambda x: x.cpu_s_per_s) for n in ("vmm", "qemu"))
        m.append(playback_metric(desc, a.play_runs, a.play_window, v, q, tick_s))
        m[-1]["schedstat"] = {n: idle_med(d, n, lambda x: x.sched_s_per_s)
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
    for label, d in t9.items():
        res["samples"][f"scale_boot {label}"] = {
            n: None if runs is None else [{"s": round(x.seconds, 6), "maxrss_kib": x.maxrss_kib}
                                          for x in runs] for n, runs in d.items()}
    for card, d in t5.items():
        res["samples"][f"display_boot_{card}"] = {
            n: None if runs is None else [{"s": round(x.seconds, 6), "maxrss_kib": x.maxrss_kib}
                                          for x in runs] for n, runs in d.items()}
    def display_sample(x):
        return {"cpu_s_per_s": round(x.cpu_s_per_s, 6),
                "schedstat_s_per_s": round(x.sched_s_per_s, 6),
                "window_s": round(x.window_s, 3), "vnc_updates": x.updates,
                "vnc_bytes": x.bytes_received, "vmhwm_kib": x.hwm_kib,
                "vnc_encodings": None if x.encodings is None else
                {str(k): v for k, v in x.encodings.items()},
                "drawing_libs": x.drawing, "lines": x.lines}
    for (mode, fe), d in t6.items():
        res["samples"][f"static_screen_{mode}_{fe}"] = {
            n: None if runs is None else [display_sample(x) for x in runs]
            for n, runs in d.items()}
    for fe, d in t7.items():
        res["samples"][f"text_scroll_{fe}"] = {
            n: None if runs is None else [display_sample(x) for x in runs]
            for n, runs in d.items()}
    for dev, d in t8.items():
        res["samples"][f"playback_{dev}"] = {
            n: None if runs is None else [{"cpu_s_per_s": round(x.cpu_s_per_s, 6),
                                           "schedstat_s_per_s": round(x.sched_s_per_s, 6),
                                           "played_s": round(x.played_s, 3),
                                           "window_s": round(x.window_s, 3)} for x in runs]
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
    for x in m:
        if x.get("lines_per_s"):
            lps = x["lines_per_s"]
            print(f"  {x['metric'].split(': VMM')[0]}: the guest scrolled "
                  + ", ".join(f"{who} {lps[who]:.2f} lines/s" for who in ("vmm", "qemu")
                              if lps[who] is not None))
            note = uneven_work(lps)
            if note:
                print(f"  WARNING: {note}")
    for fe, d in [("sdl", t6.get((IDLE_MODES[-1][0], "sdl")) or {}), ("vnc", t7.get("vnc") or {})]:
        for who in ("vmm", "qemu"):
            runs = d.get(who)
            if runs and fe == "sdl":
                print(f"  SDL window, {who}: drawing libraries mapped: "
                      + (", ".join(runs[-1].drawing) or "none"))
            elif runs and runs[-1].encodings is not None:
                print(f"  text scrolling, VNC viewer (offers Raw + DesktopSize), {who}: "
                      f"rectangles by encoding: {encoding_names(runs[-1].encodings)}")
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


SCROLL_PACE_SLACK = 0.05  # the two guests' lines/s may differ by this much


def uneven_work(lines_per_s):
    """A note when the scrolling guests did not do the same work: one of
    them fell behind its timer tick (a scroll that took longer than a tick
    on a loaded host), so the rows compare different loads."""
    v, q = lines_per_s.get("vmm"), lines_per_s.get("qemu")
    if v is None or q is None or max(v, q) <= 0:
        return None
    if abs(v - q) > SCROLL_PACE_SLACK * max(v, q):
        return (f"the guests scrolled {v:.2f} (vmm) and {q:.2f} (qemu) lines/s: not the "
                "same work; rerun on a quieter host")
    return None


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
        elif name.startswith("static screen") or name.startswith("text scrolling"):
            key, value = recorded_display_figure(x)
            rec[key] = value
        elif name.startswith("sound playback"):
            rec[recorded_playback_key(name)] = round(x["vmm"] * 1e3, 2)
    with open(path, "w") as f:
        json.dump(rec, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


def recorded_playback_key(name):
    """recorded.json's key of a playback row: CPU ms per s of playback,
    per card (its -device name, lower case)."""
    dev = next(dev for dev, _, _, desc in PLAY_CARDS if f", {desc}," in name)
    return f"playback_ms_per_s_{dev.lower()}"


def frontend_of(name):
    """The FRONTENDS key a display row's name holds."""
    return next(fe for fe, label in FRONTENDS.items() if f", {label}:" in name)


def recorded_display_figure(row):
    """recorded.json's key and value of a display row: static screen CPU
    (ms per s) and peak RSS (MiB) per mode and front-end; text scrolling
    CPU (ms per s) per front-end, the viewer's KiB and updates per s."""
    name, v = row["metric"], row["vmm"]
    fe = frontend_of(name)
    if name.startswith("text scrolling"):
        if row["unit"] == "B/s":
            return "text_scroll_vnc_kib_per_s", round(v / 1024, 1)
        if row["unit"] == "/s":
            return "text_scroll_vnc_updates_per_s", round(v, 2)
        return f"text_scroll_ms_per_s_{fe}", round(v * 1e3, 2)
    mode = next(m for m, desc in IDLE_MODES if desc in name)
    if row["unit"] == "MiB":
        return f"static_screen_peak_rss_mib_{mode}_{fe}", round(v, 2)
    return f"static_screen_ms_per_s_{mode}_{fe}", round(v * 1e3, 2)


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
