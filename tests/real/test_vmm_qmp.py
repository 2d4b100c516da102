# SPDX-License-Identifier: GPL-2.0-or-later
"""The ACPI power button with a real Linux: the guest loads Linux's ACPI
button driver and evdev, waits for an event on the "Power Button" input
device, then powers off; the host side (tests/real/qmp_powerdown.py, in the
same L1 command) sends QMP system_powerdown once the guest says it is ready.
vmm must deliver PWRBTN_STS + SCI, and exit 0 on the guest's ACPI S5.
Twice: the kit CD through SeaBIOS (its ACPI tables) and the kit kernel
entered without firmware (-kernel: vmm's own FADT, DSDT and _S5); the
guest prints the FADT's OEM ID, which says whose tables it had.

button.ko and evdev.ko are not in the kit initramfs: they are taken from
the kit's own kernel package and put on the script disk behind the script
(the kit reads only the first 128 KiB as the script)."""
import glob
import os
import shlex
import subprocess
import tempfile

import pytest

import guestkit

SCRIPT_SECTORS = 256  # what the kit init reads as the script
DRIVER = os.path.join(guestkit.HERE, "qmp_powerdown.py")

GUEST_SCRIPT = """#VMMKIT-SCRIPT
for b in /sys/block/*; do
	n=${b##*/}
	[ "$(dd if=/dev/$n bs=14 count=1 2>/dev/null)" = "#VMMKIT-SCRIPT" ] && disk=/dev/$n
done
dd if=$disk bs=512 skip=%(evdev_at)d count=%(evdev_n)d of=/tmp/evdev.ko 2>/dev/null
dd if=$disk bs=512 skip=%(button_at)d count=%(button_n)d of=/tmp/button.ko 2>/dev/null
insmod /tmp/evdev.ko || echo "pwrbtn: evdev insmod failed"
insmod /tmp/button.ko || echo "pwrbtn: button insmod failed"
ev=
for i in 1 2 3 4 5 6 7 8 9 10; do
	for d in /sys/class/input/input*; do
		[ "$(cat $d/name 2>/dev/null)" = "Power Button" ] || continue
		for e in $d/event*; do [ -e "/dev/input/${e##*/}" ] && ev=/dev/input/${e##*/}; done
	done
	[ -n "$ev" ] && break
	sleep 1
done
if [ -z "$ev" ]; then
	echo "pwrbtn: no Power Button input device; have:"
	cat /sys/class/input/input*/name
	exit 1
fi
echo "pwrbtn: waiting on $ev"
echo "pwrbtn: acpi-oem $(dd if=/sys/firmware/acpi/tables/FACP bs=1 skip=10 count=6 2>/dev/null)"
# open before saying ready: evdev gives an event only to readers that have
# the device open when it happens
exec 3< $ev
echo VMM-PWRBTN-READY
dd bs=4096 count=1 of=/dev/null <&3 2>/dev/null
echo VMM-PWRBTN-PRESSED
poweroff -f
"""


def kernel_modules():
    """(evdev.ko, button.ko) bytes from the kit's amd64 kernel package."""
    kabi = open(guestkit.kit("kabi")).read().strip()
    debs = glob.glob(guestkit.kit("debs/linux-image-%s-amd64_*.deb" % kabi))
    if not debs:
        raise FileNotFoundError("no linux-image-%s-amd64 .deb in %s" % (kabi, guestkit.kit("debs")))
    paths = ["./lib/modules/%s-amd64/kernel/drivers/input/evdev.ko" % kabi,
             "./lib/modules/%s-amd64/kernel/drivers/acpi/button.ko" % kabi]
    with tempfile.TemporaryDirectory() as d:
        subprocess.run("dpkg-deb --fsys-tarfile %s | tar -x -C %s %s" % (
            shlex.quote(debs[0]), shlex.quote(d), " ".join(map(shlex.quote, paths))),
            shell=True, check=True)
        return [open(os.path.join(d, p), "rb").read() for p in paths]


def script_disk():
    evdev, button = kernel_modules()
    evdev_n = (len(evdev) + 511) // 512
    button_n = (len(button) + 511) // 512
    script = (GUEST_SCRIPT % {"evdev_at": SCRIPT_SECTORS, "evdev_n": evdev_n,
                              "button_at": SCRIPT_SECTORS + evdev_n,
                              "button_n": button_n}).encode()
    assert len(script) < SCRIPT_SECTORS * 512
    img = script.ljust(SCRIPT_SECTORS * 512, b"\0")
    img += evdev.ljust(evdev_n * 512, b"\0") + button.ljust(button_n * 512, b"\0")
    return img + b"\0" * (-len(img) % (1 << 20))


class PowerButton(guestkit.Scenario):
    def __init__(self, direct=False):
        guestkit.Scenario.__init__(self, "vmm-qmp-powerdown" + ("-direct" if direct else ""),
                                   timeout=420)
        self.direct = direct
        self.oem = "VMM" if direct else "BOCHS"

    def missing(self):
        why = guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")
        if why:
            return why
        if not glob.glob(guestkit.kit("debs/linux-image-*-amd64_*.deb")):
            return "the guest kit's kernel .deb is missing (run `make guests`)"
        return None

    def add_to(self, batch):
        disk = batch.stage_bytes("%s-script.img" % self.name, script_disk())
        if self.direct:
            argv = guestkit.vmm_argv("vmm", 256, hda=disk, extra=[
                "-kernel", guestkit.kit("vmlinuz-amd64"),
                "-initrd", guestkit.kit("initrd-amd64.xz"),
                "-append", "console=ttyS0 quiet panic=-1"])
        else:
            argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"), hda=disk)
        batch.add(self.name, ["/usr/bin/python3", DRIVER, *argv], timeout=self.timeout,
                  marker="@@vmm rc=", grace=10, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


POWER_BUTTONS = [PowerButton(), PowerButton(direct=True)]


@pytest.mark.parametrize("scenario", POWER_BUTTONS, ids=str)
def test_qmp_system_powerdown_powers_off_linux(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "VMM-PWRBTN-READY" in out, guest.describe()
    assert "pwrbtn: acpi-oem %s" % scenario.oem in out, guest.describe()
    assert '@@qmp system_powerdown -> {"return": {}}' in out, guest.describe()
    assert "@@qmp POWERDOWN" in out, guest.describe()
    # The guest saw the press on its "Power Button" device and powered off.
    assert "VMM-PWRBTN-PRESSED" in out, guest.describe()
    assert "@@qmp SHUTDOWN guest=True reason=guest-shutdown" in out, guest.describe()
    assert "@@vmm rc=0" in out, guest.describe()
    assert guest.result.rc == 0, guest.describe()
