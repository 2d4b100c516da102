# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's machine options under the kit's Linux, two boots per VMM in
VMM_REAL_VMMS (QEMU, the peer, validates the test itself; issue 19): one
with -no-acpi, one with the clock, UUID and entropy options together
(independent devices: one boot serves all three):

* `-rtc base=localtime` with TZ=JST-9 in the VMM's environment: the guest,
  which takes its clock from the RTC as UTC, is 9 hours ahead of the host;
* `-uuid`: /sys/class/dmi/id/product_uuid (SMBIOS type 1) is that UUID;
* `-no-acpi`: Linux finds no ACPI (no /sys/firmware/acpi/tables, no RSDP);
  the guest then reboots itself (-f: no ACPI power-off to use) and
  `-no-reboot` ends the VMM;
* `-object rng-random,filename=F -device virtio-rng-pci,rng=ID`: the
  guest's /dev/hwrng (virtio_rng) reads F's bytes (1 MiB of 0x5a).
"""
import re
import shlex

import pytest

import guestkit

UUID = "12345678-9abc-def0-1122-334455667788"

CLOCK_SCRIPT = """#VMMKIT-SCRIPT
echo "VMM-OPTS-UUID $(cat /sys/class/dmi/id/product_uuid 2>&1)"
echo "VMM-OPTS-TIME guest=$(date -u +%s)"
"""

NOACPI_SCRIPT = """#VMMKIT-SCRIPT
if [ -d /sys/firmware/acpi/tables ]; then t=yes; else t=no; fi
echo "VMM-OPTS-ACPI tables=$t rsdp=$(dmesg | grep -c 'ACPI: RSDP')"
echo "VMM-OPTS-NOACPI-LOG $(dmesg | grep -i -m1 'acpi' | tr -d '\\r')"
sync
reboot -f
"""


RNG_SCRIPT = """#VMMKIT-SCRIPT
echo "VMM-OPTS-HWRNG $(cat /sys/class/misc/hw_random/rng_current) $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')x"
"""


class MachineOpts(guestkit.Scenario):
    def __init__(self, vmm, kind):
        guestkit.Scenario.__init__(self, "%s-opts-%s-amd64" % (vmm, kind), timeout=420)
        self.vmm = vmm
        self.kind = kind

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        script = NOACPI_SCRIPT if self.kind == "noacpi" else CLOCK_SCRIPT + RNG_SCRIPT.split("\n", 1)[1]
        img = batch.stage_bytes("%s-script.img" % self.name, guestkit.script_image(script))
        extra = ["-drive", "file=%s,if=virtio,format=raw" % img]
        if self.kind == "noacpi":
            # QEMU 10 knows only the -machine spelling (QEMU 9 dropped
            # -no-acpi/-no-hpet); vmm takes QEMU 7.2's, which libvirt wrote
            extra += (["-no-acpi", "-no-hpet"] if self.vmm == "vmm"
                      else ["-machine", "acpi=off,hpet=off"]) + ["-no-reboot"]
        else:
            extra += ["-rtc", "base=localtime", "-uuid", UUID]
            src = batch.stage_bytes("%s-entropy.bin" % self.name, b"\x5a" * (1 << 20))
            extra += ["-object", "rng-random,id=rng0,filename=%s" % src,
                      "-device", "virtio-rng-pci,rng=rng0"]
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=extra)
        cmd = " ".join(shlex.quote(a) for a in argv)
        if self.kind == "clock-rng":
            cmd = "TZ=JST-9 " + cmd
        shell = guestkit.detached_vmm_shell(self.name, cmd, 1500,
                                            after='echo "@@host-time $(date -u +%%s)"; ')
        batch.add(self.name, shell, timeout=self.timeout, idle=guestkit.BOOT_IDLE + 60,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


CLOCK = RNG = [MachineOpts(v, "clock-rng") for v in guestkit.vmms_peer_optional()]
NOACPI = [MachineOpts(v, "noacpi") for v in guestkit.vmms_peer_optional()]
SCENARIOS = CLOCK + NOACPI


def field(out, pattern):
    m = re.search(pattern, out.replace("\r", ""))
    return m.groups() if m else None


@pytest.mark.parametrize("scenario", CLOCK, ids=str)
def test_rtc_localtime_follows_tz(guest, scenario):
    out = guest.result.stdout
    guest_t = field(out, r"VMM-OPTS-TIME guest=(\d+)")
    host_t = field(out, r"@@host-time (\d+)")
    assert guest_t and host_t, guest.describe()
    # the guest reads the RTC as UTC: 9 h ahead of the host's UTC, less the
    # minutes of a nested boot (the host's time is taken after the VM ended)
    ahead = int(guest_t[0]) - int(host_t[0])
    assert 9 * 3600 - 600 < ahead <= 9 * 3600 + 5, (ahead, guest.describe())


@pytest.mark.parametrize("scenario", CLOCK, ids=str)
def test_uuid_is_the_dmi_product_uuid(guest, scenario):
    got = field(guest.result.stdout, r"VMM-OPTS-UUID (\S+)")
    assert got and got[0].lower() == UUID, guest.describe()


@pytest.mark.parametrize("scenario", NOACPI, ids=str)
def test_no_acpi_boots_without_acpi(guest, scenario):
    out = guest.result.stdout
    acpi = field(out, r"VMM-OPTS-ACPI tables=(\w+) rsdp=(\d+)")
    assert acpi == ("no", "0"), (acpi, guest.describe())
    # the guest's reboot ended the VMM (-no-reboot), long before the wait ran out
    assert field(out, r"@@vmm rc=(0)"), guest.describe()


@pytest.mark.parametrize("scenario", RNG, ids=str)
def test_rng_random_feeds_hwrng(guest, scenario):
    got = field(guest.result.stdout, r"VMM-OPTS-HWRNG (\S+) (\S*)x")
    assert got, guest.describe()
    assert got[0].startswith("virtio_rng"), (got, guest.describe())
    assert got[1] == "5a" * 16, (got, guest.describe())
