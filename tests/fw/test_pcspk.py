# SPDX-License-Identifier: GPL-2.0-or-later
"""The PC speaker as a DOS program plays it: a boot sector
(tests/fw/pcspkplay.S, booted by SeaBIOS) programs PIT channel 2 for
1000 Hz (count 1193), sets bits 0 and 1 of port 0x61 for 500 ms by the
ACPI PM timer, clears bit 1 with the gate left on for 300 ms, plays
440 Hz (count 2712) for 500 ms, and clears both bits; meanwhile it reads
OUT2 (bit 5) and says whether it moved. vmm records with -audiodev wav
and -machine pcspk-audiodev: the recording holds the two tones at
1193182 / count Hz (within 1 %, by zero crossings), at a moderate
amplitude, with exact silence between them. Without the option the same program
makes no speaker audio (as QEMU) but port 0x61 works (KVM's own). SeaBIOS's TSC
calibration, which gates channel 2 through port 0x61 and polls OUT2 when
it has neither kvmclock nor a PM timer, finds the TSC frequency KVM
reports through our port. And the user errors."""
import os
import re
import struct
import subprocess
import wave

import fwskip
from conftest import BOOT_TIMEOUT, VMM, fw_image, seabios_log_args
from test_cli import one_line_error, run

PIT_HZ = 1193182
DONE = "VMM-PCSPK done"
OUT2_OK = "VMM-PCSPK out2 ok"
RATE = 44100
AMPLITUDE = 8192


def need_kvm():
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")


def boot(tmp_path, *extra, cpu=None):
    """Boots pcspkplay.img with 'extra' options; returns (status, debug log,
    stderr)."""
    need_kvm()
    log = tmp_path / "debugcon.log"
    cmd = [VMM, "-nodefaults", "-m", "32", "-display", "none", "-no-reboot",
           *seabios_log_args(log), "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           *(["-cpu", cpu] if cpu else []), *extra,
           "-drive", f"file={fw_image('pcspkplay.img')},format=raw,if=ide,snapshot=on"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=BOOT_TIMEOUT)
    return p.returncode, log.read_text(errors="replace"), p.stderr


def tones(samples, gap=8):
    """Runs of non-zero samples (zero gaps shorter than 'gap' samples,
    an edge that averaged to 0, joined): [(start, end)]."""
    runs, start, last = [], None, None
    for i, v in enumerate(samples):
        if v:
            if start is None:
                start = i
            elif i - last > gap:
                runs.append((start, last + 1))
                start = i
            last = i
    if start is not None:
        runs.append((start, last + 1))
    return runs


def frequency(samples):
    """Rising zero crossings per second, each crossing interpolated."""
    xs = [i - 1 + samples[i - 1] / (samples[i - 1] - samples[i])
          for i in range(1, len(samples)) if samples[i - 1] < 0 <= samples[i]]
    assert len(xs) >= 2, "no tone"
    return (len(xs) - 1) * RATE / (xs[-1] - xs[0])


