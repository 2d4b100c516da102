# SPDX-License-Identifier: GPL-2.0-or-later
"""PXE boot of the guest kit (issue 16): `-boot n` with one card and its
iPXE option ROM (Debian's ipxe-qemu efi-*.rom), user networking serving
the kit's kernel and initrd over TFTP (`-netdev
user,tftp=DIR,bootfile=SCRIPT`), the boot file an iPXE script:

    #!ipxe
    kernel pxe-vmlinuz-amd64 console=ttyS0 ... vmmkit.token=pxe-CARD
    initrd pxe-initrd-amd64.xz
    boot

The kit's data disk is attached too (not bootable, and -boot n must take
the network first). The guest prints /proc/cmdline through a kit script,
so the test sees the script's kernel line arrived, then reaches the kit's
final marker and powers off.

This runs in the nested L1: on the project's kvm_pvm host iPXE cannot run
at all (tests/fw/test_pxe.py, docs/testing.md "network boot"). In the L1
a PXE boot of the kit takes about 57 s to the marker, vmm and QEMU alike
(the kernel and initrd come over TFTP).
"""
import base64
import os

import pytest

import guestkit

# Every PCI card with its ROM: the 82544GC and 82545EM run iPXE's intel
# driver as the 82540EM does, from efi-e1000.rom with the function's IDs
# written into it (hw/net/e1000.c). The NE2000's driver (ns8390) moves
# every received word with its own IN instruction, an exit each: in the
# L1 the kit's 8 MiB kernel came at 27 % in 300 s under vmm and 50 % under
# QEMU, so it boots the small NBP instead (NBP_CARDS).
CARDS = ["e1000", "e1000-82544gc", "e1000-82545em", "rtl8139", "pcnet"]
NBP_CARDS = ["ne2k_pci"]
NBP_MARKER = "VMM-PXE-NBP-OK"
FW_BUILD = os.environ.get("FW_BUILD", os.path.join(guestkit.REPO, "build", "fw"))
SCRIPT = 'echo "cmdline: $(cat /proc/cmdline)"\n'
KERNEL = "pxe-vmlinuz-amd64"
INITRD = "pxe-initrd-amd64.xz"


def token(card):
    return "vmmkit.token=pxe-%s" % card


def append_line(card):
    b64 = base64.b64encode(SCRIPT.encode()).decode()
    return "console=ttyS0 quiet panic=-1 %s vmmkit.script=%s" % (token(card), b64)


def stage_shared(batch, path, name):
    """One staged copy for every PXE scenario of the batch (staged files
    are all in one directory, the TFTP root)."""
    try:
        return batch.stage(path, name)
    except ValueError:
        return os.path.join(batch.scratch, "files", name)


class PxeBoot(guestkit.Scenario):
    def __init__(self, vmm, card):
        guestkit.Scenario.__init__(self, "%s-pxe-%s" % (vmm, card), guestkit.BOOT_TIMEOUT)
        self.vmm, self.card = vmm, card

    def files(self):
        return guestkit.kit("vmlinuz-amd64"), guestkit.kit("initrd-amd64.xz")

    def missing(self):
        for f in self.files():
            if not os.path.exists(f):
                return "%s missing (run `make guests`)" % f
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        kernel, initrd = self.files()
        stage_shared(batch, kernel, KERNEL)
        stage_shared(batch, initrd, INITRD)
        script = "#!ipxe\nkernel %s %s\ninitrd %s\nboot\n" % (KERNEL, append_line(self.card),
                                                              INITRD)
        boot = batch.stage_bytes("%s.ipxe" % self.name, script.encode())
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        extra = ["-boot", "n",
                 "-netdev", "user,id=n0,tftp=%s,bootfile=%s" % (os.path.dirname(boot),
                                                                os.path.basename(boot)),
                 "-device", "%s,netdev=n0" % self.card]
        if self.vmm == "qemu":
            extra += ["-L", "/usr/lib/ipxe/qemu"]  # the NICs' ROMs (see the shared docs)
        argv = guestkit.vmm_argv(self.vmm, 256, hda=data, extra=extra)
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


class PxeNbp(guestkit.Scenario):
    """-boot n fetching tests/fw/pxeboot.S's NBP (one sector) over TFTP: it
    prints NBP_MARKER on COM1 and exits through isa-debug-exit (status 33)."""

    def __init__(self, vmm, card):
        guestkit.Scenario.__init__(self, "%s-pxe-nbp-%s" % (vmm, card), 120)
        self.vmm, self.card = vmm, card

    def nbp(self):
        return os.path.join(FW_BUILD, "pxeboot.0")

    def missing(self):
        if not os.path.exists(self.nbp()):
            return "%s missing (run `make fw-images`)" % self.nbp()
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        nbp = stage_shared(batch, self.nbp(), "pxeboot.0")
        extra = ["-boot", "n",
                 "-netdev", "user,id=n0,tftp=%s,bootfile=pxeboot.0" % os.path.dirname(nbp),
                 "-device", "%s,netdev=n0" % self.card,
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        if self.vmm == "qemu":
            extra += ["-L", "/usr/lib/ipxe/qemu"]
        argv = guestkit.vmm_argv(self.vmm, 64, extra=extra)
        batch.add(self.name, argv, timeout=self.timeout, marker=NBP_MARKER, grace=10,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


# vmm with every card; the QEMU peer (the reference, and the time to
# compare with) with its default NIC only, to keep the L1 batch short.
SCENARIOS = [PxeBoot(v, c) for v in guestkit.vmms_peer_optional() for c in CARDS
             if v == "vmm" or c == "e1000"]
NBP_SCENARIOS = [PxeNbp(v, c) for v in guestkit.vmms_peer_optional() for c in NBP_CARDS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_pxe_boots_the_kit(guest, scenario):
    r = guest.result
    assert r.error is None, guest.describe()
    assert r.marker_seen, "no %s marker\n%s" % (guestkit.MARKER_DONE, guest.describe())
    rep = guest.report
    assert rep.found and rep.done_rc == 0 and rep.script_rc == 0, guest.describe()
    lines = [ln for ln in rep.script_output() if ln.startswith("cmdline: ")]
    # iPXE may add its own words (initrd=...): the script's line must be there
    assert lines and append_line(scenario.card) in lines[0], guest.describe()
    assert rep.data.get("sda") == ("ok", guestkit.data_sha256()), guest.describe()
    print("%s: marker after %ss (run %ss)" % (scenario.name, r.marker_time, r.elapsed))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_pxe_guest_powers_off(guest, scenario):
    r = guest.result
    assert r.marker_seen, guest.describe()
    assert r.exited and r.rc == 0, guest.describe()


@pytest.mark.parametrize("scenario", NBP_SCENARIOS, ids=str)
def test_pxe_boots_the_nbp(guest, scenario):
    """iPXE's ns8390 driver on the card: DHCP, TFTP, the NBP runs."""
    r = guest.result
    assert r.error is None, guest.describe()
    assert r.marker_seen and NBP_MARKER in r.stdout, guest.describe()
    assert r.exited and r.rc == 33, guest.describe()
    print("%s: marker after %ss" % (scenario.name, r.marker_time))
