# SPDX-License-Identifier: GPL-2.0-or-later
"""Sound with a real Linux (issue 17): Linux binds each sound card and
Debian's aplay plays a known signal through it to the VMM's wav audiodev;
the test reads the recording afterwards.

* 686 kernel, one boot with two ISA cards on different resources:
  -device sb16 (port 0x220, irq 5, dma 1/5; snd-sb16 is loaded by the kit
  initramfs with isapnp=0 port=0x220 irq=5 dma8=1 dma16=5) and
  -device cs4231a,irq=7 (port 0x534, dma 3; snd-cs4231 with
  port=0x534 irq=7 dma1=3 dma2=-1, insmodded by the script). The SB16
  plays the 16-bit stereo 44.1 kHz sweep, then the 8-bit mono 22.05 kHz
  sweep; the CS4231A the 16-bit sweep. In the same boot a third card,
  -device gus,irq=3,dma=6 (port 0x240; IRQ 3 is COM2's, absent here, and
  channel 6 is free beside the SB16's 1/5 and the CS4231A's 3):
  snd-gusclassic with port=0x240 irq=3 dma1=6 dma2=-1 channels=14 (14
  active voices: the GF1 mixes at 617400 / 14 = 44100 Hz), insmodded by
  the script; amixer sets its "PCM Playback Volume" to 127 (the driver
  starts at 0: silence) and aplay plays the 16-bit sweep through plughw
  (the GF1's PCM is non-interleaved only: alsa-lib's plug splits the
  channels).
* amd64 kernel: -device ES1370 (snd-ens1370 and its dependencies, by
  their modinfo "depends", insmodded by the script) plays the 16-bit sweep.

aplay, its libraries, the ELF loader and ALSA's configuration
(tests/real/sound_payload.py, from Debian's .debs), the sweeps and the
modules are put on the script disk behind the script and copied out with
dd by the guest. Each card records to a wav audiodev in its default format
(44100 Hz, 16-bit stereo) at a scratch path the host reads afterwards.

A recording is cut into its sounding stretches (silence: |sample| <= 64
for 10 ms or more); stretch i is play i of that card. Each lasts the
sweep's 2 s within 2 %, and after aligning it with the sweep (the lag of
the best correlation within 32 frames of the stretch's start) correlates
with the sweep at least 0.99: for the 16-bit sweep per channel against
the source samples; for the 8-bit one against its u8 samples (x 256)
linearly interpolated to 44100 Hz, both channels. The reference holds
the quantised samples themselves, so u8 quantisation costs nothing and
the bound stays 0.99. QEMU (the peer) plays unsigned 8-bit with its
distance from the centre doubled and clipped (docs/testing.md, the
ES1370): its 8-bit correlation is an expected failure, for the peer only.
"""
import os
import re
import struct
import sys

import pytest

import guestkit
import sound_payload

# the analysis, one copy with the firmware-level tests'
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fw"))
from sound_analysis import RATE, aligned_correlation, stretches, upsample2  # noqa: E402

SCRIPT_SECTORS = 256  # what the kit init reads as the script
STALE_FRAMES = 4410   # a stretch under 100 ms: a play's stale tail (see the test)
LENGTH_TOLERANCE = 0.02
MIN_CORRELATION = 0.99
QEMU_U8 = ("QEMU plays unsigned 8-bit with its distance from the centre doubled "
           "and clipped (docs/testing.md, the ES1370)")

# -device name, kit module (None: loaded by the kit initramfs) and its
# insmod arguments, the driver name in /proc/asound/cards
CARDS = {
    "sb16": ("sb16", None, "", "SB16"),
    # not QEMU's default IRQ 9: that is the ACPI SCI on this PC, which
    # Linux holds level-triggered (snd-cs4231: "Flags mismatch irq 9")
    "cs4231a": ("cs4231a,irq=7", "snd_cs4231", "port=0x534 irq=7 dma1=3 dma2=-1", "CS4231"),
    "gus": ("gus,irq=3,dma=6", "snd_gusclassic", "port=0x240 irq=3 dma1=6 dma2=-1 channels=14",
            "GUS"),
    "es1370": ("ES1370", "snd_ens1370", "", "ENS1370"),
}
# kit arch -> [(card, signal)] in the order the guest plays them
PLAYS = {
    "686": [("sb16", "sweep16"), ("sb16", "gap"), ("sb16", "sweep8"), ("cs4231a", "sweep16"),
            ("gus", "sweep16")],
    "amd64": [("es1370", "sweep16")],
}


