# SPDX-License-Identifier: GPL-2.0-or-later
"""-smp on the firmware layer: SeaBIOS starts every AP (INIT/SIPI through
KVM's in-kernel LAPICs) and sizes its tables by the APIC ID limit; bad
topologies are refused before anything starts."""
import subprocess

import pytest

from conftest import VMM, fw_image

EXIT_OK = (0x10 << 1) | 1


@pytest.mark.parametrize("spec,found,limit", [
    ("4", 4, 4),
    ("4,sockets=2,cores=2", 4, 4),
    # 2 sockets of 3 cores: APIC IDs 0-2 and 4-6, so tables up to ID 6
    ("6,sockets=2,cores=3", 6, 7),
    # fewer CPUs than maxcpus: only those run, tables cover maxcpus
    ("2,maxcpus=4", 2, 4),
    # the seeds' 160 CPUs (issue 21): APIC IDs 0-159, under xAPIC's 255
    ("160", 160, 160),
])
def test_seabios_finds_all_cpus(vmm, spec, found, limit):
    r = vmm("-m", "64", "-smp", spec, "-hda", fw_image("disk-0.img"))
    assert f"Found {found} cpu(s) max supported {limit} cpu(s)" in r.debuglog, \
        r.debuglog[-3000:]
    assert "VMM-BOOT-OK" in r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


@pytest.mark.parametrize("spec,message", [
    ("0", "must be at least 1"),
    ("4,sockets=3,cores=1,threads=1", "does not match maxcpus"),
    ("8,maxcpus=4", "more than maxcpus"),
    ("256", "x2APIC"),
    ("2,dies=2", "unknown parameter 'dies'"),
    ("two", "-smp"),
])
def test_bad_smp_is_refused(spec, message):
    p = subprocess.run([VMM, "-smp", spec, "-display", "none"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1, p
    lines = p.stderr.strip().split("\n")
    assert len(lines) == 1 and message in lines[0], p.stderr
