# SPDX-License-Identifier: GPL-2.0-or-later
"""Stock Debian 12 kernels boot directly (-kernel/-initrd/-append) under
each VMM in guestkit.vmms_peer_optional(): QEMU (the peer) through its
linuxboot ROM; vmm by default without firmware for the 64-bit kernel (its
own zero page, ACPI and SMBIOS tables, src/board/pc_direct_boot.c) and
through SeaBIOS and its own option ROM for the 32-bit one, which has no
64-bit entry, and with -machine kernel-boot=firmware; and the kit's
vmlinux (the same kernel uncompressed, a PVH ELF) at its PVH entry. The same command
lines, so the times to the kit's final marker compare. Which tables the
guest got (their OEM ID: vmm's "VMM", SeaBIOS's "BOCHS") says which path
ran.

The command line carries a token and a kit script that prints
/proc/cmdline, so the test sees that -append reached the guest intact. A
data disk is attached too: the kernel must boot before it (the data disk
is not bootable, but SeaBIOS would try it first without a bootorder).

The boots only vmm makes (SeaBIOS with the amd64 bzImage, PVH, and the
direct bzImage with devices) get 4.5 GiB, so each way in must hand the
kernel RAM above 4 GiB (e820 from SeaBIOS, the PVH memory map, the zero
page's e820): the guest's /proc/iomem shows System RAM at 4 GiB. QEMU's
boots keep 256 MiB: it reserves its RAM, which the L1's 2 GiB refuse at
4.5 GiB; vmm's is mapped without a reservation and the guest touches
little of it.
"""
import base64
import os

import pytest

import guestkit

ARCH = {"amd64": "x86_64", "686": "i686"}
TOKEN = "vmmkit.token=direct-kernel-4711"
SCRIPT = ('echo "cmdline: $(cat /proc/cmdline)"\n'
          'echo "acpi-oem: $(dd if=/sys/firmware/acpi/tables/FACP bs=1 skip=10 count=6 '
          '2>/dev/null)"\n'
          'echo "ram-at-4g: $(grep -c "^100000000-.* : System RAM" /proc/iomem)"\n')
LARGE_MEM_MB = 4608


def append_line():
    b64 = base64.b64encode(SCRIPT.encode()).decode()
    return "console=ttyS0 quiet panic=-1 %s vmmkit.script=%s" % (TOKEN, b64)


class KernelBoot(guestkit.Scenario):
    def __init__(self, vmm, arch, boot=None):
        name = "%s-kernel-%s%s" % (vmm, arch, "-" + boot if boot else "")
        guestkit.Scenario.__init__(self, name, guestkit.BOOT_TIMEOUT)
        self.vmm, self.arch, self.boot = vmm, arch, boot

    def oem(self):
        """The tables' OEM ID the guest should see."""
        direct = self.vmm == "vmm" and self.arch == "amd64" and self.boot != "firmware"
        return "VMM" if direct else "BOCHS"

    def mem_mb(self):
        large = self.vmm == "vmm" and self.arch == "amd64" and self.boot
        return LARGE_MEM_MB if large else 256

    def files(self):
        kernel = "vmlinux" if self.boot == "pvh" else "vmlinuz"
        return (guestkit.kit("%s-%s" % (kernel, self.arch)),
                guestkit.kit("initrd-%s.xz" % self.arch))

    def missing(self):
        for f in self.files():
            if not os.path.exists(f):
                return "%s missing (run `make guests`)" % f
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        kernel, initrd = self.files()
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        # pvh: the kit's vmlinux, which vmm enters only without firmware
        extra = ["-machine", "kernel-boot=" + self.boot] if self.boot == "firmware" else []
        argv = guestkit.vmm_argv(self.vmm, self.mem_mb(), hda=data, extra=extra + [
            "-kernel", kernel, "-initrd", initrd, "-append", append_line()])
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


SCENARIOS = [KernelBoot(v, a) for v in guestkit.vmms_peer_optional() for a in ("amd64", "686")]
SCENARIOS += [KernelBoot("vmm", "amd64", "firmware"), KernelBoot("vmm", "amd64", "pvh")]


def assert_ram_at_4g(guest, script_lines, mem_mb):
    """With LARGE_MEM_MB the guest has RAM above 4 GiB and uses it: an
    iomem entry at 4 GiB and MemTotal past 4 GiB; else none."""
    seen = [ln.split(":", 1)[1].strip() for ln in script_lines if ln.startswith("ram-at-4g:")]
    large = mem_mb == LARGE_MEM_MB
    assert seen == ["1" if large else "0"], guest.describe()
    assert (guest.report.mem_kb > 4 << 20) == large, guest.describe()


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
    oem = [ln.split(":", 1)[1].strip() for ln in rep.script_output() if ln.startswith("acpi-oem:")]
    assert oem == [scenario.oem()], guest.describe()
    assert_ram_at_4g(guest, rep.script_output(), scenario.mem_mb())
    print("%s: marker after %ss (run %ss)" % (scenario.name, r.marker_time, r.elapsed))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_direct_kernel_poweroff(guest, scenario):
    r = guest.result
    assert r.marker_seen, guest.describe()
    assert r.exited and r.rc == 0, guest.describe()


