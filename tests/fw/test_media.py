# SPDX-License-Identifier: GPL-2.0-or-later
"""Removable media at run time: QMP eject / blockdev-change-medium / the tray
commands and the monitor's eject / change on a running guest that watches its
CD drive (tests/fw/cdpoll.S, a -bios image: ATAPI PIO, GESN, TEST UNIT READY,
READ(10) of block 0, one COM1 line per change). The guest locks the tray at
start and unlocks it when the drive reports an eject request, as Linux does.
A SeaBIOS boot from one disc, then a swap to another, closes the file."""
import os
import socket
import subprocess
import time

import pytest

import fwskip

from conftest import VMM, fw_image, seabios_log_args
from test_qmp import Qmp, wait_for


def make_disc(path, label, size=1 << 20):
    with open(path, "wb") as f:
        f.write(label.encode().ljust(2048, b"\0"))
        f.truncate(size)
    return str(path)


class Guest:
    """vmm running cdpoll.bin with a CD, QMP on a unix socket."""

    def __init__(self, tmp_path, *args, cdrom=None):
        if not os.path.exists("/dev/kvm"):
            fwskip.unavailable("/dev/kvm is missing")
        self.serial = tmp_path / "serial.log"
        self.qmp_path = str(tmp_path / "qmp.sock")
        drive = ["-cdrom", cdrom] if cdrom else []
        cmd = [VMM, "-bios", fw_image("cdpoll.bin"), "-m", "16", "-nodefaults",
               "-display", "none", "-serial", f"file:{self.serial}", *drive,
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *args]
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.q = None

    def lines(self):
        text = self.serial.read_text(errors="replace") if self.serial.exists() else ""
        return text.splitlines()

    def wait_lines(self, expected, timeout=60):
        """Waits until 'expected' follows, in order, the lines seen so far. A
        set in 'expected' is lines that come in either order: a host change
        that lands between the guest's GESN and its TEST UNIT READY is seen
        by the command first and reported by GESN in the next round."""
        start = len(self.lines()) if not hasattr(self, "mark") else self.mark
        groups = [sorted(e) if isinstance(e, (set, frozenset)) else [e] for e in expected]
        n = sum(len(g) for g in groups)

        def matches(got):
            i = 0
            for g in groups:
                if sorted(got[i:i + len(g)]) != g:
                    return False
                i += len(g)
            return True

        def seen():
            assert self.p.poll() is None, self.p.communicate()
            got = self.lines()[start:]
            return matches(got)
        end = time.monotonic() + timeout
        while not seen():
            if time.monotonic() > end:
                pytest.fail(f"timed out after {timeout}s waiting for {expected} on COM1 "
                            f"(have {self.lines()[start:]})\n{self.where()}")
            time.sleep(0.05)
        self.mark = start + n
        return self.lines()[start:]

    def where(self):
        """Where a guest that says nothing is: its registers twice, 1 s apart
        (a guest looping in cdpoll's ide_idle and one that never runs differ),
        and each vmm thread's kernel state."""
        out = []
        for task in sorted(os.listdir(f"/proc/{self.p.pid}/task")):
            d = f"/proc/{self.p.pid}/task/{task}"
            try:
                comm = open(f"{d}/comm").read().strip()
                state = open(f"{d}/stat").read().split(") ", 1)[1].split()[0]
                wchan = open(f"{d}/wchan").read().strip()
                call = open(f"{d}/syscall").read().split()[0]
                out.append(f"thread {task} {comm}: state {state} wchan {wchan} syscall {call}")
            except (OSError, IndexError):
                continue
        try:
            q = self.q or Qmp(self.qmp_path, timeout=5).negotiate()
            for _ in range(2):
                regs = q.ok("human-monitor-command", {"command-line": "info registers"})
                out.append(" ".join(regs.split()[:12]))
                time.sleep(1)
        except Exception as e:  # noqa: BLE001 - a diagnostic must not hide the failure
            out.append(f"QMP: {e!r}")
        return "\n".join(out)

    def qmp(self):
        self.q = Qmp(self.qmp_path).negotiate()
        return self.q

    def stop(self):
        if self.q:
            self.q.close()
        if self.p.poll() is None:
            self.p.kill()
        return self.p.communicate()


