# SPDX-License-Identifier: GPL-2.0-or-later
"""The standard VGA with SeaBIOS's VGA BIOS: boot sectors (tests/fw/vgaboot.S)
draw a known picture in text mode 3, mode 13h and two VBE modes with a
linear framebuffer; QMP screendump must give the expected pixels, and the
same pixels as QEMU's screendump of the same boot (QEMU 10, TCG)."""
import os
import shutil
import struct
import subprocess
import time
import zlib

import pytest

import fwskip

from conftest import BOOT_TIMEOUT, VMM, fw_image
from test_qmp import Qmp, sock_path, vm, wait_for  # noqa: F401 (vm is a fixture)

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")


def read_ppm(path):
    data = open(path, "rb").read()
    magic, size, maxval, pixels = data.split(b"\n", 3)
    assert magic == b"P6" and maxval == b"255", data[:20]
    w, h = map(int, size.split())
    assert len(pixels) == w * h * 3
    return w, h, pixels


def png_rows(path):
    """A minimal PNG reader for 8-bit RGB, non-interlaced (what vmm writes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    w = h = None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) == (8, 2, 0)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, out, prev = zlib.decompress(idat), w * 3, bytearray(), bytearray(w * 3)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        out += line
        prev = line
    return w, h, bytes(out)


def dac(c):
    """A 6-bit DAC value as 8 bits, as QEMU widens it: shifted up, the low
    bit copied into the two new ones."""
    return (c << 2) | ((c & 1) * 3)


def expand5(c):
    return (c << 3) | (c >> 2)


def expand6(c):
    return (c << 2) | (c >> 4)


def mode13_expected():
    pixels = bytearray()
    for y in range(400):
        for x in range(640):
            i = (x // 2 + 2 * (y // 2)) & 255
            pixels += bytes((dac(i & 63), dac((i >> 2) & 63), dac(63 - (i & 63))))
    return 640, 400, bytes(pixels)


def vbe16_expected():
    pixels = bytearray()
    for i in range(640 * 480):
        v = (i * 37) & 0xFFFF
        pixels += bytes((expand5(v >> 11), expand6((v >> 5) & 63), expand5(v & 31)))
    return 640, 480, bytes(pixels)


def vbe32_expected():
    pixels = bytearray()
    for i in range(640 * 480):
        v = (i * 0x010203) & 0xFFFFFF
        pixels += bytes((v >> 16, (v >> 8) & 255, v & 255))
    return 640, 480, bytes(pixels)


def differing(a, b):
    if a[:2] != b[:2]:
        return f"size {a[:2]} != {b[:2]}"
    w = a[0]
    bad = [i // 3 for i in range(0, len(a[2]), 3) if a[2][i:i + 3] != b[2][i:i + 3]]
    return len(bad) and f"{len(bad)} pixels differ, first at {[(i % w, i // w) for i in bad[:5]]}"


def boot_and_dump(vm, tmp_path, test, *extra, png=False, card="std"):
    sock = sock_path(tmp_path)
    v = vm("-nodefaults", "-vga", card, "-qmp", f"unix:{sock},server,nowait", *extra,
           disk=f"vgadisk-{test}.img")
    serial = v.wait_serial("VMM-VGA-READY")
    q = Qmp(sock).negotiate()
    out = tmp_path / "shot.ppm"
    assert q.ok("screendump", {"filename": str(out)}) == {}
    pic = read_ppm(out)
    if png:
        outpng = tmp_path / "shot.png"
        assert q.ok("screendump", {"filename": str(outpng), "format": "png"}) == {}
        assert png_rows(outpng) == pic
    q.ok("quit")
    v.finish()
    return pic, serial


def qemu_dump(tmp_path, test, card="std", extra=()):
    """QEMU's screendump of the same boot (TCG: no KVM needed)."""
    if not shutil.which(QEMU):
        fwskip.unavailable(f"{QEMU} is missing (tools/deps.sh installs it)")
    sock, serial, out = str(tmp_path / "q.sock"), tmp_path / "q-serial.log", tmp_path / "q.ppm"
    p = subprocess.Popen([QEMU, "-accel", "tcg", "-m", "64", "-nodefaults", "-vga", card,
                          *extra, "-display", "none", "-drive",
                          f"file={fw_image(f'vgadisk-{test}.img')},format=raw,if=ide",
                          "-serial", f"file:{serial}", "-qmp", f"unix:{sock},server,nowait"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        wait_for(lambda: serial.exists() and b"VMM-VGA-READY" in serial.read_bytes(),
                 BOOT_TIMEOUT, "QEMU's boot sector")
        q = Qmp(sock).negotiate()
        assert q.ok("screendump", {"filename": str(out)}) == {}
        q.ok("quit")
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return read_ppm(out)


def test_text_mode_banner_as_qemu_shows_it(vm, tmp_path):
    pic, _ = boot_and_dump(vm, tmp_path, 1, png=True)
    w, h, px = pic
    assert (w, h) == (720, 400)  # 80x25 cells of 9x16
    # the ten yellow-on-blue 'X' of AH=09h: row 2 (after SeaBIOS's two
    # lines... and the banner), a cell's corner is background blue
    rows_with_blue = {y for y in range(h) for x in range(0, 90, 9)
                      if px[(y * w + x) * 3:(y * w + x) * 3 + 3] == bytes((0, 0, 0xA8))}
    assert rows_with_blue, "no blue background cells"
    yellow = bytes((0xFF, 0xFF, 0x57))
    assert any(px[i:i + 3] == yellow for i in range(0, len(px), 3)), "no yellow 'X'"
    assert differing(pic, qemu_dump(tmp_path, 1)) == 0


def test_mode_13h_picture(vm, tmp_path):
    pic, _ = boot_and_dump(vm, tmp_path, 2)
    assert differing(pic, mode13_expected()) == 0


def test_mode_13h_as_qemu_shows_it(vm, tmp_path):
    pic, _ = boot_and_dump(vm, tmp_path, 2)
    assert differing(pic, qemu_dump(tmp_path, 2)) == 0


def test_vbe_16bpp_linear_framebuffer(vm, tmp_path):
    pic, serial = boot_and_dump(vm, tmp_path, 3, png=True)
    assert "VMM-VBE bpp=16 pitch=1280" in serial
    assert differing(pic, vbe16_expected()) == 0


def test_vbe_32bpp_linear_framebuffer(vm, tmp_path):
    pic, serial = boot_and_dump(vm, tmp_path, 4)
    assert "VMM-VBE bpp=32 pitch=2560" in serial
    assert differing(pic, vbe32_expected()) == 0


def test_vbe_as_qemu_shows_it(vm, tmp_path):
    pic, _ = boot_and_dump(vm, tmp_path, 3)
    assert differing(pic, qemu_dump(tmp_path, 3)) == 0


# The VGA BIOS's 16 colours (6-bit DAC values of the EGA palette).
EGA = [(0, 0, 0), (0, 0, 42), (0, 42, 0), (0, 42, 42), (42, 0, 0), (42, 0, 42), (42, 21, 0),
       (42, 42, 42), (21, 21, 21), (21, 21, 63), (21, 63, 21), (21, 63, 63), (63, 21, 21),
       (63, 21, 63), (63, 63, 21), (63, 63, 63)]


def mode12_expected():
    pixels = bytearray(640 * 480 * 3)
    for y in range(50, 98):
        for x in range(100, 164):
            i = (y * 640 + x) * 3
            pixels[i:i + 3] = bytes(dac(c) for c in EGA[(x + y) & 15])
    return 640, 480, bytes(pixels)


def test_mode_12h_planar_pixels_drawn_by_the_bios(vm, tmp_path):
    """The VGA BIOS's own planar pixel writes (int 10h AH=0Ch: write mode
    2, bit mask, latches) in mode 12h, against the expected block and
    QEMU's screendump."""
    pic, _ = boot_and_dump(vm, tmp_path, 5)
    assert differing(pic, mode12_expected()) == 0
    assert differing(pic, qemu_dump(tmp_path, 5)) == 0


def test_40_column_text_as_qemu_shows_it(vm, tmp_path):
    """Mode 1: 40x25 cells of 8 dots shown twice (16 pixels, as QEMU)."""
    pic, _ = boot_and_dump(vm, tmp_path, 6)
    assert pic[:2] == (640, 400)
    assert differing(pic, qemu_dump(tmp_path, 6)) == 0


@pytest.mark.parametrize("props,size", [
    ("", (1280, 800)),
    (",xres=1600,yres=900", (1600, 900)),
    (",edid=off", (1024, 768)),
])
def test_bochs_display_vbe(vm, tmp_path, props, size):
    """bochs-display: no legacy VGA; its VGA BIOS (SeaBIOS's "cbvga") reads
    the EDID from the MMIO BAR and sets the monitor's preferred mode at 32
    bpp (1280x800 by default, xres/yres when given; 1024x768 with edid=off,
    the BIOS's own choice without a monitor), and offers VBE modes as views
    of it, so the boot sector's 640x480 pixels (written for a 640-pixel line)
    land a preferred width to a line. QEMU's screendump of the same boot, same properties, is the same
    picture. Before the EDID window (all zeros) the first two were 1024x768."""
    w, h = size
    sock = sock_path(tmp_path)
    v = vm("-vga", "none", "-device", "bochs-display" + props,
           "-qmp", f"unix:{sock},server,nowait", disk="vgadisk-4.img")
    serial = v.wait_serial("VMM-VGA-READY")
    assert f"VMM-VBE bpp=32 pitch={w * 4}" in serial
    q = Qmp(sock).negotiate()
    out = tmp_path / "shot.ppm"
    assert q.ok("screendump", {"filename": str(out)}) == {}
    q.ok("quit")
    v.finish()
    expect = bytearray(w * h * 3)
    expect[:640 * 480 * 3] = vbe32_expected()[2]
    pic = read_ppm(out)
    assert differing(pic, (w, h, bytes(expect))) == 0
    assert differing(pic, qemu_dump(tmp_path, 4, card="none",
                                    extra=("-device", "bochs-display" + props))) == 0


@pytest.mark.parametrize("test,region,pages", [(4, "vga.vram", 300), (2, "vga.window-a", 16)])
def test_framebuffer_and_window_are_ram(vm, tmp_path, test, region, pages):
    """The LFB BAR and the chain-4 window are KVM memory slots: the guest's
    writes are in KVM's dirty log of those regions, not exits (they were
    exits while video memory was not page-aligned: KVM refused the slots)."""
    sock = sock_path(tmp_path)
    v = vm("-vga", "std", "-qmp", f"unix:{sock},server,nowait", disk=f"vgadisk-{test}.img")
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(sock).negotiate()
    r = q.ok("x-query-dirty-pages", {"region": region})
    assert r["count"] >= pages, (region, r["count"])
    q.ok("quit")
    v.finish()


def test_screendump_without_a_display(vm, tmp_path):
    sock = sock_path(tmp_path)
    v = vm("-vga", "none", "-qmp", f"unix:{sock},server,nowait")
    v.wait_serial("VMM-BOOT-OK")
    q = Qmp(sock).negotiate()
    r = q.cmd("screendump", {"filename": str(tmp_path / "x.ppm")})
    assert r["error"]["desc"] == "There is no QemuConsole I can screendump from.", r
    q.ok("quit")
    v.finish()


def test_screendump_errors(vm, tmp_path):
    sock = sock_path(tmp_path)
    v = vm("-vga", "std", "-qmp", f"unix:{sock},server,nowait")
    v.wait_serial("VMM-BOOT-OK")
    q = Qmp(sock).negotiate()
    r = q.cmd("screendump", {"filename": str(tmp_path / "x.ppm"), "format": "jpeg"})
    assert "'format'" in r["error"]["desc"], r
    r = q.cmd("screendump", {"filename": str(tmp_path / "no" / "such" / "dir.ppm")})
    assert r["error"]["desc"].startswith("Could not open"), r
    r = q.cmd("screendump", {})
    assert r["error"]["desc"] == "Parameter 'filename' is missing", r
    q.ok("quit")
    v.finish()


@pytest.mark.parametrize("args,card", [((), True), (("-nographic",), True),
                                       (("-nodefaults",), False), (("-vga", "none"), False),
                                       (("-device", "bochs-display"), True)])
def test_default_vga(vm, tmp_path, args, card):
    """As QEMU's pc: a standard VGA unless -vga none, -nodefaults or a card
    of one's own; -nographic keeps it (the picture is there for QMP)."""
    sock = sock_path(tmp_path)
    v = vm(*args, "-qmp", f"unix:{sock},server,nowait")  # COM1 stays on its file
    v.wait_serial("VMM-BOOT-OK")
    q = Qmp(sock).negotiate()
    r = q.cmd("screendump", {"filename": str(tmp_path / "x.ppm")})
    assert ("return" in r) == card, r
    if card and "-device" not in args:
        assert read_ppm(tmp_path / "x.ppm")[:2] == (720, 400)  # the VGA BIOS's text mode
    q.ok("quit")
    v.finish()


# ---- Cirrus CL-GD5446 (-vga cirrus, SeaBIOS's vgabios-cirrus.bin) ----------

def test_cirrus_text_mode_banner_as_qemu_shows_it(vm, tmp_path):
    """The Cirrus VGA BIOS sets mode 3 through the standard registers (its
    extensions switched back off): the banner's text rows as QEMU's."""
    pic, _ = boot_and_dump(vm, tmp_path, 1, card="cirrus")
    assert pic[:2] == (720, 400)
    assert differing(pic, qemu_dump(tmp_path, 1, card="cirrus")) == 0


def test_cirrus_vesa_16bpp_linear_framebuffer(vm, tmp_path):
    """VBE mode 0x111 through the Cirrus VGA BIOS (SR7 16 bpp, the hidden
    DAC's 5-6-5, CR13/CR1B pitch 1280) filled through BAR0: the expected
    pixels and QEMU's screendump."""
    pic, serial = boot_and_dump(vm, tmp_path, 3, card="cirrus")
    assert "VMM-VBE bpp=16 pitch=1280" in serial
    assert differing(pic, vbe16_expected()) == 0
    assert differing(pic, qemu_dump(tmp_path, 3, card="cirrus")) == 0


def rgb565(v):
    """A 5-6-5 pixel as QEMU's Cirrus shows it while the hardware cursor is
    on (its shadow surface: the components shifted up, the low bits 0)."""
    return bytes(((v >> 8) & 0xF8, (v >> 3) & 0xFC, (v << 3) & 0xF8))


def test_cirrus_bitblt_and_cursor_as_qemu_shows_it(vm, tmp_path):
    """vgadisk-8: BitBLTs through the GR registers in VBE mode 0x111 (fills,
    an XOR copy, a backward overlapping move, colour expansion from the CPU
    through the window, opaque and transparent, a monochrome pattern) and
    the 32x32 hardware cursor: spot pixels worked from the boot sector's
    values, and every pixel as QEMU's screendump."""
    pic, _ = boot_and_dump(vm, tmp_path, 8, card="cirrus")
    w, h, px = pic
    assert (w, h) == (640, 480)

    def at(x, y):
        return px[(y * w + x) * 3:(y * w + x) * 3 + 3]
    assert at(0, 0) == rgb565(0x001F)                   # the screen fill
    assert at(20, 20) == rgb565(0xF800)                 # the red block
    assert at(219, 119) == rgb565(0xF800)
    assert at(300, 40) == rgb565(0xF800 ^ 0x001F)       # the XOR copy (a copy leaves it)
    assert at(310, 50) == rgb565(0xF800 ^ 0x001F)       # the XOR copy, moved
    assert at(509, 149) == rgb565(0xF800 ^ 0x001F)
    assert at(400, 300) == rgb565(0x07E0) and at(408, 300) == rgb565(0xFFFF)  # glyph FF 00
    assert at(400, 320) == rgb565(0xFFE0) and at(408, 320) == rgb565(0x001F)  # transparent
    assert at(100, 300) == rgb565(0xFFE0) and at(101, 300) == rgb565(0x0000)  # pattern 0x81
    assert at(500, 400) == bytes((0, 255, 255))         # cursor colour 15 (6-bit 63)
    assert at(508, 400) == bytes(255 - c for c in rgb565(0x001F))  # inverted
    assert at(516, 400) == bytes((255, 0, 255))         # cursor colour 0
    assert at(524, 400) == rgb565(0x001F)               # transparent
    assert differing(pic, qemu_dump(tmp_path, 8, card="cirrus")) == 0


def run_vmm(*args):
    return subprocess.run([VMM, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("args,needle", [
    (("-vga", "cirrus", "-device", "VGA"), "only one card with the legacy VGA"),
    (("-device", "VGA", "-device", "cirrus-vga"), "only one card with the legacy VGA"),
    (("-device", "cirrus-vga,vgamem_mb=2"), "4, 8 or 16 MiB"),
    (("-vga", "qxl"), "use std, cirrus or none"),
])
def test_cirrus_bad_options(args, needle):
    """One error line and status 1, before anything starts: two cards with
    the legacy VGA (QEMU lets the second overlap the first; vmm refuses),
    a video memory size the 5446 card does not have, an unbuilt card."""
    p = run_vmm(*args, "-display", "none")
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmm: ") and needle in lines[0], p.stderr


def test_cirrus_device_help():
    p = run_vmm("-device", "help")
    assert 'name "cirrus-vga", bus PCI, desc "Cirrus CLGD 54xx VGA' in p.stdout, p.stdout
    p = run_vmm("-device", "cirrus-vga,help")
    assert "vgamem_mb=<uint32>" in p.stdout and "(default: 4)" in p.stdout, p.stdout
    assert "blitter=<bool>" in p.stdout, p.stdout


@pytest.mark.parametrize("args,needle", [
    (("-device", "VGA,xres=5000"), "xres=5000: the preferred width must be 640 to 4095"),
    (("-device", "VGA,yres=100"), "yres=100: the preferred height must be 480 to 4095"),
    (("-device", "VGA,xres=1024,xmax=800"), "xres=1024 is larger than xmax=800"),
    (("-device", "bochs-display,yres=1024,ymax=768"), "yres=1024 is larger than ymax=768"),
    (("-device", "VGA,xres=1920,yres=1200,vgamem_mb=8"),
     "1920x1200 at 32 bpp needs 9000 KiB of video memory, the card has 8192 KiB"),
    (("-device", "bochs-display,xres=4000,yres=4000,vgamem_mb=128"), "pixel clock"),
    (("-device", "VGA,refresh_rate=60"), "refresh_rate=60: the rate is in millihertz"),
    (("-device", "VGA,edid=maybe"), "edid"),
    (("-device", "VGA,xres=-1"), "xres"),
])
def test_edid_bad_options(args, needle):
    """The monitor's sizes: one error line and status 1, before anything
    starts (a preferred mode the video memory cannot hold at 32 bpp is
    refused, not shrunk: the guest could not show it)."""
    p = run_vmm("-nodefaults", *args, "-display", "none")
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmm: ") and needle in lines[0], p.stderr


@pytest.mark.parametrize("card", ["VGA", "bochs-display"])
def test_edid_device_help(card):
    p = run_vmm("-device", f"{card},help")
    for prop, default in (("edid=<bool>", "on"), ("xres=<uint32>", "0"), ("yres=<uint32>", "0"),
                          ("xmax=<uint32>", "0"), ("ymax=<uint32>", "0"),
                          ("refresh_rate=<uint32>", "0")):
        line = [ln for ln in p.stdout.splitlines() if ln.strip().startswith(prop)]
        assert line and line[0].endswith(f"(default: {default})"), p.stdout
