# SPDX-License-Identifier: GPL-2.0-or-later
"""isa-debugcon as QEMU has it: -debugcon DEV is one debug console at port
0xE9; SeaBIOS's log port 0x402 is a second one, given as
-device isa-debugcon,iobase=0x402,chardev=ID. The guest (tests/fw/debugcon.S)
writes "E9\\n" to 0xE9 and "402\\n" to 0x402, then prints what it reads back
from both ports."""
import subprocess

import pytest

from conftest import VMM, fw_image

EXIT_OK = 33  # 0x10 to isa-debug-exit


def run(*args, timeout=60):
    # -display none: COM1 goes nowhere unless a test gives -serial
    return subprocess.run([VMM, "-nodefaults", "-display", "none",
                           "-bios", fw_image("debugcon.bin"),
                           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def test_debugcon_is_port_0xe9_only(tmp_path):
    # vmm's -debugcon used to take port 0x402 too: every byte SeaBIOS or a
    # guest sent to both ports arrived twice, interleaved.
    log = tmp_path / "e9.log"
    p = run("-debugcon", f"file:{log}")
    assert p.returncode == EXIT_OK, p.stderr
    # 0x402 has no device: reads give 0xff (SeaBIOS then stops logging there)
    assert log.read_text() == "E9\ne9 ff\n"


def test_seabios_log_port_as_qemu(tmp_path):
    e9, seabios = tmp_path / "e9.log", tmp_path / "seabios.log"
    p = run("-debugcon", f"file:{e9}", "-chardev", f"file,id=seabios,path={seabios}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios")
    assert p.returncode == EXIT_OK, p.stderr
    assert e9.read_text() == "E9\ne9 e9\n"
    assert seabios.read_text() == "402\n"


def test_isa_debugcon_readback_and_no_chardev(tmp_path):
    # Without chardev= the bytes go nowhere; readback= sets what reads return.
    e9 = tmp_path / "e9.log"
    p = run("-chardev", f"file,id=c,path={e9}", "-device", "isa-debugcon,chardev=c",
            "-device", "isa-debugcon,iobase=0x402,readback=0x5a")
    assert p.returncode == EXIT_OK, p.stderr
    assert e9.read_text() == "E9\ne9 5a\n"


def test_debugcon_on_an_existing_chardev(tmp_path):
    e9 = tmp_path / "e9.log"
    p = run("-chardev", f"file,id=c,path={e9}", "-debugcon", "chardev:c")
    assert p.returncode == EXIT_OK, p.stderr
    assert e9.read_text() == "E9\ne9 ff\n"


def test_debugcon_stdio():
    p = run("-debugcon", "stdio")
    assert p.returncode == EXIT_OK, p.stderr
    assert p.stdout == "E9\ne9 ff\n"


def test_debugcon_none():
    p = run("-debugcon", "none")
    assert p.returncode == EXIT_OK, p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("args,needle", [
    (["-debugcon", "udp::5"], "unsupported character device"),
    (["-debugcon", "file:/dev/null", "-debugcon", "file:/dev/null"], "only one"),
    (["-debugcon", "chardev:nope"], "no -chardev with id 'nope'"),
    (["-device", "isa-debugcon,chardev=nope"], "no -chardev with id 'nope'"),
    (["-device", "isa-debugcon,iobase=0x10000"], "iobase must be 0 to 65535"),
    (["-device", "isa-debugcon,colour=red"], "unknown parameter 'colour'"),
    (["-device", "isa-debugcon", "-device", "isa-debugcon"], "port 0xe9 already has"),
    (["-chardev", "null,id=c", "-device", "isa-debugcon,chardev=c",
      "-device", "isa-debugcon,iobase=0x402,chardev=c"], "already used by isa-debugcon"),
    (["-chardev", "null,id=c", "-serial", "chardev:c", "-device", "isa-debugcon,chardev=c"],
     "already used by -serial"),
    (["-chardev", "null,id=debugcon", "-debugcon", "stdio"], "duplicate id 'debugcon'"),
    (["-debugcon", "stdio", "-serial", "stdio"], "-debugcon stdio: stdio is already"),
    (["-device", "isa-debugcon,iobase=0x80"], "port 0x80 is taken"),
])
def test_bad_debugcon_options(args, needle):
    p = run(*args)
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmm: ") and needle in lines[0], p.stderr


def test_help_names_isa_debugcon():
    p = subprocess.run([VMM, "-help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    assert "isa-debugcon" in p.stdout and "0x402" in p.stdout and "0xe9" in p.stdout
