# SPDX-License-Identifier: GPL-2.0-or-later
"""The PC speaker with a real Linux (issue 17): the amd64 kit loads
Debian's pcspkr and evdev modules (from the kit kernel's package, put on
the script disk as tests/real/test_sound.py does) and sounds the speaker
as `beep` does, through the input device's EV_SND SND_TONE: 1000 Hz for a
second, a second of quiet, 440 Hz for a second, each stopped with tone 0.
pcspkr programs PIT channel 2 with 1193182 / Hz (mode 3) and sets port
0x61's bits 0 and 1, and clears them to stop. The VMM records with
-machine pcspk-audiodev (QEMU 7.2's spelling, so the QEMU peer runs the
same command line) to a wav audiodev; the recording has two sounding
stretches whose rising zero crossings give 1193182 / 1193 and
1193182 / 2711 Hz within 1 %, each lasting its second within 30 %.

The event is written with busybox printf (the kit's busybox has no beep):
struct input_event on amd64 is 24 bytes (a 16-byte timeval, u16 type,
u16 code, s32 value)."""
import struct

import pytest

import guestkit
import sound_payload
from test_sound import SCRIPT_SECTORS, read_wav, script_lines

RATE = 44100
SILENCE = 64
GAP_FRAMES = 441 * 5  # 50 ms of silence ends a stretch
TONES = [(1000, 1193182 // 1000), (440, 1193182 // 440)]  # (Hz asked, pcspkr's count)


def event_bytes(value):
    """printf's octal escapes for one EV_SND SND_TONE event of 'value' Hz."""
    raw = bytes(16) + struct.pack("<HHi", 0x12, 0x02, value)
    return "".join("\\%03o" % b for b in raw)


def guest_script(layout):
    """Copy the modules out, load them, find the PC Speaker's event device
    (made with mknod from sysfs if no devtmpfs node exists), play."""
    lines = ["#VMMKIT-SCRIPT",
             "for b in /sys/block/*; do",
             "\tn=${b##*/}",
             '\t[ "$(dd if=/dev/$n bs=14 count=1 2>/dev/null)" = "#VMMKIT-SCRIPT" ] && disk=/dev/$n',
             "done",
             'blob() { dd if=$disk bs=512 skip=$1 count=$2 2>/dev/null | head -c $3 > $4; }',
             "fail=0"]
    for name in layout:
        mod = name[:-3]
        lines += ["if ! grep -q '^%s ' /proc/modules; then" % mod,
                  "\tblob %d %d %d /tmp/%s" % (layout[name] + (name,)),
                  '\tinsmod /tmp/%s || { echo "pcspk: insmod %s failed"; fail=1; }' % (name, mod),
                  "fi"]
    lines += ["ev=",
              "for e in /sys/class/input/event*; do",
              '\t[ "$(cat $e/device/name 2>/dev/null)" = "PC Speaker" ] || continue',
              "\tev=/dev/input/${e##*/}",
              "\tif [ ! -e $ev ]; then",
              "\t\tmkdir -p /dev/input",
              "\t\tmknod $ev c $(cut -d: -f1 $e/dev) $(cut -d: -f2 $e/dev)",
              "\tfi",
              "done",
              'echo "pcspk: device ${ev:-none}"',
              '[ -n "$ev" ] || exit 1']
    for hz, _ in TONES:
        lines += ["printf '%s' > $ev || fail=1" % event_bytes(hz),
                  "sleep 1",
                  "printf '%s' > $ev || fail=1" % event_bytes(0),
                  "sleep 1"]
    lines += ['echo "pcspk: played fail=$fail"', "exit $fail"]
    return "\n".join(lines) + "\n"


def script_disk():
    blobs = [(n + ".ko", d) for n, d in
             sound_payload.kernel_modules(guestkit.kit_dir(), "amd64", ["evdev", "pcspkr"])]
    layout, at, body = {}, SCRIPT_SECTORS, b""
    for name, data in blobs:
        n = (len(data) + 511) // 512
        layout[name] = (at, n, len(data))
        body += data.ljust(n * 512, b"\0")
        at += n
    script = guest_script(layout).encode()
    assert len(script) < SCRIPT_SECTORS * 512
    img = script.ljust(SCRIPT_SECTORS * 512, b"\0") + body
    return img + b"\0" * (-len(img) % (1 << 20))


class SpeakerBoot(guestkit.Scenario):
    alone = True

    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-pcspk" % vmm, timeout=guestkit.BOOT_TIMEOUT + 60)
        self.vmm = vmm
        self.recording = "%s-pcspk.wav" % vmm
        self.batch = None

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        disk = batch.stage_bytes("%s-script.img" % self.name, script_disk())
        self.batch = batch
        path = batch.scratch_path(self.recording, collect=True)
        extra = ["-audiodev", "wav,id=snd,path=%s" % path, "-machine", "pc,pcspk-audiodev=snd"]
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 hda=disk, extra=extra)
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE, grace=15,
                  idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  flake_signs=guestkit.BOOT_FLAKE_SIGNS, retry_guest=self.retry_guest())


SCENARIOS = [SpeakerBoot(v) for v in guestkit.vmms_peer_optional()]


def stretches(mono):
    out, start, last = [], None, None
    for i, v in enumerate(mono):
        if abs(v) > SILENCE:
            if start is None:
                start = i
            elif i - last > GAP_FRAMES:
                out.append((start, last + 1))
                start = i
            last = i
    if start is not None:
        out.append((start, last + 1))
    return out


def frequency(s):
    xs = [i - 1 + s[i - 1] / (s[i - 1] - s[i]) for i in range(1, len(s)) if s[i - 1] < 0 <= s[i]]
    assert len(xs) >= 2, "no tone"
    return (len(xs) - 1) * RATE / (xs[-1] - xs[0])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_linux_pcspkr_tones_are_recorded(guest, scenario):
    rep = guest.report
    assert rep.found and rep.done_rc == 0, guest.describe()
    out = script_lines(guest)
    assert "pcspk: played fail=0" in out, guest.describe()
    raw = scenario.batch.output(scenario.recording)
    assert raw is not None, "no recording\n%s" % guest.describe()
    channels, width, rate, data, header_ok = read_wav(raw, scenario.recording)
    assert header_ok and (channels, width, rate) == (2, 2, RATE), (channels, width, rate)
    s = struct.unpack("<%dh" % (len(data) // 2), data[:len(data) // 4 * 4])
    left = s[0::2]
    # the speaker's transient edges (a tone's start or end inside a frame)
    # are short; a stretch is a tone
    found = [p for p in stretches(left) if p[1] - p[0] > RATE // 10]
    if len(found) != len(TONES) and scenario.vmm == "qemu":
        # measured in the L1: QEMU 10's pcspk records both tones and the
        # pause between them as one sounding stretch
        pytest.xfail("QEMU's pcspk: sounding stretches %r for %d tones" % (found, len(TONES)))
    assert len(found) == len(TONES), found
    for (a, b), (hz, count) in zip(found, TONES):
        want = 1193182 / count
        got = frequency(left[a:b])
        print("%s: %d Hz asked: %.3f Hz recorded, %.3f Hz expected (%.4f %%), %.3f s" % (
            scenario.name, hz, got, want, abs(got / want - 1) * 100, (b - a) / RATE))
        assert abs(got / want - 1) < 0.01, (hz, got, want)
        assert 0.7 <= (b - a) / RATE <= 1.3, (hz, (b - a) / RATE)