def test_pcspk_plays_tones_and_silence(tmp_path):
    wav_path = tmp_path / "pcspk.wav"
    status, log, err = boot(tmp_path, "-audiodev",
                            f"wav,id=snd,path={wav_path},out.channels=1,out.format=s16",
                            "-machine", "pc,pcspk-audiodev=snd")
    assert status == 33 and DONE in log, (status, log[-1000:], err)
    assert OUT2_OK in log, "the program did not see OUT2 move through port 0x61"
    with wave.open(str(wav_path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        data = w.readframes(w.getnframes())
    s = struct.unpack(f"<{len(data) // 2}h", data)
    runs = [r for r in tones(s) if r[1] - r[0] > RATE // 10]
    assert len(runs) == 2, [(a / RATE, b / RATE) for a, b in tones(s)][:10]
    assert not [r for r in tones(s) if r not in runs], "sound outside the two tones"
    for (a, b), count in zip(runs, (1193, 2712)):
        want = PIT_HZ / count
        got = frequency(s[a:b])
        err_pct = abs(got / want - 1) * 100
        print(f"count {count}: {got:.3f} Hz, expected {want:.3f} Hz ({err_pct:.4f} %), "
              f"{(b - a) / RATE:.3f} s")
        assert err_pct < 1.0, (got, want)
        # the program's 500 ms by the PM timer (a loaded host stalls it more)
        assert 0.49 <= (b - a) / RATE <= 0.9, (b - a) / RATE
        assert max(s[a:b]) == AMPLITUDE and min(s[a:b]) == -AMPLITUDE
    # bit 1 clear, the gate on: exact silence, for the program's 300 ms
    gap = runs[1][0] - runs[0][1]
    assert 0.29 <= gap / RATE <= 0.7, gap / RATE
    assert not any(s[runs[0][1]:runs[1][0]])

    # Without -machine pcspk-audiodev nothing plays the speaker (as QEMU):
    # the audiodev no card names is never opened; port 0x61 is then KVM's,
    # and the program still sees OUT2 move and keeps its time.
    wav_path.unlink()
    status, log, err = boot(tmp_path, "-audiodev",
                            f"wav,id=snd,path={wav_path},out.channels=1,out.format=s16")
    assert status == 33 and DONE in log and OUT2_OK in log, (status, log[-1000:], err)
    assert not wav_path.exists() or wav_path.stat().st_size <= 44


def cpu_mhz(log):
    m = re.search(r"CPU Mhz=(\d+)", log)
    assert m, log[-2000:]
    return int(m.group(1))


def test_seabios_tsc_calibration_through_the_port(tmp_path):
    """Without kvmclock and without a PM timer (-no-acpi), SeaBIOS times
    the TSC against PIT channel 2 gated by port 0x61, polling OUT2 (bit 5)
    in mode 0 for 2048 PIT clocks (1.7 ms). A vCPU the host stalls in
    that window sees OUT2 late and over-counts (on the project's nested
    KVM, KVM's own port as often as ours), so: OUT2 is never early (no
    boot finds a TSC slower than kvmclock's, 3 % margin), and one of up to
    five boots finds kvmclock's frequency within 3 %."""
    status, log, err = boot(tmp_path, "-audiodev", "none,id=snd",
                            "-machine", "pcspk-audiodev=snd")
    assert status == 33, (status, err)
    reference = cpu_mhz(log)
    assert "(kvmclock)" in log
    found = []
    for _ in range(5):
        status, log, err = boot(tmp_path, "-no-acpi", "-audiodev", "none,id=snd",
                                "-machine", "pcspk-audiodev=snd",
                                cpu="host,-kvmclock,-kvmclock2")
        assert status == 33 and "VMM-PCSPK no PM timer" in log, (status, log[-1000:], err)
        found.append(cpu_mhz(log))
        assert found[-1] >= reference * 0.97, (found, reference)
        if abs(found[-1] / reference - 1) < 0.03:
            break
    print(f"SeaBIOS: {found} MHz by PIT channel 2 through port 0x61, "
          f"{reference} MHz by kvmclock ({abs(found[-1] / reference - 1) * 100:.2f} %)")
    assert abs(found[-1] / reference - 1) < 0.03, (found, reference)


def test_pcspk_option_errors():
    need_kvm()
    one_line_error(run("-display", "none", "-machine", "pcspk-audiodev=nope"),
                   "-machine pcspk-audiodev=nope", "no -audiodev with id 'nope'")
    one_line_error(run("-display", "none", "-audiodev", "none,id=a", "-machine",
                       "pc,pcspk-audiodev=b"), "'b'")
    one_line_error(run("-machine", "pcspk-audiodev="), "pcspk-audiodev")
    one_line_error(run("-device", "pcspk"), "-machine pcspk-audiodev=ID")
    one_line_error(run("-soundhw", "pcspk"), "-machine pcspk-audiodev=ID")
    one_line_error(run("-device", "isa-pcspk"), "part of the board")
