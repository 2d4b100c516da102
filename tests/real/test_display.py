# SPDX-License-Identifier: GPL-2.0-or-later
"""The standard VGA and the Cirrus CL-GD5446 under a stock Debian kernel
(issue 14).

One boot per VMM in VMM_REAL_VMMS and card: -vga std or -vga cirrus (the
DRM driver then is bochs or cirrus, 32 or 16 bpp), direct kernel boot with
vga=0x311 (VESA 640x480x16 through the VGA BIOS, so vesafb drives it) and
console=tty0 (the kernel log on fbcon), and a script disk (test_vmm_qmp.py's
scheme) holding the bochs DRM driver and its dependencies from the kit's
kernel package, and a pattern. The guest

 0. says VMM-FB-READY 0: fbcon with the kernel log (not blank); then
    clears tty1 and writes known text in colours: VMM-FB-TEXT, whose
    screendump must be QEMU's for the same card, row for row;
 1. writes the pattern to /dev/fb0 under vesafb (16 bpp): VMM-FB-READY 1;
 2. loads bochs-drm, which takes the card over (32 bpp, 1280x800: the
    preferred mode of the monitor's EDID in the MMIO BAR, in QEMU and vmm
    alike), writes the pattern again: VMM-FB-READY 2.
While a pattern is on screen, fbcon is unbound and the kernel log quiet,
so the picture is the pattern alone.

The host side (tests/real/display_driver.py) takes a QMP screendump at each
and compares it with the pattern pixel by pixel. The QEMU peer runs the
same scenario, which checks the test itself.

Written for issue 14 without an L1 run in its session (the L1 was taken):
first run by the lead."""
import glob
import os
import shlex
import subprocess
import sys
import tempfile

import pytest

import guestkit

sys.path.insert(0, guestkit.HERE)
from display_driver import pattern_byte  # noqa: E402

SCRIPT_SECTORS = 256
PATTERN_BYTES = 1280 * 800 * 4  # the largest mode a driver picks here (QEMU's EDID)
DRIVER = os.path.join(guestkit.HERE, "display_driver.py")
# card: (-vga, the DRM module, the PCI driver's name, its fbdev bpp)
CARDS = {"std": ("std", "bochs", "bochs-drm", 32), "cirrus": ("cirrus", "cirrus", "cirrus", 16)}

GUEST_SCRIPT = """#VMMKIT-SCRIPT
for b in /sys/block/*; do
	n=${b##*/}
	[ "$(dd if=/dev/$n bs=14 count=1 2>/dev/null)" = "#VMMKIT-SCRIPT" ] && disk=/dev/$n
done
fbinfo() {
	f=/sys/class/graphics/fb0
	echo "name=$(cat $f/name) bpp=$(cat $f/bits_per_pixel) stride=$(cat $f/stride) size=$(cat $f/virtual_size)"
}
# The pattern fills the framebuffer's visible lines (stride x height bytes)
# and nothing draws over it: fbcon is unbound from the framebuffer first,
# and the pause lets a driver's deferred I/O reach the card.
pattern() {
	f=/sys/class/graphics/fb0
	h=$(cut -d, -f2 $f/virtual_size)
	for v in /sys/class/vtconsole/vtcon*; do
		grep -q "frame buffer" $v/name 2>/dev/null && echo 0 > $v/bind
	done
	s=$(cat $f/stride)
	dd if=$disk bs=512 skip=%(pattern_at)d count=$(( s * h / 512 )) of=/tmp/pattern 2>/dev/null
	# two lines a write: Linux 6.1's fbdev emulation turns a write that
	# ends exactly at a line's end into an empty damage rectangle
	# (drm_fb_helper_memory_range_to_clip), so with 512-byte writes the
	# last 512 bytes of every line never reached the card, in QEMU too
	dd if=/tmp/pattern bs=$(( s * 2 )) of=/dev/fb0 2>/dev/null
	rm /tmp/pattern
	sleep 2
}
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
echo "disp: vga driver=$(basename $(readlink /sys/bus/pci/devices/0000:00:02.0/driver) 2>/dev/null)"
echo "VMM-FB-READY 0 $(fbinfo)"
sleep 8
dmesg -n 1
# known text on fbcon: the same kernel, font and mode give the same
# pixels in any VMM, so the host compares this screendump with QEMU's
printf '\\033[2J\\033[H' > /dev/tty1
i=0
while [ $i -lt 12 ]; do
	echo "fbcon line $i: ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz" > /dev/tty1
	echo "fbcon line $i: 0123456789 +-*/=<>()[]{}!?.,;:@#&|~^_" > /dev/tty1
	i=$((i + 1))
done
printf '\\033[1;31mred \\033[32mgreen \\033[34mblue\\033[0m \\033[7mreverse\\033[0m' > /dev/tty1
sleep 2
echo "VMM-FB-TEXT"
sleep 2
pattern
echo "VMM-FB-READY 1 $(fbinfo)"
sleep 8
%(insmods)s
sleep 3
echo "disp: drm driver=$(basename $(readlink /sys/bus/pci/devices/0000:00:02.0/driver))"
pattern
echo "VMM-FB-READY 2 $(fbinfo)"
sleep 8
"""


