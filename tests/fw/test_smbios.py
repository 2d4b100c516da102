# SPDX-License-Identifier: GPL-2.0-or-later
"""The SMBIOS tables a guest finds (src/board/pc_smbios.c: vmm builds them,
SeaBIOS adds its BIOS Information and installs them). The idle boot sector
(disk-11.img) runs under SeaBIOS; QMP's pmemsave reads the F segment and
the tables, which are checked as a guest's dmidecode would read them: the
entry point's checksums, every structure's length and strings, the UUID,
the sockets and the RAM. QEMU 10, when installed, boots the same disk with
the same options, and its tables must hold the same structure types."""
import shutil
import struct
import subprocess
import uuid as uuidlib

import pytest

from conftest import BOOT_TIMEOUT, VMM, fw_image
from test_qmp import Qmp, sock_path, vm, wait_for  # noqa: F401  (vm: the fixture)

UUID = "12345678-9abc-def0-1122-334455667788"
QEMU = shutil.which("qemu-system-x86_64")
MACHINE = ["-m", "5G", "-smp", "4,sockets=2,cores=2", "-uuid", UUID]
MIB = 1 << 20


def read_phys(q, tmp_path, addr, size):
    out = tmp_path / f"mem-{addr:x}.bin"
    assert q.ok("pmemsave", {"val": addr, "size": size, "filename": str(out)}) == {}
    return out.read_bytes()


def structures(blob, count):
    """(type, formatted area, strings) of each structure, walking the
    table as dmidecode does."""
    out, at = [], 0
    for _ in range(count):
        assert at + 4 <= len(blob), "table ends inside a header"
        kind, length = blob[at], blob[at + 1]
        assert length >= 4 and at + length <= len(blob), (kind, length)
        area = blob[at:at + length]
        end = blob.index(b"\0\0", at + length)
        strings = [s.decode() for s in blob[at + length:end].split(b"\0") if s]
        out.append((kind, area, strings))
        at = end + 2
    assert at == len(blob), "the table's length counts more than its structures"
    return out


def smbios(q, tmp_path):
    fseg = read_phys(q, tmp_path, 0xF0000, 0x10000)
    at = next((i for i in range(0, len(fseg), 16) if fseg[i:i + 4] == b"_SM_"), None)
    assert at is not None, "no _SM_ entry point in the F segment"
    ep = fseg[at:at + 31]
    assert ep[5] == 31 and sum(ep[:16]) % 256 == 0 and sum(ep[16:31]) % 256 == 0
    assert ep[16:21] == b"_DMI_"
    length, addr, count = struct.unpack_from("<HIH", ep, 22)
    table = structures(read_phys(q, tmp_path, addr, length), count)
    assert max(len(a) + sum(len(s) + 1 for s in st) + (1 if st else 2)
               for _, a, st in table) == struct.unpack_from("<H", ep, 8)[0]
    return (ep[6], ep[7]), table


def string(strings, index):
    return strings[index - 1] if index else ""


def boot(start, tmp_path, machine=MACHINE):
    path = sock_path(tmp_path)
    v = start("-qmp", f"unix:{path},server=on,wait=off", *machine, disk="disk-11.img")
    v.wait_serial("VMM-WDT-ARMED")
    return Qmp(path).negotiate()


def test_vmm_builds_the_tables(vm, tmp_path):
    version, table = smbios(boot(vm, tmp_path), tmp_path)
    assert version == (2, 8)
    kinds = [k for k, _, _ in table]
    assert kinds == [0, 1, 3, 4, 4, 16, 17, 19, 19, 32, 127], kinds
    by = {}
    for k, area, st in table:
        by.setdefault(k, []).append((area, st))
    # type 0 is SeaBIOS's own
    assert string(by[0][0][1], by[0][0][0][4]) == "SeaBIOS"
    sysinfo, st = by[1][0]
    assert string(st, sysinfo[4]) == "vmm"
    assert string(st, sysinfo[5]) == "Standard PC (i440FX + PIIX, 1996)"
    # SMBIOS 2.6 on: the first three UUID fields little-endian
    assert str(uuidlib.UUID(bytes_le=bytes(sysinfo[8:24]))) == UUID
    for i, (area, st) in enumerate(by[4]):
        assert string(st, area[4]) == f"CPU {i}"
        assert area[24] == 0x41 and area[35] == 2 and area[37] == 2
    ram = 5 << 30
    array = by[16][0][0]
    assert struct.unpack_from("<I", array, 7)[0] == ram >> 10
    assert struct.unpack_from("<H", array, 13)[0] == 1
    dimm, st = by[17][0]
    assert struct.unpack_from("<H", dimm, 12)[0] == ram // MIB
    assert string(st, dimm[16]) == "DIMM 0"
    ranges = [struct.unpack_from("<II", a, 4) for a, _ in by[19]]
    assert ranges[1][0] == 4 << 20  # KiB: the RAM above 4 GiB starts there
    assert sum((last - first + 1) << 10 for first, last in ranges) == ram


def test_without_uuid_the_field_is_zero(vm, tmp_path):
    _, table = smbios(boot(vm, tmp_path, machine=()), tmp_path)
    sysinfo = next(a for k, a, _ in table if k == 1)
    assert bytes(sysinfo[8:24]) == bytes(16)
    assert [k for k, _, _ in table] == [0, 1, 3, 4, 16, 17, 19, 32, 127]


@pytest.mark.skipif(not QEMU, reason="qemu-system-x86_64 is not installed")
def test_the_same_structures_as_qemu(vm, tmp_path):
    _, ours = smbios(boot(vm, tmp_path), tmp_path)
    qdir = tmp_path / "qemu"
    qdir.mkdir()
    path = sock_path(qdir)
    serial = qdir / "serial.log"
    disk = qdir / "disk-11.img"  # vmm holds the image's lock
    shutil.copyfile(fw_image("disk-11.img"), disk)
    p = subprocess.Popen([QEMU, "-M", "pc", "-enable-kvm", "-nodefaults", "-display", "none",
                          "-serial", f"file:{serial}", "-drive", f"file={disk},format=raw",
                          "-qmp", f"unix:{path},server=on,wait=off", *MACHINE],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: p.poll() is not None or (serial.exists() and
                 "VMM-WDT-ARMED" in serial.read_text(errors="replace")),
                 BOOT_TIMEOUT, "QEMU's boot")
        assert p.poll() is None, p.communicate()[1]
        _, theirs = smbios(Qmp(path).negotiate(), qdir)
    finally:
        p.kill()
        p.wait()
    assert [k for k, _, _ in ours] == [k for k, _, _ in theirs]
    quuid = next(a for k, a, _ in theirs if k == 1)[8:24]
    assert next(a for k, a, _ in ours if k == 1)[8:24] == quuid
