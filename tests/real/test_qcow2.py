# SPDX-License-Identifier: GPL-2.0-or-later
"""A stock Linux under vmm on qcow2 overlays (vmm only): the kit disk
boots through a qcow2 overlay over the raw kit image, a second overlay (4
KiB clusters) over a raw script disk takes the guest's 4 MiB of writes;
afterwards both bases are byte-identical, both overlays pass vmm-img check,
and the overlay holds exactly what the guest wrote and read back."""
import hashlib
import os
import shlex

import pytest

import guestkit

PATTERN_LINE = b"VMM-QCOW2-PATTERN-0123456789\n"
PATTERN_BYTES = 4 << 20
VMM_IMG = os.path.join(guestkit.REPO, "build", "vmm-img")

GUEST_SCRIPT = """#VMMKIT-SCRIPT
yes VMM-QCOW2-PATTERN-0123456789 | head -c %(n)d | dd of=/dev/sdb bs=65536 seek=16 2>/dev/null
sync
echo 3 > /proc/sys/vm/drop_caches
echo "qcow2-guest sha=$(dd if=/dev/sdb bs=65536 skip=16 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)"
""" % {"n": PATTERN_BYTES}


def pattern_sha256():
    data = (PATTERN_LINE * (PATTERN_BYTES // len(PATTERN_LINE) + 1))[:PATTERN_BYTES]
    return hashlib.sha256(data).hexdigest()


class Qcow2Overlay(guestkit.Scenario):
    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-qcow2-overlay", timeout=900)

    def missing(self):
        m = guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")
        if not m and not os.path.exists(VMM_IMG):
            m = "%s missing (run make)" % VMM_IMG
        return m

    def add_to(self, batch):
        base = batch.stage(guestkit.kit("kit-amd64.img"), "qcow2-kit.img")
        body = GUEST_SCRIPT.encode()
        script = batch.stage_bytes("qcow2-script.img", body + b"\0" * (-len(body) % 512),
                                   size=8 << 20)
        d = os.path.dirname(base)
        boot_ov = os.path.join(d, "qcow2-boot.qcow2")
        data_ov = os.path.join(d, "qcow2-data.qcow2")
        flat = os.path.join(d, "qcow2-flat.raw")
        q = shlex.quote
        vmm = " ".join(q(a) for a in guestkit.vmm_argv("vmm", 256, hda=boot_ov, hdb=data_ov))
        img = q(VMM_IMG)
        shell = "; ".join([
            "b0=$(sha256sum %s | cut -d' ' -f1); s0=$(sha256sum %s | cut -d' ' -f1)"
            % (q(base), q(script)),
            # relative backing names, resolved from the overlay's directory
            "%s create -q -f qcow2 -b %s -F raw %s" % (img, q(os.path.basename(base)), q(boot_ov)),
            "%s create -q -f qcow2 -o cluster_size=4K -b %s -F raw %s"
            % (img, q(os.path.basename(script)), q(data_ov)),
            vmm,
            "echo \"@@vmm rc=$?\"",
            "[ \"$(sha256sum %s | cut -d' ' -f1)\" = \"$b0\" ] && echo @@boot-base-unchanged"
            % q(base),
            "[ \"$(sha256sum %s | cut -d' ' -f1)\" = \"$s0\" ] && echo @@data-base-unchanged"
            % q(script),
            "%s check %s >/dev/null; echo \"@@check-boot rc=$?\"" % (img, q(boot_ov)),
            "%s check %s >/dev/null; echo \"@@check-data rc=$?\"" % (img, q(data_ov)),
            "%s convert -O raw %s %s" % (img, q(data_ov), q(flat)),
            "echo \"@@overlay sha=$(dd if=%s bs=65536 skip=16 count=64 2>/dev/null | sha256sum"
            " | cut -d' ' -f1)\"" % q(flat),
        ])
        batch.add(self.name, shell, timeout=self.timeout)


OVERLAY = Qcow2Overlay()


@pytest.mark.parametrize("scenario", [OVERLAY], ids=str)
def test_kit_boots_on_qcow2_overlays(guest, scenario):
    out = guest.log.replace("\r", "")
    want = pattern_sha256()
    assert "VMMKIT-DONE rc=0" in out, guest.describe()
    assert "@@vmm rc=0" in out, guest.describe()
    assert "qcow2-guest sha=%s" % want in out, guest.describe()
    assert "@@boot-base-unchanged" in out and "@@data-base-unchanged" in out, guest.describe()
    assert "@@check-boot rc=0" in out and "@@check-data rc=0" in out, guest.describe()
    assert "@@overlay sha=%s" % want in out, guest.describe()


# ---- images qemu-img made, read by a stock Linux under vmm --------------------

# name -> shell commands (run in the staged-files directory, with $D the kit's
# data disk) that make the image "$name" whose guest-visible content is the
# data disk. Each exercises a different part of the readers.
INTEROP_IMAGES = [
    ("v2-512.qcow2", "qemu-img convert -O qcow2 -o compat=0.10,cluster_size=512 $D v2-512.qcow2"),
    ("c64k.qcow2", "qemu-img convert -c -O qcow2 $D c64k.qcow2"),
    ("c2m.qcow2", "qemu-img convert -O qcow2 -o cluster_size=2M $D c2m.qcow2"),
    # an internal snapshot of other content, the active layer rewritten
    ("snap.qcow2", "qemu-img create -q -f qcow2 -o cluster_size=4K snap.qcow2 $(stat -c %s $D)"
     " && qemu-io -c \"write -P 0xaa 0 $(stat -c %s $D)\" snap.qcow2 >/dev/null"
     " && qemu-img snapshot -c old snap.qcow2"
     " && qemu-img convert -n -O qcow2 $D snap.qcow2"),
    # raw <- qcow2 <- qcow2: each layer holds part of the data
    ("top.qcow2", "cp $D chain-base.raw"
     " && qemu-io -f raw -c 'write -P 0x11 1M 1M' chain-base.raw >/dev/null"
     " && qemu-img create -q -f qcow2 -b chain-base.raw -F raw chain-mid.qcow2"
     " && qemu-io -c 'write -P 0x22 2M 1M' chain-mid.qcow2 >/dev/null"
     " && qemu-img convert -O qcow2 -B chain-mid.qcow2 -F qcow2 $D top.qcow2"),
    ("sparse.vmdk", "qemu-img convert -O vmdk $D sparse.vmdk"),
    ("flat.vmdk", "qemu-img convert -O vmdk -o subformat=monolithicFlat $D flat.vmdk"),
]


class QemuImages(guestkit.Scenario):
    """The kit CD under vmm with every image of INTEROP_IMAGES as a virtio
    disk: the kit's report checks each one's sha256 against the data disk's;
    afterwards qemu-img check passes on each (vmm opened them read-write)
    and qemu-img compare finds each still equal to the data disk."""

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-qemu-img-interop", timeout=900)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        data = batch.stage(guestkit.kit("data.img"), "interop-data.img")
        d = os.path.dirname(data)
        q = shlex.quote
        drives = []
        for name, _ in INTEROP_IMAGES:
            fmt = "vmdk" if name.endswith(".vmdk") else "qcow2"
            drives += ["-drive", "file=%s,if=virtio,format=%s" % (os.path.join(d, name), fmt)]
        vmm = " ".join(q(a) for a in guestkit.vmm_argv(
            "vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"), extra=drives))
        steps = ["cd %s" % q(d), "D=%s" % q(os.path.basename(data))]
        steps += ["(%s) || echo \"@@make-failed %s\"" % (cmd, name) for name, cmd in INTEROP_IMAGES]
        steps += [vmm, "echo \"@@vmm rc=$?\""]
        steps += ["qemu-img check -q %s && qemu-img compare -q -f raw $D %s"
                  " && echo \"@@qcheck-ok %s\"" % (q(name), q(name), name)
                  for name, _ in INTEROP_IMAGES]
        batch.add(self.name, "; ".join(steps), timeout=self.timeout,
                  marker="@@qcheck-ok %s" % INTEROP_IMAGES[-1][0], grace=10)


INTEROP = QemuImages()


@pytest.mark.parametrize("scenario", [INTEROP], ids=str)
def test_guest_reads_qemu_img_images(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "@@make-failed" not in out, guest.describe()
    assert "VMMKIT-DONE rc=0" in out, guest.describe()
    assert "@@vmm rc=0" in out, guest.describe()
    data = guest.report.data
    # the CD is sr0; vda.. are the images in order
    ok = sorted(n for n, (st, _) in data.items() if st == "ok")
    want = ["vd" + chr(ord("a") + i) for i in range(len(INTEROP_IMAGES))]
    assert ok == want, (data, guest.describe())
    for name, _ in INTEROP_IMAGES:
        assert "@@qcheck-ok %s" % name in out, guest.describe()