def modinfo_depends(path):
    data = open(path, "rb").read()
    i = data.find(b"depends=")
    if i < 0:
        return []
    return [d.replace("-", "_") for d in data[i + 8:data.index(b"\0", i)].decode().split(",") if d]


def drm_modules(module):
    """[(name, bytes)] of the DRM module and what it needs, dependencies
    first, from the kit's amd64 kernel package."""
    kabi = open(guestkit.kit("kabi")).read().strip()
    debs = glob.glob(guestkit.kit("debs/linux-image-%s-amd64_*.deb" % kabi))
    if not debs:
        raise FileNotFoundError("no linux-image-%s-amd64 .deb in %s" % (kabi, guestkit.kit("debs")))
    with tempfile.TemporaryDirectory() as d:
        tree = "./lib/modules/%s-amd64/kernel/drivers/gpu/drm" % kabi
        subprocess.run("dpkg-deb --fsys-tarfile %s | tar -x -C %s %s" % (
            shlex.quote(debs[0]), shlex.quote(d), tree), shell=True, check=True)
        files = {}
        for root, _, names in os.walk(d):
            for n in names:
                if n.endswith(".ko"):
                    files[n[:-3].replace("-", "_")] = os.path.join(root, n)
        order = []

        def visit(name):
            if name in order:
                return
            for dep in modinfo_depends(files[name]):
                visit(dep)
            order.append(name)
        visit(module)
        return [(n, open(files[n], "rb").read()) for n in order]


def script_disk(module):
    mods = drm_modules(module)
    at = SCRIPT_SECTORS
    insmods, blobs = [], b""
    for name, data in mods:
        n = (len(data) + 511) // 512
        insmods.append("dd if=$disk bs=512 skip=%d count=%d of=/tmp/%s.ko 2>/dev/null; "
                       "insmod /tmp/%s.ko || echo \"disp: insmod %s failed\""
                       % (at, n, name, name, name))
        blobs += data.ljust(n * 512, b"\0")
        at += n
    pattern = bytes(pattern_byte(j) for j in range(PATTERN_BYTES))
    script = (GUEST_SCRIPT % {"pattern_at": at, "insmods": "\n".join(insmods)}).encode()
    assert len(script) < SCRIPT_SECTORS * 512
    img = script.ljust(SCRIPT_SECTORS * 512, b"\0") + blobs + pattern
    return img + b"\0" * (-len(img) % (1 << 20))


class Display(guestkit.Scenario):
    def __init__(self, vmm, card):
        guestkit.Scenario.__init__(self, "%s-display-amd64" % vmm if card == "std" else
                                   "%s-display-%s-amd64" % (vmm, card), 600)
        self.vmm = vmm
        self.card = card

    def missing(self):
        for f in (guestkit.kit("vmlinuz-amd64"), guestkit.kit("initrd-amd64.xz")):
            if not os.path.exists(f):
                return "%s missing (run `make guests`)" % f
        if not glob.glob(guestkit.kit("debs/linux-image-*-amd64_*.deb")):
            return "the guest kit's kernel .deb is missing (run `make guests`)"
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        vga, module, _, _ = CARDS[self.card]
        # one staged disk per scenario: qemu and vmm both run it in one batch
        disk = batch.stage_bytes("%s-script.img" % self.name, script_disk(module))
        argv = guestkit.vmm_argv(self.vmm, 512, hda=disk, nodefaults=True, extra=[
            "-vga", vga, "-kernel", guestkit.kit("vmlinuz-amd64"),
            "-initrd", guestkit.kit("initrd-amd64.xz"),
            "-append", "vga=0x311 console=tty0 console=ttyS0 vt.global_cursor_default=0 "
                       "panic=-1"])
        batch.add(self.name, ["/usr/bin/python3", DRIVER, *argv], timeout=self.timeout,
                  marker="@@vmm rc=", grace=10, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest(),
                  flake_signs=guestkit.BOOT_FLAKE_SIGNS)


