# SPDX-License-Identifier: GPL-2.0-or-later
"""Sound as a person meets it: a real-mode program (tests/fw/sb16play.S,
booted by SeaBIOS from a disk) programs the 8237 and a Sound Blaster 16 to
play a known waveform by auto-init DMA with interrupts, and vmm records it
with -audiodev wav. The recording holds exactly the program's samples, in
the program's format, and the playback took the time those samples last at
their rate (the card is paced by the backend's clock, not by how fast the
guest runs). A vmm ended by SIGTERM in the middle of playback leaves a
complete WAVE file. -audiodev sdl plays the same samples through SDL's
audio (its file-writing driver here), under the sandbox. And the user
errors: -soundhw, unknown audiodevs, resources a card does not take, two
cards on the same ports.

The ES1370 the same way: a real-mode program (tests/fw/es1370play.S) finds
the card through the PCI BIOS and plays by bus mastering through DAC2
(16-bit stereo and 8-bit mono at PCLKDIV rates) or DAC1 (its fixed 22050
Hz) as one stop-mode count with its interrupt at the end; the recording
holds exactly its samples. Its period form (an interrupt per period, stop
mode for the last) under QEMU 10 (TCG) records the same samples as under
vmm (up to the last period: QEMU has no stop mode)."""
import os
import signal
import struct
import subprocess
import time
import wave

import shutil

import pytest

import fwskip
from conftest import BOOT_TIMEOUT, VMM, fw_image, seabios_log_args
from sound_analysis import (aligned_correlation, correlation, split_silence, stretches,
                            upsample2)
from test_cli import one_line_error, run
from test_qmp import Qmp, sock_path, wait_for

START = "VMM-SB16 start"
DONE = "VMM-SB16 done"

# the program's 8-bit waveform: a 1 kHz sine at 8000 Hz, 4096-byte buffer,
# eight 2048-sample blocks
SINE = bytes([128, 218, 255, 218, 128, 38, 1, 38])
SINE_FRAMES = 8 * 2048
# the 16-bit one: ramps in both channels, 8192 frames, 10 blocks of 4096
RAMP = b"".join(struct.pack("<hh", -32000 + 7 * i, 16000 - 3 * i) for i in range(8192))
RAMP_FRAMES = 10 * 4096


def need_kvm():
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")


