# SPDX-License-Identifier: GPL-2.0-or-later
"""The PC's two watchdogs under Linux's own drivers (ib700wdt, i6300esb),
both devices in one VM, one run per VMM in VMM_REAL_VMMS (QEMU, the peer,
checks the test itself). The kit carries the modules without loading them
(tests/guests/modules-kit.list, @carry); the script loads one driver per
boot (ib700wdt is a legacy driver that wants /dev/watchdog for itself, so
the two cannot be loaded together) and feeds it with busybox's watchdog
daemon, then kills the daemon with SIGKILL (no magic close: the driver
leaves the timer running). Boots are told apart by a phase number the
script writes to its own disk, past the part the kit reads as the script.

1. ib700, 6 s timeout, fed for 15 s: no WATCHDOG event; starved: QMP
   WATCHDOG {"action": "reset"} about 6 s later, and the machine resets
   (the default action).
2. i6300esb, 4 s timeout, fed for 12 s, then starved: WATCHDOG reset about
   4 s later. Its driver saw bootstatus 0: the first reset was not its.
3. The third boot's i6300esb driver finds WDT_TIMEOUT (bootstatus
   WDIOF_CARDRESET, 32): the reset was the watchdog's. The host side
   (tests/real/watchdog_driver.py) sets the action to poweroff over QMP
   (watchdog-set-action); the guest arms a 2 s timeout and starves it:
   WATCHDOG {"action": "poweroff"}, and the VMM exits 0 at once (no SHUTDOWN
   event, as QEMU).
"""
import re
import os

import pytest

import guestkit

DRIVER = os.path.join(guestkit.HERE, "watchdog_driver.py")
IB_TIMEOUT, ESB_TIMEOUT, ESB_TIMEOUT2 = 6, 4, 2
# Nested TCG is slow and its console late; the lower bounds show the
# guest's timeout was honoured (its feeder pinged at most 1 s before the kill).
SLACK = 20
PHASE_SECTOR = 300  # past the 256 sectors the kit reads as the script

GUEST_SCRIPT = """#VMMKIT-SCRIPT
for b in /sys/block/*; do
	n=${b##*/}
	[ "$(dd if=/dev/$n bs=14 count=1 2>/dev/null)" = "#VMMKIT-SCRIPT" ] && disk=/dev/$n
done
phase=$(dd if=$disk bs=512 skip=%(sector)d count=1 2>/dev/null | head -c 6)
set_phase() {
	printf "WDTPH$1" | dd of=$disk bs=512 seek=%(sector)d conv=notrunc,fsync 2>/dev/null
	sync
}
carried() {  # carried MODULE...: the kit's carried modules, in this order
	for m in "$@"; do
		grep -qx "$m.ko" /etc/vmmkit/modules.carry || echo "wdt: $m is not carried"
		insmod /lib/modules/$m.ko 2>/dev/null || echo "wdt: insmod $m failed"
	done
}
starve() {  # starve DEV TIMEOUT FEED_SECONDS NAME
	watchdog -F -T $2 -t 1 $1 & pid=$!
	echo "WDT-FEEDING-$4"
	sleep $3
	echo "WDT-FED-$4"
	echo "WDT-STARVE-$4"
	kill -9 $pid
	sleep 40
	echo "WDT-ALIVE-$4"
}
esb_dev() {
	for w in /sys/class/watchdog/watchdog*; do
		[ "$(cat $w/identity 2>/dev/null)" = "i6300ESB timer" ] && echo ${w##*/}
	done
}
case "$phase" in
WDTPH1)
	set_phase 2
	carried watchdog i6300esb
	esb=$(esb_dev)
	echo "WDT-PHASE2 esb=${esb:-none} bootstatus=$(cat /sys/class/watchdog/$esb/bootstatus 2>/dev/null)"
	starve /dev/$esb %(esb)d 12 ESB
	;;
WDTPH2)
	set_phase 3
	carried watchdog i6300esb
	esb=$(esb_dev)
	echo "WDT-REBOOTED esb=${esb:-none} bootstatus=$(cat /sys/class/watchdog/$esb/bootstatus 2>/dev/null)"
	sleep 3
	starve /dev/$esb %(esb2)d 5 ESB2
	;;
*)
	set_phase 1
	carried ib700wdt
	echo "WDT-PHASE1 $(ls /dev/watchdog 2>&1)"
	starve /dev/watchdog %(ib)d 15 IB
	;;
esac
""" % {"esb": ESB_TIMEOUT, "esb2": ESB_TIMEOUT2, "ib": IB_TIMEOUT, "sector": PHASE_SECTOR}


