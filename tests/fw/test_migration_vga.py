# SPDX-License-Identifier: GPL-2.0-or-later
"""Migration of a machine with a VGA (issue 18): the video memory goes as a
named RAM block of the stream (version 2), pre-copied with dirty logging
like guest RAM, its zero pages a byte each, and the VGA's device state
carries only its registers. A live migration of a guest that drew a VBE
picture (tests/fw/vgaboot.S, VGA_TEST 4) shows the same picture on the
destination, sends a fraction of the 16 MiB of video memory and stops the
guest for a short time; a stream of version 1 (main's vmm before the
change, the video memory inside the VGA's state: tests/fw/data/
migration-v1-vga.mig.xz) still loads with its picture; a destination whose
video memory differs in size refuses the stream with one line."""
import hashlib
import json
import lzma
import os
import shutil
import subprocess

import fwskip
from conftest import ROOT, VMM, fw_image
from test_display import read_ppm
from test_qmp import Qmp, wait_for

FIXTURE = os.path.join(ROOT, "tests", "fw", "data", "migration-v1-vga.mig.xz")
# The screendump (PPM) main's vmm took of that machine, paused, just before
# it wrote the stream: text mode 3, the banner of VGA_TEST 1.
FIXTURE_PICTURE_SHA256 = "003b02e0fa0a7287a5232b65cc5561be0b77b44385c6ded74bdabf6252f9f257"
VRAM = 16 << 20
# The guest has drawn and halts: the stopped phase has only the last dirty
# pages, the PAM RAM (256 KiB) and the device state (~100 KiB) to send, well
# under 1 MiB: 13-45 ms typically on the 2-core host, with a tail of 160,
# 281 and 360 ms at nice 19 under a whole CI run beside it (the main thread
# and the sender waiting for a CPU; docs/bench.md); QEMU 2-3 ms. Before the
# change the whole 16 MiB video memory went stopped, inside the state:
# 205-1837 ms. The bound, 1 s, is what a guest must never see for a few
# hundred KiB, with room for that tail, so that a CI host under load does
# not fail it; what the stopped phase sends is checked exactly by the
# transferred bytes (which is what fails on the code before).
DOWNTIME_BOUND_MS = 1000


