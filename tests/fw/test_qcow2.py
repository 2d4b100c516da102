# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS boots our boot sectors from qcow2 images and overlays, and
-snapshot / snapshot=on leave the images byte-identical."""
import hashlib
import os
import shutil
import subprocess

import fwskip

from conftest import ROOT, fw_image

EXIT_OK = (0x10 << 1) | 1
VMM_IMG = os.environ.get("VMM_IMG", os.path.join(ROOT, "build", "vmm-img"))


def img(*args):
    subprocess.run([VMM_IMG, *args], check=True, capture_output=True)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_boot_from_qcow2(vmm, tmp_path):
    q = tmp_path / "disk.qcow2"
    img("convert", "-f", "raw", "-O", "qcow2", fw_image("disk-0.img"), str(q))
    r = vmm("-m", "64", "-drive", f"file={q},format=qcow2,if=ide")
    assert "VMM HARDDISK" in r.debuglog and "(1 MiBytes)" in r.debuglog, r.debuglog[-2000:]
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_boot_from_overlay_over_raw_base(vmm, tmp_path):
    base = tmp_path / "base.raw"
    shutil.copy(fw_image("disk-6.img"), base)
    before = sha(base)
    ov = tmp_path / "ov.qcow2"
    img("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", str(ov))  # relative name
    r = vmm("-m", "64", "-hda", str(ov))  # probed as qcow2
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert "VMM-WRITE-OK" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert sha(base) == before
    # the guest's write (its boot sector copied to LBA 1) is in the overlay
    out = tmp_path / "flat.raw"
    img("convert", "-O", "raw", str(ov), str(out))
    data = open(out, "rb").read()
    assert data[512 + 510:1024] == b"\x55\xaa"
    assert open(base, "rb").read()[512:1024] == bytes(512)
    if not shutil.which("qemu-img"):
        fwskip.unavailable("qemu-img is missing: run tools/deps.sh")
    subprocess.run(["qemu-img", "check", str(ov)], check=True, capture_output=True)


def test_snapshot_option_keeps_raw_base(vmm, tmp_path, monkeypatch):
    base = tmp_path / "base.raw"
    shutil.copy(fw_image("disk-6.img"), base)
    before = sha(base)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    r = vmm("-m", "64", "-snapshot", "-drive", f"file={base},format=raw")
    assert "VMM-WRITE-OK" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert sha(base) == before
    assert os.listdir(tmpdir) == []  # the overlay was unlinked at once


def test_drive_snapshot_on_keeps_qcow2(vmm, tmp_path):
    q = tmp_path / "disk.qcow2"
    img("convert", "-O", "qcow2", fw_image("disk-6.img"), str(q))
    before = sha(q)
    r = vmm("-m", "64", "-drive", f"file={q},format=qcow2,snapshot=on,cache=writeback")
    assert "VMM-WRITE-OK" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert sha(q) == before


def test_boot_from_vmdk_with_snapshot(vmm, tmp_path):
    # -snapshot puts a qcow2 overlay over the vmdk; without it the guest's
    # write lands in the vmdk, which qemu-img then checks clean
    assert shutil.which("qemu-img"), "qemu-img is missing: run tools/deps.sh"
    v = tmp_path / "disk.vmdk"
    subprocess.run(["qemu-img", "convert", "-O", "vmdk", fw_image("disk-6.img"), str(v)],
                   check=True, capture_output=True)
    before = sha(v)
    r = vmm("-m", "64", "-snapshot", "-hda", str(v))
    assert "VMM-WRITE-OK" in r.serial, (r.serial, r.stderr)
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert sha(v) == before
    r = vmm("-m", "64", "-hda", str(v))
    assert "VMM-WRITE-OK" in r.serial, (r.serial, r.stderr)
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert sha(v) != before
    subprocess.run(["qemu-img", "check", str(v)], check=True, capture_output=True)
    flat = tmp_path / "flat.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(v), str(flat)], check=True,
                   capture_output=True)
    raw = open(flat, "rb").read()
    assert raw[512 + 510:1024] == b"\x55\xaa", "the guest's write to LBA 1 is not there"
