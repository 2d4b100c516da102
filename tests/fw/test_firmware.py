# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS boots on vmm: banner, device detection, boot sectors from disk
and CD, and the four ways a PC resets."""
import re

import pytest

from conftest import fw_image

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S


def test_seabios_detects_disk_and_cdrom(vmm):
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), "-cdrom", fw_image("cd-0.iso"),
            "-boot", "order=c")
    assert "SeaBIOS (version" in r.debuglog, r.debuglog[:2000]
    assert "Running on KVM" in r.debuglog
    assert "Found 1 cpu(s)" in r.debuglog
    # SeaBIOS's own description of our IDE devices: the 1 MiB disk is 2048
    # sectors; the CD is an ATAPI DVD/CD drive.
    assert re.search(r"ata0-0: VMM HARDDISK ATA-\d+ Hard-Disk \(1 MiBytes\)", r.debuglog), \
        r.debuglog
    assert re.search(r"DVD/CD \[ata1-0: VMM DVD-ROM ATAPI-\d+ DVD/CD\]", r.debuglog), r.debuglog
    assert "VMM-BOOT-OK drive=80" in r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_boot_sector_from_cdrom(vmm):
    r = vmm("-m", "64", "-cdrom", fw_image("cd-0.iso"), "-boot", "d")
    assert "Booting from DVD/CD" in r.debuglog, r.debuglog[-2000:]
    # SeaBIOS gives a no-emulation CD the first free drive number, 0xE0
    # here... or 0x9F-ish depending on the drive count; just require a CD one.
    m = re.search(r"VMM-BOOT-OK drive=([0-9A-F]{2})", r.serial)
    assert m, r.serial
    assert m.group(1) != "80"
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_e820_and_acpi_from_seabios(vmm):
    r = vmm("-m", "256", "-hda", fw_image("disk-0.img"))
    assert r.status == EXIT_OK, (r.status, r.stderr)
    # SeaBIOS used our fw_cfg e820 table: RAM up to 256 MiB.
    assert "qemu/e820: addr 0x0000000000000000 len 0x0000000010000000 [RAM]" in r.debuglog
    # It found the PIIX4 PM function and built ACPI tables for it.
    assert "ACPI tables" in r.debuglog or "RSDP" in r.debuglog or "FADT" in r.debuglog, \
        r.debuglog[:4000]


def test_ram_past_1_tib(vmm):
    """RAM past the old 1 TiB cap: one e820 entry above 4 GiB, as SeaBIOS
    reads it from fw_cfg (CMOS's 24-bit count of 64 KiB stops at 1 TiB).
    64 TiB is the most -m takes; the guest's physical address width is
    checked too (48 bits here, so not met). More than 4 TiB spans two KVM
    slots (tests/unit/test_memory.c): each TiB costs this host's
    shadow-paging KVM ~2.5 GiB of kernel memory, so no bigger guest here."""
    r = vmm("-m", "1100G", "-hda", fw_image("disk-0.img"))
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert "qemu/e820: addr 0x0000000100000000 len 0x0000011240000000 [RAM]" in r.debuglog
    assert re.search(r"\d+: 0000000100000000 - 0000011340000000 = 1 RAM", r.debuglog), \
        r.debuglog[-3000:]
    assert "VMM-BOOT-OK drive=80" in r.serial


def test_ram_size_limits(vmm):
    for size, line in (("65T", "vmm: -m 65T: RAM size must be between 2 MiB and 64 TiB"),
                       ("1M", "vmm: -m 1M: RAM size must be between 2 MiB and 64 TiB")):
        r = vmm("-m", size)
        assert r.status == 1 and r.stderr.strip() == line, (r.status, r.stderr)


# The triple-fault reset (disk-4.img) needs hardware-semantics KVM: on a
# software-nested /dev/kvm the instruction emulator stops at the fault
# instead. It runs in the real-guest layer (tests/real/test_vmm_boot.py).
@pytest.mark.parametrize("method,name", [(1, "0xCF9"), (2, "keyboard controller"),
                                         (3, "port 0x92")])
def test_reset_restarts_bios(vmm, method, name):
    r = vmm("-m", "64", "-hda", fw_image(f"disk-{method}.img"), timeout=240)
    assert r.serial.count("VMM-BOOT-OK") == 2, r.serial
    assert "VMM-RESETTING" in r.serial
    # One POST per boot (SeaBIOS prints its banner twice per POST).
    assert r.debuglog.count("Running on KVM") == 2, name
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_no_reboot_exits_on_reset(vmm):
    r = vmm("-m", "64", "-no-reboot", "-hda", fw_image("disk-1.img"))
    assert "VMM-RESETTING" in r.serial
    assert r.serial.count("VMM-BOOT-OK") == 1
    assert r.status == 0, (r.status, r.stderr)


def test_elcr_dma_ports_and_irq4(vmm):
    """The interrupt and DMA paths on the real machine: the ELCR (KVM's
    in-kernel PIC) takes a level bit; SeaBIOS's cascade set-up reached our
    8237 (channel 4 unmasked); channel 2's address, page and high page read
    back through 0x04, 0x81 and 0x481; COM1 raising and lowering IRQ 4
    through the ISA line router reaches the PIC, whose IRR follows the wire
    when the ELCR makes the line level-triggered and keeps the edge when it
    is edge-triggered."""
    r = vmm("-m", "64", "-hda", fw_image("disk-9.img"))
    m = re.search(r"VMM-ELCR ([0-9A-F]{2}) VMM-DMA ([0-9A-F]{2}) ([0-9A-F]{4}) "
                  r"([0-9A-F]{2}) ([0-9A-F]{2}) VMM-IRQ4 ([0-9A-F ]{11})", r.serial)
    assert m, r.serial
    elcr, mask, addr, page, high, irr = m.groups()
    assert int(elcr, 16) & 0x08, elcr
    assert int(mask, 16) & 0x01 == 0, mask
    assert (addr, page, high) == ("1234", "56", "78")
    assert irr == "10 00 10 10", irr
    assert r.status == EXIT_OK, (r.status, r.stderr)
