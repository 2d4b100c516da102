# SPDX-License-Identifier: GPL-2.0-or-later
"""KVM coalesced MMIO for the legacy VGA window, at firmware level.

In text and planar modes the window 0xA0000-0xBFFFF traps: before, every
guest store to it was an exit (the bench's scrolling guest: 92,092 exits
for 92,000 stores). vmm now registers the window as a coalesced MMIO zone
where KVM has the capability, so KVM queues the stores in a ring page and
vmm applies them at the next exit, display refresh or pause
(docs/architecture.md, "Coalesced MMIO").

The boot sector (tests/fw/vgaboot.S, VGA_TEST 9) fills the text screen 8
times with byte stores (32,000), says VMM-VGA-READY, and at the next
timer tick fills it once more in other colours and halts with interrupts
off, so no exit follows its last stores: only the drain at the
screendump's refresh shows them. QMP x-query-exits counts the exits by
kind and the queued writes vmm applied ("coalesced")."""
import shutil
import subprocess
import time

import pytest

import fwskip

from conftest import BOOT_TIMEOUT, fw_image
from test_display import QEMU, differing, read_ppm
from test_qmp import Qmp, sock_path, vm, wait_for  # noqa: F401 (vm is a fixture)

STORES = 8 * 2000 * 2
CELL_W, CELL_H = 9, 16
GREEN = bytes((0x00, 0xA8, 0x00))  # attribute 0x2F's background, colour 2


def final_fill_shown(pic):
    """Every cell shows the last fill's green background: its pixel in
    the 9th column of the top row, background for a letter."""
    w, h, px = pic
    if (w, h) != (80 * CELL_W, 25 * CELL_H):
        return False
    for row in range(25):
        for col in range(80):
            i = (row * CELL_H * w + col * CELL_W + CELL_W - 1) * 3
            if px[i:i + 3] != GREEN:
                return False
    return True


def dump_until_final(q, out, timeout):
    """Screendumps until the last fill is on the screen; the picture."""
    end = time.monotonic() + timeout
    while True:
        assert q.ok("screendump", {"filename": str(out)}) == {}
        pic = read_ppm(out)
        if final_fill_shown(pic) or time.monotonic() > end:
            return pic
        time.sleep(0.2)


def qemu_final(tmp_path, card):
    """QEMU's screendump (TCG) of the same boot, once the last fill is in."""
    if not shutil.which(QEMU):
        fwskip.unavailable(f"{QEMU} is missing (tools/deps.sh installs it)")
    sock, serial = str(tmp_path / "q.sock"), tmp_path / "q-serial.log"
    p = subprocess.Popen([QEMU, "-accel", "tcg", "-m", "64", "-nodefaults", "-vga", card,
                          "-display", "none", "-drive",
                          f"file={fw_image('vgadisk-9.img')},format=raw,if=ide",
                          "-serial", f"file:{serial}", "-qmp", f"unix:{sock},server,nowait"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        wait_for(lambda: serial.exists() and b"VMM-VGA-READY" in serial.read_bytes(),
                 BOOT_TIMEOUT, "QEMU's boot sector")
        q = Qmp(sock).negotiate()
        pic = dump_until_final(q, tmp_path / "q.ppm", 60)
        q.ok("quit")
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert final_fill_shown(pic), "QEMU never showed the last fill"
    return pic


# The Cirrus leaves 0xB8000-0xB80FF out of the zone (its BitBLT registers
# may sit there): the first 128 cells of each fill still exit, 2,048
# stores. On the old code every one of the 32,000 stores exits.
@pytest.mark.parametrize("card,most_exits", [("std", STORES // 10),
                                             ("cirrus", STORES // 10 + 2 * 128 * 8)])
def test_text_window_stores_queue_instead_of_exiting(vm, tmp_path, card, most_exits):
    sock = sock_path(tmp_path)
    v = vm("-nodefaults", "-vga", card, "-qmp", f"unix:{sock},server,nowait",
           disk="vgadisk-9.img")
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(sock).negotiate()
    exits = q.ok("x-query-exits")
    # the whole boot: SeaBIOS and the VGA BIOS write the window too
    assert exits["mmio"] < most_exits, exits
    assert exits["coalesced"] >= STORES - most_exits, exits
    pic = dump_until_final(q, tmp_path / "shot.ppm", 60)
    assert final_fill_shown(pic), "the last fill (no exit after it) never reached the screen"
    # every fill's stores, the last one's too (it may have begun before
    # the first query: it waits only for the tick after VMM-VGA-READY)
    after = q.ok("x-query-exits")
    assert after["coalesced"] >= STORES + 2000 * 2 - most_exits, after
    # and a pause, a saved-state round trip, a resume leave it as it is
    q.ok("stop")
    assert q.ok("x-state-roundtrip")["bytes"] > 0
    q.ok("cont")
    out2 = tmp_path / "shot2.ppm"
    assert q.ok("screendump", {"filename": str(out2)}) == {}
    assert differing(read_ppm(out2), pic) == 0
    q.ok("quit")
    v.finish()
    assert differing(pic, qemu_final(tmp_path, card)) == 0
