# SPDX-License-Identifier: GPL-2.0-or-later
"""The floppy disk controller (hw/storage/fdc.c) under Linux's own floppy
driver, one boot per VMM in VMM_REAL_VMMS (QEMU, the peer, validates the
test itself). The kit carries floppy.ko without loading it
(tests/guests/modules-kit.list, @carry: a kit built before this test has
to be rebuilt, `make guests`); the script loads it with a 1.44M image in
drive A: (-fda), in which every sector's first word is its LBA:

* the driver finds the controller and drive fd0 of 2880 sectors (CMOS
  type 4);
* reads of single sectors on both heads and cylinders (LBA 1, 18, 36, the
  last) return their LBA;
* a write of LBA 72 (0xBEEF), the cache dropped, reads back;
* the whole disk read through the driver (DMA, multi-sector, every track)
  has the checksum of the image with that write.

Written for the lead to run (tests/real runs in the nested L1)."""
import hashlib
import re
import shlex
import struct

import pytest

import guestkit

SECTORS = 2880
LBA_WRITTEN = 72

GUEST_SCRIPT = """#VMMKIT-SCRIPT
grep -qx floppy.ko /etc/vmmkit/modules.carry || echo "VMM-FD-NOTE floppy is not carried"
insmod /lib/modules/floppy.ko 2>/dev/null || echo "VMM-FD-NOTE insmod floppy failed"
sleep 2
[ -e /dev/fd0 ] || mknod /dev/fd0 b 2 0
w() { dd if=/dev/fd0 bs=512 skip=$1 count=1 2>/dev/null | od -An -tx2 -N2 | tr -d ' \\n'; }
echo "VMM-FD-WORDS $(w 1) $(w 18) $(w 36) $(w 2879)"
# after the reads: the driver sets the disk's capacity when it first opens it
echo "VMM-FD-SIZE $(cat /sys/block/fd0/size 2>/dev/null)x"
printf '\\357\\276' | dd of=/dev/fd0 bs=512 seek=%(lba)d conv=notrunc 2>/dev/null
sync
blockdev --flushbufs /dev/fd0 2>/dev/null
echo 3 > /proc/sys/vm/drop_caches
echo "VMM-FD-BACK $(w %(lba)d)"
echo "VMM-FD-SUM $(dd if=/dev/fd0 bs=9k 2>/dev/null | md5sum | cut -c1-32)"
dmesg | grep -i -e floppy -e fd0 | head -n 8 | sed 's/^/VMM-FD-DMESG /'
""" % {"lba": LBA_WRITTEN}


def image(write=False):
    img = bytearray(SECTORS * 512)
    for lba in range(1, SECTORS):
        struct.pack_into("<H", img, lba * 512, lba)
    if write:
        struct.pack_into("<H", img, LBA_WRITTEN * 512, 0xBEEF)
    return bytes(img)


class Floppy(guestkit.Scenario):
    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-floppy-amd64" % vmm, timeout=600)
        self.vmm = vmm

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(GUEST_SCRIPT))
        fd = batch.stage_bytes("%s-fd.img" % self.name, image())
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio,format=raw" % script,
                                        "-drive", "file=%s,if=floppy,index=0,format=raw" % fd])
        cmd = " ".join(shlex.quote(a) for a in argv)
        shell = guestkit.detached_vmm_shell(self.name, cmd, 1500)
        batch.add(self.name, shell, timeout=self.timeout, idle=guestkit.BOOT_IDLE + 60,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


SCENARIOS = [Floppy(v) for v in guestkit.vmms_peer_optional()]


def field(out, pattern):
    m = re.search(pattern, out.replace("\r", ""))
    return m.groups() if m else None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_driver_finds_the_drive(guest, scenario):
    out = guest.result.stdout
    assert "VMM-FD-NOTE" not in out, guest.describe()
    assert field(out, r"VMM-FD-SIZE (2880)x"), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_sectors_read_back_their_lba(guest, scenario):
    out = guest.result.stdout
    words = field(out, r"VMM-FD-WORDS (\w+) (\w+) (\w+) (\w+)")
    assert words == ("0001", "0012", "0024", "0b3f"), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_write_and_whole_disk(guest, scenario):
    out = guest.result.stdout
    assert field(out, r"VMM-FD-BACK (beef)"), guest.describe()
    want = hashlib.md5(image(write=True)).hexdigest()
    assert field(out, r"VMM-FD-SUM ([0-9a-f]{32})") == (want,), (want, guest.describe())
