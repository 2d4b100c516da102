# SPDX-License-Identifier: GPL-2.0-or-later
"""Lifecycle of a whole machine: every device model the table has (the
board's, -hda/-cdrom, ide-hd, virtio-blk/net/rng/balloon/serial with both
port kinds, e1000, rtl8139, ne2k_pci, ne2k_isa, pcnet, the default VGA, a bochs-display with its own
monitor size (EDID properties), COM2 and COM3, isa-debugcon,
isa-debug-exit, both watchdogs, an sb16 and an ES1370 on a wav audiodev, a QMP socket), started, paused, resumed and quit, or ended by SIGTERM,
under ASan's LeakSanitizer (build/vmm-asan): exit destroys everything, so
nothing leaks. The full machine has the standard VGA; the Cirrus card
(which cannot sit next to it: one legacy VGA per machine) has a machine of
its own, in an extended mode, round-tripped the same way."""
import os
import shutil
import signal
import struct
import subprocess
import time
import wave

import pytest

import fwskip
from conftest import BOOT_TIMEOUT, ROOT, fw_image, seabios_log_args
from test_qmp import Qmp, wait_for

VMM_ASAN = os.environ.get("VMM_ASAN", os.path.join(ROOT, "build", "vmm-asan"))


def full_machine(tmp_path, qmp_path):
    """Every -device model, on copies of the boot disk."""
    disks = []
    for name in ("hda", "vd", "hd2"):
        path = tmp_path / f"{name}.img"
        shutil.copy(fw_image("disk-13.img"), path)
        disks.append(path)
    return [
        "-m", "64", "-display", "none", "-serial", f"file:{tmp_path / 'serial.log'}",
        # COM2 from a second -serial, COM3 from -device: three UARTs, each
        # its own instance (created, saved, loaded, reset, destroyed).
        "-serial", f"file:{tmp_path / 'com2.log'}",
        "-chardev", "null,id=com3", "-device", "isa-serial,chardev=com3",
        *seabios_log_args(tmp_path / "debugcon.log"),
        "-drive", f"file={disks[0]},format=raw,if=ide,index=0",
        "-cdrom", fw_image("cd-0.iso"),
        "-drive", f"if=none,id=vd,file={disks[1]},format=raw",
        "-device", "virtio-blk-pci,drive=vd",
        "-drive", f"if=none,id=hd2,file={disks[2]},format=raw",
        "-device", "ide-hd,drive=hd2,bus=ide.1,unit=1",
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
        # the emulated NICs, each with its transmit thread and iPXE ROM
        "-netdev", "user,id=n1", "-device", "e1000,netdev=n1",
        "-netdev", "user,id=n2", "-device", "rtl8139,netdev=n2",
        "-netdev", "user,id=n3", "-device", "ne2k_pci,netdev=n3",
        "-netdev", "user,id=n4", "-device", "pcnet,netdev=n4",
        "-netdev", "user,id=n5", "-device", "ne2k_isa,netdev=n5",
        "-device", "virtio-rng-pci",
        "-device", "virtio-balloon-pci,guest-stats-polling-interval=1",
        "-chardev", "null,id=con", "-chardev", "null,id=port",
        "-device", "virtio-serial-pci", "-device", "virtconsole,chardev=con",
        "-device", "virtserialport,chardev=port,name=org.vmm.test",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-device", "i6300esb", "-device", "ib700",
        "-audiodev", f"wav,id=snd,path={tmp_path / 'sound.wav'}", "-device", "sb16,audiodev=snd",
        "-device", "ES1370,audiodev=snd",
        # a second display card, its monitor (EDID) from properties
        "-device", "bochs-display,xres=1024,yres=768,xmax=1920,ymax=1200",
        "-qmp", f"unix:{qmp_path},server=on,wait=off",
        # LeakSanitizer stops the threads with ptrace, which the seccomp
        # filters forbid (tests/fw/test_sandbox.py covers those).
        "-sandbox", "off",
    ]


