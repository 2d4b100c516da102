# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS finds our virtio-pci devices and boots from a virtio-blk disk
through its own virtio driver (modern 1.0 interface)."""
import re

from conftest import fw_image

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S


def test_seabios_boots_from_virtio_blk(vmm):
    r = vmm("-m", "64", "-drive", f"file={fw_image('disk-0.img')},if=virtio,format=raw")
    assert "found virtio-blk at 00:03.0" in r.debuglog, r.debuglog[-3000:]
    assert "using modern (1.0) virtio mode" in r.debuglog
    # SeaBIOS mapped the legacy I/O BAR, the MSI-X BAR and the 64-bit BAR4.
    assert re.search(r"bdf=00:03\.0\s+bar 0, addr [0-9a-f]+, size 00000080 \[io\]", r.debuglog)
    assert re.search(r"bdf=00:03\.0\s+bar 4, addr [0-9a-f]+, size 00004000 \[prefmem\]",
                     r.debuglog)
    assert "init bdf=00:03.0 id=1af4:1001" in r.debuglog
    assert "Booting from Hard Disk" in r.debuglog
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_virtio_blk_read_only_and_old_boot_on_form(vmm):
    r = vmm("-m", "64", "-drive",
            f"file={fw_image('disk-0.img')},if=virtio,boot=on,readonly=on,cache=none",
            "-device", "virtio-rng-pci")
    assert "found virtio-blk at 00:03.0" in r.debuglog, r.debuglog[-3000:]
    # The rng sits in the next slot; SeaBIOS initialises it but has no driver.
    assert "init bdf=00:04.0 id=1af4:1005" in r.debuglog
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_virtio_blk_after_ide_disk(vmm):
    # With an IDE disk too, both are found; the IDE disk boots first (-boot c).
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"),
            "-drive", f"file={fw_image('disk-1.img')},if=virtio")
    assert "found virtio-blk at 00:03.0" in r.debuglog
    assert re.search(r"ata0-0: VMM HARDDISK", r.debuglog)
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert "VMM-RESETTING" not in r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_virtio_net_nic_is_on_the_bus(vmm):
    # The NIC (on a slirp backend) sits after the virtio disk; SeaBIOS has
    # no option ROM for it and boots the disk.
    r = vmm("-m", "64", "-drive", f"file={fw_image('disk-0.img')},if=virtio",
            "-netdev", "user,id=n0",
            "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01")
    assert "init bdf=00:04.0 id=1af4:1000" in r.debuglog, r.debuglog[-3000:]
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_drive_if_none_with_device(vmm):
    # QEMU's (and libvirt's) -drive if=none,id= + -device form, in either
    # order: the virtio disk and an IDE CD on the secondary master.
    r = vmm("-m", "64", "-device", "virtio-blk-pci,drive=d0,id=vd0,bootindex=1",
            "-drive", f"if=none,id=d0,file={fw_image('disk-0.img')},format=raw",
            "-drive", f"if=none,id=cd,media=cdrom,file={fw_image('cd-0.iso')}",
            "-device", "ide-cd,drive=cd,bus=ide.1,unit=0")
    assert "found virtio-blk at 00:03.0" in r.debuglog, r.debuglog[-3000:]
    assert re.search(r"ata1-0: .*ATAPI", r.debuglog), r.debuglog[-3000:]
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_default_nic_and_none(vmm):
    # Without a network option there is one NIC on user networking, placed
    # after every other device (QEMU's -net nic -net user): an e1000, as on
    # QEMU's pc, with its iPXE ROM; -net none, -nic none and -nodefaults
    # leave it out.
    r = vmm("-m", "64", "-drive", f"file={fw_image('disk-0.img')},if=virtio",
            "-device", "virtio-rng-pci")
    assert "init bdf=00:03.0 id=1af4:1001" in r.debuglog, r.debuglog[-3000:]
    assert "init bdf=00:04.0 id=1af4:1005" in r.debuglog
    assert "init bdf=00:05.0 id=8086:100e" in r.debuglog
    assert "Running option rom at" in r.debuglog
    assert r.status == EXIT_OK, (r.status, r.stderr)
    for none in (["-net", "none"], ["-nic", "none"], ["-nodefaults"]):
        r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), *none)
        assert "id=8086:100e" not in r.debuglog and "id=1af4:1000" not in r.debuglog, none
        assert r.status == EXIT_OK, (none, r.status, r.stderr)
    # an explicit NIC replaces the default one; -nic and -net nic without
    # model= are e1000s too, model=virtio a virtio-net
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), "-nic", "user,mac=52:54:00:aa:bb:cc")
    assert r.debuglog.count("id=8086:100e") == 1
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), "-net", "nic", "-net", "user")
    assert r.debuglog.count("id=8086:100e") == 1
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), "-nic", "user,model=virtio")
    assert r.debuglog.count("id=1af4:1000") == 1 and "id=8086:100e" not in r.debuglog
