# SPDX-License-Identifier: GPL-2.0-or-later
"""-drive cache= modes at firmware level: disk-6's boot sector copies itself
to LBA 1 through int 13h (SeaBIOS's IDE or virtio driver) and reads it back;
with O_DIRECT (cache=none, directsync), O_DSYNC (writethrough) and unsafe,
on raw and qcow2, the write must be in the image afterwards. The images sit
in pytest's tmp_path (a disk file system: O_DIRECT works there)."""
import shutil
import subprocess

import pytest

from conftest import fw_image

EXIT_OK = (0x10 << 1) | 1


@pytest.mark.parametrize("bus,cache,fmt", [
    ("ide", "none", "raw"),
    ("virtio", "none", "raw"),
    ("virtio", "directsync", "raw"),
    ("ide", "writethrough", "raw"),
    ("virtio", "unsafe", "raw"),
    ("ide", "none", "qcow2"),
    ("virtio", "none", "qcow2"),
])
def test_cache_mode_write_lands(vmm, tmp_path, bus, cache, fmt):
    disk = tmp_path / ("disk." + fmt)
    if fmt == "raw":
        shutil.copy(fw_image("disk-6.img"), disk)
    else:
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", fw_image("disk-6.img"), str(disk)],
                       check=True, capture_output=True)
    r = vmm("-m", "64", "-drive", f"file={disk},if={bus},format={fmt},cache={cache}")
    assert "VMM-WRITE-OK" in r.serial, (r.serial, r.stderr)
    assert r.status == EXIT_OK, (r.status, r.stderr)
    flat = disk
    if fmt == "qcow2":
        flat = tmp_path / "flat.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk), str(flat)], check=True,
                       capture_output=True)
        subprocess.run(["qemu-img", "check", str(disk)], check=True, capture_output=True)
    data = open(flat, "rb").read()
    assert open(fw_image("disk-6.img"), "rb").read()[512:1024] == bytes(512)
    # the boot sector as it ran (its drive byte patched), at LBA 1
    assert data[512 + 510:1024] == b"\x55\xaa" and data[512:512 + 100] == data[:100]