class Box:
    """A vmm with the default-VGA machine of these tests."""

    def __init__(self, tmp_path, name, disk, extra=(), mem="256", smp="2", vga=("-vga", "std"),
                 fmt="raw"):
        if not os.path.exists("/dev/kvm"):
            fwskip.unavailable("/dev/kvm is missing")
        self.serial = tmp_path / f"{name}-serial.log"
        self.qmp_path = str(tmp_path / f"{name}.qmp")
        self.proc = subprocess.Popen(
            [VMM, "-m", mem, "-smp", smp, "-nodefaults", *vga, "-display", "none",
             # cache=unsafe: the switchover flushes the images (an fsync,
             # inside the downtime), which a loaded CI host's file system has
             # stalled for up to a minute; these tests are about video memory
             "-drive", f"file={disk},format={fmt},if=ide,cache=unsafe",
             "-serial", f"file:{self.serial}",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.q = None

    def connect(self):
        wait_for(lambda: self.proc.poll() is not None or os.path.exists(self.qmp_path), 30,
                 "the QMP socket")
        assert self.proc.poll() is None, self.proc.communicate()[1].decode(errors="replace")
        self.q = Qmp(self.qmp_path).negotiate()
        return self.q

    def wait_ready(self):
        wait_for(lambda: self.proc.poll() is not None or
                 (self.serial.exists() and b"VMM-VGA-READY" in self.serial.read_bytes()),
                 120, "VMM-VGA-READY")
        assert self.proc.poll() is None, self.proc.communicate()[1].decode(errors="replace")

    def screendump(self, path):
        assert self.q.ok("screendump", {"filename": str(path)}) == {}
        return path.read_bytes()

    def finish(self):
        if self.q and self.proc.poll() is None:
            try:
                self.q.ok("quit")
            except (OSError, EOFError):
                pass
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def disk_copy(tmp_path, test):
    path = tmp_path / f"vgadisk-{test}.img"
    shutil.copyfile(fw_image(f"vgadisk-{test}.img"), path)
    return path


def wait_migrated(q, timeout=120):
    def done():
        r = q.ok("query-migrate")
        return r if r.get("status") in ("completed", "failed") else None
    return wait_for(done, timeout, "the migration to end")


def steady_picture(box, tmp_path, name):
    """The screendump once two in a row agree (the display has refreshed)."""
    shots = []

    def same():
        shots.append(box.screendump(tmp_path / f"{name}-{len(shots)}.ppm"))
        return len(shots) >= 2 and shots[-1] == shots[-2]
    wait_for(same, 10, f"{name}: a steady picture")
    return shots[-1]


def test_live_migration_moves_the_picture_and_little_of_the_video_memory(tmp_path):
    disk = disk_copy(tmp_path, 4)  # VBE 640x480x32 through the LFB: 1.2 MB drawn
    uri = f"unix:{tmp_path / 'mig.sock'}"
    dst = Box(tmp_path, "dst", disk, ["-incoming", uri])
    src = Box(tmp_path, "src", disk)
    try:
        qd = dst.connect()
        qs = src.connect()
        src.wait_ready()
        before = steady_picture(src, tmp_path, "src")
        w, h, _ = read_ppm(tmp_path / "src-0.ppm")
        assert (w, h) == (640, 480)
        assert qs.ok("migrate", {"uri": uri}) == {}
        r = wait_migrated(qs)
        assert r["status"] == "completed", r
        ram = r["ram"]
        # RAM and video memory counted as QEMU counts its RAM blocks
        assert ram["total"] == 256 * 2**20 - 128 * 1024 + VRAM, ram
        # the 1.2 MB picture and the firmware's RAM, not the whole 16 MiB
        # (before: 17 MB and more, the video memory whole in the state)
        assert ram["transferred"] < 4 * 2**20, ram
        assert r["downtime"] < DOWNTIME_BOUND_MS, r
        wait_for(lambda: qd.ok("query-status")["status"] == "running", 30, "the destination runs")
        after = steady_picture(dst, tmp_path, "dst")
        assert after == before, "the destination shows another picture"
        for box in (src, dst):
            status, err = box.finish()
            assert status == 0, err
    finally:
        src.kill()
        dst.kill()


def test_version1_stream_with_the_video_memory_in_the_state_still_loads(tmp_path):
    stream = tmp_path / "v1.mig"
    stream.write_bytes(lzma.decompress(open(FIXTURE, "rb").read()))
    assert stream.read_bytes()[:12] == b"VMMMIGR\n\x01\x00\x00\x00"
    # The fixture's vCPU is a qemu64 (its XSAVE area and MSRs load on any
    # x86-64 host); one recorded with -cpu host on an AVX-512 host was
    # refused by KVM_SET_XSAVE on an EPYC without it, as QEMU's would be.
    dst = Box(tmp_path, "dst", disk_copy(tmp_path, 1),
              ["-cpu", "qemu64", "-incoming", f"file:{stream}"], mem="32", smp="1")
    try:
        q = dst.connect()
        r = wait_migrated(q)
        assert r["status"] == "completed", r
        picture = steady_picture(dst, tmp_path, "dst")
        assert hashlib.sha256(picture).hexdigest() == FIXTURE_PICTURE_SHA256
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


def test_video_memory_of_another_size_is_refused(tmp_path):
    disk = disk_copy(tmp_path, 1)
    stream = tmp_path / "v2.mig"
    src = Box(tmp_path, "src", disk, ["-S"], mem="32", smp="1")
    try:
        qs = src.connect()
        assert qs.ok("migrate", {"uri": f"file:{stream}"}) == {}
        assert wait_migrated(qs)["status"] == "completed"
        src.finish()
    finally:
        src.kill()
    assert stream.read_bytes()[8:12] == b"\x02\x00\x00\x00"
    # a paused machine's 16 MiB of untouched video memory: a byte a page
    assert stream.stat().st_size < 2 * 2**20
    dst = Box(tmp_path, "dst", disk, ["-incoming", f"file:{stream}"], mem="32", smp="1",
              vga=("-device", "VGA,vgamem_mb=8"))
    try:
        _, err = dst.proc.communicate(timeout=60)
    finally:
        dst.kill()
    err = err.decode(errors="replace")
    assert dst.proc.returncode == 1, err
    assert err.count("\n") == 1, err
    assert ("vmm: migration: RAM block 'vga.vram@02.0' is 16777216 bytes in the stream, "
            "8388608 on this machine") in err, err


def test_savevm_and_loadvm_carry_the_video_memory_as_a_block(tmp_path):
    """savevm writes the stream into the qcow2 image's VM state: the video
    memory as its block (the VM state a fraction of the 16 MiB card; it was
    17 MB before), and -loadvm in a new vmm shows the saved picture."""
    vmm_img = os.path.join(os.path.dirname(VMM), "vmm-img")
    disk = tmp_path / "vga.qcow2"
    subprocess.run([vmm_img, "convert", "-f", "raw", "-O", "qcow2", fw_image("vgadisk-4.img"),
                    str(disk)], check=True, capture_output=True)
    src = Box(tmp_path, "src", disk, mem="64", smp="1", fmt="qcow2")
    try:
        q = src.connect()
        src.wait_ready()
        before = steady_picture(src, tmp_path, "src")
        q.ok("human-monitor-command", {"command-line": "savevm pic"})
        info = q.ok("human-monitor-command", {"command-line": "info snapshots"})
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()
    assert "pic" in info, info
    size = json_vm_state_size(vmm_img, disk)
    assert 0 < size < 4 * 2**20, size
    dst = Box(tmp_path, "dst", disk, ("-loadvm", "pic"), mem="64", smp="1", fmt="qcow2")
    try:
        dst.connect()
        after = steady_picture(dst, tmp_path, "dst")
        assert after == before, "-loadvm shows another picture"
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


def json_vm_state_size(vmm_img, disk):
    out = subprocess.run([vmm_img, "info", "--output=json", str(disk)], check=True,
                         capture_output=True, text=True).stdout
    snaps = json.loads(out).get("snapshots", [])
    assert len(snaps) == 1, out
    return snaps[0]["vm-state-size"]
