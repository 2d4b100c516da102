# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio under a stock Debian kernel (virtio_pci, virtio_blk, virtio_rng of
the kit):

* the kit CD with three virtio disks (the data disk, a script disk, a blank
  scratch disk) and a virtio-rng: the disks appear as vda-vdc with the image
  sizes, bound to virtio-pci; the data pattern reads back (sha256); a 4 MiB
  write + sync + drop_caches reads back with the right checksum; /dev/hwrng
  yields bytes; the virtio interrupts are MSI-X: every vector of every virtio
  function is allocated and has its own PCI-MSI line in /proc/interrupts.
  The same scenario runs under QEMU (the peer) for every VMM in
  VMM_REAL_VMMS, so the two can be compared;
* the kit *disk* booted from virtio-blk (SeaBIOS's virtio driver loads
  SYSLINUX, the kernel and the initrd from it);
* kill -9 of vmm right after the guest's sync loses nothing: the image file
  holds what the guest wrote.
"""
import hashlib
import os
import shlex

import pytest

import guestkit

WRITE_BYTES = 4 << 20
WRITE_LINE = b"VMM-VIRTIO-WRITE-0123456789\n"
SCRATCH_SIZE = 8 << 20


def write_sha256():
    data = (WRITE_LINE * (WRITE_BYTES // len(WRITE_LINE) + 1))[:WRITE_BYTES]
    return hashlib.sha256(data).hexdigest()


# vda = data disk, vdb = this script, vdc = scratch (PCI slots 3, 4, 5).
# The script disk must start with its #VMMKIT-SCRIPT line; the MSI-X
# helpers come next, before their use.
CHECK_SCRIPT = "#VMMKIT-SCRIPT\n" + guestkit.MSIX_SHELL + """
echo "rng cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null) bytes=$(head -c 4096 /dev/hwrng | wc -c)"
irqs all
msix_probe all
dev=/dev/vdc
yes VMM-VIRTIO-WRITE-0123456789 | head -c %(n)d > $dev
sync
echo 3 > /proc/sys/vm/drop_caches
echo "vwrite sha=$(head -c %(n)d $dev | sha256sum | cut -d' ' -f1)"
""" % {"n": WRITE_BYTES}

# vda = script, vdb = scratch. After the sync, say so and wait to be killed.
KILL_SCRIPT = """#VMMKIT-SCRIPT
yes VMM-VIRTIO-WRITE-0123456789 | head -c %(n)d > /dev/vdb
sync
echo VMM-SYNCED
sleep 600
""" % {"n": WRITE_BYTES}


class VirtioDisks(guestkit.Scenario):
    """Kit CD + three virtio disks + virtio-rng, under 'vmm' or 'qemu'.
    intx: vmm without MSI-X (VMM_VIRTIO_NO_MSIX=1), so Linux falls back to
    INTx through the PIIX3 routing."""

    def __init__(self, vmm, intx=False):
        guestkit.Scenario.__init__(self, "%s-virtio-disks%s-amd64" % (vmm, "-intx" if intx else ""),
                                   guestkit.BOOT_TIMEOUT)
        self.vmm = vmm
        self.intx = intx

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        script = batch.stage_bytes("%s-script.img" % self.name, guestkit.script_image(CHECK_SCRIPT))
        scratch = batch.stage_bytes("%s-scratch.img" % self.name, size=SCRATCH_SIZE)
        extra = []
        for f in (data, script, scratch):
            extra += ["-drive", "file=%s,if=virtio,format=raw" % f]
        extra += ["-device", "virtio-rng-pci"]
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"), extra=extra)
        env = {"VMM_VIRTIO_NO_MSIX": "1"} if self.intx else None
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE, grace=15,
                  idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(), env=env)


class VirtioBoot(guestkit.Scenario):
    """SeaBIOS boots the kit disk image from virtio-blk; data disk as vdb."""

    def __init__(self, arch):
        guestkit.Scenario.__init__(self, "vmm-virtio-boot-%s" % arch, guestkit.BOOT_TIMEOUT)
        self.arch = arch

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        disk = batch.stage(guestkit.kit("kit-%s.img" % self.arch), "%s-boot.img" % self.name)
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        extra = ["-drive", "file=%s,if=virtio" % disk, "-drive", "file=%s,if=virtio" % data]
        argv = guestkit.vmm_argv("vmm", 256, extra=extra)
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE, grace=15,
                  idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


class KillAfterSync(guestkit.Scenario):
    """vmm in the background; when the guest has synced, kill -9 it and
    checksum the image file."""

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-virtio-kill9", timeout=400)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        script = batch.stage_bytes("kill9-script.img", guestkit.script_image(KILL_SCRIPT))
        scratch = batch.stage_bytes("kill9-scratch.img", size=SCRATCH_SIZE)
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio" % script,
                                        "-drive", "file=%s,if=virtio" % scratch])
        cmd = " ".join(shlex.quote(a) for a in argv)
        shell = (
            'log="${TMPDIR:-/tmp}/kill9.log"; %(cmd)s > "$log" 2>&1 < /dev/null & pid=$!; '
            'i=0; while [ $i -lt 1500 ] && ! grep -q VMM-SYNCED "$log"; do sleep 0.2; i=$((i+1)); done; '
            'grep -q VMM-SYNCED "$log" && echo "@@synced"; '
            'kill -9 $pid; wait $pid; echo "@@killed rc=$?"; '
            'echo "@@file sha=$(head -c %(n)d %(img)s | sha256sum | cut -d" " -f1)"; '
            'cat "$log"'
        ) % {"cmd": cmd, "n": WRITE_BYTES, "img": shlex.quote(scratch)}
        # A hung L2 (the nested flake, docs/testing.md) is retried in a fresh L1.
        batch.add(self.name, shell, timeout=self.timeout, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


# vda = script, vdb = scratch: first boot writes and reboots (a system
# reset: new KVM VM, so ioeventfds, irqfds and MSI routes are set up again),
# the second boot checksums and powers off.
RESET_SCRIPT = """#VMMKIT-SCRIPT
if [ "$(head -c 27 /dev/vdb)" = "VMM-VIRTIO-WRITE-0123456789" ]; then
	echo "after-reset sha=$(head -c %(n)d /dev/vdb | sha256sum | cut -d' ' -f1)"
	exit 0