def start(tmp_path, args=None):
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    if not os.path.exists(VMM_ASAN):
        pytest.fail(f"{VMM_ASAN} is missing: run `make build/vmm-asan`")
    qmp_path = str(tmp_path / "qmp.sock")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    p = subprocess.Popen([VMM_ASAN, *(args or full_machine(tmp_path, qmp_path))],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    return p, qmp_path


def finish(p):
    out, err = p.communicate(timeout=60)
    err = err.decode(errors="replace")
    assert "LeakSanitizer" not in err, err
    assert "AddressSanitizer" not in err, err
    assert "runtime error" not in err, err  # UBSan
    return p.returncode, err


def test_full_machine_quit_is_leak_free(tmp_path):
    """Booted to the boot sector (SeaBIOS has driven IDE, ATAPI and the
    virtio disk), paused and resumed, its state saved and loaded back, then
    QMP quit: status 0, no leak."""
    p, qmp_path = start(tmp_path)
    try:
        q = Qmp(qmp_path).negotiate()
        serial = tmp_path / "serial.log"
        wait_for(lambda: p.poll() is not None or
                 "VMM-BOOT-OK" in serial.read_text(errors="replace"),
                 BOOT_TIMEOUT, "VMM-BOOT-OK")
        q.ok("stop")
        q.ok("cont")
        # The whole machine's saved state (every device instance through
        # the table, KVM's VM and vCPUs) loaded straight back, running and
        # paused; it then runs and quits as before.
        first = q.ok("x-state-roundtrip")["bytes"]
        assert first > 10000, first
        q.ok("stop")
        assert q.ok("x-state-roundtrip")["bytes"] == first
        q.ok("cont")
        q.ok("quit")
        status, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert status == 0, err


def test_full_machine_sigterm_is_leak_free(tmp_path):
    """Ended by SIGTERM while the firmware runs: status 0, no leak."""
    p, qmp_path = start(tmp_path)
    try:
        Qmp(qmp_path).negotiate()
        p.send_signal(signal.SIGTERM)
        status, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert status == 0, err
    assert "terminating on signal 15" in err


def test_sb16_playing_round_trip_is_leak_free(tmp_path):
    """A Sound Blaster 16 in the middle of an auto-init transfer
    (tests/fw/sb16play.S): its saved state round-trips running and paused,
    the playback goes on, QMP quit: status 0, no leak, and the recording is
    the program's ramp throughout (nothing lost or repeated by the loads)."""
    qmp_path = str(tmp_path / "qmp.sock")
    log = tmp_path / "debugcon.log"
    wav_path = tmp_path / "sb16.wav"
    p, qmp_path = start(tmp_path, [
        "-nodefaults", "-m", "32", "-display", "none", "-sandbox", "off",
        "-chardev", f"file,id=seabios,path={log}",
        "-device", "isa-debugcon,iobase=0x402,chardev=seabios",
        "-audiodev", f"wav,id=snd,path={wav_path},out.frequency=22050,out.channels=2,"
                     "out.format=s16",
        "-device", "sb16,audiodev=snd",
        "-drive", f"file={fw_image('sb16play-forever.img')},format=raw,if=ide,snapshot=on",
        "-qmp", f"unix:{qmp_path},server=on,wait=off"])
    try:
        q = Qmp(qmp_path).negotiate()
        wait_for(lambda: p.poll() is not None or
                 (log.exists() and "VMM-SB16 start" in log.read_text(errors="replace")),
                 BOOT_TIMEOUT, "VMM-SB16 start")
        time.sleep(0.5)
        assert q.ok("x-state-roundtrip")["bytes"] > 1000
        q.ok("stop")
        q.ok("x-state-roundtrip")
        q.ok("cont")
        time.sleep(0.5)
        q.ok("quit")
        status, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert status == 0, err
    ramp = b"".join(struct.pack("<hh", -32000 + 7 * i, 16000 - 3 * i) for i in range(8192))
    with wave.open(str(wav_path)) as w:
        data = w.readframes(w.getnframes())
    assert len(data) >= 22050 * 4 // 2, len(data)
    assert data == (ramp * (len(data) // len(ramp) + 1))[:len(data)]


def test_es1370_playing_round_trip_is_leak_free(tmp_path):
    """An ES1370 playing by bus mastering with period interrupts
    (tests/fw/es1370play.S, without end): its saved state round-trips
    running and paused, the playback goes on, QMP quit: status 0, no leak,
    and the recording is the program's ramp throughout (the position
    within the buffer survives each load to the byte)."""
    qmp_path = str(tmp_path / "qmp.sock")
    log = tmp_path / "debugcon.log"
    wav_path = tmp_path / "es1370.wav"
    p, qmp_path = start(tmp_path, [
        "-nodefaults", "-m", "32", "-display", "none", "-sandbox", "off",
        "-chardev", f"file,id=seabios,path={log}",
        "-device", "isa-debugcon,iobase=0x402,chardev=seabios",
        "-audiodev", f"wav,id=snd,path={wav_path},out.frequency=22050,out.channels=2,"
                     "out.format=s16",
        "-device", "ES1370,audiodev=snd",
        "-drive", f"file={fw_image('es1370play-forever.img')},format=raw,if=ide,snapshot=on",
        "-qmp", f"unix:{qmp_path},server=on,wait=off"])
    try:
        q = Qmp(qmp_path).negotiate()
        wait_for(lambda: p.poll() is not None or
                 (log.exists() and "VMM-ES1370 start" in log.read_text(errors="replace")),
                 BOOT_TIMEOUT, "VMM-ES1370 start")
        time.sleep(0.5)
        assert q.ok("x-state-roundtrip")["bytes"] > 1000
        q.ok("stop")
        q.ok("x-state-roundtrip")
        q.ok("cont")
        time.sleep(0.5)
        q.ok("quit")
        status, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert status == 0, err
    ramp = b"".join(struct.pack("<hh", -32000 + 7 * i, 16000 - 3 * i) for i in range(8192))
    with wave.open(str(wav_path)) as w:
        data = w.readframes(w.getnframes())
    assert len(data) >= 22050 * 4 // 2, len(data)
    assert data == (ramp * (len(data) // len(ramp) + 1))[:len(data)]


def cirrus_machine(tmp_path, qmp_path):
    """-vga cirrus with SeaBIOS's vgabios-cirrus, booting the boot sector
    that sets VBE mode 0x111 and fills it through BAR0."""
    return [
        "-m", "64", "-display", "none", "-serial", f"file:{tmp_path / 'serial.log'}",
        "-vga", "cirrus", "-nic", "none",
        "-drive", f"file={fw_image('vgadisk-3.img')},format=raw,if=ide,snapshot=on",
        "-qmp", f"unix:{qmp_path},server=on,wait=off", "-sandbox", "off",
    ]


def test_cirrus_machine_round_trip_is_leak_free(tmp_path):
    """The Cirrus card in a 16 bpp extended mode: its saved state (the PCI
    function, the VGA core, the card's registers) loaded back running and
    paused, the same bytes each time and the same picture after; then
    quit: status 0, no leak."""
    qmp_path = str(tmp_path / "qmp.sock")
    p, qmp_path = start(tmp_path, cirrus_machine(tmp_path, qmp_path))
    try:
        q = Qmp(qmp_path).negotiate()
        serial = tmp_path / "serial.log"
        wait_for(lambda: p.poll() is not None or
                 "VMM-VGA-READY" in serial.read_text(errors="replace"),
                 BOOT_TIMEOUT, "VMM-VGA-READY")
        before, after = tmp_path / "before.ppm", tmp_path / "after.ppm"
        assert q.ok("screendump", {"filename": str(before)}) == {}
        first = q.ok("x-state-roundtrip")["bytes"]
        assert first > 4 << 20, first  # video memory is in it
        q.ok("stop")
        assert q.ok("x-state-roundtrip")["bytes"] == first
        q.ok("cont")
        assert q.ok("screendump", {"filename": str(after)}) == {}
        assert before.read_bytes() == after.read_bytes()
        assert before.read_bytes()[:15] == b"P6\n640 480\n255\n"
        q.ok("quit")
        status, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert status == 0, err
