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
         start=START, emulator=None):
    """Boots the program with a card (an SB16 unless told) on an audiodev;
    returns (status, seconds from the program's start marker to the
    emulator's end, debug log, stderr). stop_after: SIGTERM that many
    seconds after the marker. emulator: another command line's start
    (QEMU's) instead of vmm's."""
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