@pytest.fixture
def guest(tmp_path):
    started = []

    def start(*args, **kw):
        g = Guest(tmp_path, *args, **kw)
        started.append(g)
        return g
    yield start
    for g in started:
        g.stop()


def block_of(q, device):
    return next(b for b in q.ok("query-block") if b["device"] == device)


def test_change_medium_guest_reads_the_new_disc(guest, tmp_path):
    a = make_disc(tmp_path / "a.iso", "DISC-AAA")
    b = make_disc(tmp_path / "b.iso", "DISC-BBB", size=2 << 20)
    g = guest(cdrom=a)
    g.mark = 0
    g.wait_lines(["START", "LOCKED", "DATA DISC-AAA"])
    q = g.qmp()
    first = next(s for s in q.ok("query-blockstats") if s["device"] == "ide1-cd0")["stats"]
    assert first["rd_operations"] >= 1 and first["rd_bytes"] >= 2048
    blk = block_of(q, "ide1-cd0")
    assert blk["locked"] is True and blk["tray_open"] is False and blk["removable"] is True
    assert blk["inserted"]["file"] == a and blk["inserted"]["ro"] is True

    # Locked by the guest: QEMU's refusal, and the guest gets an eject
    # request, unlocks and opens the tray itself (DEVICE_TRAY_MOVED as
    # QEMU sends it for a guest's move); the next eject takes the disc out.
    r = q.cmd("eject", {"device": "ide1-cd0"})
    assert r["error"] == {"class": "GenericError",
                          "desc": "Device 'ide1-cd0' is locked and force was not specified, "
                                  "wait for tray to open and try again"}, r
    g.wait_lines(["EV 1", "UNLOCKED", "EJECTED"])
    ev = q.event("DEVICE_TRAY_MOVED")
    assert ev["data"] == {"device": "ide1-cd0", "tray-open": True,
                          "id": block_of(q, "ide1-cd0")["qdev"]}
    blk = block_of(q, "ide1-cd0")
    assert blk["locked"] is False and blk["tray_open"] is True and "inserted" in blk
    # not ready (tray open) in the same round, the media removal event next
    g.wait_lines(["SENSE 02 3a 02", "EV 3"])
    assert q.ok("eject", {"device": "ide1-cd0"}) == {}
    blk = block_of(q, "ide1-cd0")
    assert "inserted" not in blk and blk["tray_open"] is True

    # The new disc: new media event, one unit attention 28/00, then it reads.
    assert q.ok("blockdev-change-medium", {"device": "ide1-cd0", "filename": b,
                                           "format": "raw"}) == {}
    assert q.event("DEVICE_TRAY_MOVED")["data"]["tray-open"] is False
    g.wait_lines([{"EV 2", "SENSE 06 28 00"}, "DATA DISC-BBB"])
    blk = block_of(q, "ide1-cd0")
    assert blk["inserted"]["file"] == b and blk["inserted"]["image"]["virtual-size"] == 2 << 20
    assert blk["tray_open"] is False

    # The guest's reads are counted per drive, across discs (as QEMU's).
    st = next(s for s in q.ok("query-blockstats") if s["device"] == "ide1-cd0")["stats"]
    assert st["rd_operations"] > first["rd_operations"], (first, st)
    assert st["rd_bytes"] > first["rd_bytes"] and st["wr_operations"] == 0
    assert 0 <= st["idle_time_ns"] < 60 * 10**9

    # A bad file changes nothing; by id too.
    r = q.cmd("blockdev-change-medium", {"id": blk["qdev"], "filename": str(tmp_path / "no.iso")})
    assert r["error"]["desc"] == f"Could not open '{tmp_path / 'no.iso'}': No such file or directory"
    assert block_of(q, "ide1-cd0")["inserted"]["file"] == b


