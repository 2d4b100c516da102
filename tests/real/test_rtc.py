# SPDX-License-Identifier: GPL-2.0-or-later
"""The MC146818 RTC under the kit's Linux (rtc_cmos), one boot per VMM in
VMM_REAL_VMMS (QEMU, the peer, validates the test itself). Since issue 13
the RTC's interrupts are timers of vmm's main event loop (virtual clock),
not a thread of their own:

* the guest's clock, read from the RTC at boot and by `hwclock -r`, is the
  host's UTC time (within the boot's duration);
* an alarm set through /sys/class/rtc/rtc0/wakealarm 2 s ahead raises IRQ 8
  (the rtc0 line of /proc/interrupts counts up) and the alarm is consumed.
"""
import re
import shlex

import pytest

import guestkit

GUEST_SCRIPT = """#VMMKIT-SCRIPT
r=/sys/class/rtc/rtc0
echo "VMM-RTC-NAME $(cat $r/name 2>/dev/null)"
echo "VMM-RTC-HWCLOCK $(hwclock -r -u 2>&1 | head -n 1)"
before=$(awk '/rtc0/ {print $2}' /proc/interrupts)
echo 0 > $r/wakealarm
echo +2 > $r/wakealarm
armed=$(cat $r/wakealarm)
sleep 5
after=$(awk '/rtc0/ {print $2}' /proc/interrupts)
echo "VMM-RTC-IRQS before=${before:-none} after=${after:-none} armed=${armed:-none} left=$(cat $r/wakealarm)x"
echo "VMM-RTC-TIME guest=$(date -u +%s)"
"""


class Rtc(guestkit.Scenario):
    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-rtc-amd64" % vmm, timeout=420)
        self.vmm = vmm

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(GUEST_SCRIPT))
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio,format=raw" % script])
        cmd = " ".join(shlex.quote(a) for a in argv)
        shell = guestkit.detached_vmm_shell(self.name, cmd, 1500,
                                            after='echo "@@host-time $(date -u +%%s)"; ')
        batch.add(self.name, shell, timeout=self.timeout, idle=guestkit.BOOT_IDLE + 60,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


SCENARIOS = [Rtc(v) for v in guestkit.vmms_peer_optional()]


def field(out, pattern):
    m = re.search(pattern, out.replace("\r", ""))
    return m.groups() if m else None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_guest_clock_is_host_utc(guest, scenario):
    out = guest.result.stdout
    assert field(out, r"VMM-RTC-NAME (rtc_cmos)"), guest.describe()
    # busybox hwclock -r: "Thu Dec  3 14:26:28 2026  0.000000 seconds"
    assert field(out, r"VMM-RTC-HWCLOCK (\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})"), \
        guest.describe()
    guest_t = field(out, r"VMM-RTC-TIME guest=(\d+)")
    host_t = field(out, r"@@host-time (\d+)")
    assert guest_t and host_t, guest.describe()
    # The guest read its time at boot and ran its own clock since; the host
    # time is taken after the VM ended. Minutes of nested boot at most.
    assert 0 <= int(host_t[0]) - int(guest_t[0]) < 600, (guest_t, host_t, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_alarm_interrupt_arrives(guest, scenario):
    out = guest.result.stdout
    irqs = field(out, r"VMM-RTC-IRQS before=(\S+) after=(\S+) armed=(\S+) left=(\S*)x")
    assert irqs, guest.describe()
    before, after, armed, left = irqs
    assert armed.isdigit(), irqs
    assert before.isdigit() and after.isdigit() and int(after) > int(before), irqs
    assert left == "", irqs  # the alarm fired and was consumed