def signals():
    """The WAVE files the guest plays. "gap", 100 ms of 16-bit silence,
    separates two plays on one card: a VMM records only while a card
    plays, so the time between two aplay runs leaves no silence."""
    return {"sweep16": sound_payload.sweep16_wav(), "sweep8": sound_payload.sweep8_wav(),
            "gap": sound_payload.wav_bytes(RATE, 2, 2, bytes(4 * RATE // 10))}


def guest_script(arch, layout):
    """The kit script: copy the blobs out of the disk (layout: name ->
    (first sector, sectors, bytes)), load the modules, list the cards,
    play every signal of PLAYS[arch] with aplay on its card's hw device."""
    blob = lambda name, out: "blob %d %d %d %s" % (layout[name] + (out,))  # noqa: E731
    lines = ["#VMMKIT-SCRIPT",
             "for b in /sys/block/*; do",
             "\tn=${b##*/}",
             '\t[ "$(dd if=/dev/$n bs=14 count=1 2>/dev/null)" = "#VMMKIT-SCRIPT" ] && disk=/dev/$n',
             "done",
             'blob() { dd if=$disk bs=512 skip=$1 count=$2 2>/dev/null | head -c $3 > $4; }',
             "fail=0",
             # progress lines keep the harness's idle timer (BOOT_IDLE) fed
             'echo "sound: copying the aplay payload from $disk"',
             blob("aplay.tgz", "/tmp/aplay.tgz"),
             'tar -xzf /tmp/aplay.tgz -C / || { echo "snd: payload untar failed"; fail=1; }',
             "rm -f /tmp/aplay.tgz"]
    for sig in sorted({s for _, s in PLAYS[arch]}):
        lines.append(blob(sig, "/tmp/%s.wav" % sig))
    for name in (n for n in layout if n.endswith(".ko")):
        mod = name[:-3]
        args = ""
        for c in {c for c, _ in PLAYS[arch]}:
            if CARDS[c][1] == mod:
                args = CARDS[c][2]
        lines += ["if ! grep -q '^%s ' /proc/modules; then" % mod,
                  "\t" + blob(name, "/tmp/" + name),
                  '\tinsmod /tmp/%s %s || { echo "snd: insmod %s failed"; fail=1; }' % (name, args, mod),
                  "fi"]
    lines += ['echo "sound: modules loaded"',
              "sed 's/^/asound: /' /proc/asound/cards",
              "cardno() {  # DRIVER",
              "\tsed -n \"s/^ *\\([0-9][0-9]*\\) \\[.*\\]: $1 - .*/\\1/p\" /proc/asound/cards | head -n 1",
              "}",
              "play() {  # DRIVER SIGNAL LABEL [PCM TYPE: hw, plughw]",
              "\tc=$(cardno $1)",
              '\tif [ -z "$c" ]; then echo "snd-play $3 card=none rc=-1"; fail=1; return; fi',
              "\tLD_LIBRARY_PATH=/lib/%(t)s:/usr/lib/%(t)s /usr/bin/aplay -D ${4:-hw}:$c,0 /tmp/$2.wav"
              " > /tmp/aplay.log 2>&1" % {"t": sound_payload.ARCHES[arch][1]},
              "\trc=$?",
              "\tsed 's/^/aplay: /' /tmp/aplay.log",
              '\techo "snd-play $3 card=$c rc=$rc"',
              '\t[ $rc = 0 ] || fail=1',
              "}"]
    for card, sig in PLAYS[arch]:
        if (card, sig) == ("sb16", "sweep8"):
            # snd-sb16 plays through the 16-bit DMA channel (16-bit formats
            # only) while "16-bit DMA Allocation" (a card control, not a
            # mixer one) gives it to playback
            lines.append("LD_LIBRARY_PATH=/lib/%(t)s:/usr/lib/%(t)s /usr/bin/amixer -c 0 cset "
                         "iface=CARD,name='16-bit DMA Allocation' Capture | sed 's/^/amixer: /'"
                         % {"t": sound_payload.ARCHES[arch][1]})
        pcm = ""
        if card == "gus":
            # snd-gusclassic's PCM volume starts at 0 (silence); its PCM
            # takes non-interleaved access only (plughw interleaves)
            lines.append("LD_LIBRARY_PATH=/lib/%(t)s:/usr/lib/%(t)s /usr/bin/amixer -c $(cardno GUS) "
                         "cset name='PCM Playback Volume' 127,127 | sed 's/^/amixer: /'"
                         % {"t": sound_payload.ARCHES[arch][1]})
            pcm = " plughw"
        lines.append("play %s %s %s-%s%s" % (CARDS[card][3], sig, card, sig, pcm))
    lines.append("exit $fail")
    return "\n".join(lines) + "\n"


def script_disk(arch):
    """The script disk: the script, then the aplay payload, the signals
    and the card modules not in the kit initramfs, each sector-aligned."""
    blobs = [("aplay.tgz", open(sound_payload.build(arch), "rb").read())]
    sigs = signals()
    blobs += sorted((name, sigs[name]) for name in {sig for _, sig in PLAYS[arch]})
    wanted = [CARDS[c][1] for c, _ in PLAYS[arch] if CARDS[c][1]]
    blobs += [(n + ".ko", d) for n, d in
              sound_payload.kernel_modules(guestkit.kit_dir(), arch, sorted(set(wanted)))]
    layout, at, body = {}, SCRIPT_SECTORS, b""
    for name, data in blobs:
        n = (len(data) + 511) // 512
        layout[name] = (at, n, len(data))
        body += data.ljust(n * 512, b"\0")
        at += n
    script = guest_script(arch, layout).encode()
    assert len(script) < SCRIPT_SECTORS * 512
    img = script.ljust(SCRIPT_SECTORS * 512, b"\0") + body
    return img + b"\0" * (-len(img) % (1 << 20))


class SoundBoot(guestkit.Scenario):
    alone = True

    def __init__(self, vmm, arch):
        guestkit.Scenario.__init__(self, "%s-sound-%s" % (vmm, arch), timeout=guestkit.BOOT_TIMEOUT + 120)
        self.vmm, self.arch = vmm, arch
        self.cards = sorted({c for c, _ in PLAYS[arch]})
        self.recordings = {}   # card -> scratch name of its wav recording
        self.batch = None

    def missing(self):
        why = guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)
        if why:
            return why
        try:
            sound_payload.build(self.arch)
        except Exception as e:  # noqa: BLE001 - the reason is the skip message
            return "the aplay payload cannot be built (%s: %s)" % (type(e).__name__, e)
        return None

    def add_to(self, batch):
        disk = batch.stage_bytes("%s-script.img" % self.name, script_disk(self.arch))
        self.batch = batch
        extra = []
        for card in self.cards:
            self.recordings[card] = "%s-%s.wav" % (self.name, card)
            path = batch.scratch_path(self.recordings[card], collect=True)
            extra += ["-audiodev", "wav,id=snd_%s,path=%s" % (card, path),
                      "-device", "%s,audiodev=snd_%s" % (CARDS[card][0], card)]
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-%s.iso" % self.arch),
                                 hda=disk, extra=extra)
        peer = "qemu-sound-%s" % self.arch if self.vmm == "vmm" and "qemu" in guestkit.vmms_peer_optional() else None
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE, grace=15,
                  idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  flake_signs=guestkit.BOOT_FLAKE_SIGNS, retry_guest=self.retry_guest(),
                  peer=peer)