def test_force_eject_of_a_locked_tray(guest, tmp_path):
    a = make_disc(tmp_path / "a.iso", "DISC-AAA")
    g = guest(cdrom=a)
    g.mark = 0
    g.wait_lines(["START", "LOCKED", "DATA DISC-AAA"])
    q = g.qmp()
    q.ok("stop")  # the guest cannot unlock in between
    assert q.ok("eject", {"device": "ide1-cd0", "force": True}) == {}
    blk = block_of(q, "ide1-cd0")
    assert blk["tray_open"] is True and blk["locked"] is False and "inserted" not in blk
    q.ok("cont")
    # the eject request is replaced by the removal before the guest looks
    # (stopped between its GESN and TUR, the guest sees not ready first)
    g.wait_lines([{"EV 3", "SENSE 02 3a 02"}])
    # an empty tray closed: not ready, no disc
    assert q.ok("blockdev-close-tray", {"device": "ide1-cd0"}) == {}
    g.wait_lines(["SENSE 02 3a 00"])
    r = q.cmd("eject", {"device": "nope"})
    assert r["error"] == {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}


def test_monitor_change_and_eject(guest, tmp_path):
    a = make_disc(tmp_path / "a.iso", "DISC-AAA")
    b = make_disc(tmp_path / "b.iso", "DISC-BBB")
    mon = str(tmp_path / "mon.sock")
    g = guest("-monitor", f"unix:{mon},server=on,wait=off", "-hda",
              make_disc(tmp_path / "hd.img", "HD"), cdrom=a)
    g.mark = 0
    g.wait_lines(["START", "LOCKED", "DATA DISC-AAA"])
    s = wait_for(lambda: os.path.exists(mon) and socket.socket(socket.AF_UNIX), 30, "socket")
    s.connect(mon)
    s.settimeout(30)
    data = b""

    def monitor(line):
        nonlocal data
        s.sendall(line.encode() + b"\n")
        while data.count(b"(vmm) ") < 2:
            data += s.recv(4096)
        first, _, rest = data.partition(b"(vmm) ")
        reply, _, data = rest.partition(b"(vmm) ")
        data = b"(vmm) " + data
        return reply.decode()

    out = monitor("info block")
    assert f"ide1-cd0 (#block" in out and f"): {a} (raw, read-only)\n" in out, out
    assert "    Removable device: locked, tray closed\n" in out, out
    assert "ide0-hd0 (#block" in out and "Removable" not in out.split("ide1-cd0")[0], out
    out = monitor("eject ide0-hd0")
    assert out == "Error: Device 'ide0-hd0' is not removable\n", out
    out = monitor("eject -f ide1-cd0")
    assert out == "", out
    g.wait_lines([{"EV 3", "SENSE 02 3a 02"}])
    out = monitor("info block")
    assert "ide1-cd0: [not inserted]\n" in out and "not locked, tray open" in out, out
    out = monitor(f"change ide1-cd0 {b} raw")
    assert out == "", out
    g.wait_lines([{"EV 2", "SENSE 06 28 00"}, "DATA DISC-BBB"])
    out = monitor("info blockstats")
    line = next(ln for ln in out.splitlines() if ln.startswith("ide1-cd0: "))
    assert "rd_bytes=" in line and " rd_operations=" in line and "wr_operations=0" in line, out
    s.close()