fi
yes VMM-VIRTIO-WRITE-0123456789 | head -c %(n)d > /dev/vdb
sync
echo "virtio written; rebooting"
reboot -f
""" % {"n": WRITE_BYTES}


class VirtioReset(guestkit.Scenario):
    """A guest reboot under vmm with virtio disks in use."""

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-virtio-reset", timeout=600)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        script = batch.stage_bytes("reset-script.img", guestkit.script_image(RESET_SCRIPT))
        scratch = batch.stage_bytes("reset-scratch.img", size=SCRATCH_SIZE)
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio" % script,
                                        "-drive", "file=%s,if=virtio" % scratch])
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE, grace=15,
                  idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


DISKS = [VirtioDisks(v) for v in guestkit.vmms_peer_optional()]
if "vmm" not in guestkit.vmms():
    DISKS.append(VirtioDisks("vmm"))
DISKS.append(VirtioDisks("vmm", intx=True))
BOOTS = [VirtioBoot("amd64"), VirtioBoot("686")]
KILL = KillAfterSync()
RESET = VirtioReset()


def virtio_blocks(report):
    return {k: v for k, v in report.blocks.items() if k.startswith("vd")}


@pytest.mark.parametrize("scenario", DISKS, ids=str)
def test_virtio_disks_seen(guest, scenario):
    rep = guest.report
    assert guest.result.marker_seen and rep.found, guest.describe()
    assert virtio_blocks(rep) == {"vda": guestkit.DATA_SIZE,
                                  "vdb": len(guestkit.script_image(CHECK_SCRIPT)),
                                  "vdc": SCRATCH_SIZE}, guest.describe()
    # Every virtio function is bound to virtio-pci (modern or transitional IDs);
    # besides the default NIC (an e1000 in both VMMs; 1af4:1000/1041 would be
    # a virtio-net) there are the three disks and the rng.
    virtio = [(slot, drv) for vd, devs in rep.pci.items() if vd.startswith("1af4:")
              and vd not in ("1af4:1000", "1af4:1041") for slot, _, drv in devs]
    assert len(virtio) == 4, (virtio, guest.describe())
    assert all(drv == "virtio-pci" for _, drv in virtio), (virtio, guest.describe())
    assert guest.result.exited and guest.result.rc == 0, guest.describe()


@pytest.mark.parametrize("scenario", DISKS, ids=str)
def test_virtio_data_reads_back(guest, scenario):
    assert guest.report.data.get("vda") == ("ok", guestkit.data_sha256()), guest.describe()


@pytest.mark.parametrize("scenario", DISKS, ids=str)
def test_virtio_write_sync_read_back(guest, scenario):
    out = guest.report.script_output()
    sums = [ln.split("sha=")[1].strip() for ln in out if ln.startswith("vwrite sha=")]
    assert sums == [write_sha256()], (sums, guest.describe())
    assert guest.report.script_rc == 0, guest.describe()


@pytest.mark.parametrize("scenario", DISKS, ids=str)
def test_virtio_rng_and_msix(guest, scenario):
    out = guest.report.script_output()
    rng = [ln for ln in out if ln.startswith("rng ")]
    assert rng and "cur=virtio_rng" in rng[0] and "bytes=4096" in rng[0], (rng, guest.describe())
    irqs = [ln for ln in out if ln.startswith("irq ")]
    if getattr(scenario, "intx", False):
        # INTx: the virtio devices share IO-APIC level lines, no MSI.
        assert irqs and all("IO-APIC" in ln for ln in irqs), (irqs, guest.describe())
        assert not any("PCI-MSI" in ln for ln in irqs), (irqs, guest.describe())
    else:
        # Every vector of every virtio function in use, each its own MSI
        # line: config + request queue per disk, config + queue for the rng.
        assert guestkit.msix_problems(out, "all") == [], (irqs, guest.describe())


@pytest.mark.parametrize("scenario", BOOTS, ids=str)
def test_boot_from_virtio_blk(guest, scenario):
    rep = guest.report
    assert guest.result.marker_seen and rep.found, guest.describe()
    arch = "x86_64" if scenario.arch == "amd64" else "i686"
    assert rep.arch == arch, guest.describe()
    assert virtio_blocks(rep) == {
        "vda": os.path.getsize(guestkit.kit("kit-%s.img" % scenario.arch)),
        "vdb": guestkit.DATA_SIZE}, guest.describe()
    assert rep.data.get("vdb") == ("ok", guestkit.data_sha256()), guest.describe()
    assert guest.result.exited and guest.result.rc == 0, guest.describe()


@pytest.mark.parametrize("scenario", [KILL], ids=str)
def test_kill9_after_sync_loses_nothing(guest, scenario):
    out = guest.result.stdout
    assert "@@synced" in out, guest.describe()
    assert "@@killed rc=137" in out, guest.describe()
    assert "@@file sha=%s" % write_sha256() in out, guest.describe()


@pytest.mark.parametrize("scenario", [RESET], ids=str)
def test_virtio_survives_system_reset(guest, scenario):
    out = guest.log
    assert "virtio written; rebooting" in out, guest.describe()
    sums = [ln.split("sha=")[1].strip() for ln in out.replace("\r", "").split("\n")
            if "after-reset sha=" in ln]
    assert sums == [write_sha256()], (sums, guest.describe())
    # Two boots in one process; MSI-X worked again after the reset (the
    # second boot's requests completed), and the guest powered off.
    assert out.count("VMMKIT-REPORT-BEGIN") == 2, guest.describe()
    assert guest.result.exited and guest.result.rc == 0, guest.describe()