SCENARIOS = [SoundBoot(v, a) for v in guestkit.vmms_peer_optional() for a in ("686", "amd64")]
PLAY_CASES = [(sc, i) for sc in SCENARIOS for i, (_, sig) in enumerate(PLAYS[sc.arch])
              if sig != "gap"]


# ---- the recording ---------------------------------------------------------------

def read_wav(raw, path):
    """(channels, sample width, rate, frames bytes, header_ok) of a WAVE
    file's bytes, its data read to the end of the file; header_ok: the RIFF
    and data sizes in the header match the file."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise AssertionError("%s is not a WAVE file (%d bytes)" % (path, len(raw)))
    pos, fmt, data, data_size = 12, None, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", raw, pos + 8)
        elif cid == b"data":
            data, data_size = raw[pos + 8:], size
            break
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise AssertionError("%s: no fmt or data chunk" % path)
    header_ok = (data_size == len(data)
                 and struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8)
    return fmt[1], fmt[5] // 8, fmt[2], data, header_ok


def references(signal):
    """(left, right) the sweep should come out as in a 44100 Hz s16 stereo
    recording."""
    if signal == "sweep16":
        f = sound_payload.sweep16_frames()
        return [x for x, _ in f], [y for _, y in f]
    up = upsample2([(v - 128) * 256 for v in sound_payload.sweep8_samples()])
    return up, up


# ---- the tests ------------------------------------------------------------------------

def script_lines(guest):
    return [ln.strip() for ln in guest.report.script_output()]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_linux_binds_the_sound_cards(guest, scenario):
    rep = guest.report
    assert rep.found and rep.done_rc == 0, guest.describe()
    assert not rep.mods_failed, guest.describe()
    out = "\n".join(script_lines(guest))
    assert "snd: " not in out, guest.describe()   # untar and insmod went well
    drivers = re.findall(r"^asound: +\d+ \[.*\]: (\S+) - ", out, re.M)
    assert sorted(drivers) == sorted(CARDS[c][3] for c in scenario.cards), (drivers, guest.describe())
    # the kit's report (before the script) lists the cards its initramfs
    # bound: the SB16 on 686
    at_boot = [c for c in scenario.cards if CARDS[c][1] is None]
    assert len(rep.sound) == len(at_boot), (rep.sound, guest.describe())
    assert rep.script_rc == 0, guest.describe()


@pytest.mark.parametrize("scenario,index", PLAY_CASES,
                         ids=["%s-%s-%s" % (sc, *PLAYS[sc.arch][i]) for sc, i in PLAY_CASES])
def test_aplay_plays_the_sweep_into_the_recording(guest, scenario, index):
    card, signal = PLAYS[scenario.arch][index]
    label = "%s-%s" % (card, signal)
    played = [ln for ln in script_lines(guest) if ln.startswith("snd-play %s " % label)]
    assert played and played[0].endswith(" rc=0"), (played, guest.describe())

    name = scenario.recordings[card]
    raw = scenario.batch.output(name)
    assert raw is not None, "%s: no recording %s\n%s" % (label, name, guest.describe())
    channels, width, rate, data, header_ok = read_wav(raw, name)
    assert header_ok, "%s: the WAVE header's sizes do not match the file" % name
    assert (channels, width, rate) == (2, 2, RATE), (channels, width, rate)
    samples = struct.unpack("<%dh" % (len(data) // 2), data[:len(data) // 4 * 4])
    left, right = samples[0::2], samples[1::2]
    found = stretches(left, right)
    # A stretch under STALE_FRAMES is the tail of a play: at aplay's drain
    # the card stops at the period interrupt, and what it plays while the
    # guest takes that interrupt is an older period of the ring buffer
    # (after the silence aplay pads the last period with). Each play leaves
    # at most one.
    parts = [p for p in found if p[1] - p[0] >= STALE_FRAMES]
    stale = [p for p in found if p[1] - p[0] < STALE_FRAMES]
    plays_of_card = [i for i, (c, sig) in enumerate(PLAYS[scenario.arch])
                     if c == card and sig != "gap"]
    assert len(parts) == len(plays_of_card) and len(stale) <= len(plays_of_card), (
        "%s: sounding stretches %r for %d plays" % (card, found, len(plays_of_card)))
    first, end = parts[plays_of_card.index(index)]

    want = int(sound_payload.SWEEP_SECONDS * RATE)
    error = abs((end - first) - want) / want
    if error > LENGTH_TOLERANCE and signal == "sweep8" and scenario.vmm == "qemu":
        # measured in the L1: QEMU 10's SB16 records the 8-bit play 6 % long
        pytest.xfail("QEMU's SB16 8-bit play: %d frames for %d (%.2f%%)" % (
            end - first, want, 100 * error))
    assert error <= LENGTH_TOLERANCE, "%s: %d frames for %d (%.2f%%)" % (label, end - first, want,
                                                                          100 * error)
    ref_l, ref_r = references(signal)
    lag_l, corr_l, gain_l = aligned_correlation(left, ref_l, first)
    lag_r, corr_r, gain_r = aligned_correlation(right, ref_r, first)
    print("%s %s: %d frames for %d (error %.2f%%), correlation L %.5f (lag %d, gain %.3f) "
          "R %.5f (lag %d, gain %.3f), stale tails %r" % (
              scenario.name, label, end - first, want, 100 * error, corr_l, lag_l, gain_l,
              corr_r, lag_r, gain_r, stale))
    ok = corr_l >= MIN_CORRELATION and corr_r >= MIN_CORRELATION
    if not ok and signal == "sweep8" and scenario.vmm == "qemu":
        pytest.xfail("%s (correlation L %.4f R %.4f)" % (QEMU_U8, corr_l, corr_r))
    assert ok, (label, corr_l, corr_r)
