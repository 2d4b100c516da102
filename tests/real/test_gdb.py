# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's gdb on a booting Linux through each VMM's gdb stub (-S -gdb),
as a kernel developer uses it (tests/real/gdb_driver.py, in the L1 command):
a hardware breakpoint on the kernel's 64-bit entry before the kernel is in
memory, continue, the registers and memory there, detach, and the guest
boots on to the kit's marker and powers off.

The breakpoint is the vmlinux entry point (startup_64 at 16 MiB with
nokaslr), not start_kernel: Debian ships the kernel's symbols only in the
1 GB linux-image-*-dbg package, which the kit does not fetch. The entry is
as strong a check of the stub: the address is hit only once the
decompressor has written the kernel there, the bytes gdb reads at $pc must
be the vmlinux's own at that address (build/guests/vmlinux-amd64), and
$rsi must point at the boot_params the boot loader filled ("HdrS" at
0x202). QEMU runs the same script as the peer."""
import re

import pytest

import guestkit

DRIVER = guestkit.os.path.join(guestkit.HERE, "gdb_driver.py")
ENTRY = 0x1000000
APPEND = "console=ttyS0 quiet panic=-1 nokaslr"


def entry_bytes(n=16):
    """The first n bytes of the vmlinux at its entry point (the segment
    whose physical address holds it, read from the ELF program headers)."""
    import struct
    with open(guestkit.kit("vmlinux-amd64"), "rb") as f:
        elf = f.read()
    assert elf[:4] == b"\x7fELF" and elf[4] == 2
    entry, phoff = struct.unpack_from("<QQ", elf, 24)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and paddr <= entry < paddr + filesz:
            return entry, elf[off + entry - paddr:off + entry - paddr + n]
    raise AssertionError("no segment holds the entry point")


class GdbBoot(guestkit.Scenario):
    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-gdb" % vmm, 600)
        self.vmm = vmm

    def missing(self):
        for f in ("vmlinuz-amd64", "initrd-amd64.xz", "vmlinux-amd64"):
            if not guestkit.os.path.exists(guestkit.kit(f)):
                return "%s missing (run `make guests`)" % guestkit.kit(f)
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        argv = guestkit.vmm_argv(self.vmm, 256, extra=[
            "-kernel", guestkit.kit("vmlinuz-amd64"), "-initrd", guestkit.kit("initrd-amd64.xz"),
            "-append", APPEND])
        # silent until gdb continues and the kernel prints: a longer idle
        batch.add(self.name, ["/usr/bin/python3", DRIVER, *argv],
                  timeout=self.timeout, marker="@@vmm rc=", grace=10, idle=300,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


SCENARIOS = [GdbBoot(v) for v in guestkit.vmms_peer_optional()]


def gdb_lines(log):
    return [ln[len("@@gdb "):] for ln in log.replace("\r", "").splitlines()
            if ln.startswith("@@gdb ")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_gdb_breaks_at_the_kernel_entry_and_detaches(guest, scenario):
    lines = gdb_lines(guest.log)
    text = "\n".join(lines)
    entry, code = entry_bytes()
    assert any(re.match(r"Hardware assisted breakpoint 1 at 0x%x" % entry, ln) for ln in lines), text
    assert re.search(r"Breakpoint 1, 0x0*%x in \?\? \(\)" % entry, text), text
    # p/x $pc, $rsi, $cs: $1 $2 $3
    values = dict(re.findall(r"^\$(\d) = (0x[0-9a-f]+)$", text, re.M))
    assert int(values["1"], 16) == entry, text
    assert int(values["3"], 16) != 0, text  # a protected-mode code selector
    # x/16xb $pc: the vmlinux's own bytes at its entry
    got = []
    for ln in lines:
        m = re.match(r"^0x0*%x:\s+(.*)$" % entry, ln) or re.match(r"^0x0*%x:\s+(.*)$" % (entry + 8), ln)
        if m:
            got += [int(b, 16) for b in m.group(1).split()]
    assert bytes(got) == code, (text, code.hex())
    # x/4cb $rsi+0x202: the setup header's signature in boot_params
    assert re.search(r"72 'H'\s+100 'd'\s+114 'r'\s+83 'S'", text), text
    # QEMU's stub speaks gdb's multiprocess extension ("process 1"), vmm's not
    assert re.search(r"\[Inferior 1 \((process 1|Remote target)\) detached\]", text), text
    assert re.search(r"^rc=0 after", text, re.M), text
    # detached, the guest ran on: the kit's marker, a clean power-off
    r = guest.result
    assert guestkit.MARKER_DONE in guest.log, guest.describe()
    assert "@@vmm rc=0" in guest.log and r.rc == 0, guest.describe()
    print("%s: %s" % (scenario.name, [ln for ln in lines if ln.startswith("rc=")]))
