# SPDX-License-Identifier: GPL-2.0-or-later
"""An X server of one's own for the SDL front-end: Debian's Xvfb (24-bit,
no TCP), on a display number it picks itself (-displayfd). Used by
tests/fw/test_sdl.py and by the bench's SDL rows (tools/bench/bench.py)."""
import os
import subprocess


def start_xvfb(geometry="1280x1024x24"):
    """Starts Xvfb and returns (process, ":N") once it accepts clients
    (it writes its display number only then). Raises OSError when Xvfb
    cannot be run, RuntimeError when it did not start."""
    r, w = os.pipe()
    try:
        p = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", geometry,
                              "-nolisten", "tcp"], pass_fds=(w,), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        os.close(r)
        raise
    finally:
        os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        p.wait(10)
        raise RuntimeError(f"Xvfb did not start (exit status {p.returncode})")
    return p, f":{number}"


def stop_xvfb(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def sdl_env(display, env=None):
    """The environment of a process whose SDL window goes to `display`
    (X11, not a Wayland compositor the caller may have)."""
    out = dict(os.environ if env is None else env)
    out["DISPLAY"] = display
    out.pop("WAYLAND_DISPLAY", None)
    return out
