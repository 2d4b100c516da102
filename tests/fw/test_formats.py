# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS boots our boot sector from VDI, VHD (vpc, dynamic and fixed)
and qcow (version 1) images that qemu-img made, and from the VDI and VHD
images vmm-img converts the same disk to, probed by vmm (never taken for
raw), and the guest's write lands in the image, where qemu-img reads it;
VHDX boots read-only (-snapshot), QED is refused with one line."""
import os
import shutil
import subprocess

import pytest

from conftest import VMM, fw_image

VMM_IMG = os.environ.get("VMM_IMG", os.path.join(os.path.dirname(VMM), "vmm-img"))

EXIT_OK = (0x10 << 1) | 1

FORMATS = [
    ("vdi", [], []),
    ("vdi", ["-o", "static=on"], []),
    ("vpc", [], []),
    # a fixed VHD probes as raw (as in QEMU): it boots as vpc when named
    ("vpc", ["-o", "subformat=fixed"], ["format=vpc"]),
    ("qcow", [], []),
]


def qemu_img(*args):
    assert shutil.which("qemu-img"), "qemu-img is missing: run tools/deps.sh"
    return subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


@pytest.mark.parametrize("maker", ["qemu-img", "vmm-img"])
@pytest.mark.parametrize("fmt,opts,drive", FORMATS,
                         ids=["vdi", "vdi-static", "vpc", "vpc-fixed", "qcow"])
def test_boot_and_write(vmm, tmp_path, fmt, opts, drive, maker):
    img = tmp_path / f"disk.{fmt}"
    if maker == "qemu-img":
        qemu_img("convert", "-O", fmt, *opts, fw_image("disk-6.img"), img)
    else:
        subprocess.run([VMM_IMG, "convert", "-O", fmt, *opts, fw_image("disk-6.img"), str(img)],
                       check=True, capture_output=True)
        # what vmm-img wrote is the disk for qemu-img too
        qemu_img("compare", "-f", fmt, "-F", "raw", img, fw_image("disk-6.img"))
    r = vmm("-m", "64", "-drive", ",".join([f"file={img}", "if=ide", *drive]))
    assert "VMM-BOOT-OK drive=80" in r.serial, (r.serial, r.stderr)
    assert "VMM-WRITE-OK" in r.serial, (r.serial, r.stderr)
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert "probed as raw" not in r.stderr
    # the guest copied its boot sector to LBA 1: qemu-img reads it there
    flat = tmp_path / "flat.raw"
    qemu_img("convert", "-f", fmt, "-O", "raw", img, flat)
    data = open(flat, "rb").read()
    assert data[512 + 510:1024] == b"\x55\xaa", "the guest's write to LBA 1 is not there"
    if fmt == "vdi":
        qemu_img("check", img)


def test_refused_qed(vmm, tmp_path):
    img = tmp_path / "disk.qed"
    qemu_img("create", "-f", "qed", img, "1M")
    r = vmm("-m", "64", "-hda", str(img))
    assert r.status == 1, (r.status, r.stderr)
    assert "not supported" in r.stderr and "QED" in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr


def test_vhdx_read_only(vmm, tmp_path):
    # VHDX is read here: a writable disk is refused in one line, and
    # -snapshot boots it with the guest's write in the overlay
    img = tmp_path / "disk.vhdx"
    qemu_img("convert", "-O", "vhdx", fw_image("disk-6.img"), img)
    before = open(img, "rb").read()
    r = vmm("-m", "64", "-hda", str(img))
    assert r.status == 1, (r.status, r.stderr)
    assert "read-only" in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    r = vmm("-m", "64", "-snapshot", "-hda", str(img))
    assert "VMM-BOOT-OK drive=80" in r.serial, (r.serial, r.stderr)
    assert "VMM-WRITE-OK" in r.serial, (r.serial, r.stderr)
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert open(img, "rb").read() == before
