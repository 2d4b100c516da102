# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 6: kill -9 of vmm while a stock Linux writes a qcow2 disk over
virtio-blk, three times over one image (tests/real/qcow2_crash.py does the
work inside the L1). After each kill both vmm-img check and qemu-img check
find at most leaked clusters, and every round the guest acknowledged with
`sync` + "SYNCED k" before the kill reads back complete. The same command
checks that cache=none on the L1's tmpfs (no O_DIRECT on Linux 6.1) fails
with a one-line error (where the file system takes O_DIRECT: vmm runs with
the image open O_DIRECT), and that a guest's blkdiscard on a raw virtio disk
punches a hole in the image (zeros, fewer blocks, the rest intact).

Issue 12 adds the raw disk (io_uring path): vmm killed the same way, more
times; every synced round must be in the file."""
import os
import re
import shlex

import pytest

import guestkit

VMM_IMG = os.path.join(guestkit.REPO, "build", "vmm-img")
DRIVER = os.path.join(guestkit.HERE, "qcow2_crash.py")
ITERATIONS = 3


class Kill9Crash(guestkit.Scenario):
    """The crash driver (qcow2_crash.py) on one image format: `extra` are
    its further options."""

    def __init__(self, name, workdir, iterations, extra=""):
        guestkit.Scenario.__init__(self, name, timeout=900)
        self.workdir, self.iterations, self.extra = workdir, iterations, extra

    def missing(self):
        m = guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")
        if not m and not os.path.exists(VMM_IMG):
            m = "%s missing (run make)" % VMM_IMG
        return m

    def add_to(self, batch):
        q = shlex.quote
        cmd = ("/usr/bin/python3 %s --vmm %s --vmm-img %s --iso %s --dir \"${TMPDIR:-/tmp}/%s\""
               " --iterations %d%s" % (q(DRIVER), q(guestkit.VMM_BINARY), q(VMM_IMG),
                                       q(guestkit.kit("kit-amd64.iso")), self.workdir,
                                       self.iterations, self.extra))
        batch.add(self.name, cmd, timeout=self.timeout, marker="@@crash-done", grace=5,
                  retries=1, retry_guest=self.retry_guest())


CRASH = Kill9Crash("vmm-qcow2-crash", "qcow2-crash", ITERATIONS)
RAW_ITERATIONS = 4
RAW_CRASH = Kill9Crash("vmm-raw-crash", "raw-crash", RAW_ITERATIONS, " --format raw --crash-only")


@pytest.mark.parametrize("scenario", [RAW_CRASH], ids=str)
def test_raw_survives_kill9(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "@@crash-done" in out, guest.describe()
    iters = re.findall(r"@@iter (\d+) killed=(\d) target=(\d+) synced=(\d+) vmm-check=(\d+) "
                       r"qemu-check=(\d+) verified=(\d+) bad=(\S+)", out)
    assert len(iters) == RAW_ITERATIONS, guest.describe()
    # A second BIOS banner in one boot is a guest reset before the kill.
    for it in range(1, RAW_ITERATIONS + 1):
        banners = re.findall(r"@@console %d: .*SeaBIOS \(version" % it, out)
        assert len(banners) <= 1, guest.describe()
    for it, killed, target, synced, vc, qc, verified, bad in iters:
        assert killed == "1", guest.describe()
        assert int(synced) >= int(target) >= 2, guest.describe()
        assert bad == "-" and verified == synced, guest.describe()


@pytest.mark.parametrize("scenario", [CRASH], ids=str)
def test_qcow2_survives_kill9(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "@@crash-done" in out, guest.describe()
    iters = re.findall(r"@@iter (\d+) killed=(\d) target=(\d+) synced=(\d+) vmm-check=(\d+) "
                       r"qemu-check=(\d+) verified=(\d+) bad=(\S+) qemu-img-verified=(\d+) "
                       r"qemu-img-bad=(\S+)", out)
    assert len(iters) == ITERATIONS, guest.describe()
    # A second BIOS banner in one boot is a guest reset before the kill.
    for it in range(1, ITERATIONS + 1):
        banners = re.findall(r"@@console %d: .*SeaBIOS \(version" % it, out)
        assert len(banners) <= 1, guest.describe()
    for it, killed, target, synced, vc, qc, verified, bad, qverified, qbad in iters:
        assert killed == "1", guest.describe()
        assert int(synced) >= int(target) >= 2, guest.describe()
        assert vc in ("0", "3") and qc in ("0", "3"), guest.describe()
        assert bad == "-" and verified == synced, guest.describe()
        assert qbad == "-" and qverified == synced, guest.describe()


@pytest.mark.parametrize("scenario", [CRASH], ids=str)
def test_cache_none_refused_or_direct(guest, scenario):
    """cache=none: refused in one line where the file system has no
    O_DIRECT (the L1's tmpfs before Linux 6.6), else the image is open
    O_DIRECT in a running vmm. One of the two must have been checked."""
    out = guest.log.replace("\r", "")
    refused = re.search(r"@@odirect refused rc=(\d+) lines=(\d+) msg=(.*)", out)
    accepted = re.search(r"@@odirect accepted alive=(\d+) fds=(\d+) direct=(\d+)", out)
    assert bool(refused) != bool(accepted), guest.describe()
    if refused:
        assert refused.group(1) == "1" and refused.group(2) == "1", guest.describe()
        assert "does not support O_DIRECT" in refused.group(3), guest.describe()
    else:
        alive, fds, direct = (int(x) for x in accepted.groups())
        assert alive == 1 and fds >= 1 and direct == fds, guest.describe()


@pytest.mark.parametrize("scenario", [CRASH], ids=str)
def test_guest_discard_punches_hole(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "@@guest-discard vdb ok" in out, guest.describe()
    assert "@@guest-discard vdb zeros=0" in out, guest.describe()
    m = re.search(r"@@discard hole=(\d) rest=(\d) blocks=(\d+)", out)
    assert m and m.group(1) == "1" and m.group(2) == "1", guest.describe()
    # 4 MiB written, 2 MiB punched: about 2 MiB (4096 sectors) left
    assert int(m.group(3)) <= 4096 + 64, guest.describe()


@pytest.mark.parametrize("scenario", [CRASH], ids=str)
def test_guest_discard_on_qcow2_frees_clusters(guest, scenario):
    out = guest.log.replace("\r", "")
    assert "@@guest-discard vdc ok" in out, guest.describe()
    assert "@@guest-discard vdc zeros=0" in out, guest.describe()
    m = re.search(r"@@qdiscard hole=(\d) rest=(\d) qemu-check=(\d+) zero-mapped=(\d)", out)
    assert m and m.groups() == ("1", "1", "0", "1"), guest.describe()
