# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 persistent dirty bitmaps under a running vmm (issue 20): the
diskcount guest (tests/fw/diskcount.S) writes sector 1 of its IDE disk
every round. While it runs the bitmaps are in use (qemu-img info -U and
vmm-img info -U say so, as of an image QEMU has open); after quit they are
consistent again and the enabled ones hold the guest's write (bit 1 of a
512-byte bitmap, bit 0 of a 64 KiB one), the disabled one nothing, and
qemu-img check is clean; loadvm is refused as QEMU refuses it; a vmm
killed with SIGKILL leaves them in use. Before this work vmm's writable
open cleared the bitmaps' autoclear bit: every bitmap was gone."""
import json
import os
import struct
import subprocess

from test_savevm import VMM_IMG, qcow2, start, vms  # noqa: F401 (fixture)


def bitmaps(tool, img):
    out = subprocess.run([tool, "info", "-U", "--output=json", str(img)], check=True,
                         capture_output=True, text=True).stdout
    return {b["name"]: b["flags"] for b in
            json.loads(out)["format-specific"]["data"].get("bitmaps", [])}


def set_bits(img, name):
    """The bitmap's set bits, read by the spec's layout."""
    data = img.read_bytes()
    cs = 1 << struct.unpack(">I", data[20:24])[0]
    size = struct.unpack(">Q", data[24:32])[0]
    off = struct.unpack(">I", data[100:104])[0]
    while True:
        t, n = struct.unpack(">II", data[off:off + 8])
        assert t, "no bitmaps extension"
        if t == 0x23852875:
            break
        off += 8 + (n + 7) // 8 * 8
    nb, _, _, pos = struct.unpack(">IIQQ", data[off + 8:off + 32])
    for _ in range(nb):
        toff, tsize, _, _, gbits, nsize, extra = struct.unpack(">QIIBBHI", data[pos:pos + 24])
        this = data[pos + 24 + extra:pos + 24 + extra + nsize].decode()
        pos += (24 + extra + nsize + 7) // 8 * 8
        if this != name:
            continue
        bits = b""
        for i in range(tsize):
            e = struct.unpack(">Q", data[toff + 8 * i:toff + 8 * i + 8])[0]
            o = e & 0x00fffffffffffe00
            bits += data[o:o + cs] if o else bytes(cs)
        nbits = (size + (1 << gbits) - 1) >> gbits
        return [i for i in range(nbits) if bits[i // 8] >> (i % 8) & 1]
    raise KeyError(name)


def disk_with_bitmaps(tmp_path):
    disk = qcow2(tmp_path)
    for args in (["--add", "-g", "512"], ["--add"], ["--add", "--disabled"]):
        name = {"512": "fine", "--disabled": "off"}.get(args[-1], "big")
        subprocess.run([VMM_IMG, "bitmap", *args, str(disk), name], check=True)
    return disk


def test_guest_writes_tracked(vms, tmp_path):  # noqa: F811
    disk = disk_with_bitmaps(tmp_path)
    v = start(vms, tmp_path, "a", ["-drive", f"file={disk},format=qcow2,if=ide"])
    v.wait_counts(3)
    for tool in ("qemu-img", VMM_IMG):
        assert bitmaps(tool, disk) == {"fine": ["in-use", "auto"], "big": ["in-use", "auto"],
                                       "off": ["in-use"]}, tool
    assert v.mon.cmd("savevm s1") == ""
    assert v.mon.cmd("loadvm s1") == ("Error: Could not load snapshot 's1' on 'ide0-hd0': "
                                      "Device has active dirty bitmaps\n")
    assert v.finish()[0] == 0
    for tool in ("qemu-img", VMM_IMG):
        assert bitmaps(tool, disk) == {"fine": ["auto"], "big": ["auto"], "off": []}, tool
    assert set_bits(disk, "fine") == [1]
    assert set_bits(disk, "big") == [0]
    assert set_bits(disk, "off") == []
    subprocess.run(["qemu-img", "check", "-q", str(disk)], check=True)


def test_killed_vmm_leaves_bitmaps_in_use(vms, tmp_path):  # noqa: F811
    disk = disk_with_bitmaps(tmp_path)
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    v.wait_counts(3)
    v.kill()
    flags = bitmaps("qemu-img", disk)
    assert flags == {"fine": ["in-use", "auto"], "big": ["in-use", "auto"], "off": ["in-use"]}
    assert bitmaps(VMM_IMG, disk) == flags
    p = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert p.returncode in (0, 3), p.stdout + p.stderr
    # an inconsistent bitmap is left alone by the next run, and can go
    v = start(vms, tmp_path, "b", ["-hda", str(disk)])
    v.wait_counts(2)
    assert v.finish()[0] == 0
    assert bitmaps("qemu-img", disk) == flags
    subprocess.run([VMM_IMG, "bitmap", "--remove", str(disk), "big"], check=True)
    assert os.path.exists(disk)
    assert set(bitmaps("qemu-img", disk)) == {"fine", "off"}