class Watchdogs(guestkit.Scenario):
    alone = True

    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-watchdog-amd64" % vmm, timeout=600)
        self.vmm = vmm

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(GUEST_SCRIPT),
                                   size=(PHASE_SECTOR + 8) * 512)
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio,format=raw" % script,
                                        "-device", "i6300esb", "-device", "ib700"])
        batch.add(self.name, ["/usr/bin/python3", DRIVER, *argv], timeout=self.timeout,
                  marker="@@vmm rc=", grace=10, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


SCENARIOS = [Watchdogs(v) for v in guestkit.vmms_peer_optional()]


class Timeline:
    """What the driver printed: the guest's markers and the QMP events,
    each with the seconds since the VMM started."""

    def __init__(self, guest, scenario):
        self.guest, self.vmm = guest, scenario.vmm
        self.out = guest.log.replace("\r", "")
        self.marks = {}
        for name, t in re.findall(r"^@@t (\S+) t=([\d.]+)$", self.out, re.M):
            assert name not in self.marks, self.why("marker %s twice" % name)
            self.marks[name] = float(t)
        self.events = [(float(t), name, data) for name, data, t in
                       re.findall(r"^@@qmp ([A-Z_]+) (.*?) ?t=([\d.]+)$", self.out, re.M)]

    def why(self, what):
        lines = [l for l in self.out.split("\n") if l.startswith(("@@", "WDT-", "wdt:"))]
        return "%s\n%s\n%s" % (what, "\n".join(lines), self.guest.describe())

    def mark(self, name):
        assert name in self.marks, self.why("no marker " + name)
        return self.marks[name]

    def watchdogs(self):
        return [(t, data) for t, name, data in self.events if name == "WATCHDOG"]

    def expiry_after(self, name, action, timeout):
        """The WATCHDOG event that followed the starving of watchdog
        `name`: none while it was fed, then `action` within `timeout`
        (less the last feed, plus the slack). Returns its time."""
        feeding, starve = self.mark("WDT-FEEDING-" + name), self.mark("WDT-STARVE-" + name)
        assert not [t for t, _ in self.watchdogs() if feeding <= t < starve], \
            self.why("%s fired while fed" % name)
        after = [(t, d) for t, d in self.watchdogs() if t >= starve]
        assert after, self.why("%s never fired" % name)
        fired, data = after[0]
        assert data == "action=" + action, self.why("%s: %s" % (name, data))
        assert timeout - 2.5 <= fired - starve <= timeout + SLACK, \
            self.why("%s fired %.1f s after the starve" % (name, fired - starve))
        assert "WDT-ALIVE-" + name not in self.marks, self.why(name + " did not act")
        return fired

    def reset_after(self, t):
        assert [e for e in self.events if e[1] == "RESET" and t <= e[0] <= t + 10 and
                e[2] == "guest=True reason=guest-reset"], self.why("no RESET after %.1f" % t)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_starved_ib700_resets_the_machine(guest, scenario):
    tl = Timeline(guest, scenario)
    assert "WDT-PHASE1 /dev/watchdog" in tl.out, tl.why("no ib700 /dev/watchdog")
    fired = tl.expiry_after("IB", "reset", IB_TIMEOUT)
    tl.reset_after(fired)
    # Three expiries in all, each after its own starve.
    assert len(tl.watchdogs()) == 3, tl.why("not three expiries")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_starved_i6300esb_resets_and_the_reboot_sees_why(guest, scenario):
    tl = Timeline(guest, scenario)
    # The ib700's reset was not the 6300ESB's: no WDT_TIMEOUT then.
    assert "WDT-PHASE2 esb=watchdog0 bootstatus=0" in tl.out, tl.why("phase 2")
    fired = tl.expiry_after("ESB", "reset", ESB_TIMEOUT)
    tl.reset_after(fired)
    assert "WDT-REBOOTED esb=watchdog0 bootstatus=32" in tl.out, tl.why("no WDT_TIMEOUT")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_action_set_over_qmp_powers_off(guest, scenario):
    tl = Timeline(guest, scenario)
    assert '@@qmp watchdog-set-action -> {"return": {}}' in tl.out, tl.why("set-action")
    tl.expiry_after("ESB2", "poweroff", ESB_TIMEOUT2)
    # The poweroff action exits at once with status 0, without a SHUTDOWN
    # event (QEMU's exit(0)).
    assert "@@qmp SHUTDOWN" not in tl.out, tl.why("SHUTDOWN")
    assert "@@vmm rc=0" in tl.out, tl.why("exit status")
