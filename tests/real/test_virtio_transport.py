# SPDX-License-Identifier: GPL-2.0-or-later
"""The virtio-pci transport's other paths, under the stock kernel's drivers:

* INTx: booted with pci=nomsi, the virtio interrupts are IO-APIC lines
  routed through the PIIX3 PIRQ router, not MSI-X; otherwise every MSI-X
  vector of every virtio function is in use, each its own MSI line;
* the legacy (virtio 0.9.5) interface of our transitional devices: the
  script reloads virtio_pci with force_legacy=1, so the driver uses the
  I/O BAR and the devices run without VERSION_1 -- once with INTx (the
  pci=nomsi boot) and once with MSI-X (whose vectors shift the legacy
  device config by 4 bytes).

In each mode the data disk (vda) reads back with the kit's sha256, 1 MiB
written to a scratch disk (vdb) reads back after drop_caches, and the rng
yields bytes. Boots the kit's kernel directly (-kernel/-initrd/-append)
under every VMM in VMM_REAL_VMMS, so QEMU's transitional devices check
the test itself.
"""
import base64
import hashlib

import pytest

import guestkit

SCRATCH_BYTES = 1 << 20

SCRIPT = r"""
show() {
	irqs $1
	msix_probe $1
	for f in /sys/bus/virtio/devices/virtio*/features; do echo "feat $1 $(cut -c33 $f)"; done
	echo "data $1 $(sha256sum /dev/vda | cut -d' ' -f1)"
	yes VMM-$1 | head -c %(n)d > /dev/vdb
	sync
	echo 3 > /proc/sys/vm/drop_caches
	echo "scratch $1 $(head -c %(n)d /dev/vdb | sha256sum | cut -d' ' -f1)"
	echo "rng $1 $(head -c 64 /dev/hwrng | wc -c)"
}
show modern
for m in virtio_rng virtio_blk virtio_net virtio_balloon virtio_console virtio_pci; do
	rmmod $m 2>/dev/null
done
M=/lib/modules
insmod $M/virtio_pci.ko force_legacy=1 && insmod $M/virtio_blk.ko && insmod $M/virtio-rng.ko
i=0
while [ ! -b /dev/vdb ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
show legacy
""" % {"n": SCRATCH_BYTES}
SCRIPT = guestkit.MSIX_SHELL + SCRIPT


def scratch_sha(mode):
    line = ("VMM-%s\n" % mode).encode()
    return hashlib.sha256((line * (SCRATCH_BYTES // len(line) + 1))[:SCRATCH_BYTES]).hexdigest()


class Transport(guestkit.Scenario):
    def __init__(self, vmm, intx):
        guestkit.Scenario.__init__(self, "%s-virtio-%s" % (vmm, "intx" if intx else "msix"),
                                   guestkit.BOOT_TIMEOUT)
        self.vmm, self.intx = vmm, intx

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        scratch = batch.stage_bytes("%s-scratch.img" % self.name, size=4 << 20)
        append = "console=ttyS0 quiet panic=-1 %svmmkit.script=%s" % (
            "pci=nomsi " if self.intx else "", base64.b64encode(SCRIPT.encode()).decode())
        argv = guestkit.vmm_argv(self.vmm, 256, extra=[
            "-kernel", guestkit.kit("vmlinuz-amd64"), "-initrd", guestkit.kit("initrd-amd64.xz"),
            "-append", append,
            "-drive", "file=%s,if=virtio,format=raw" % data,
            "-drive", "file=%s,if=virtio,format=raw" % scratch,
            "-device", "virtio-rng-pci"])
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(),
                  flake_signs=guestkit.BOOT_FLAKE_SIGNS)


SCENARIOS = [Transport(v, intx) for v in guestkit.vmms_peer_optional() for intx in (True, False)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_virtio_transport_modes(guest, scenario):
    rep = guest.report
    assert rep.found and rep.done_rc == 0 and rep.script_rc == 0, guest.describe()
    out = rep.script_output()
    for mode in ("modern", "legacy"):
        assert "data %s %s" % (mode, guestkit.data_sha256()) in out, (mode, guest.describe())
        assert "scratch %s %s" % (mode, scratch_sha(mode)) in out, (mode, guest.describe())
        assert "rng %s 64" % mode in out, (mode, guest.describe())
        feats = [ln.split()[2] for ln in out if ln.startswith("feat %s " % mode)]
        assert len(feats) >= 3, (mode, guest.describe())   # two disks and the rng
        # VERSION_1 (bit 32): negotiated by the modern driver only
        assert set(feats) == {"1" if mode == "modern" else "0"}, (mode, feats, guest.describe())
        irqs = [ln for ln in out if ln.startswith("irq %s " % mode)]
        assert irqs, (mode, guest.describe())
        msi = [ln for ln in irqs if "MSI" in ln]
        if scenario.intx:
            assert not msi and all("IO-APIC" in ln for ln in irqs), (mode, irqs)
        else:
            # every vector of every virtio function, each its own MSI line
            assert guestkit.msix_problems(out, mode) == [], (mode, irqs, guest.describe())
