# SPDX-License-Identifier: GPL-2.0-or-later
"""The floppy disk controller (hw/storage/fdc.c, issue 19) as SeaBIOS
drives it: -fda IMG -boot a boots our boot sector (tests/fw/fdboot.S) from
a 1.44M image, which reads on through int 13h (multi-sector, multi-track,
a seek, the last sector) and writes one sector; a read-only drive refuses
the write; CMOS 0x10 tells SeaBIOS about drive B: as well; no floppy
option leaves no drive; odd sizes and bad options are one line."""
import struct

import pytest

from conftest import fw_image
from test_cli import one_line_error, run

SECTORS = 2880  # 1.44M
# SeaBIOS gives each floppy command 2 s of timer ticks; after a stall of
# the nested vCPU (a loaded host), the ticks KVM's PIT delivers late, one
# after another (IRQ 0, above the floppy's IRQ 6), use them up first and
# the read fails ("Timeout at floppy_wait_irq"): every boot of these tests
# did so with two other jobs on the 2 cores. With the late ticks dropped
# (kvm-pit.lost_tick_policy=discard, QEMU's option; tests/fw/test_pit.py)
# none did. Should one still fail, SeaBIOS resets at once and boots again
# (without a NIC, whose ROM would be tried next); the boot sector retries
# its own calls (tests/fw/fdboot.S).
PIT_DISCARD = ["-global", "kvm-pit.lost_tick_policy=discard"]
BOOT_A = ["-boot", "order=a,reboot-timeout=0", *PIT_DISCARD]
LBA_WRITTEN = 72


def make_image(path, sectors=SECTORS, boot=True):
    """The boot sector, then every sector's LBA in its first word."""
    img = bytearray(sectors * 512)
    if boot:
        img[0:512] = open(fw_image("fdboot.bin"), "rb").read()
    for lba in range(1, sectors):
        img[lba * 512:lba * 512 + 2] = struct.pack("<H", lba)
    path.write_bytes(bytes(img))
    return path


READS = ["VMM-FD-READ st=00 first=0001 last=0011",
         "VMM-FD-READ st=00 first=0012 last=0023",
         "VMM-FD-READ st=00 first=0024 last=0035",
         "VMM-FD-READ st=00 first=0B3F last=0B3F"]


def word_at(path, lba):
    data = path.read_bytes()
    return struct.unpack_from("<H", data, lba * 512)[0]


def test_seabios_boots_floppy_and_reads_through_int13(vmm, tmp_path):
    img = make_image(tmp_path / "fd.img")
    r = vmm("-m", "32", "-net", "none", "-fda", str(img), *BOOT_A)
    assert r.status == 33, (r.status, r.serial, r.stderr, r.debuglog[-2000:])
    assert "VMM-FD-BOOT drive=00" in r.serial
    assert "VMM-FD-PARAMS t=04 c=4F s=12 h=01" in r.serial
    for line in READS:
        assert line in r.serial, r.serial
    assert "VMM-FD-WRITE st=00\r\nVMM-FD-READ st=00 first=BEEF last=BEEF" in r.serial, r.serial
    assert "VMM-FD-DONE" in r.serial
    assert "Booting from Floppy" in r.debuglog
    assert word_at(img, LBA_WRITTEN) == 0xBEEF


def test_read_only_floppy_refuses_the_write(vmm, tmp_path):
    img = make_image(tmp_path / "fd.img")
    before = img.read_bytes()
    r = vmm("-m", "32", "-net", "none",
            "-drive", f"if=floppy,index=0,file={img},format=raw,readonly=on", *BOOT_A)
    assert r.status == 33, (r.status, r.serial, r.stderr)
    for line in READS:
        assert line in r.serial, r.serial
    # AH=03h: write-protected; the sector still holds its LBA
    assert (f"VMM-FD-WRITE st=03\r\nVMM-FD-READ st=00 first={LBA_WRITTEN:04X} "
            f"last={LBA_WRITTEN:04X}") in r.serial, r.serial
    assert img.read_bytes() == before


def test_second_drive_in_cmos(vmm, tmp_path):
    """-fdb alone: SeaBIOS finds drive B: from CMOS 0x10 (and none at A:);
    the machine then boots from the disk."""
    img = make_image(tmp_path / "b.img", sectors=1440, boot=False)  # 720K
    r = vmm("-m", "32", "-fdb", str(img), "-hda", fw_image("disk-0.img"))
    assert r.status == 33, (r.status, r.serial, r.stderr)
    assert "VMM-BOOT-OK drive=80" in r.serial
    assert "fdc@03f0/floppy@1" in r.debuglog
    assert "fdc@03f0/floppy@0" not in r.debuglog


def test_no_floppy_option_no_drive(vmm):
    r = vmm("-m", "32", "-hda", fw_image("disk-0.img"))
    assert r.status == 33, (r.status, r.serial, r.stderr)
    assert "VMM-BOOT-OK drive=80" in r.serial
    assert "floppy@" not in r.debuglog


