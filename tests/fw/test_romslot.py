# SPDX-License-Identifier: GPL-2.0-or-later
"""PCI expansion ROMs as read-only memory (KVM slots), at firmware level.

SeaBIOS copies each option ROM out of its card's ROM BAR into the option
ROM area with 4-byte reads. While vmm served the ROM BAR on its MMIO bus
only, every read was an exit: about 10,000 for a VGA BIOS, 18,800 for the
e1000's iPXE ROM. Now a decoded ROM BAR is a read-only slot, the copy runs
without exits, and the ROMs still run: the VGA BIOS sets its text mode,
iPXE announces itself. QMP x-query-exits counts the vCPUs' exits by kind.

Each check is a difference of two boots that differ only in the ROM, so
the other exits of a boot (the VGA BIOS drawing into trapped text memory)
cancel out: on the old code each of them is 14,000 or more exits."""
import os

import pytest

import fwskip

from test_display import read_ppm
from test_qmp import Qmp, Vmm

FIRMWARE_DIRS = [d for d in (os.environ.get("VMM_FIRMWARE_DIR"),) if d] + [
    "/usr/share/seabios", "/usr/share/qemu", "/usr/lib/ipxe/qemu"]

# What copying a ROM through exits cost before, per boot, was at least
# this many MMIO exits in every check below; a slot costs none.
NEGLIGIBLE = 1000


def firmware(name):
    for d in FIRMWARE_DIRS:
        path = os.path.join(d, name)
        if os.access(path, os.R_OK):
            return path
    fwskip.unavailable(f"{name} is not in {FIRMWARE_DIRS} (tools/deps.sh installs it)")


def boot(tmp_path, name, *args):
    """Boots the idle boot sector with 'args' (its files in tmp_path/name);
    its exits, its screendump (None without a display) and SeaBIOS's log,
    vmm ended."""
    d = tmp_path / name
    d.mkdir()
    sock = str(d / "qmp.sock")
    v = Vmm(d, "-nodefaults", "-qmp", f"unix:{sock},server,nowait", *args)
    try:
        v.wait_serial("VMM-BOOT-OK")
        q = Qmp(sock).negotiate()
        exits = q.ok("x-query-exits")
        shot = d / "shot.ppm"
        r = q.cmd("screendump", {"filename": str(shot)})
        pic = read_ppm(shot) if "return" in r else None
        q.ok("quit")
        status, _, err = v.finish()
        assert status == 0, err
    finally:
        v.kill()
    return exits, pic, v.text(v.debuglog)


def enlarged(rom, blocks):
    """The same option ROM declaring 'blocks' 512-byte blocks: zeros after
    the image, the header's and PCI data structure's lengths changed and
    the byte sum kept zero in the last byte, so SeaBIOS copies (and
    checks) all of it and the code runs as before."""
    assert rom[:2] == b"\x55\xaa" and rom[2] * 512 <= len(rom) < blocks * 512
    out = bytearray(rom) + bytes(blocks * 512 - len(rom))
    out[2] = blocks
    pcir = out[0x18] | out[0x19] << 8
    assert out[pcir:pcir + 4] == b"PCIR"
    out[pcir + 0x10] = blocks & 0xFF
    out[pcir + 0x11] = blocks >> 8
    out[-1] = (-sum(out[:-1])) & 0xFF
    return bytes(out)


@pytest.mark.parametrize("card,rom", [("VGA", "vgabios-stdvga.bin"),
                                      ("cirrus-vga", "vgabios-cirrus.bin")])
def test_vga_bios_copy_costs_no_exits(tmp_path, card, rom):
    """The card's VGA BIOS, then the same BIOS declaring 96 KiB (14,800
    more dwords for SeaBIOS to copy): both set the 720x400 text mode, and
    the larger copy costs no more MMIO exits."""
    big = tmp_path / "big.rom"
    big.write_bytes(enlarged(open(firmware(rom), "rb").read(), 192))
    plain, pic, _ = boot(tmp_path, "plain", "-device", card)
    assert pic and pic[:2] == (720, 400)
    grown, pic, _ = boot(tmp_path, "big", "-device", f"{card},romfile={big}")
    assert pic and pic[:2] == (720, 400)
    extra = grown["mmio"] - plain["mmio"]
    assert extra < NEGLIGIBLE, (plain, grown)


def test_nic_rom_copy_costs_no_exits(tmp_path):
    """The e1000 with its iPXE ROM and without a ROM: the ROM runs (SeaBIOS
    logs it, iPXE's initialisation asks SeaBIOS's PMM for memory) and
    costs no MMIO exits."""
    firmware("efi-e1000.rom")
    nic = ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"]
    without, _, log = boot(tmp_path, "none", *nic[:-1], nic[-1] + ",romfile=")
    assert "Running option rom" not in log and "pmm call" not in log
    withrom, _, log = boot(tmp_path, "ipxe", *nic)
    assert "Running option rom at c" in log, log[-2000:]
    assert "pmm call" in log, log[-2000:]
    extra = withrom["mmio"] - without["mmio"]
    assert extra < NEGLIGIBLE, (without, withrom)
