# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-balloon under a stock Debian kernel (the kit's virtio_balloon).

One direct-kernel boot per VMM in VMM_REAL_VMMS with -m 512 -device
virtio-balloon: the guest fills and frees ~300 MiB of a tmpfs (so the
VMM's resident memory grows), then says VMM-BALLOON-FILLED. The host side
(tests/real/balloon_driver.py, in the same L1 command) balloons the guest
down to 128 MiB over QMP, waits for query-balloon to report it, checks that
the VMM's VmRSS dropped by at least 200 MiB (inflated pages are given back
to the host), reads `info balloon` on the monitor, then deflates to 512 MiB.
The guest watches its MemTotal follow both ways. The QEMU peer runs the same
scenario, which checks the test itself. Each runs twice: on anonymous guest
RAM and on a shared memfd (-object memory-backend-memfd), where only a
hole punched in the memfd gives a page back."""
import base64
import os
import re

import pytest

import guestkit

MiB = 1 << 20
DRIVER = os.path.join(guestkit.HERE, "balloon_driver.py")

# Small: it travels base64-encoded on the kernel command line (2 KiB max).
# The guest waits for its MemTotal to drop, then to come back in full, and
# lingers 3 s so the host side sees query-balloon report the deflation.
SCRIPT = r"""m() { sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo; }
m0=$(m)
for d in /sys/bus/virtio/devices/*; do [ "$(cat $d/device)" = 0x0005 ] && echo "bal: features=$(cat $d/features) driver=$(basename $(readlink $d/driver))"; done
mkdir -p /mnt/f && mount -t tmpfs -o size=400m none /mnt/f
dd if=/dev/zero of=/mnt/f/x bs=1M count=300 2>/dev/null
echo "bal: filled $(du -m /mnt/f/x | cut -f1) MiB memtotal=$(m)"
rm /mnt/f/x; umount /mnt/f
echo VMM-BALLOON-FILLED
i=0; while [ $(m) -gt 204800 ] && [ $i -lt 200 ]; do sleep 1; i=$((i+1)); done
echo "bal: low memtotal=$(m) after ${i}s"
i=0; while [ $(m) -lt $m0 ] && [ $i -lt 200 ]; do sleep 1; i=$((i+1)); done
echo "bal: high memtotal=$(m) of $m0 after ${i}s"
sleep 3
"""


def append_line():
    b64 = base64.b64encode(SCRIPT.encode()).decode()
    return "console=ttyS0 quiet panic=-1 vmmkit.script=%s" % b64


class Balloon(guestkit.Scenario):
    def __init__(self, vmm, memfd=False):
        guestkit.Scenario.__init__(self, "%s-balloon%s-amd64" % (vmm, "-memfd" if memfd else ""),
                                   480)
        self.vmm = vmm
        # guest RAM in a shared memfd (-object memory-backend-memfd): a
        # page is freed only when the hole is punched in the memfd
        # (MADV_REMOVE), which VmRSS (RssShmem) shows as for anonymous RAM
        self.memfd = memfd

    def files(self):
        return guestkit.kit("vmlinuz-amd64"), guestkit.kit("initrd-amd64.xz")

    def missing(self):
        for f in self.files():
            if not os.path.exists(f):
                return "%s missing (run `make guests`)" % f
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        kernel, initrd = self.files()
        memfd = ["-object", "memory-backend-memfd,id=ram0,size=512M",
                 "-machine", "memory-backend=ram0"] if self.memfd else []
        argv = guestkit.vmm_argv(self.vmm, 512, extra=[
            *memfd, "-device", "virtio-balloon", "-kernel", kernel, "-initrd", initrd,
            "-append", append_line()])
        batch.add(self.name, ["/usr/bin/python3", DRIVER, *argv], timeout=self.timeout,
                  marker="@@vmm rc=", grace=10, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(), flake_signs=guestkit.BOOT_FLAKE_SIGNS)


SCENARIOS = [Balloon(v) for v in guestkit.vmms_peer_optional()] + [Balloon(v, True) for v in guestkit.vmms_peer_optional()]


def field(out, pattern, desc):
    m = re.search(pattern, out)
    assert m, "no %r in the output\n%s" % (pattern, desc)
    return m


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_balloon_inflate_releases_host_memory(guest, scenario):
    out = guest.log.replace("\r", "")
    desc = guest.describe()
    assert "@@balloon driver error" not in out, desc
    # The kit's virtio_balloon bound; STATS_VQ offered, DEFLATE_ON_OOM not
    # (its default is off). Linux prints one character per feature bit.
    feats = field(out, r"bal: features=([01]+) driver=virtio_balloon", desc).group(1)
    assert feats[1] == "1" and feats[2] == "0", desc
    assert int(field(out, r"bal: filled (\d+) MiB", desc).group(1)) >= 290, desc
    # Before anything: no balloon, all of the RAM. A zero target is refused.
    assert '@@qmp query-balloon -> {"return": {"actual": %d}}' % (512 * MiB) in out, desc
    assert '"class": "GenericError"' in field(out, r"@@qmp balloon-zero -> (.*)", desc).group(1)
    assert '@@qmp balloon-low -> {"return": {}}' in out, desc
    m = field(out, r"@@balloon inflated actual=(-?\d+) after [\d.]+s rss_before_kib=(\d+) "
              r"rss_after_kib=(\d+) drop_mib=(-?\d+)", desc)
    actual, drop = int(m.group(1)), int(m.group(4))
    assert 0 < actual <= 136 * MiB, desc
    assert drop >= 200, desc
    low = int(field(out, r"bal: low memtotal=(\d+)", desc).group(1))
    assert low < 200 * 1024, desc
    # info balloon: QEMU's "balloon: actual=MB"; vmm adds the guest's stats.
    hmp = re.findall(r"@@hmp info balloon (\d): .*?(balloon: actual=.*)", out)
    assert len(hmp) == 2, desc
    for _, ln in hmp:
        mb = int(field(ln, r"^balloon: actual=(\d+)", desc).group(1))
        assert mb <= 136, desc
    if scenario.vmm == "vmm":
        stats = dict(kv.split("=") for kv in hmp[1][1].split()[2:])
        assert 0 < int(stats["total_mem"]) <= 136 * MiB, desc
        assert 0 < int(stats["free_mem"]) < int(stats["total_mem"]), desc
    assert '@@qmp balloon-high -> {"return": {}}' in out, desc
    assert int(field(out, r"@@balloon deflated actual=(-?\d+)", desc).group(1)) == 512 * MiB, desc
    m = field(out, r"bal: high memtotal=(\d+) of (\d+)", desc)
    assert int(m.group(1)) >= int(m.group(2)) > 400 * 1024, desc
    m = field(out, r"@@qmp BALLOON_CHANGE count=(\d+) min=(\w+) last=(\w+)", desc)
    # rate-limited to one a second: not one per 256-page step
    assert 1 <= int(m.group(1)) <= 40, desc
    assert int(m.group(2)) <= 136 * MiB, desc
    if scenario.vmm == "vmm":
        assert int(m.group(3)) == 512 * MiB, desc
    assert "@@vmm rc=0" in out and guest.result.rc == 0, desc
    # The figures, for `pytest -rP` (docs/testing.md quotes them).
    print("\n".join(ln for ln in out.splitlines() if "@@" in ln or "bal: " in ln))
