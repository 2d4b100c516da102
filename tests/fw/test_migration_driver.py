# SPDX-License-Identifier: GPL-2.0-or-later
"""The real-guest migration driver (tests/real/migration_driver.py) on
firmware-level guests, so that its choreography is known to work before
it meets a Linux guest in the L1: with --fw the guest is migcount.S (hex
counts on COM1) moved A -> B over unix:, B -> C over tcp:, a cancelled
C -> D, C -> file: -> E; and, with --savevm, diskcount.S on a qcow2 disk
through savevm, loadvm and vmm-img check. Each test checks the driver's
"@@mig" lines and the guest's count across all the VMMs."""
import hashlib
import os
import re
import subprocess
import sys

import fwskip
from conftest import ROOT, VMM, fw_image

DRIVER = os.path.join(ROOT, "tests", "real", "migration_driver.py")
VMM_IMG = os.path.join(os.path.dirname(VMM), "vmm-img")
COUNT = re.compile(r"^([0-9a-f]{8})\s*$", re.M)
MiB = 1 << 20


def run_driver(tmp_path, args):
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.run([sys.executable, DRIVER, "--fw", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=300, env=env)
    out = p.stdout.decode(errors="replace").replace("\r", "")
    assert "@@mig driver error" not in out, out[-3000:]
    assert p.returncode == 0 and "@@vmm rc=0" in out, (p.returncode, out[-3000:],
                                                       p.stderr.decode(errors="replace"))
    return out


def one(pattern, out):
    found = re.findall(pattern, out, re.M)
    assert len(found) == 1, (pattern, found, out[-3000:])
    return found[0]


def check_one_count(out):
    """START once at the top, no BAD; the counts of all the VMMs together."""
    lines = [ln.strip() for ln in out.splitlines()]
    assert [ln for ln in lines if ln == "START"] == ["START"], out[-2000:]
    assert "BAD" not in lines, out[-2000:]
    return [int(x, 16) for x in COUNT.findall(out)]


def test_driver_moves_the_guest_live_cancelled_and_cold(tmp_path):
    disk = tmp_path / "disk.img"
    blob = os.urandom(MiB)
    disk.write_bytes(b"\0" * MiB + blob + b"\0" * (2 * MiB))
    out = run_driver(tmp_path, [
        "--disk", str(disk), "--disk-at", str(MiB), "--disk-len", str(MiB), "--",
        VMM, "-bios", fw_image("migcount.bin"), "-m", "16", "-smp", "2", "-nodefaults",
        "-display", "none", "-serial", "stdio",
        "-drive", "file=%s,format=raw,if=ide" % disk])
    results = re.findall(r"^@@mig result (\S+) status=(\w+) total_ms=(\d+) downtime_ms=(\d+) "
                         r"setup_ms=\S+ transferred=(\d+) ram_total=(\d+)", out, re.M)
    assert [r[:2] for r in results] == [("A->B", "completed"), ("B->C", "completed"),
                                        ("C->file", "completed")], out
    for _, _, total, down, sent, ram in results:
        assert int(total) >= int(down) >= 0 and int(sent) > 0, out
        assert int(ram) == 16 * MiB - 128 * 1024, out
    assert one(r"^@@mig B->C was over (\w+)$", out) == "tcp"
    for what in ("A->B", "B->C"):
        assert one(r"^@@mig source-after %s status=(\w+)" % what, out) == "postmigrate"
        assert one(r"^@@mig dest-after %s status=(\w+)" % what, out) == "running"
    switches = re.findall(r"^@@mig switch (\S+) last_n=(\d+) first_n=(\d+) gap_ms=\d+ "
                          r"up_last=None up_first=None up_jump=- lines_src=(\d+)$", out, re.M)
    assert [s[0] for s in switches] == ["A->B", "B->C", "C->file->E"], out
    for _, last, first, lines in switches:
        assert int(first) == int(last) + 1 and int(lines) >= 10, out
    m = one(r"^@@mig cancel status=(\w+) during_status=(\w+) during_transferred=(\d+) "
            r"during_remaining=(\d+) src_after=(\w+) src_later=(\w+) counted_on=(\d+)$", out)
    assert m[:2] == ("cancelled", "active") and int(m[2]) > 0 and int(m[3]) > 0, out
    assert m[4] == m[5] == "running" and int(m[6]) >= 10, out
    assert one(r"^@@mig cancel-dst rc=(\d+)$", out) == "1"
    for name in "ABCE":
        assert one(r"^@@mig exit %s rc=(\d+)" % name, out) == "0"
    # One count from 1 through A, B, C and E.
    counts = check_one_count(out)
    assert counts == list(range(1, len(counts) + 1)) and len(counts) >= 60, out[-2000:]
    # The disk bytes, read back from the image after E quit.
    assert one(r"^@@mig disk-image sha256=(\w+) bytes=1048576$", out) == \
        hashlib.sha256(blob).hexdigest()


def test_driver_savevm_loadvm_on_qcow2(tmp_path):
    disk = tmp_path / "disk.qcow2"
    subprocess.run([VMM_IMG, "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    out = run_driver(tmp_path, [
        "--savevm", str(disk), "--img", VMM_IMG, "--",
        VMM, "-bios", fw_image("diskcount.bin"), "-m", "16", "-nodefaults", "-display", "none",
        "-serial", "stdio", "-hda", str(disk)])
    _, before, after = one(r'^@@mig savevm reply="(.*)" ms=\d+ before_n=(\d+) after_n=(\d+)$',
                           out)
    assert one(r'^@@mig savevm reply="(.*)" ms', out) == ""
    assert one(r'^@@mig loadvm reply="(.*)" ms', out) == ""
    assert one(r"^@@mig savevm status=(\w+)$", out) == "running"
    assert one(r"^@@mig loadvm status=(\w+)$", out) == "running"
    # The count runs on after savevm, goes back once at loadvm to just
    # after the saved point, and runs on from there.
    counts = check_one_count(out)
    drops = [i for i in range(1, len(counts)) if counts[i] != counts[i - 1] + 1]
    assert counts[0] == 1 and len(drops) == 1, counts
    i = drops[0]
    assert int(before) <= counts[i] - 1 <= int(after) + 1 < counts[i - 1], counts
    assert counts[i:] == list(range(counts[i], counts[i] + len(counts) - i)), counts
    assert len(counts) - i >= 20, counts
    assert re.search(r"^@@mig info snapshots: -- +s1 ", out, re.M), out
    assert one(r"^@@mig vmm-img check rc=(\d+)$", out) == "0"
    assert "@@mig vmm-img check: No errors were found on the image." in out, out
    assert re.search(r"^@@mig vmm-img snapshot: 1 +s1 ", out, re.M), out
