# SPDX-License-Identifier: GPL-2.0-or-later
"""The SDL window under a real X server (Xvfb, Debian's), used as a person
would: the window of a machine booting tests/fw/vgaboot.S appears by
itself when $DISPLAY is set, its pixels (a screenshot with ImageMagick's
import) are screendump's, xdotool types into it and the guest's int 16h
gets the keys, a click grabs the mouse and Ctrl-Alt-G lets it go, the
window follows a mode change, and closing it quits (or presses the power
button with window-close=off)."""
import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import time

import pytest

import fwskip
import xvfb
from conftest import VMM
from test_display import differing, read_ppm
from test_qmp import Qmp, sock_path, vm, wait_for  # noqa: F401 (vm is a fixture)


@pytest.fixture
def xserver(tmp_path, monkeypatch):
    """An Xvfb of its own (24-bit, no TCP), as $DISPLAY for the test."""
    for tool in ("Xvfb", "xdotool"):
        if not shutil.which(tool):
            fwskip.unavailable(f"{tool} is missing (tools/deps.sh installs it)")
    if not os.path.exists("/usr/bin/import"):
        fwskip.unavailable("ImageMagick's import is missing (tools/deps.sh installs it)")
    p, display = xvfb.start_xvfb()
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield display
    xvfb.stop_xvfb(p)