def test_seabios_boots_a_disc_then_reads_the_swapped_one(guest, tmp_path):
    """Under SeaBIOS the El Torito CD boots (the boot sector prints
    VMM-BOOT-OK); swapping the disc under the idle guest then closes the
    first image file: vmm holds no descriptor of it."""
    iso = fw_image("cd-0.iso")
    b = make_disc(tmp_path / "b.iso", "DISC-BBB")
    serial = tmp_path / "sb.log"
    qpath = str(tmp_path / "sb.sock")
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    p = subprocess.Popen([VMM, "-m", "64", "-display", "none", "-serial", f"file:{serial}",
                          *seabios_log_args(tmp_path / "dbg.log"), "-cdrom", iso, "-boot", "d",
                          "-qmp", f"unix:{qpath},server=on,wait=off"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: serial.exists() and "VMM-BOOT-OK" in serial.read_text(errors="replace"),
                 120, "the CD's boot sector")
        q = Qmp(qpath).negotiate()

        def open_files():
            fd_dir = f"/proc/{p.pid}/fd"
            return {os.path.realpath(os.path.join(fd_dir, f)) for f in os.listdir(fd_dir)}
        assert os.path.realpath(iso) in open_files()
        assert q.ok("blockdev-change-medium", {"device": "ide1-cd0", "filename": b}) == {}
        assert os.path.realpath(iso) not in open_files()
        assert os.path.realpath(b) in open_files()
        assert block_of(q, "ide1-cd0")["inserted"]["file"] == b
        q.ok("quit")
        p.wait(timeout=30)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()


def test_media_and_inspection_are_clean_under_asan(tmp_path):
    """The swaps, a failed open, the tray steps and the inspection commands
    under build/vmm-asan: no leak (every image swapped out is closed), no
    bad access, exit 0."""
    asan = os.environ.get("VMM_ASAN", os.path.join(os.path.dirname(VMM), "vmm-asan"))
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    if not os.path.exists(asan):
        pytest.fail(f"{asan} is missing: run `make build/vmm-asan`")
    a = make_disc(tmp_path / "a.iso", "DISC-AAA")
    b = make_disc(tmp_path / "b.iso", "DISC-BBB")
    serial = tmp_path / "serial.log"
    qpath = str(tmp_path / "qmp.sock")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
    # the sanitizer's own exit work is not in the sandbox's lists
    p = subprocess.Popen([asan, "-sandbox", "off", "-bios", fw_image("cdpoll.bin"), "-m", "16",
                          "-nodefaults", "-display", "none", "-serial", f"file:{serial}",
                          "-cdrom", a, "-qmp", f"unix:{qpath},server=on,wait=off"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    try:
        wait_for(lambda: serial.exists() and "DATA DISC-AAA" in serial.read_text(), 120,
                 "the guest reading the first disc")
        q = Qmp(qpath).negotiate()
        assert q.ok("eject", {"device": "ide1-cd0", "force": True}) == {}
        assert q.ok("blockdev-change-medium", {"device": "ide1-cd0", "filename": b}) == {}
        assert "error" in q.cmd("blockdev-change-medium",
                                {"device": "ide1-cd0", "filename": str(tmp_path / "no.iso")})
        wait_for(lambda: "DATA DISC-BBB" in serial.read_text(), 60, "the second disc")
        assert q.ok("blockdev-open-tray", {"device": "ide1-cd0"}) == {}
        assert q.ok("blockdev-remove-medium", {"id": block_of(q, "ide1-cd0")["qdev"]}) == {}
        assert q.ok("blockdev-change-medium", {"device": "ide1-cd0", "filename": a,
                                               "format": "raw"}) == {}
        for line in ("info registers -a", "xp /16xg 0xf0000", "x /4xw 0", "info pci",
                     "info mtree", "info chardev", "info block", "info blockstats", "p $pc"):
            assert isinstance(q.ok("human-monitor-command", {"command-line": line}), str)
        for name in ("query-block", "query-blockstats", "query-pci", "query-chardev"):
            q.ok(name)
        q.ok("quit")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    err = err.decode(errors="replace")
    assert p.returncode == 0, err
    assert "Sanitizer" not in err and "runtime error" not in err, err