def test_data_floppy_in_a_is_passed_over_as_qemu_does(vmm, tmp_path):
    # SeaBIOS checks a floppy's 55AAh signature (CMOS 0x38 bit 0 clear, as
    # QEMU's default): a data floppy first in the order is "not a bootable
    # disk" and the disk boots; the old "never check" jumped into its zeros
    img = make_image(tmp_path / "data.img", boot=False)
    r = vmm("-m", "32", "-net", "none", "-fda", str(img), "-hda", fw_image("disk-0.img"),
            "-boot", "order=ac", *PIT_DISCARD)
    assert r.status == 33, (r.status, r.serial, r.stderr)
    assert "VMM-BOOT-OK drive=80" in r.serial
    assert "Boot failed: not a bootable disk" in r.debuglog, r.debuglog


@pytest.mark.parametrize("size", [1000, 512 * 1000, 1474560 + 512])
def test_fda_of_odd_size_is_one_line(tmp_path, size):
    img = tmp_path / "odd.img"
    img.write_bytes(b"\0" * size)
    one_line_error(run("-display", "none", "-fda", str(img)),
                   f"floppy image of {size} bytes: not a floppy size")


def test_floppy_option_errors_are_one_line(tmp_path):
    img = make_image(tmp_path / "fd.img", boot=False)
    one_line_error(run("-display", "none", "-drive", f"if=floppy,index=2,file={img}"),
                   "index=2: a floppy controller has drives 0 and 1")
    one_line_error(run("-display", "none", "-fda", str(img), "-fda", str(img)),
                   "-fda: floppy drive A: is already in use")
    one_line_error(run("-display", "none", "-drive", "if=floppy,index=0"),
                   "a floppy needs a file")
    one_line_error(run("-display", "none", "-drive", f"if=floppy,file={img},media=cdrom"),
                   "media=cdrom is not supported")


def test_query_block_eject_and_change(tmp_path):
    """floppy0 in query-block and info block (QEMU's name); QMP eject and
    blockdev-change-medium, the monitor's change and eject; an image of no
    floppy size changes nothing. Under vmm-asan: every image swapped out
    is closed, exit 0."""
    import os
    import socket
    import subprocess

    import fwskip
    from conftest import VMM
    from test_media import block_of
    from test_qmp import Qmp, wait_for

    asan = os.environ.get("VMM_ASAN", os.path.join(os.path.dirname(VMM), "vmm-asan"))
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    if not os.path.exists(asan):
        pytest.fail(f"{asan} is missing: run `make build/vmm-asan`")
    a = make_image(tmp_path / "a.img", boot=False)
    b = make_image(tmp_path / "b.img", sectors=1440, boot=False)
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"\0" * 4096)
    qpath = str(tmp_path / "qmp.sock")
    mon = str(tmp_path / "mon.sock")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
    p = subprocess.Popen([asan, "-sandbox", "off", "-bios", fw_image("cdpoll.bin"), "-m", "16",
                          "-nodefaults", "-display", "none",
                          "-drive", f"if=floppy,file={a},format=raw",
                          "-qmp", f"unix:{qpath},server=on,wait=off",
                          "-monitor", f"unix:{mon},server=on,wait=off"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    try:
        q = Qmp(qpath).negotiate()
        blk = block_of(q, "floppy0")
        assert blk["removable"] is True and blk["tray_open"] is False
        assert blk["inserted"]["file"] == str(a) and blk["inserted"]["ro"] is False
        assert blk["inserted"]["image"]["virtual-size"] == 1474560
        assert not any(x["device"] == "floppy1" for x in q.ok("query-block"))
        assert q.ok("eject", {"device": "floppy0"}) == {}
        assert "inserted" not in block_of(q, "floppy0")
        assert q.ok("blockdev-change-medium", {"device": "floppy0", "filename": str(b),
                                               "format": "raw",
                                               "read-only-mode": "read-only"}) == {}
        blk = block_of(q, "floppy0")
        assert blk["inserted"]["file"] == str(b) and blk["inserted"]["ro"] is True
        r = q.cmd("blockdev-change-medium", {"device": "floppy0", "filename": str(odd),
                                             "format": "raw"})
        assert "not a floppy size" in r["error"]["desc"], r
        assert block_of(q, "floppy0")["inserted"]["file"] == str(b)

        s = wait_for(lambda: os.path.exists(mon) and socket.socket(socket.AF_UNIX), 30, "socket")
        s.connect(mon)
        s.settimeout(30)
        data = b""

        def monitor(line):
            nonlocal data
            s.sendall(line.encode() + b"\n")
            while data.count(b"(vmm) ") < 2:
                data += s.recv(4096)
            _, _, rest = data.partition(b"(vmm) ")
            reply, _, data = rest.partition(b"(vmm) ")
            data = b"(vmm) " + data
            return reply.decode()

        out = monitor(f"change floppy0 {a} raw")
        assert out == "", out
        out = monitor("info block")
        # read-only-mode retain: read-only as the disk it replaced
        assert "floppy0 (#block" in out and f"): {a} (raw, read-only)\n" in out, out
        assert "Removable device: not locked, tray closed" in out, out
        assert monitor("eject floppy0") == ""
        assert "floppy0: [not inserted]\n" in monitor("info block")
        s.close()
        q.ok("quit")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    err = err.decode(errors="replace")
    assert p.returncode == 0, err
    assert "Sanitizer" not in err and "runtime error" not in err, err