def xdotool(*args):
    return subprocess.run(["xdotool", *args], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def find_window(title):
    wait_for(lambda: xdotool("search", "--name", f"^{title}$"), 60, f"a window '{title}'")
    return xdotool("search", "--name", f"^{title}$").split()[0]


def geometry(win):
    out = xdotool("getwindowgeometry", "--shell", win)
    g = dict(line.split("=") for line in out.splitlines())
    return int(g["WIDTH"]), int(g["HEIGHT"])


def screenshot(win, path):
    subprocess.run(["/usr/bin/import", "-window", win, "-depth", "8", f"ppm:{path}"],
                   check=True, timeout=60)
    return read_ppm(path)


def same_picture(win, q, tmp_path, timeout=30):
    """The window's pixels against screendump, until they agree (the window
    follows within a few 30 Hz rounds)."""
    end = time.monotonic() + timeout
    while True:
        out = tmp_path / "dump.ppm"
        assert q.ok("screendump", {"filename": str(out)}) == {}
        shot, dump = screenshot(win, tmp_path / "win.ppm"), read_ppm(out)
        diff = differing(shot, dump)
        if not diff or time.monotonic() > end:
            return diff, dump
        time.sleep(0.5)


def keys_seen(v):
    return v.lines("KEY=")


def close_window(win):
    """What a window manager does when its close button is pressed: the
    WM_DELETE_WINDOW message of ICCCM (xdotool has no such command)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5),
                    ("pad", ctypes.c_long * 12)]

    d = x11.XOpenDisplay(None)
    assert d
    ev = ClientMessage(type=33, window=int(win), format=32,
                       message_type=x11.XInternAtom(d, b"WM_PROTOCOLS", 0))
    ev.data[0] = x11.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
    assert x11.XSendEvent(d, int(win), 0, 0, ctypes.byref(ev))
    x11.XFlush(d)
    x11.XCloseDisplay(d)


def test_sdl_window_picture_keys_and_grab(vm, tmp_path, xserver):
    qsock = sock_path(tmp_path)
    # no display option: $DISPLAY makes the window the default, as QEMU
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-name", "fe", disk="vgadisk-7.img",
           display=())
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(qsock).negotiate()
    win = find_window("vmm - fe")
    wait_for(lambda: geometry(win) == (720, 400), 30, "the window at the text mode's size")
    diff, dump = same_picture(win, q, tmp_path)
    assert diff == 0 and dump[:2] == (720, 400)

    # typed into the window: the guest's int 16h gets them
    xdotool("windowfocus", "--sync", win)
    xdotool("type", "--delay", "60", "hi")
    xdotool("key", "--delay", "60", "shift+a", "Return", "F1")
    wait_for(lambda: len(keys_seen(v)) >= 5, 60, "5 keys echoed")
    assert keys_seen(v) == ["KEY=68:23", "KEY=69:17", "KEY=41:1E", "KEY=0D:1C", "KEY=00:3B"]
    diff, dump = same_picture(win, q, tmp_path)
    assert diff == 0  # the echoed "hiA" is in the window

    # a click grabs; Ctrl-Alt-G lets go and is not the guest's 'g'
    xdotool("mousemove", "--window", win, "100", "100", "click", "1")
    wait_for(lambda: "Press Ctrl-Alt-G to exit grab" in xdotool("getwindowname", win), 30,
             "the grab title")
    xdotool("key", "ctrl+alt+g")
    wait_for(lambda: xdotool("getwindowname", win) == "vmm - fe", 30, "the title without grab")
    xdotool("type", "z")
    wait_for(lambda: len(keys_seen(v)) >= 6, 60, "6 keys echoed")
    assert keys_seen(v)[5:] == ["KEY=7A:2C"]

    # closing the window quits, as QEMU's
    close_window(win)
    status, _, err = v.finish()
    assert status == 0, err


def test_sdl_window_follows_the_mode(vm, tmp_path, xserver):
    """Mode 13h (320x200, shown 640x400): the window takes its size and
    pixels."""
    qsock = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-display", "sdl", disk="vgadisk-2.img")
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(qsock).negotiate()
    win = find_window("vmm")
    wait_for(lambda: geometry(win) == (640, 400), 30, "the window at mode 13h's size")
    diff, dump = same_picture(win, q, tmp_path)
    assert diff == 0 and dump[:2] == (640, 400)
    q.ok("quit")
    v.finish()


@pytest.fixture
def window_manager(xserver, tmp_path):
    """Openbox on the test's X server: full screen is the window manager's
    (_NET_WM_STATE_FULLSCREEN), as on a person's desktop; bare Xvfb
    leaves the window as it is."""
    for tool in ("openbox", "xmessage", "xwininfo"):
        if not shutil.which(tool):
            fwskip.unavailable(f"{tool} is missing (tools/deps.sh installs it)")
    log = tmp_path / "openbox.log"
    with open(log, "wb") as out:
        p = subprocess.Popen(["openbox", "--sm-disable"], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=out)

    def frames_a_new_window():
        """A window mapped while Openbox starts (after it took the root's
        map requests, before its event loop) is never mapped: SDL would
        wait for it for ever. So the screen is Openbox's once a probe
        window of its own gets a frame (a parent that is not the root);
        a probe lost in that gap is replaced by another."""
        assert p.poll() is None, f"openbox exited: {log.read_text(errors='replace')}"
        probe = subprocess.Popen(["xmessage", "-title", "vmm-wm-probe", "probe"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 3
            while time.monotonic() < end:
                for win in xdotool("search", "--onlyvisible", "--name", "^vmm-wm-probe$").split():
                    info = subprocess.run(["xwininfo", "-children", "-id", win],
                                          capture_output=True, text=True, timeout=10).stdout
                    if re.search(r"Parent window id: 0x[0-9a-f]+ (?!\(the root window\))", info):
                        return True
                time.sleep(0.05)
            return False
        finally:
            probe.kill()
            probe.wait()
    try:
        wait_for(frames_a_new_window, 60, "openbox to frame a new window")
        yield p
    finally:
        alive = p.poll() is None
        p.terminate()
        p.wait(timeout=10)
        # a window manager gone mid-test leaves SDL waiting for its window's map
        assert alive, f"openbox exited during the test: {log.read_text(errors='replace')}"


def test_sdl_full_screen_and_ctrl_alt_f(vm, tmp_path, window_manager):
    """-full-screen: the window covers Xvfb's 1280x1024 screen, the guest's
    720x400 text mode scaled into it (query-display-options says so);
    Ctrl-Alt-F gives back the mode-sized window, and again full screen."""
    qsock = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-display", "sdl", "-full-screen",
           disk="vgadisk-7.img")
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(qsock).negotiate()
    assert q.ok("query-display-options")["full-screen"] is True
    win = find_window("vmm")
    wait_for(lambda: geometry(win) == (1280, 1024), 30, "the window over the whole screen")
    # the guest's picture fills it: not the black of an empty window
    shot = screenshot(win, tmp_path / "full.ppm")
    assert shot[:2] == (1280, 1024)
    assert any(shot[2][i] for i in range(0, len(shot[2]), 97)), "a black full screen"
    xdotool("windowfocus", "--sync", win)
    xdotool("key", "ctrl+alt+f")
    wait_for(lambda: geometry(win) == (720, 400), 30, "the window back at the mode's size")
    diff, dump = same_picture(win, q, tmp_path)
    assert diff == 0 and dump[:2] == (720, 400)
    xdotool("key", "ctrl+alt+f")
    wait_for(lambda: geometry(win) == (1280, 1024), 30, "full screen again")
    assert keys_seen(v) == []  # the hot keys are not the guest's
    q.ok("quit")
    assert v.finish()[0] == 0


def test_sdl_window_close_off_presses_the_power_button(vm, tmp_path, xserver):
    qsock = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-display", "sdl,window-close=off")
    q = Qmp(qsock).negotiate()
    # QEMU's DisplayOptions is a flat union: grab-mod beside type
    assert q.ok("query-display-options") == {"type": "sdl", "full-screen": False,
                                             "window-close": False,
                                             "grab-mod": "lctrl-lalt"}
    win = find_window("vmm")
    close_window(win)
    q.event("POWERDOWN")
    assert v.p.poll() is None  # still running: the guest decides
    q.ok("quit")
    v.finish()


def test_sdl_options(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for args, msg in [(["-sdl"], "vmm: -sdl: QEMU removed this option; use -display sdl"),
                      (["-display", "sdl,gl=on"], "vmm: -display sdl: gl=on is not supported"),
                      (["-display", "sdl,window-close=maybe"],
                       "vmm: -display sdl: window-close: expected on or off"),
                      (["-display", "sdl", "-nographic"],
                       "vmm: -display sdl cannot be used with -nographic"),
                      (["-display", "sdl"], "vmm: -display sdl: no display server")]:
        p = subprocess.run([VMM, "-nic", "none", *args], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 1 and p.stderr.startswith(msg) and \
            p.stderr.count("\n") == 1, (args, p.stderr)


def test_headless_does_not_load_sdl(vm, tmp_path, monkeypatch):
    """No display server, no display option: libSDL2 is never mapped (nor
    libxkbcommon: -k is only for a VNC server's keysyms)."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    qsock = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-k", "de", display=())
    v.wait_serial("VMM-BOOT-OK")
    maps = open(f"/proc/{v.p.pid}/maps").read()
    assert "libSDL2" not in maps and "libX11" not in maps and "libvncserver" not in maps
    assert "libxkbcommon" not in maps
    Qmp(qsock).negotiate().ok("quit")
    v.finish()