SCENARIOS = [Display(v, card) for card in CARDS for v in guestkit.vmms()]


def shot(out, n, desc):
    import re
    m = re.search(r"@@shot %d w=(\d+) h=(\d+) lit=(\d+) differing=(-?\d+)" % n, out)
    assert m, "no screendump %d\n%s" % (n, desc)
    return [int(g) for g in m.groups()]


def text_rows(out, desc):
    """(w, h, lit, [row checksums]) of the VMM-FB-TEXT screendump."""
    import re
    m = re.search(r"@@text w=(\d+) h=(\d+) lit=(\d+) rows=([0-9a-f,]+)", out)
    assert m, "no text screendump\n%s" % desc
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4).split(",")


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.vmm != "qemu"], ids=str)
def test_fbcon_text_as_qemu_draws_it(real_session, guest, scenario):
    """vmm's screendump of fbcon text equals QEMU's of the same boot; the
    QEMU peer of the same card runs in the same session (make check)."""
    if "qemu" not in guestkit.vmms():
        pytest.fail("the fbcon text comparison needs the QEMU peer: VMM_REAL_VMMS=qemu,vmm")
    peer = real_session.get(next(s for s in SCENARIOS
                                 if s.vmm == "qemu" and s.card == scenario.card))
    desc = guest.describe()
    w, h, lit, rows = text_rows(guest.log.replace("\r", ""), desc)
    qw, qh, qlit, qrows = text_rows(peer.log.replace("\r", ""), peer.describe())
    assert (w, h) == (qw, qh) == (640, 480), desc
    assert lit > 10000, desc  # 24 lines of text and the colour line
    differing = [y for y in range(h) if rows[y] != qrows[y]]
    print("fbcon text, %s: %d lit pixels (QEMU %d), rows differing from QEMU's: %d"
          % (scenario.card, lit, qlit, len(differing)))
    assert not differing, "rows %s differ from QEMU's\n%s" % (differing[:20], desc)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_vesafb_fbcon_and_drm_pictures(guest, scenario):
    _, _, driver, bpp = CARDS[scenario.card]
    out = guest.log.replace("\r", "")
    desc = guest.describe()
    assert "@@display driver error" not in out, desc
    # 0: fbcon on vesafb shows the kernel log: lit, not blank
    w, h, lit, _ = shot(out, 0, desc)
    assert (w, h) == (640, 480), desc
    assert lit > 2000, desc
    # 1: vesafb at 16 bpp, the pattern pixel for pixel
    assert "VMM-FB-READY 1 name=VESA VGA bpp=16 stride=1280 size=640,480" in out, desc
    assert shot(out, 1, desc)[3] == 0, desc
    # 2: the card's DRM driver bound and took over (bochs-drm 32 bpp,
    # cirrus 16 bpp)
    assert "disp: drm driver=%s" % driver in out, desc
    ready2 = out.split("VMM-FB-READY 2", 1)[1].split("\n", 1)[0]
    assert "bpp=%d" % bpp in ready2, desc
    assert shot(out, 2, desc)[3] == 0, desc
    if scenario.card == "std":
        # bochs-drm's mode is the EDID's preferred one, the same in both
        # VMMs (without an EDID it would be its own default, 1024x768)
        assert "stride=5120" in ready2, desc
        assert shot(out, 2, desc)[:2] == [1280, 800], desc
    assert "@@vmm rc=0" in out, desc
    print("\n".join(ln for ln in out.splitlines() if "@@" in ln or "disp: " in ln
                    or "VMM-FB-READY" in ln))
