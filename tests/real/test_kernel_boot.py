# SPDX-License-Identifier: GPL-2.0-or-later
"""Stock Debian 12 kernels boot directly (-kernel/-initrd/-append) under
each VMM in guestkit.vmms_peer_optional(): vmm through its own option ROM, QEMU (the
peer) through its linuxboot ROM, with the same command lines, so the two
times to the kit's final marker compare.

The command line carries a token and a kit script that prints
/proc/cmdline, so the test sees that -append reached the guest intact. A
data disk is attached too: the kernel must boot before it (the data disk
is not bootable, but SeaBIOS would try it first without a bootorder).
"""
import base64
import os

import pytest

import guestkit

ARCH = {"amd64": "x86_64", "686": "i686"}
TOKEN = "vmmkit.token=direct-kernel-4711"
SCRIPT = 'echo "cmdline: $(cat /proc/cmdline)"\n'


def append_line():
    b64 = base64.b64encode(SCRIPT.encode()).decode()
    return "console=ttyS0 quiet panic=-1 %s vmmkit.script=%s" % (TOKEN, b64)


class KernelBoot(guestkit.Scenario):
    def __init__(self, vmm, arch):
        guestkit.Scenario.__init__(self, "%s-kernel-%s" % (vmm, arch), guestkit.BOOT_TIMEOUT)
        self.vmm, self.arch = vmm, arch

    def files(self):
        return guestkit.kit("vmlinuz-%s" % self.arch), guestkit.kit("initrd-%s.xz" % self.arch)

    def missing(self):
        for f in self.files():
            if not os.path.exists(f):
                return "%s missing (run `make guests`)" % f
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        kernel, initrd = self.files()
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        argv = guestkit.vmm_argv(self.vmm, 256, hda=data, extra=[
            "-kernel", kernel, "-initrd", initrd, "-append", append_line()])
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


SCENARIOS = [KernelBoot(v, a) for v in guestkit.vmms_peer_optional() for a in ("amd64", "686")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_direct_kernel_boot(guest, scenario):
    r = guest.result
    assert r.error is None, guest.describe()
    assert r.marker_seen, "no %s marker\n%s" % (guestkit.MARKER_DONE, guest.describe())
    rep = guest.report
    assert rep.found, guest.describe()
    assert rep.arch == ARCH[scenario.arch], guest.describe()
    assert rep.done_rc == 0 and rep.script_rc == 0, guest.describe()
    lines = [ln for ln in rep.script_output() if ln.startswith("cmdline: ")]
    assert lines, guest.describe()
    # The guest's /proc/cmdline holds our -append string (QEMU and vmm may
    # add nothing else; BOOT_IMAGE= would come from a boot loader).
    assert lines[0][len("cmdline: "):].strip() == append_line(), guest.describe()
    assert rep.data.get("sda") == ("ok", guestkit.data_sha256()), guest.describe()
    print("%s: marker after %ss (run %ss)" % (scenario.name, r.marker_time, r.elapsed))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_direct_kernel_poweroff(guest, scenario):
    r = guest.result
    assert r.marker_seen, guest.describe()
    assert r.exited and r.rc == 0, guest.describe()
