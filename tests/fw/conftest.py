# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for firmware-level tests: vmm + SeaBIOS on the host's /dev/kvm."""
import os
import subprocess
import time

import pytest

import fwskip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VMM = os.environ.get("VMM", os.path.join(ROOT, "build", "vmm"))
FW_BUILD = os.environ.get("FW_BUILD", os.path.join(ROOT, "build", "fw"))

# SeaBIOS POST takes 5-7 s on this project's software-nested KVM; allow for
# a loaded machine.
BOOT_TIMEOUT = 120


class Run:
    def __init__(self, status, serial, debuglog, seconds):
        self.status = status
        self.serial = serial
        self.debuglog = debuglog
        self.seconds = seconds


def seabios_log_args(path):
    """SeaBIOS's debug log (port 0x402) into a file, spelled as for QEMU."""
    return ["-chardev", f"file,id=seabios,path={path}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios"]


@pytest.fixture
def vmm(tmp_path):
    """Runs vmm with the given arguments, the serial console captured and
    the SeaBIOS debug log in a file; returns a Run."""
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")

    def run(*args, timeout=BOOT_TIMEOUT):
        log = tmp_path / "debugcon.log"
        cmd = [VMM, "-display", "none", "-serial", "stdio", *seabios_log_args(log),
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *args]
        start = time.monotonic()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            dbg = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(f"vmm timed out after {timeout}s\nserial:\n{out}\ndebugcon:\n{dbg[-3000:]}")
        seconds = time.monotonic() - start
        dbg = log.read_text(errors="replace") if log.exists() else ""
        r = Run(p.returncode, p.stdout.decode(errors="replace"), dbg, seconds)
        r.stderr = p.stderr.decode(errors="replace")
        return r

    return run


def fw_image(name):
    path = os.path.join(FW_BUILD, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run `make fw-images`")
    return path
