# SPDX-License-Identifier: GPL-2.0-or-later
"""CPUID's brand string (leaves 0x80000002-4, the guest's "model name"),
read by a -bios program (tests/fw/cpubrand.S) from the reset vector.
KVM reports those leaves as zeros, so vmm names the CPU itself: -cpu host
and max the host's CPU, from the host's own CPUID, as QEMU's -cpu host
does; qemu64 and kvm64 QEMU's names for them. Before, -cpu host gave 48
zero bytes and Linux guests showed "model name: 17/01"."""
import subprocess

import pytest

from conftest import VMM, fw_image

EXIT_OK = 33  # 0x10 to isa-debug-exit


def brand(tmp_path, cpu):
    out = tmp_path / ("brand-%s" % cpu)
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", "-cpu", cpu,
                        "-bios", fw_image("cpubrand.bin"),
                        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-debugcon", f"file:{out}"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == EXIT_OK, p.stderr
    data = out.read_bytes()
    assert data.endswith(b"\n") and len(data) == 49, data
    return data[:48]


def host_model_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    pytest.skip("the host's /proc/cpuinfo has no model name")


@pytest.mark.parametrize("cpu", ["host", "max"])
def test_host_model_names_the_hosts_cpu(tmp_path, cpu):
    # Linux shows the brand without its NUL padding and leading spaces
    got = brand(tmp_path, cpu).rstrip(b"\0").decode("ascii").strip()
    assert got == host_model_name()


@pytest.mark.parametrize("cpu,name", [("qemu64", b"QEMU Virtual CPU version 2.5+"),
                                      ("kvm64", b"Common KVM processor")])
def test_qemu_models_carry_qemus_names(tmp_path, cpu, name):
    assert brand(tmp_path, cpu) == name.ljust(48, b"\0")
