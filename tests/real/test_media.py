# SPDX-License-Identifier: GPL-2.0-or-later
"""A CD swapped under a running Linux: the kit boots from its ISO (the
kernel and initramfs are in RAM once it runs), the guest reads the disc in
/dev/sr0 and says so, the host side (tests/real/media_driver.py, in the
same L1 command) puts a second ISO in the drive with QMP
blockdev-change-medium, and the guest, without a reboot, sees the new size
and reads the second disc's file: Linux's sr driver notices the change
through the drive's unit attention and media events (GESN) when the
device is opened again."""
import os
import shutil
import subprocess
import tempfile

import pytest

import guestkit

DRIVER = os.path.join(guestkit.HERE, "media_driver.py")
MARKER = b"VMM-SECOND-DISC-7f3a"
SECOND_SIZE = 4 << 20

GUEST_SCRIPT = """#VMMKIT-SCRIPT
echo 1000 > /sys/block/sr0/events_poll_msecs 2>/dev/null
old=$(cat /sys/block/sr0/size)
echo "media: first disc, $old sectors"
dd if=/dev/sr0 bs=2048 count=1 of=/dev/null 2>/dev/null && echo "media: first disc reads"
echo VMM-MEDIA-READY
i=0
while [ $i -lt 120 ]; do
	if dd if=/dev/sr0 bs=2048 count=2048 2>/dev/null | grep -a -q %(marker)s; then
		echo "media: VMM-MEDIA-SWAPPED size=$(cat /sys/block/sr0/size)"
		mkdir -p /mnt/cd
		if mount -t iso9660 -o ro /dev/sr0 /mnt/cd 2>/dev/null; then
			echo "media: file says $(cat /mnt/cd/second.txt)"
			umount /mnt/cd
		fi
		poweroff -f
	fi
	sleep 1
	i=$((i+1))
done
echo "media: the second disc never showed; sr0 size $(cat /sys/block/sr0/size)"
dmesg | tail -20
poweroff -f
""" % {"marker": MARKER.decode()}


def second_disc():
    """An ISO 9660 image holding second.txt (the marker), 4 MiB: xorriso
    as the guest kit's ISO is made; without it, the marker at block 16 of
    a raw image (the guest's grep still finds it)."""
    with tempfile.TemporaryDirectory() as d:
        if shutil.which("xorriso"):
            root = os.path.join(d, "root")
            os.mkdir(root)
            with open(os.path.join(root, "second.txt"), "wb") as f:
                f.write(MARKER + b"\n")
            iso = os.path.join(d, "second.iso")
            subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", iso, "-V", "SECOND",
                            root], check=True)
            data = open(iso, "rb").read()
        else:
            data = b"\0" * (16 * 2048) + MARKER.ljust(2048, b"\0")
    return data.ljust(SECOND_SIZE, b"\0")


class MediaSwap(guestkit.Scenario):
    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-media-swap", timeout=420)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        script = batch.stage_bytes("media-script.img", guestkit.script_image(GUEST_SCRIPT))
        second = batch.stage_bytes("media-second.iso", second_disc())
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"), hda=script)
        batch.add(self.name, ["/usr/bin/env", "VMM_MEDIA_FILE=%s" % second, "/usr/bin/python3",
                              DRIVER, *argv], timeout=self.timeout,
                  marker="@@vmm rc=", grace=10, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


MEDIA_SWAP = MediaSwap()


@pytest.mark.parametrize("scenario", [MEDIA_SWAP], ids=str)
def test_linux_reads_a_cd_swapped_by_qmp(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "media: first disc reads" in out, guest.describe()
    assert "VMM-MEDIA-READY" in out, guest.describe()
    assert '@@qmp change -> {"return": {}} at' in out, guest.describe()
    assert "@@qmp DEVICE_TRAY_MOVED device=ide1-cd0" in out, guest.describe()
    # The guest read the second disc without a reboot, at its size.
    assert "media: VMM-MEDIA-SWAPPED size=%d" % (SECOND_SIZE // 512) in out, guest.describe()
    # where the kit can mount ISO 9660, the file on it says the marker
    said = [ln for ln in out.splitlines() if "media: file says" in ln]
    assert all(ln.endswith(MARKER.decode()) for ln in said), guest.describe()
    assert "@@vmm rc=0" in out, guest.describe()
