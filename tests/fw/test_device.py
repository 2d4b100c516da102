# SPDX-License-Identifier: GPL-2.0-or-later
"""The device table behind -device: help in QEMU's format, bad input as one
line before anything starts, and PCI placement (addr=, multifunction=) as
the firmware sees it."""
import re
import subprocess

import pytest

from conftest import VMM, fw_image

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S


def run(*args, timeout=30):
    return subprocess.run([VMM, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def test_device_help_is_qemus_format():
    p = run("-device", "help")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    groups = p.stdout.strip().split("\n\n")
    titles = [g.splitlines()[0] for g in groups]
    # QEMU's categories, in QEMU's order; only non-empty ones.
    assert titles == ["Storage devices:", "Network devices:", "Input devices:",
                      "Display devices:", "Sound devices:", "Misc devices:",
                      "Watchdog devices:"], titles
    names = []
    for g in groups:
        lines = g.splitlines()[1:]
        group_names = []
        for line in lines:
            m = re.fullmatch(r'name "([^"]+)", bus (PCI|ISA|IDE|System|virtio-serial-bus)'
                             r'(, alias "[^"]+")?(, desc "[^"]+")?', line)
            assert m, line
            group_names.append(m.group(1))
        assert group_names == sorted(group_names), g
        names += group_names
    for n in ("virtio-blk-pci", "virtio-net-pci", "virtio-rng-pci", "virtio-balloon-pci",
              "virtio-serial-pci", "virtconsole", "virtserialport", "ide-hd", "ide-cd",
              "isa-debugcon", "isa-debug-exit", "isa-serial", "VGA", "bochs-display"):
        assert n in names, n
    assert 'name "virtio-net-pci", bus PCI, alias "virtio-net", desc "' in p.stdout
    # the board's own devices are not offered
    for n in ("i8042", "PIIX3", "fw_cfg_io", "mc146818rtc"):
        assert f'"{n}"' not in p.stdout


def test_device_driver_help_lists_properties():
    p = run("-device", "virtio-net-pci,help")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "virtio-net-pci options:"
    props = [l.split("=")[0].strip() for l in lines[1:]]
    assert props == sorted(props) == ["addr", "mac", "mq", "multifunction", "netdev",
                                      "vectors"], props
    assert re.fullmatch(r"  mac=<str>              - .+", lines[2])
    assert "  multifunction=<bool>   - " in p.stdout and "(default: off)" in p.stdout
    # defaults print as QEMU prints them: numbers in decimal
    p = run("-device", "isa-debugcon,help")
    assert re.search(r"^  iobase=<uint32>        - .*\(default: 233\)$", p.stdout, re.M), p.stdout
    # an alias, and "?" for help
    assert run("-device", "virtio-rng,?").stdout.startswith("virtio-rng-pci options:\n")


@pytest.mark.parametrize("args,msg", [
    (["-device", "frobnic"],
     "vmm: -device frobnic: unsupported device 'frobnic' (vmm -device help lists them)"),
    (["-device", "frobnic,help"],
     "vmm: -device frobnic: unsupported device 'frobnic' (vmm -device help lists them)"),
    (["-device", "virtio-rng-pci,speed=3"],
     "vmm: -device virtio-rng-pci: unknown parameter 'speed'"),
    (["-device", "isa-debugcon,iobase=0x1ffff"],
     "vmm: -device isa-debugcon: iobase must be 0 to 65535 (got 131071)"),
    (["-device", "isa-debug-exit,iosize=0"],
     "vmm: -device isa-debug-exit: iosize must be 1 to 4 (got 0)"),
    (["-device", "virtio-rng-pci,addr=0x20"],
     "vmm: -device virtio-rng-pci: addr=0x20: expected a PCI slot (hex, 00 to 1f) and "
     "optional function (0 to 7), such as 05 or 05.1"),
    (["-device", "virtio-rng-pci,addr=01.0"],
     "vmm: -device virtio-rng-pci: PCI slot 01.0 is already in use by PIIX3"),
    (["-device", "virtio-rng-pci,addr=05", "-device", "virtio-balloon,addr=5"],
     "vmm: -device virtio-balloon-pci: PCI slot 05.0 is already in use by virtio-rng-pci"),
    (["-device", "virtio-rng-pci,addr=05.2", "-device", "virtio-balloon,addr=5"],
     "vmm: -device virtio-balloon-pci: PCI slot 05 has function 2 (virtio-rng-pci): "
     "function 0 needs multifunction=on"),
    (["-device", "isa-serial,index=0"],
     "vmm: -device isa-serial: index 0 (COM1) is already taken by -serial"),
    (["-device", "i8042"],
     "vmm: -device i8042: this device is part of the board and cannot be added"),
    (["-global", "virtio-rng-pci.speed=3"],
     "vmm: -global virtio-rng-pci.speed=3: virtio-rng-pci has no property 'speed' "
     "(vmm -device virtio-rng-pci,help)"),
    (["-global", "vmxnet3.mac=52:54:00:00:00:01"],
     "vmm: -global vmxnet3.mac=52:54:00:00:00:01: unknown device 'vmxnet3' (vmm -device help)"),
    (["-global", "fw_cfg_io.dma_enabled=maybe"],
     "vmm: -global fw_cfg_io.dma_enabled=maybe: dma_enabled: expected 'on' or 'off', "
     "got 'maybe'"),
    (["-global", "isa-debugcon"], "vmm: -global isa-debugcon: expected DRIVER.PROPERTY=VALUE"),
])
def test_bad_device_is_one_line_before_start(tmp_path, args, msg):
    serial = tmp_path / "serial.log"
    p = run("-serial", f"file:{serial}", *args)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stderr == msg + "\n"
    assert p.stdout == ""
    assert not serial.exists()  # nothing started


def test_pci_addr_and_multifunction_as_the_firmware_sees_them(vmm):
    # Function 1 of slot 6 is only scanned because function 0 says
    # multifunction; slot 9 is explicit; the default NIC takes the first
    # free slot (3).
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"),
            "-device", "virtio-rng-pci,addr=06.1",
            "-device", "virtio-balloon,addr=6,multifunction=on",
            "-device", "virtio-serial,addr=0x9")
    assert "init bdf=00:06.0 id=1af4:1002" in r.debuglog, r.debuglog[-3000:]
    assert "init bdf=00:06.1 id=1af4:1005" in r.debuglog
    assert "init bdf=00:09.0 id=1af4:1003" in r.debuglog
    assert "init bdf=00:03.0 id=8086:100e" in r.debuglog
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_global_reaches_a_board_device(vmm):
    # COM1 (the default isa-serial) moved to 0x2f8 by -global: the boot
    # sector's bytes to 0x3f8 reach no UART, and the boot goes on.
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), "-global", "isa-serial.iobase=0x2f8")
    assert "Booting from Hard Disk" in r.debuglog, r.debuglog[-3000:]
    assert "VMM-BOOT-OK" not in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"))
    assert "VMM-BOOT-OK" in r.serial, r.serial
