# SPDX-License-Identifier: GPL-2.0-or-later
"""The PS/2 keyboard and mouse under Linux's own drivers (issue 15): atkbd
(built into Debian's kernel) and psmouse, with evdev for /dev/input/event*
(both carried by the kit, tests/guests/modules-kit.list, and loaded by the
script). One boot per VMM in VMM_REAL_VMMS (QEMU, the peer, checks the
test itself).

The guest prints the input devices /proc/bus/input/devices lists (the
keyboard is "AT Translated Set 2 keyboard"; the mouse, as under QEMU, an
IntelliMouse Explorer: "ImExPS/2 Generic Explorer Mouse"), starts a reader
of each one's event device and says VMM-INPUT-READY. The host side
(tests/real/input_driver.py) then injects keys and mouse actions with QMP
input-send-event; once the readers' files stop growing, the guest prints
them in hex, and the test decodes the struct input_event records: the key
and relative-axis events must be exactly those the injected actions mean,
in order."""
import os
import struct

import pytest

import guestkit

DRIVER = os.path.join(guestkit.HERE, "input_driver.py")

GUEST_SCRIPT = """#VMMKIT-SCRIPT
dmesg -n 1
for m in psmouse evdev; do
	grep -qx "$m.ko" /etc/vmmkit/modules.carry || echo "input: $m is not carried"
	insmod /lib/modules/$m.ko 2>/dev/null || echo "input: insmod $m failed"
done
i=0
while [ $i -lt 30 ] && ! grep -q Mouse /proc/bus/input/devices; do sleep 0.5; i=$((i + 1)); done
grep '^N: Name=' /proc/bus/input/devices | sed 's/^N: Name=/input: device /'
handler() {  # the event device of the input device whose name has $1
	awk -v pat="$1" '/^N: Name=/ { hit = index($0, pat) > 0 }
		/^H: Handlers=/ && hit { for (i = 2; i <= NF; i++) if ($i ~ /event/) { sub(/.*=/, "", $i); print $i } }' \\
		/proc/bus/input/devices | head -n 1
}
kbd=$(handler keyboard)
mouse=$(handler Mouse)
# opened by this shell before it says ready: evdev gives events only to
# readers that have the device open when they happen
exec 3< /dev/input/$kbd 4< /dev/input/$mouse
cat <&3 > /tmp/kbd & kpid=$!
cat <&4 > /tmp/mouse & mpid=$!
echo "VMM-INPUT-READY kbd=$kbd mouse=$mouse"
# until both files have stopped growing for 6 s (at most about 120 s)
i=0 same=0 last=""
while [ $i -lt 120 ] && [ $same -lt 6 ]; do
	now="$(wc -c < /tmp/kbd) $(wc -c < /tmp/mouse)"
	if [ "$now" = "$last" ] && [ "$(echo $now | cut -d' ' -f2)" != 0 ]; then same=$((same + 1)); else same=0; fi
	last=$now
	sleep 1
	i=$((i + 1))
done
kill $kpid $mpid
echo "input: bytes $last"
od -A n -v -t x1 /tmp/kbd | sed 's/^/input: kbd/'
od -A n -v -t x1 /tmp/mouse | sed 's/^/input: mouse/'
"""

EV_KEY, EV_REL = 1, 2
KEY_ENTER, KEY_A, KEY_LEFTSHIFT, KEY_V, KEY_M, KEY_KPENTER, KEY_UP = 28, 30, 42, 47, 50, 96, 103
BTN_LEFT, BTN_SIDE = 0x110, 0x113
REL_X, REL_Y, REL_WHEEL = 0, 1, 8


def taps(*codes):
    return [(EV_KEY, c, 1) for c in codes] + [(EV_KEY, c, 0) for c in reversed(codes)]


# What input_driver.ACTIONS must give, in order (SYN and MSC left out).
KEYS = (taps(KEY_V) + taps(KEY_M) + taps(KEY_M) + taps(KEY_LEFTSHIFT, KEY_A) + taps(KEY_UP)
        + taps(KEY_KPENTER) + taps(KEY_ENTER))
MOUSE = [(EV_REL, REL_X, 10), (EV_REL, REL_Y, -5),  # QMP's y grows downwards, as evdev's
         (EV_KEY, BTN_LEFT, 1), (EV_KEY, BTN_LEFT, 0),
         (EV_REL, REL_WHEEL, -1),                   # wheel-down: towards the user
         (EV_KEY, BTN_SIDE, 1), (EV_KEY, BTN_SIDE, 0),
         (EV_REL, REL_X, -3), (EV_REL, REL_Y, 7)]


def script_disk():
    body = GUEST_SCRIPT.encode()
    return body + b"\0" * (-len(body) % 512 + 512)


class Input(guestkit.Scenario):
    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-input-amd64" % vmm, 420)
        self.vmm = vmm

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        disk = batch.stage_bytes("%s-script.img" % self.name, script_disk())
        # QEMU's pc also has the VMware backdoor port (vmport), through
        # which psmouse drives a VMMouse as an absolute pointer; vmm has
        # none, so the peer leaves it out and both test the PS/2 mouse.
        extra = ["-machine", "vmport=off"] if self.vmm == "qemu" else []
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"), hda=disk,
                                 extra=extra)
        batch.add(self.name, ["/usr/bin/python3", DRIVER, *argv], timeout=self.timeout,
                  marker="@@vmm rc=", grace=10, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


SCENARIOS = [Input(v) for v in guestkit.vmms_peer_optional()]


def events(out, which):
    """The (type, code, value) records of one reader's hex dump, without
    EV_SYN and EV_MSC (struct input_event on x86-64: two 64-bit time
    fields, u16 type, u16 code, s32 value)."""
    data = bytes.fromhex("".join(ln.split(which, 1)[1] for ln in out.splitlines()
                                 if ln.startswith("input: " + which)))
    recs = [struct.unpack_from("<HHi", data, off + 16) for off in range(0, len(data) - 23, 24)]
    return [r for r in recs if r[0] in (EV_KEY, EV_REL)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_keys_and_mouse_reach_evdev(guest, scenario):
    out = guest.log.replace("\r", "")
    desc = "\n".join([ln for ln in out.splitlines() if ln.startswith("input: ") and
                      not ln.startswith(("input: kbd", "input: mouse"))]
                     + ["keyboard: %r" % events(out, "kbd"), "mouse: %r" % events(out, "mouse"),
                        guest.describe()])
    assert "input: device \"AT Translated Set 2 keyboard\"" in out, desc
    assert "input: device \"ImExPS/2 Generic Explorer Mouse\"" in out, desc
    assert "@@sent 15 " in out, desc
    assert events(out, "kbd") == KEYS, desc
    assert events(out, "mouse") == MOUSE, desc
    assert "@@vmm rc=0" in out, desc
