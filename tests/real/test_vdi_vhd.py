# SPDX-License-Identifier: GPL-2.0-or-later
"""A stock Linux under vmm on the formats people bring from VirtualBox and
Virtual PC / Hyper-V (vmm only; issue 20): the kit disk, converted to a
dynamic VDI by qemu-img, is the boot disk; the script disk is a dynamic VHD
(qemu-img's vpc) and a third disk a fixed VHD, and the guest writes 4 MiB
of a pattern to both and reads it back. Afterwards qemu-img reads the
writes (convert to raw: the pattern where the guest wrote it), qemu-img
check passes on the VDI, and the boot disk still equals the kit image.
Then the kit boots again in the same command from a dynamic VHD (qemu-img
convert -O vpc) with the same two VHD data disks: the guest's script runs
again, and qemu-img finds that VHD still equal to the kit."""
import os
import shlex

import pytest

import guestkit
from test_qcow2 import PATTERN_BYTES, pattern_sha256

GUEST_SCRIPT = """#VMMKIT-SCRIPT
for d in sdb sdc; do
	yes VMM-QCOW2-PATTERN-0123456789 | head -c %(n)d | dd of=/dev/$d bs=65536 seek=16 2>/dev/null
done
sync
echo 3 > /proc/sys/vm/drop_caches
for d in sdb sdc; do
	echo "vdi-vhd-guest $d sha=$(dd if=/dev/$d bs=65536 skip=16 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)"
done
""" % {"n": PATTERN_BYTES}


class VdiVhd(guestkit.Scenario):
    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-vdi-vhd", timeout=900)

    def missing(self):
        m = guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")
        if not m and not guestkit.shutil.which("qemu-img"):
            m = "qemu-img not installed"
        return m

    def add_to(self, batch):
        kit = batch.stage(guestkit.kit("kit-amd64.img"), "vdivhd-kit.img")
        body = GUEST_SCRIPT.encode()
        script = batch.stage_bytes("vdivhd-script.img", body + b"\0" * (-len(body) % 512),
                                   size=8 << 20)
        d = os.path.dirname(kit)
        q = shlex.quote
        boot, dyn, fixed = (os.path.join(d, n) for n in ("boot.vdi", "script.vhd", "fixed.vhd"))
        boot_vhd = os.path.join(d, "boot.vhd")

        def vmm_from(disk, fmt):
            """vmm booting `disk` with the two VHD data disks."""
            return " ".join(q(a) for a in guestkit.vmm_argv("vmm", 256, extra=[
                "-drive", "file=%s,if=ide,index=0,format=%s" % (disk, fmt),
                "-drive", "file=%s,if=ide,index=1,format=vpc" % dyn,
                "-drive", "file=%s,if=ide,index=2,format=vpc" % fixed]))
        sha_at = ("dd if=%s bs=65536 skip=16 count=64 2>/dev/null | sha256sum | cut -d' ' -f1")
        shell = "; ".join([
            "qemu-img convert -O vdi %s %s" % (q(kit), q(boot)),
            "qemu-img convert -O vpc %s %s" % (q(script), q(dyn)),
            "qemu-img convert -O vpc -o subformat=fixed %s %s" % (q(script), q(fixed)),
            vmm_from(boot, "vdi"),
            "echo \"@@vmm rc=$?\"",
            "qemu-img check %s >/dev/null; echo \"@@check-vdi rc=$?\"" % q(boot),
            "qemu-img compare -q -f vdi -F raw %s %s; echo \"@@boot-equal rc=$?\""
            % (q(boot), q(kit)),
            "qemu-img convert -f vpc -O raw %s %s/dyn.raw" % (q(dyn), q(d)),
            "qemu-img convert -f vpc -O raw %s %s/fixed.raw" % (q(fixed), q(d)),
            "echo \"@@dyn sha=$(%s)\"" % (sha_at % q(os.path.join(d, "dyn.raw"))),
            "echo \"@@fixed sha=$(%s)\"" % (sha_at % q(os.path.join(d, "fixed.raw"))),
            # the second boot, from a dynamic VHD (SeaBIOS's int 13h and
            # Linux's reads through vmm's vpc driver); the script runs again
            "qemu-img convert -O vpc %s %s" % (q(kit), q(boot_vhd)),
            "echo @@vhd-boot",
            vmm_from(boot_vhd, "vpc"),
            "echo \"@@vmm rc=$?\"",
            "qemu-img compare -q -f vpc -F raw %s %s; echo \"@@boot-vhd-equal rc=$?\""
            % (q(boot_vhd), q(kit)),
        ])
        batch.add(self.name, shell, timeout=self.timeout)


SCENARIO = VdiVhd()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_kit_boots_from_vdi_and_writes_vhd(guest, scenario):
    out = guest.log.replace("\r", "")
    want = pattern_sha256()
    assert "VMMKIT-DONE rc=0" in out, guest.describe()
    assert "@@vmm rc=0" in out, guest.describe()
    # the guest read back what it wrote, through vmm's VHD readers
    assert "vdi-vhd-guest sdb sha=%s" % want in out, guest.describe()
    assert "vdi-vhd-guest sdc sha=%s" % want in out, guest.describe()
    # qemu-img: the VDI vmm booted from is sound and unchanged, and the
    # guest's writes are in both VHDs where it made them
    assert "@@check-vdi rc=0" in out and "@@boot-equal rc=0" in out, guest.describe()
    assert "@@dyn sha=%s" % want in out, guest.describe()
    assert "@@fixed sha=%s" % want in out, guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_kit_boots_from_a_dynamic_vhd(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "@@vhd-boot" in out, guest.describe()
    second = out.split("@@vhd-boot", 1)[1]
    want = pattern_sha256()
    assert "VMMKIT-DONE rc=0" in second, guest.describe()
    assert "@@vmm rc=0" in second, guest.describe()
    assert "vdi-vhd-guest sdb sha=%s" % want in second, guest.describe()
    assert "vdi-vhd-guest sdc sha=%s" % want in second, guest.describe()
    # qemu-img (which has no check for vpc) reads the VHD vmm booted from
    # as the kit still
    assert "@@boot-vhd-equal rc=0" in second, guest.describe()