DEVICES_SCRIPT = r'''
if [ "$(dd if=/dev/vdb bs=8 count=1 2>/dev/null)" != REBOOTED ]; then
	printf REBOOTED | dd of=/dev/vdb conv=fsync 2>/dev/null
	echo "boot: first"
	reboot -f
	sleep 60
fi
echo "boot: second"
echo "acpi-oem: $(dd if=/sys/firmware/acpi/tables/FACP bs=1 skip=10 count=6 2>/dev/null)"
echo "acpi-errors: $(dmesg | grep -ciE 'acpi.*(error|exception)')"
echo "dmi-vendor: $(cat /sys/class/dmi/id/sys_vendor 2>/dev/null)"
echo "ram-at-4g: $(grep -c "^100000000-.* : System RAM" /proc/iomem)"
cat > /tmp/dhcp.sh <<'EOS'
[ "$1" = bound ] && ip addr add $ip/$mask dev $interface
exit 0
EOS
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -T 2 -s /tmp/dhcp.sh >/dev/null 2>&1 && echo "dhcp: ok" || echo "dhcp: failed"
echo "nic-irq: $(cat /sys/class/net/eth0/device/irq)"
grep -E 'eth0|virtio|ata_piix' /proc/interrupts | sed 's/^/irqs: /'
'''


class KernelBootDevices(guestkit.Scenario):
    """vmm's firmware-less entry with what needs the firmware's set-up: two
    CPUs (the MADT, the APs' start), an e1000 on a legacy PCI interrupt
    (the PIRQ routes and the DSDT's _PRT; DHCP needs its receive
    interrupts), the data disk on virtio-blk (BARs, MSI-X), SMBIOS, and
    ACPI power-off at the end (KernelBoot covers IDE's decode bits). The
    first boot reboots the guest (a mark on a second disk says it did): the
    reset must enter the kernel again without firmware, APs and all."""

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-kernel-amd64-direct-devices", guestkit.BOOT_TIMEOUT)

    def missing(self):
        for f in (guestkit.kit("vmlinuz-amd64"), guestkit.kit("initrd-amd64.xz")):
            if not os.path.exists(f):
                return "%s missing (run `make guests`)" % f
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        mark = batch.stage_bytes("%s-mark.img" % self.name, size=1 << 20)
        b64 = base64.b64encode(DEVICES_SCRIPT.encode()).decode()
        argv = guestkit.vmm_argv("vmm", LARGE_MEM_MB, extra=[
            "-smp", "2", "-machine", "kernel-boot=direct",
            "-drive", "file=%s,if=virtio,format=raw" % data,
            "-drive", "file=%s,if=virtio,format=raw" % mark,
            "-netdev", "user,id=n0", "-device", "e1000,netdev=n0",
            "-kernel", guestkit.kit("vmlinuz-amd64"), "-initrd", guestkit.kit("initrd-amd64.xz"),
            "-append", "console=ttyS0 quiet panic=-1 vmmkit.script=%s" % b64])
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE,
                  grace=15, idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


DEVICE_SCENARIOS = [KernelBootDevices()]


@pytest.mark.parametrize("scenario", DEVICE_SCENARIOS, ids=str)
def test_direct_kernel_boot_devices(guest, scenario):
    r = guest.result
    assert r.marker_seen, guest.describe()
    rep = guest.report
    assert rep.done_rc == 0 and rep.script_rc == 0, guest.describe()
    out = rep.script_output()

    def field(key):
        vals = [ln.split(":", 1)[1].strip() for ln in out if ln.startswith(key + ":")]
        assert len(vals) == 1, "%s: %r\n%s" % (key, vals, guest.describe())
        return vals[0]

    boots = [ln.split(":", 1)[1].strip() for ln in out if ln.startswith("boot:")]
    assert boots == ["first", "second"], guest.describe()
    assert field("acpi-oem") == "VMM", guest.describe()
    assert field("acpi-errors") == "0", guest.describe()
    assert field("dmi-vendor") == "vmm", guest.describe()
    assert_ram_at_4g(guest, out, LARGE_MEM_MB)
    assert rep.cpus == 2, guest.describe()
    assert rep.driver_of("8086:100e") == "e1000", guest.describe()
    assert field("dhcp") == "ok", guest.describe()
    # e1000 has no MSI here: its interrupt is PIRQ-routed, IRQ 10 or 11
    assert field("nic-irq") in ("10", "11"), guest.describe()
    assert rep.data.get("vda") == ("ok", guestkit.data_sha256()), guest.describe()
    irqs = [ln for ln in out if ln.startswith("irqs:")]
    print("\n".join(irqs))
    assert r.exited and r.rc == 0, guest.describe()
