# SPDX-License-Identifier: GPL-2.0-or-later
"""Image locks across a migration, as QEMU hands them over: a destination
waiting for its stream holds no lock on its images (QEMU's inactive
images), so vmm-img info works on an image only it has open and a writer
is refused only by the source; at the switchover the source flushes and
drops its locks and the destination, once loaded, takes them (a third
vmm is refused with QEMU's message); cont on the source then fails while
the destination holds the image, and works once it is gone. A migration
that fails after the switchover, or is cancelled, leaves the source
holding its locks. Who holds what is read from /proc/PID/fdinfo (OFD
locks show no pid in /proc/locks)."""
import os
import subprocess
import time

from conftest import ROOT, VMM, fw_image
from test_migration import Machine, wait_counting, wait_migrated, source_output, \
    check_destination_continues
from test_qmp import wait_for

VMM_IMG = os.environ.get("VMM_IMG", os.path.join(ROOT, "build", "vmm-img"))
WRITE_LOCK = 101      # "holds write"
NO_SHARED_WRITE = 201  # "shares write with nobody"


def held_bytes(pid, image):
    """The lock bytes process 'pid' holds on 'image' (every open of it)."""
    held = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != str(image):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("lock:") and "OFDLCK" in line:
                        start, end = line.split()[-2:]
                        held.update(range(int(start), int(end) + 1))
        except FileNotFoundError:
            pass
    return held


def writer_refused(tmp_path, image):
    """Starts a vmm that would write 'image': the error it exits with, or
    None if it runs (then stopped)."""
    p = subprocess.Popen([VMM, "-bios", fw_image("migcount.bin"), "-m", "16", "-nodefaults",
                          "-display", "none", "-drive", f"file={image},format=raw,if=ide"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=3)
        return err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def img_info(image):
    return subprocess.run([VMM_IMG, "info", str(image)], capture_output=True, text=True)


def assert_qemu_refusal(err, image):
    assert err is not None, "a second writer was not refused"
    assert 'Failed to get "write" lock' in err, err
    assert f"Is another process using the image [{image}]?" in err, err


def test_locks_move_to_the_destination(tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(bytes(1 << 20))
    disk = ["-drive", f"file={raw},format=raw,if=ide"]
    uri = f"unix:{tmp_path / 'mig.sock'}"
    dst = Machine(tmp_path, "dst", [*disk, "-incoming", uri])
    src = None
    try:
        qd = dst.connect()
        assert qd.ok("query-status")["status"] == "inmigrate"
        # Incoming: the image open, no lock held, readers and writers welcome.
        assert held_bytes(dst.proc.pid, raw) == set()
        assert img_info(raw).returncode == 0, img_info(raw).stderr
        assert writer_refused(tmp_path, raw) is None
        src = Machine(tmp_path, "src", disk)
        qs = src.connect()
        wait_counting(src, 5)
        assert {WRITE_LOCK, NO_SHARED_WRITE} <= held_bytes(src.proc.pid, raw)
        assert held_bytes(dst.proc.pid, raw) == set()
        # Refused by the source's locks alone (the destination holds none).
        assert_qemu_refusal(writer_refused(tmp_path, raw), raw)
        assert qs.ok("migrate", {"uri": uri}) == {}
        assert wait_migrated(qs)["status"] == "completed"
        src_text = source_output(src)
        check_destination_continues(dst, src_text)
        # The destination took the locks, the source let them go.
        assert {WRITE_LOCK, NO_SHARED_WRITE} <= held_bytes(dst.proc.pid, raw)
        assert held_bytes(src.proc.pid, raw) == set()
        assert_qemu_refusal(writer_refused(tmp_path, raw), raw)
        info = img_info(raw)
        assert info.returncode != 0 and 'shared "write" lock' in info.stderr, info
        # cont on the source: refused while the destination holds the image.
        r = qs.cmd("cont")
        assert 'Failed to get "write" lock' in r["error"]["desc"], r
        assert "\n" not in r["error"]["desc"], r
        assert qs.ok("query-status")["status"] == "postmigrate"
        assert held_bytes(src.proc.pid, raw) == set()
        status, err = dst.finish()
        assert status == 0, err
        # The destination gone: cont takes the locks back and runs.
        assert qs.ok("cont") == {}
        assert qs.ok("query-status")["status"] == "running"
        assert {WRITE_LOCK, NO_SHARED_WRITE} <= held_bytes(src.proc.pid, raw)
        n = len(src.counts())
        wait_for(lambda: len(src.counts()) > n + 3, 30, "the source to count again")
        status, err = src.finish()
        assert status == 0, err
    finally:
        if src:
            src.kill()
        dst.kill()


def test_failed_or_cancelled_migration_keeps_the_source_locks(tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(bytes(1 << 20))
    src = Machine(tmp_path, "src", ["-drive", f"file={raw},format=raw,if=ide",
                                    "-sandbox", "off"])
    try:
        qs = src.connect()
        wait_counting(src, 5)
        before = held_bytes(src.proc.pid, raw)
        assert {WRITE_LOCK, NO_SHARED_WRITE} <= before
        # Fails after the switchover (the command takes the whole stream,
        # then exits 1): the source took its locks back and runs on.
        qs.ok("migrate", {"uri": "exec:cat >/dev/null; exit 1"})
        assert wait_migrated(qs)["status"] == "failed"
        assert held_bytes(src.proc.pid, raw) == before
        assert_qemu_refusal(writer_refused(tmp_path, raw), raw)
        assert qs.ok("query-status")["status"] == "running"
        # Cancelled during a slow pre-copy: the locks never moved.
        qs.ok("migrate-set-parameters", {"max-bandwidth": 64 << 10})
        qs.ok("migrate", {"uri": "exec:cat >/dev/null"})
        wait_for(lambda: qs.ok("query-migrate")["status"] == "active", 30, "pre-copy")
        assert qs.ok("migrate_cancel") == {}
        wait_for(lambda: qs.ok("query-migrate")["status"] == "cancelled", 30, "the cancel")
        assert held_bytes(src.proc.pid, raw) == before
        assert_qemu_refusal(writer_refused(tmp_path, raw), raw)
        n = len(src.counts())
        time.sleep(0.2)
        wait_for(lambda: len(src.counts()) > n + 3, 30, "the source to count on")
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()