def play(tmp_path, image, audiodev, stop_after=None, env=None, device="sb16,audiodev=snd",
         start=START, emulator=None, stall=None):
    """Boots the program with a card (an SB16 unless told) on an audiodev;
    returns (status, seconds from the program's start marker to the
    emulator's end, debug log, stderr). stop_after: SIGTERM that many
    seconds after the marker. stall: (after, seconds): the whole process
    stopped (SIGSTOP) that many seconds after the marker (or, when `after`
    is a function, at the first poll after the marker where it returns
    true), for that long.
    emulator: another command line's start (QEMU's) instead of vmm's."""
    if emulator is None:
        need_kvm()
    log = tmp_path / "debugcon.log"
    cmd = [*(emulator or [VMM]), "-nodefaults", "-m", "32", "-display", "none", "-no-reboot",
           *seabios_log_args(log), "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-audiodev", audiodev, "-device", device,
           "-drive", f"file={fw_image(image)},format=raw,if=ide,snapshot=on"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    begin = time.monotonic()
    started = None
    try:
        while p.poll() is None:
            now = time.monotonic()
            if now - begin > BOOT_TIMEOUT:
                pytest.fail(f"vmm ran past {BOOT_TIMEOUT}s: {log.read_text(errors='replace')[-2000:]}")
            if started is None and log.exists() and start in log.read_text(errors="replace"):
                started = now
            if started is not None and stop_after is not None and now - started >= stop_after:
                p.send_signal(signal.SIGTERM)
                stop_after = None
            if started is not None and stall is not None and \
                    (stall[0]() if callable(stall[0]) else now - started >= stall[0]):
                p.send_signal(signal.SIGSTOP)
                time.sleep(stall[1])
                p.send_signal(signal.SIGCONT)
                stall = None
            time.sleep(0.005)
        ended = time.monotonic()
    finally:
        if p.poll() is None:
            p.kill()
        _, err = p.communicate(timeout=30)
    assert started is not None, log.read_text(errors="replace")[-2000:]
    return p.returncode, ended - started, log.read_text(errors="replace"), err.decode(errors="replace")


def read_wav(path):
    with wave.open(str(path)) as w:
        params = w.getparams()
        data = w.readframes(w.getnframes())
    return params, data


def check_duration(seconds, expected):
    """Never faster than the samples' length at their rate (1 %: the
    marker is seen up to 5 ms late); at most half a second more on a
    loaded host (boot-sector exit, the 10 ms mixing period, polling)."""
    assert seconds >= expected * 0.99, (seconds, expected)
    assert seconds <= expected + 0.5, (seconds, expected)


def test_sb16_plays_8bit_mono_sine(tmp_path):
    wav_path = tmp_path / "sine.wav"
    status, seconds, log, err = play(
        tmp_path, "sb16play-8.img",
        f"wav,id=snd,path={wav_path},out.frequency=8000,out.channels=1,out.format=u8")
    assert status == 33 and DONE in log, (status, log[-1000:], err)
    params, data = read_wav(wav_path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 1, 8000)
    assert params.nframes == SINE_FRAMES
    assert data == SINE * (SINE_FRAMES // len(SINE))  # every sample, unchanged
    check_duration(seconds, SINE_FRAMES / 8000)
    print(f"8-bit mono: {params.nframes} frames ({params.nframes / 8000:.3f} s of audio) "
          f"played in {seconds:.3f} s")


def test_sb16_plays_16bit_stereo_ramp(tmp_path):
    wav_path = tmp_path / "ramp.wav"
    status, seconds, log, err = play(
        tmp_path, "sb16play-16.img",
        f"wav,id=snd,path={wav_path},out.frequency=22050,out.channels=2,out.format=s16")
    assert status == 33 and DONE in log, (status, log[-1000:], err)
    params, data = read_wav(wav_path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 22050)
    assert params.nframes == RAMP_FRAMES
    assert data == RAMP * (RAMP_FRAMES // 8192)
    check_duration(seconds, RAMP_FRAMES / 22050)
    print(f"16-bit stereo: {params.nframes} frames ({params.nframes / 22050:.3f} s of audio) "
          f"played in {seconds:.3f} s")


def test_sb16_default_wav_format_converts(tmp_path):
    """QEMU's default wav format (44100 Hz, stereo, s16): the 8 kHz mono
    sine goes through the rate and channel conversion; the length in
    seconds is the same and both channels are equal."""
    wav_path = tmp_path / "default.wav"
    status, seconds, log, err = play(tmp_path, "sb16play-8.img", f"wav,id=snd,path={wav_path}")
    assert status == 33, (status, log[-1000:], err)
    params, data = read_wav(wav_path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 44100)
    expected = SINE_FRAMES * 44100 // 8000
    assert abs(params.nframes - expected) <= 8, (params.nframes, expected)
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    assert samples[0::2] == samples[1::2]
    # the sine's peak (255 -> 32512) is reached, the signal is not clipped or silent
    assert max(samples) <= 32512 and max(samples) > 30000 and min(samples) < -30000
    check_duration(seconds, SINE_FRAMES / 8000)


def test_wav_complete_after_sigterm(tmp_path):
    """SIGTERM in the middle of playback: vmm ends with status 0 and the
    WAVE file's sizes match what it holds."""
    wav_path = tmp_path / "cut.wav"
    status, seconds, log, err = play(
        tmp_path, "sb16play-forever.img",
        f"wav,id=snd,path={wav_path},out.frequency=22050,out.channels=2,out.format=s16",
        stop_after=1.0)
    assert status == 0, (status, err)
    size = wav_path.stat().st_size
    raw = wav_path.read_bytes()
    assert raw[:4] == b"RIFF" and struct.unpack("<I", raw[4:8])[0] == size - 8
    assert raw[36:40] == b"data" and struct.unpack("<I", raw[40:44])[0] == size - 44
    params, data = read_wav(wav_path)
    assert params.nframes >= 22050 * 0.9, params.nframes  # about a second was played
    reps = -(-len(data) // len(RAMP))
    assert data == (RAMP * reps)[:len(data)]


def test_sb16_without_audiodev_keeps_time(tmp_path):
    """No -audiodev: the card plays through an implicit "none", which
    paces it all the same: the program's blocks end on time."""
    need_kvm()
    log = tmp_path / "debugcon.log"
    begin = time.monotonic()
    p = subprocess.run([VMM, "-nodefaults", "-m", "32", "-display", "none", "-no-reboot",
                        *seabios_log_args(log), "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-device", "sb16",
                        "-drive", f"file={fw_image('sb16play-8.img')},format=raw,if=ide,snapshot=on"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=BOOT_TIMEOUT)
    assert p.returncode == 33 and DONE in log.read_text(), p.stderr
    # at least the 2.048 s of the samples (the boot comes on top)
    assert time.monotonic() - begin >= SINE_FRAMES / 8000


def test_paused_machine_plays_nothing(tmp_path):
    """QMP stop for 2 s in the middle of playback: the card consumes
    nothing meanwhile (the backend's clock is the virtual clock), and the
    recording goes on unbroken after cont."""
    need_kvm()
    log = tmp_path / "debugcon.log"
    wav_path = tmp_path / "paused.wav"
    qmp = sock_path(tmp_path)
    p = subprocess.Popen([VMM, "-nodefaults", "-m", "32", "-display", "none",
                          *seabios_log_args(log),
                          "-audiodev", f"wav,id=snd,path={wav_path},out.frequency=22050,"
                                       "out.channels=2,out.format=s16",
                          "-device", "sb16,audiodev=snd", "-qmp", f"unix:{qmp},server=on,wait=off",
                          "-drive", f"file={fw_image('sb16play-forever.img')},format=raw,if=ide,"
                                    "snapshot=on"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        q = Qmp(qmp).negotiate()
        wait_for(lambda: p.poll() is not None or
                 (log.exists() and START in log.read_text(errors="replace")),
                 BOOT_TIMEOUT, START)
        time.sleep(0.5)
        q.ok("stop")
        time.sleep(2.0)
        q.ok("cont")
        time.sleep(0.5)
        q.ok("quit")
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, p.stderr.read().decode(errors="replace")
    params, data = read_wav(wav_path)
    seconds = params.nframes / 22050
    assert 0.7 <= seconds <= 1.6, seconds  # about 1 s of running, not 3
    reps = -(-len(data) // len(RAMP))
    assert data == (RAMP * reps)[:len(data)]


@pytest.mark.parametrize("image,fmt,expected,device", [
    ("sb16play-8.img", "out.frequency=8000,out.channels=1,out.format=u8",
     SINE * (SINE_FRAMES // len(SINE)), "sb16"),
    ("sb16play-16.img", "out.frequency=22050,out.channels=2,out.format=s16",
     RAMP * (RAMP_FRAMES // 8192), "sb16"),
    ("es1370play-16.img", "out.frequency=22050,out.channels=2,out.format=s16",
     RAMP * (10 * 4096 // 8192), "ES1370"),
], ids=["8bit", "16bit", "es1370"])
def test_sdl_audiodev_plays_through_sdl(tmp_path, image, fmt, expected, device):
    """-audiodev sdl with SDL's file-writing driver (SDL_AUDIODRIVER=disk),
    under the sandbox (on by default: SDL's audio thread runs under the
    "audio" filter): the device's stream holds the program's samples
    exactly, in one piece, with the device's silence around them; the
    last of it is played out before vmm exits."""
    raw = tmp_path / "sdl.raw"
    env = dict(os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw))
    # A second of buffer, primed to half: SDL's disk driver keeps its own
    # time, and a loaded host can stall vmm's loop for a while (a stall
    # longer than the prime would be a gap of silence, as on a real device).
    es = device == "ES1370"
    status, seconds, log, err = play(tmp_path, image,
                                     f"sdl,id=snd,{fmt},out.buffer-length=1000000", env=env,
                                     device=f"{device},audiodev=snd",
                                     start=ES_START if es else START)
    assert status == 33 and (ES_DONE if es else DONE) in log, (status, log[-1000:], err)
    assert "sandbox" not in err, err
    data = raw.read_bytes()
    start = data.find(expected[:256])
    assert start >= 0, "the program's samples are not in SDL's stream"
    got = data[start:start + len(expected)]
    first_bad = next((i for i in range(len(got)) if got[i] != expected[i]), None)
    assert got == expected, (f"{len(got)} of {len(expected)} bytes after the start; the "
                             f"first difference at byte {first_bad}")
    silence = b"\x80" if "u8" in fmt else b"\x00"
    tail = data[start + len(expected):]
    assert tail == silence * len(tail), f"{len(tail)} bytes after the samples, not all silence"


def test_sdl_audiodev_refuses_what_it_cannot_open(tmp_path):
    need_kvm()
    env = dict(os.environ, SDL_AUDIODRIVER="no-such-driver")
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", "-audiodev", "sdl,id=a",
                        "-device", "sb16,audiodev=a"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60, env=env)
    one_line_error(p, "-audiodev id=a", "SDL")


def test_sound_option_errors():
    need_kvm()
    one_line_error(run("-soundhw", "sb16"), "-device sb16")
    one_line_error(run("-audiodev", "wav"), "id=")
    one_line_error(run("-audiodev", "oss,id=a"), "unknown driver")
    one_line_error(run("-audiodev", "wav,id=a,out.format=u16"), "u16")
    one_line_error(run("-audiodev", "sdl,id=a,out.format=s8"), "s8")
    one_line_error(run("-audiodev", "sdl,id=a,out.buffer-length=5"), "out.buffer-length")
    one_line_error(run("-audiodev", "none,id=a", "-audiodev", "none,id=a"), "'a'")
    one_line_error(run("-display", "none", "-device", "sb16,audiodev=nope"), "nope")
    one_line_error(run("-nodefaults", "-display", "none", "-device", "sb16,irq=4"), "irq=4")
    one_line_error(run("-device", "sb16,dma=2"), "dma=2")
    one_line_error(run("-nodefaults", "-display", "none", "-device", "sb16,dma16=4"), "dma16=4")
    one_line_error(run("-nodefaults", "-display", "none", "-device", "sb16",
                       "-device", "sb16,irq=7,dma=3,dma16=6"), "overlap")
    one_line_error(run("-nodefaults", "-display", "none", "-device", "sb16",
                       "-device", "sb16,iobase=0x240,irq=7,dma=3"), "DMA channel 5")
    one_line_error(run("-nodefaults", "-display", "none", "-audiodev",
                       "wav,id=a,path=/nonexistent-dir/x.wav", "-device", "sb16,audiodev=a"),
                   "/nonexistent-dir/x.wav")


# ---- ENSONIQ AudioPCI ES1370 ----------------------------------------------

ES_START = "VMM-ES1370 start"
ES_DONE = "VMM-ES1370 done"
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
ES_RAMP_FRAMES = 10 * 4096      # es1370play-16 and -dac1: 10 periods of 4096 frames
ES_SINE_FRAMES = 8 * 2048       # es1370play-8: 8 periods of 2048 samples


def es1370_play(tmp_path, image, rate, fmt, channels, emulator=None):
    wav_path = tmp_path / "es1370.wav"
    status, seconds, log, err = play(
        tmp_path, image,
        f"wav,id=snd,path={wav_path},out.frequency={rate},out.channels={channels},"
        f"out.format={fmt}",
        device="ES1370,audiodev=snd", start=ES_START, emulator=emulator)
    assert status == 33 and ES_DONE in log, (status, log[-1000:], err)
    params, data = read_wav(wav_path)
    assert (params.nchannels, params.framerate) == (channels, rate)
    return params, data, seconds


def test_es1370_dac2_plays_16bit_stereo_ramp(tmp_path):
    """DAC2 at PCLKDIV 62 (1411200 / 64 = 22050 Hz), 16-bit stereo, one
    stop-mode count of 40960 frames through an 8192-frame buffer: every
    frame, nothing after the count, in the time those frames last; the
    program saw the interrupt at the end in the status register (or it
    would not exit)."""
    params, data, seconds = es1370_play(tmp_path, "es1370play-16.img", 22050, "s16", 2)
    assert params.nframes == ES_RAMP_FRAMES
    assert data == RAMP * (ES_RAMP_FRAMES // 8192)
    check_duration(seconds, ES_RAMP_FRAMES / 22050)
    print(f"ES1370 DAC2 16-bit stereo: {params.nframes} frames in {seconds:.3f} s")


def test_es1370_dac2_plays_8bit_mono_sine(tmp_path):
    params, data, seconds = es1370_play(tmp_path, "es1370play-8.img", 11025, "u8", 1)
    assert params.nframes == ES_SINE_FRAMES
    assert data == SINE * (ES_SINE_FRAMES // len(SINE))
    check_duration(seconds, ES_SINE_FRAMES / 11025)


def test_es1370_dac1_plays_at_its_fixed_rate(tmp_path):
    params, data, seconds = es1370_play(tmp_path, "es1370play-dac1.img", 22050, "s16", 2)
    assert params.nframes == ES_RAMP_FRAMES
    assert data == RAMP * (ES_RAMP_FRAMES // 8192)
    check_duration(seconds, ES_RAMP_FRAMES / 22050)


@pytest.mark.parametrize("image,rate,fmt,channels,period_bytes,blocks", [
    ("es1370play-16p.img", 22050, "s16", 2, 4096 * 4, 10),
    ("es1370play-dac1p.img", 22050, "s16", 2, 4096 * 4, 10),
], ids=["dac2", "dac1"])
def test_es1370_records_what_qemu_records(tmp_path, image, rate, fmt, channels, period_bytes,
                                          blocks):
    """The period program (an interrupt every 4096 frames, stop mode set
    after the next-to-last) under QEMU 10 (TCG) with its ES1370 and wav
    backend: QEMU's recording begins with the same samples as vmm's, bit
    for bit, for every period but the last (QEMU does not model stop
    mode: it replays a stretch of the buffer instead; and a guest that
    answers a period late on a loaded host plays one more, in either). The 8-bit program
    is not compared: QEMU 10 plays the ES1370's unsigned 8-bit samples
    with their distance from the centre doubled and clipped (the sine's
    218 and 38 come out as 255 and 0, 32767 and -32768 in s16)."""
    if not shutil.which(QEMU):
        fwskip.unavailable(f"{QEMU} is missing (tools/deps.sh installs it)")
    _, ours, _ = es1370_play(tmp_path, image, rate, fmt, channels)
    qdir = tmp_path / "qemu"
    qdir.mkdir()
    _, theirs, _ = es1370_play(qdir, image, rate, fmt, channels,
                               emulator=[QEMU, "-accel", "tcg"])
    common = (blocks - 1) * period_bytes
    assert len(theirs) >= common, (len(theirs), common)
    first_bad = next((i for i in range(common) if theirs[i] != ours[i]), None)
    assert first_bad is None, f"QEMU's recording differs from vmm's at byte {first_bad}"


def test_es1370_option_errors():
    need_kvm()
    one_line_error(run("-display", "none", "-device", "ES1370,audiodev=nope"), "nope")
    one_line_error(run("-nodefaults", "-display", "none", "-device", "ES1370,iobase=0x220"),
                   "iobase")


# ---- Crystal CS4231A (Windows Sound System codec) ------------------------

CS_START = "VMM-CS4231A start"
CS_DONE = "VMM-CS4231A done"
CS_RAMP_FRAMES = 5 * 8192   # cs4231aplay-16: 5 passes of its buffer at 44100 Hz, 16-bit stereo
CS_SINE_FRAMES = 4 * 8192   # cs4231aplay-8: 4 passes at 22050 Hz, 8-bit mono
CS_PERIOD = 1024            # frames between the codec's interrupts (both programs)


def cs_play(tmp_path, image, fmt, emulator=None, stall=None):
    """Plays a cs4231aplay program to a wav audiodev; returns the
    recording's parameters and frames, the playing time and the number
    of interrupts the program took (from its done line)."""
    wav_path = tmp_path / "cs4231a.wav"
    status, seconds, log, err = play(tmp_path, image, f"wav,id=snd,path={wav_path},{fmt}",
                                     device="cs4231a,audiodev=snd", start=CS_START,
                                     emulator=emulator,
                                     stall=stall(wav_path) if stall else None)
    assert status == 33 and CS_DONE in log, (status, log[-1000:], err)
    irqs = int(log.split(CS_DONE + ", ")[1].split(" interrupts")[0])
    params, data = read_wav(wav_path)
    return params, data, seconds, irqs


def test_cs4231a_plays_16bit_stereo_44100(tmp_path):
    """Ramps at 44100 Hz (I8 0x5B), 16-bit stereo, five passes of an
    8192-frame buffer by auto-init DMA with the count's interrupt every
    1024 frames: the recording is the program's samples bit for bit at
    the card's rate, then the underrun's silence until the last
    interrupt's PEN off; the interrupts came (the program ends at one)."""
    params, data, seconds, irqs = cs_play(tmp_path, "cs4231aplay-16.img",
                                          "out.frequency=44100,out.channels=2,out.format=s16")
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 44100)
    body, tail = split_silence(data, b"\x00", 4)
    frames = len(body) // 4
    error = abs(frames - CS_RAMP_FRAMES) / CS_RAMP_FRAMES
    assert error <= 0.02, (frames, CS_RAMP_FRAMES)
    assert body == RAMP * (CS_RAMP_FRAMES // 8192)  # every sample, unchanged
    assert tail <= 44100 // 2, tail
    left = struct.unpack(f"<{len(body) // 2}h", body)[0::2]
    want = struct.unpack(f"<{len(RAMP) * 5 // 2}h", RAMP * 5)[0::2]
    corr = correlation(left, want)
    assert corr >= 0.99, corr
    check_duration(seconds, CS_RAMP_FRAMES / 44100)
    assert 1 <= irqs <= CS_RAMP_FRAMES // CS_PERIOD, irqs
    print(f"CS4231A 16-bit stereo: rate {params.framerate} Hz, {frames} frames for "
          f"{CS_RAMP_FRAMES} (error {error:.2%}), correlation {corr:.6f}, {tail} frames of "
          f"silence after, played in {seconds:.3f} s, {irqs} interrupts")


def stall_across_two_old_periods(wav_path):
    """stall= for play(): the whole vmm stopped for 0.12 s once the
    recording (44100 Hz s16 stereo) is 3000-3900 frames into one of the
    4096-frame periods of the program before (the third or later, well
    before the last pass). The mixing step after it is worth the 0.12 s
    and more (5292 frames or more), past the next period's end too: two
    period ends of 4096 in one step, so that program got one interrupt
    for both and waited for ever for its tenth. From the program's last
    look (an interrupt at most 1024 frames before) to the one after the
    step, well under a pass of its buffer (8192 frames) is played, so the
    DMA's count shows every pass. due.fired: the stall happened."""
    def due():
        try:
            frames = (wav_path.stat().st_size - 44) // 4
        except OSError:
            return False
        due.fired = 8192 <= frames < 24576 and 3000 <= frames % 4096 <= 3900
        return due.fired
    due.fired = False
    stall_across_two_old_periods.last = due
    return due, 0.12


def test_cs4231a_survives_a_stall_over_two_period_ends(tmp_path):
    """The 16-bit program with vmm stopped (SIGSTOP) for 0.12 s where the
    mixing step after it crosses two period ends of 4096 frames (and four
    or more of the program's 1024), which raise one interrupt (the codec's
    INT is one bit): the program follows the DMA's count, so it still
    takes auto-init away in the last pass and ends at the DMA's end; the
    recording is every sample, bit for bit, then silence; the program
    took fewer interrupts than periods (the stall did merge them). The
    program before counted ten interrupts and never exited (the test
    fails at BOOT_TIMEOUT)."""
    params, data, seconds, irqs = cs_play(
        tmp_path, "cs4231aplay-16.img", "out.frequency=44100,out.channels=2,out.format=s16",
        stall=stall_across_two_old_periods)
    assert stall_across_two_old_periods.last.fired, "the recording never reached the stall"
    body, tail = split_silence(data, b"\x00", 4)
    assert len(body) // 4 == CS_RAMP_FRAMES, (len(body) // 4, CS_RAMP_FRAMES)
    assert body == RAMP * (CS_RAMP_FRAMES // 8192)
    assert tail <= 44100 // 2, tail
    assert 1 <= irqs < CS_RAMP_FRAMES // CS_PERIOD, irqs
    print(f"CS4231A stalled 0.12 s: {len(body) // 4} frames for {CS_RAMP_FRAMES}, bit for bit, "
          f"{irqs} interrupts for {CS_RAMP_FRAMES // CS_PERIOD} periods, {tail} frames of "
          f"silence after, played in {seconds:.3f} s")


def test_cs4231a_plays_8bit_mono_22050(tmp_path):
    params, data, seconds, irqs = cs_play(tmp_path, "cs4231aplay-8.img",
                                          "out.frequency=22050,out.channels=1,out.format=u8")
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 1, 22050)
    body, tail = split_silence(data, b"\x80", 1)
    error = abs(len(body) - CS_SINE_FRAMES) / CS_SINE_FRAMES
    assert error <= 0.02, (len(body), CS_SINE_FRAMES)
    assert body == SINE * (CS_SINE_FRAMES // len(SINE))
    assert tail <= 22050 // 2, tail
    check_duration(seconds, CS_SINE_FRAMES / 22050)
    assert 1 <= irqs <= CS_SINE_FRAMES // CS_PERIOD, irqs
    print(f"CS4231A 8-bit mono: rate {params.framerate} Hz, {len(body)} samples for "
          f"{CS_SINE_FRAMES} (error {error:.2%}), played in {seconds:.3f} s")


def test_cs4231a_default_wav_format_converts(tmp_path):
    """QEMU's default wav format (44100 Hz stereo s16): the 22050 Hz mono
    sine goes through the audio layer's conversion; its length in seconds
    is kept (2 %), both channels are equal and follow the source linearly
    interpolated (correlation at least 0.99)."""
    params, data, seconds, _ = cs_play(tmp_path, "cs4231aplay-8.img", "")
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 44100)
    body, _ = split_silence(data, b"\x00", 4)
    samples = struct.unpack(f"<{len(body) // 2}h", body)
    left, right = samples[0::2], samples[1::2]
    assert left == right
    expected = CS_SINE_FRAMES * 2
    error = abs(len(left) - expected) / expected
    assert error <= 0.02, (len(left), expected)
    up = upsample2([(b - 128) * 256 for b in SINE * (CS_SINE_FRAMES // len(SINE))])
    # the converter starts from silence: the source shows a few frames late
    corr = max(correlation(left[lag:], up) for lag in range(8))
    assert corr >= 0.99, corr
    print(f"CS4231A 8-bit at 22050 into 44100 Hz stereo: {len(left)} frames for {expected} "
          f"(error {error:.2%}), correlation {corr:.6f}")


def test_cs4231a_records_what_qemu_records(tmp_path):
    """The 16-bit program under QEMU 10 (TCG) with its cs4231a and wav
    backend: QEMU records the same samples as vmm, bit for bit, for as long
    as its recording lasts (it ends early by what its backend had not
    written at exit: 12 ms, 0.1 ms in two runs here), at least 90 % of the
    samples. QEMU's cs4231a wraps the DMA position itself and never stops
    at the 8237's terminal count: it plays on until the program's PEN
    off, which a slow TCG vCPU on a loaded host can give a pass late (a
    pass more of the same ramp, more interrupts); so only the two
    recordings' common length is compared, and QEMU's interrupts only
    counted as having come.
    The 8-bit program is not compared: QEMU 10 plays unsigned 8-bit with
    its distance from the centre doubled and clipped, as for the ES1370."""
    if not shutil.which(QEMU):
        fwskip.unavailable(f"{QEMU} is missing (tools/deps.sh installs it)")
    fmt = "out.frequency=44100,out.channels=2,out.format=s16"
    _, ours, _, _ = cs_play(tmp_path, "cs4231aplay-16.img", fmt)
    qdir = tmp_path / "qemu"
    qdir.mkdir()
    params, theirs, _, irqs = cs_play(qdir, "cs4231aplay-16.img", fmt,
                                      emulator=[QEMU, "-accel", "tcg"])
    assert irqs >= 1, irqs
    assert params.framerate == 44100
    theirs, _ = split_silence(theirs, b"\x00", 4)
    ours, _ = split_silence(ours, b"\x00", 4)
    assert len(ours) // 4 == CS_RAMP_FRAMES, len(ours) // 4
    common = min(len(theirs), len(ours))
    assert common // 4 >= CS_RAMP_FRAMES * 0.9, len(theirs) // 4
    first_bad = next((i for i in range(common) if theirs[i] != ours[i]), None)
    assert first_bad is None, f"QEMU's recording differs from vmm's at byte {first_bad}"
    print(f"QEMU's cs4231a: {len(theirs) // 4} frames ({irqs} interrupts), the first "
          f"{common // 4} the same as vmm's")


def test_cs4231a_option_errors():
    need_kvm()
    nd = ("-nodefaults", "-display", "none")
    one_line_error(run(*nd, "-device", "cs4231a,audiodev=nope"), "nope")
    one_line_error(run(*nd, "-device", "cs4231a,irq=4"), "cs4231a", "irq=4")
    one_line_error(run(*nd, "-device", "cs4231a,dma=2"), "cs4231a", "dma=2")
    one_line_error(run(*nd, "-device", "cs4231a,iobase=0x535"), "iobase=0x535")
    one_line_error(run(*nd, "-device", "cs4231a,dma=9"), "dma")
    one_line_error(run(*nd, "-device", "sb16,dma=3", "-device", "cs4231a"),
                   "DMA channel 3", "sb16")
    one_line_error(run(*nd, "-device", "cs4231a", "-device", "sb16,dma=3"), "DMA channel 3")
    one_line_error(run(*nd, "-device", "sb16,irq=9", "-device", "cs4231a"), "irq=9", "sb16")
    one_line_error(run(*nd, "-device", "cs4231a", "-device", "sb16,irq=9"), "irq=9", "sb16")
    one_line_error(run(*nd, "-device", "cs4231a", "-device", "cs4231a,irq=10,dma=1"),
                   "overlap")
    one_line_error(run(*nd, "-device", "cs4231a", "-device", "cs4231a,iobase=0x608,irq=10"),
                   "DMA channel 3", "cs4231a")


# ---- Gravis Ultrasound (GF1) ------------------------------------------------

GUS_START = "VMM-GUS start"
GUS_DONE = "VMM-GUS done"
GUS_FRAMES = 32768     # gusplay: one pass of the 16-bit voice, 44100 Hz (14 voices)
GUS_FULL_GAIN = 65408  # the GF1's volume 4095 as a Q16 gain (include/hw/gus.h)


def gus_samples():
    """gusplay's sawtooth: sample i = 3 i mod 65536 as signed 16-bit."""
    return [((3 * i + 0x8000) & 0xFFFF) - 0x8000 for i in range(GUS_FRAMES)]


def test_gus_plays_dma_uploaded_waveform(tmp_path):
    """A 64 KiB sawtooth uploaded into the GUS's DRAM by ISA DMA (channel
    3, the GF1's terminal count IRQ), played by a 16-bit voice panned left
    (with the wave IRQ at its end) and an 8-bit voice on the samples' high
    bytes panned right, 14 active voices: the recording is 44100 Hz, as
    long as the block, and holds the samples at the GF1's full volume (the
    8-bit voice's: the high byte x 256)."""
    wav_path = tmp_path / "gus.wav"
    status, seconds, log, err = play(
        tmp_path, "gusplay.img",
        f"wav,id=snd,path={wav_path},out.frequency=44100,out.channels=2,out.format=s16",
        device="gus,audiodev=snd", start=GUS_START)
    assert status == 33 and GUS_DONE in log, (status, log[-1000:], err)
    params, data = read_wav(wav_path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 44100)
    frames = len(data) // 4
    error = abs(frames - GUS_FRAMES) / GUS_FRAMES
    assert error <= 0.02, (frames, GUS_FRAMES)
    got = struct.unpack(f"<{2 * frames}h", data[:4 * frames])
    left, right = got[0::2], got[1::2]
    src = gus_samples()
    want_left = [(s * GUS_FULL_GAIN) >> 16 for s in src]
    want_right = [((s >> 8) * 256 * GUS_FULL_GAIN) >> 16 for s in src]
    n = min(frames, GUS_FRAMES)
    assert list(left[:n]) == want_left[:n]  # every sample, bit for bit
    # the right voice starts in the same guest instant, but a mixing step
    # of the host may fall between the two register writes: a frame or two
    lag = next((k for k in range(3) if list(right[k:n]) == want_right[:n - k]), None)
    assert lag is not None, right[:8]
    corr = correlation(left[:n], want_left[:n])
    assert corr >= 0.99, corr
    check_duration(seconds, GUS_FRAMES / 44100)
    print(f"GUS: rate {params.framerate} Hz, {frames} frames for {GUS_FRAMES} "
          f"(error {error:.2%}), left correlation {corr:.6f}, right voice {lag} frame(s) "
          f"behind, played in {seconds:.3f} s")


def test_gus_freq_is_the_cards_output_rate(tmp_path):
    """-device gus,freq=22050 (QEMU's property: the rate the card's output
    is produced at) with the GF1 at 44100 Hz (14 voices) on a wav
    audiodev at 22050 Hz: the recording is 22050 Hz and as long in time
    as the block (16384 frames: each output frame two GF1 frames), and
    holds the voices sampled at every other GF1 frame, bit for bit (the
    16-bit voice's even samples, the 8-bit voice's high bytes of them):
    the card made them at 22050 Hz, the audio layer had nothing to
    convert. (The card used to make 44100 Hz whatever freq= said, and the
    audio layer's converter, starting from silence, put a frame of
    silence first.)"""
    wav_path = tmp_path / "gus22.wav"
    status, seconds, log, err = play(
        tmp_path, "gusplay.img",
        f"wav,id=snd,path={wav_path},out.frequency=22050,out.channels=2,out.format=s16",
        device="gus,freq=22050,audiodev=snd", start=GUS_START)
    assert status == 33 and GUS_DONE in log, (status, log[-1000:], err)
    params, data = read_wav(wav_path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 22050)
    frames = len(data) // 4
    half = GUS_FRAMES // 2
    assert half <= frames <= half + 2, (frames, half)
    got = struct.unpack(f"<{2 * frames}h", data[:4 * frames])
    left, right = got[0::2], got[1::2]
    src = gus_samples()[0::2]
    want_left = [(v * GUS_FULL_GAIN) >> 16 for v in src]
    want_right = [((v >> 8) * 256 * GUS_FULL_GAIN) >> 16 for v in src]
    first_bad = next((k for k in range(half) if left[k] != want_left[k]), None)
    assert first_bad is None, (first_bad, left[first_bad:first_bad + 4],
                               want_left[first_bad:first_bad + 4])
    lag = next((k for k in range(3) if list(right[k:half]) == want_right[:half - k]), None)
    assert lag is not None, right[:8]
    check_duration(seconds, GUS_FRAMES / 44100)
    print(f"GUS freq=22050: rate {params.framerate} Hz, {frames} frames for {half}, every "
          f"other GF1 frame bit for bit, right voice {lag} frame(s) behind, played in "
          f"{seconds:.3f} s")


def test_gus_option_errors():
    need_kvm()
    nd = ("-nodefaults", "-display", "none")
    one_line_error(run(*nd, "-device", "gus,audiodev=nope"), "nope")
    one_line_error(run(*nd, "-device", "gus,irq=4"), "gus", "irq=4")
    one_line_error(run(*nd, "-device", "gus,dma=2"), "gus", "dma=2")
    one_line_error(run(*nd, "-device", "gus,iobase=0x241"), "iobase=0x241")
    one_line_error(run(*nd, "-device", "gus,freq=10"), "freq=10")
    one_line_error(run(*nd, "-device", "gus,freq=0"), "freq=0")
    one_line_error(run(*nd, "-device", "gus,freq=192001"), "freq=192001")
    one_line_error(run(*nd, "-device", "gus,freq=abc"), "freq", "abc")
    one_line_error(run(*nd, "-device", "cs4231a", "-device", "gus"), "DMA channel 3",
                   "cs4231a")
    one_line_error(run(*nd, "-device", "gus", "-device", "cs4231a,irq=5"), "DMA channel 3")
    one_line_error(run(*nd, "-device", "sb16,irq=7", "-device", "gus"), "irq=7", "sb16")
    one_line_error(run(*nd, "-device", "gus", "-device", "gus,irq=5,dma=1"),
                   "overlap")
    one_line_error(run(*nd, "-device", "gus,iobase=0x220", "-device", "sb16,dma=3,irq=9"),
                   "DMA channel 3")


# ---- -audiodev sdl as a person meets it ------------------------------------

# card -> (its play image, -device, start and done markers, the ramp's rate
# and frames): the 16-bit programs the wav tests play
SDL_PLAYS = {
    "sb16": ("sb16play-16.img", "sb16", START, DONE, 22050, RAMP_FRAMES),
    "es1370": ("es1370play-16.img", "ES1370", ES_START, ES_DONE, 22050, ES_RAMP_FRAMES),
    "cs4231a": ("cs4231aplay-16.img", "cs4231a", CS_START, CS_DONE, 44100, CS_RAMP_FRAMES),
}
SDL_RATE = 44100  # -audiodev sdl's default format: 44100 Hz s16 stereo


def ramp_reference(frames, rate):
    """(left, right) the program's ramps come out as at SDL_RATE: the
    source samples, linearly interpolated from 22050 Hz."""
    src = struct.unpack(f"<{frames * 2}h", RAMP * (frames // 8192))
    left, right = list(src[0::2]), list(src[1::2])
    if rate == SDL_RATE:
        return left, right
    assert rate * 2 == SDL_RATE, rate
    return upsample2(left), upsample2(right)


def check_sdl_stream(raw, card, frames, rate):
    """The ramp in SDL's raw stream (44100 Hz s16 stereo): its sounding
    stretches joined (the silence an underrun inserts taken out: the
    device took a period the ring could not fill, as a real device plays
    silence when vmm is not scheduled in time; the ramps are never silent
    in both channels at once, so one silent frame splits a stretch) last
    the ramp's length at 44100 Hz within 2 % (a wrong rate on the way
    stretches it; samples lost shorten it) and correlate with the ramp,
    interpolated to 44100 Hz, at least 0.99 in both channels after
    alignment (the silence before the first stretch kept: a ramp
    correlates with itself shifted, the silence pins the lag). Returns the
    stretches."""
    data = raw.read_bytes()
    assert len(data) % 4 == 0, len(data)  # whole s16 stereo frames
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    left, right = samples[0::2], samples[1::2]
    found = stretches(left, right, gap=1)
    assert found, "the stream is silent"
    first = found[0][0]
    left = list(left[:first]) + [v for a, b in found for v in left[a:b]]
    right = list(right[:first]) + [v for a, b in found for v in right[a:b]]
    ref_l, ref_r = ramp_reference(frames, rate)
    error = abs(len(left) - first - len(ref_l)) / len(ref_l)
    lag_l, corr_l, gain_l = aligned_correlation(left, ref_l, first)
    lag_r, corr_r, gain_r = aligned_correlation(right, ref_r, first)
    gaps = [(b0 - a1) for (_, a1), (b0, _) in zip(found, found[1:])]
    print(f"SDL {card}: {len(left) - first} frames at {SDL_RATE} Hz for {len(ref_l)} (error "
          f"{error:.2%}), correlation L {corr_l:.5f} (lag {lag_l}, gain {gain_l:.3f}) "
          f"R {corr_r:.5f} (lag {lag_r}, gain {gain_r:.3f}), underrun gaps (frames) {gaps}")
    assert error <= 0.02, (f"{len(left) - first} frames for {len(ref_l)} in the sounding stretches "
                           f"{found}")
    assert corr_l >= 0.99 and corr_r >= 0.99, (corr_l, corr_r, found)
    return found


def sdl_env(raw):
    """SDL's disk driver writing to `raw`, its own period timing
    (SDL_DISKAUDIODELAY unset)."""
    env = dict(os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw))
    env.pop("SDL_DISKAUDIODELAY", None)
    return env


@pytest.mark.parametrize("card", SDL_PLAYS)
def test_sdl_default_audiodev_plays_the_signal(tmp_path, card):
    """-audiodev sdl,id=snd with nothing else (44100 Hz s16 stereo, 100 ms
    of buffer), SDL's file-writing driver standing in for the sound card
    (it takes a period of 1024 frames every 23 ms, its own clock: SDL
    2.26's disk driver sleeps the period's length in whole milliseconds,
    SDL_DISKAUDIODELAY unset) and the sandbox on: the raw stream (the
    device's format: vmm opens it without allowing changes) holds the
    program's whole ramp at the right rate (check_sdl_stream)."""
    image, device, start, done, rate, frames = SDL_PLAYS[card]
    raw = tmp_path / "sdl.raw"
    status, seconds, log, err = play(tmp_path, image, "sdl,id=snd", env=sdl_env(raw),
                                     device=f"{device},audiodev=snd", start=start)
    assert status == 33 and done in log, (status, log[-1000:], err)
    assert "sandbox" not in err, err
    check_sdl_stream(raw, card, frames, rate)


def test_sdl_loses_nothing_after_a_stall(tmp_path):
    """The whole vmm stopped (SIGSTOP) for 0.4 s in the middle of the
    SB16's ramp, as a loaded host stops it: the virtual clock ran on, so
    the first step after it is worth 0.4 s, four times the ring. The
    mixer asks the card for no more than the ring has room for (the card
    falls behind the virtual clock instead): no sample is lost, the ramp
    comes out whole. (It used to mix the whole step and drop what did not
    fit: some 0.3 s of the ramp lost.)"""
    image, device, start, done, rate, frames = SDL_PLAYS["sb16"]
    raw = tmp_path / "sdl.raw"
    status, seconds, log, err = play(tmp_path, image, "sdl,id=snd", env=sdl_env(raw),
                                     device=f"{device},audiodev=snd", start=start,
                                     stall=(0.6, 0.4))
    assert status == 33 and done in log, (status, log[-1000:], err)
    check_sdl_stream(raw, "sb16 (stalled 0.4 s)", frames, rate)


def test_sdl_device_slower_than_the_clock_loses_nothing(tmp_path):
    """A device whose clock runs 7 % slow (SDL's disk driver with
    SDL_DISKAUDIODELAY=25: a 1024-frame period every 25 ms or more, at
    most 40960 frames/s for 44100): once the ring is full the mixer asks
    the card for no more than the device took, so the card follows the
    device's pace and the SB16's ramp comes out whole. (It used to mix at
    the virtual clock's pace and drop what found the ring full: the ramp
    came out some 4 % short.)"""
    image, device, start, done, rate, frames = SDL_PLAYS["sb16"]
    raw = tmp_path / "sdl.raw"
    env = dict(sdl_env(raw), SDL_DISKAUDIODELAY="25")
    status, seconds, log, err = play(tmp_path, image, "sdl,id=snd", env=env,
                                     device=f"{device},audiodev=snd", start=start)
    assert status == 33 and done in log, (status, log[-1000:], err)
    check_sdl_stream(raw, "sb16 (device 7 % slow)", frames, rate)


def test_sdl_device_that_takes_nothing_does_not_stop_the_card(tmp_path):
    """A device that takes nothing (SDL's disk driver whose first period
    comes 6 s after opening, SDL_DISKAUDIODELAY=6000): after twice the
    buffer of the mixer's running time without a take, the mixer stops
    waiting for room and the ring drops, so the SB16 keeps the virtual
    clock and the program's ramp ends in its own time, as on a host whose
    sound device hangs. (Waiting for room for ever would stop the card's
    DMA and the guest with it.)"""
    image, device, start, done, rate, frames = SDL_PLAYS["sb16"]
    raw = tmp_path / "sdl.raw"
    env = dict(sdl_env(raw), SDL_DISKAUDIODELAY="6000")
    status, seconds, log, err = play(tmp_path, image, "sdl,id=snd", env=env,
                                     device=f"{device},audiodev=snd", start=start)
    assert status == 33 and done in log, (status, log[-1000:], err)
