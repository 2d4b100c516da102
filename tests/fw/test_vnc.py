# SPDX-License-Identifier: GPL-2.0-or-later
"""The VNC server (-vnc) as its users meet it: a real client (vncsnapshot,
Debian's) and a small RFB client (tests/fw/rfb.py) against a machine that
boots tests/fw/vgaboot.S test 7 (the VGA BIOS's text mode, then a keyboard
echo on COM1). The picture a client gets must be screendump's, pixel for
pixel, and QEMU's VNC picture of the same boot; keys typed through VNC must
reach the guest's int 16h."""
import os
import shutil
import socket
import subprocess
import time

import pytest

import fwskip
from conftest import BOOT_TIMEOUT, VMM, fw_image
from rfb import QEMU_EXT_KEY, AuthFailed, Rfb
from test_display import QEMU, differing, read_ppm
from test_qmp import Qmp, sock_path, vm, wait_for  # noqa: F401 (vm is a fixture)

DISK = "vgadisk-7.img"


def free_display():
    """A display number whose port (5900+N) is free on 127.0.0.1."""
    for n in range(40, 99):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 5900 + n))
            return n
        except OSError:
            continue
        finally:
            s.close()
    pytest.fail("no free VNC port")


def keys_seen(v):
    return v.lines("KEY=")


def wait_keys(v, n):
    wait_for(lambda: len(keys_seen(v)) >= n, 60, f"{n} keys echoed by the guest")
    return keys_seen(v)


def dump(q, tmp_path, name="shot.ppm"):
    out = tmp_path / name
    assert q.ok("screendump", {"filename": str(out)}) == {}
    return read_ppm(out)


def settle(client, q, tmp_path, want=None, timeout=30):
    """Reads updates until the client's picture is screendump's (the guest's
    writes reach the client within a few refresh rounds)."""
    end = time.monotonic() + timeout
    while True:
        pic = dump(q, tmp_path)
        if client.picture() == pic and (want is None or want(pic)):
            return pic
        if time.monotonic() > end:
            return pic
        client.update(incremental=True, timeout=5)


def test_vnc_picture_keys_and_clients(vm, tmp_path):
    qsock, vsock = sock_path(tmp_path), sock_path(tmp_path, "vnc.sock")
    v = vm("-vga", "std", "-qmp", f"unix:{qsock},server,nowait", "-vnc", f"unix:{vsock}",
           "-name", "fe-test", disk=DISK)
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(qsock).negotiate()

    # the first look: the text mode's whole picture, as screendump has it
    c = Rfb(vsock)
    assert c.name == "fe-test"
    c.update(incremental=False)
    pic = settle(c, q, tmp_path)
    assert pic[:2] == (720, 400)
    assert differing(c.picture(), pic) == 0

    info = q.ok("query-vnc")
    assert (info["enabled"], info["family"], info["auth"], info["x-clients"]) == \
        (True, "unix", "none", 1), info

    # keys by keysym: 'v' 'm' 'm' Return reach int 16h with their scan codes
    c.type_keysyms([ord("v"), ord("m"), ord("m"), 0xff0d])
    assert wait_keys(v, 4) == ["KEY=76:2F", "KEY=6D:32", "KEY=6D:32", "KEY=0D:1C"]
    # Shift + 'a' through the client's own Shift
    c.key(0xffe1, True)
    c.type_keysyms([ord("A")])
    c.key(0xffe1, False)
    assert wait_keys(v, 5)[4] == "KEY=41:1E"

    # only what changed travels: the echoed letters are a few cells
    before = c.received
    c.rects.clear()
    pic = settle(c, q, tmp_path)
    assert differing(c.picture(), pic) == 0
    raw = [r for r in c.rects if r[4] == 0]
    assert raw and all(w * h < 720 * 400 // 4 for _, _, w, h, _ in raw), raw
    assert c.received - before < 720 * 400 * 4 // 4

    # QEMU's extended key event: the scan code alone (keysym 0) is enough
    c.sock.close()
    c = Rfb(vsock, encodings=(0, -223, QEMU_EXT_KEY))
    c.update(incremental=False)
    assert c.ext_key_acked
    c.ext_key(0, 0x2D, True)   # 'x'
    c.ext_key(0, 0x2D, False)
    assert wait_keys(v, 6)[5] == "KEY=78:2D"

    # QMP send-key
    assert q.ok("send-key", {"keys": [{"type": "qcode", "data": "b"}]}) == {}
    assert wait_keys(v, 7)[6] == "KEY=62:30"
    r = q.cmd("send-key", {"keys": [{"type": "qcode", "data": "nokey"}]})
    assert "nokey" in r["error"]["desc"], r

    # two clients; one sends garbage and is dropped, the other goes on
    d = Rfb(vsock)
    d.update(incremental=False)
    wait_for(lambda: q.ok("query-vnc")["x-clients"] == 2, 10, "two clients")
    d.sock.sendall(b"\x63garbage")
    wait_for(lambda: q.ok("query-vnc")["x-clients"] == 1, 10, "the garbage client dropped")
    c.type_keysyms([ord("z")])
    assert wait_keys(v, 8)[7] == "KEY=7A:2C"
    pic = settle(c, q, tmp_path)
    assert differing(c.picture(), pic) == 0
    # a client that goes away in the middle of its update
    e = Rfb(vsock)
    e.request(incremental=False)
    e.close()
    c.type_keysyms([ord("y")])
    assert wait_keys(v, 9)[8] == "KEY=79:15"
    assert q.ok("query-vnc")["x-bytes-sent"] > 720 * 400 * 4

    # Tab: the guest scrolls 100 lines; the client's tiles still add up
    # to screendump's picture
    c.type_keysyms([0xff09])
    v.wait_serial("VMM-SCROLLED")
    pic = settle(c, q, tmp_path)
    assert differing(c.picture(), pic) == 0

    q.ok("quit")
    status, _, err = v.finish()
    assert status == 0, err
    assert not os.path.exists(vsock)  # removed at exit


def test_vnc_keymap_de(vm, tmp_path):
    """-k de: keysyms become the keys of a German keyboard, with the Shift
    and AltGr that give the character pressed or lifted around them. The
    guest's BIOS reads scan codes as US keys (int 16h's ASCII is the US
    one), so the scan code shows which key the guest got."""
    vsock = sock_path(tmp_path, "vnc.sock")
    v = vm("-vga", "std", "-vnc", f"unix:{vsock}", "-k", "de", disk=DISK)
    v.wait_serial("VMM-VGA-READY")
    assert "libxkbcommon" in open(f"/proc/{v.p.pid}/maps").read()
    c = Rfb(vsock)
    c.update(incremental=False)
    # 'z' is the key labelled Z on a German keyboard, the US Y (0x15); 'y'
    # the US Z (0x2C); 'ü' the US '[' (0x1A); 'ß' the US '-' (0x0C)
    c.type_keysyms([ord("z"), ord("y"), 0xFC, 0xDF])
    assert wait_keys(v, 4) == ["KEY=79:15", "KEY=7A:2C", "KEY=5B:1A", "KEY=2D:0C"]
    # '@' is AltGr+Q: right Alt held, so the BIOS gives Alt+Q (no ASCII)
    c.type_keysyms([ord("@")])
    assert wait_keys(v, 5)[4] == "KEY=00:10"
    # '"' is Shift+2 (the BIOS's US Shift+2 is '@'), Shift pressed for it
    c.type_keysyms([ord('"')])
    assert wait_keys(v, 6)[5] == "KEY=40:03"
    # '#' from a client holding Shift (a US keyboard's Shift+3): the German
    # key has '#' unshifted, so Shift is lifted around it (US '\' key, 0x2B)
    c.key(0xFFE1, True)
    c.type_keysyms([ord("#")])
    # the client's Shift is down again after it: 'Z' is Shift+(US Y)
    c.type_keysyms([ord("Z")])
    c.key(0xFFE1, False)
    assert wait_keys(v, 8)[6:] == ["KEY=5C:2B", "KEY=59:15"]
    # a keysym the layout has no key for goes as on a US keyboard
    # (asciicircum is a dead key on German keyboards)
    c.type_keysyms([ord("^")])
    assert wait_keys(v, 9)[8] == "KEY=36:07"
    c.close()
    v.kill()


def test_vnc_keymap_without_xkb_data(tmp_path):
    """-k needs xkb-data's files: without them (XKB_CONFIG_ROOT pointing
    nowhere) vmm says so in one line and exits 1, before anything runs."""
    vsock = sock_path(tmp_path, "vnc.sock")
    env = dict(os.environ, XKB_CONFIG_ROOT=str(tmp_path / "none"))
    p = subprocess.run([VMM, "-display", "none", "-vnc", f"unix:{vsock}", "-k", "de"],
                       capture_output=True, timeout=30, env=env)
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert err == "vmm: -k de: no XKB data found (Debian: xkb-data)\n", err
    assert not os.path.exists(vsock)


def test_vnc_password(vm, tmp_path):
    qsock, vsock = sock_path(tmp_path), sock_path(tmp_path, "vnc.sock")
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-vnc", f"unix:{vsock},password=on")
    q = Qmp(qsock).negotiate()
    assert q.ok("query-vnc")["auth"] == "vnc"
    with pytest.raises(AuthFailed):
        Rfb(vsock)                        # no VNC authentication offered: refused
    with pytest.raises(AuthFailed):
        Rfb(vsock, password="")           # none set yet: nobody gets in (as QEMU)
    assert q.ok("change-vnc-password", {"password": "s3cret"}) == {}
    with pytest.raises(AuthFailed):
        Rfb(vsock, password="wrong")
    c = Rfb(vsock, password="s3cret")
    c.update(incremental=False)
    c.close()
    q.ok("quit")
    v.finish()


def test_vnc_change_password_needs_password_on(vm, tmp_path):
    qsock, vsock = sock_path(tmp_path), sock_path(tmp_path, "vnc.sock")
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-vnc", f"unix:{vsock}")
    q = Qmp(qsock).negotiate()
    r = q.cmd("change-vnc-password", {"password": "x"})
    assert r["error"]["desc"] == "Could not set password", r
    q.ok("quit")
    v.finish()


def vncsnapshot(display, out):
    """Debian's vncsnapshot: one picture of the whole screen (JPEG, the
    only format it writes), then decoded to PPM by ImageMagick."""
    if not shutil.which("vncsnapshot"):
        fwskip.unavailable("vncsnapshot is missing (tools/deps.sh installs it)")
    jpg = str(out) + ".jpg"
    p = subprocess.run(["vncsnapshot", "-quality", "100", "-allowblank",
                        f"127.0.0.1:{display}", jpg], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    subprocess.run(["/usr/bin/convert", jpg, "-depth", "8", f"ppm:{out}"], check=True)
    return read_ppm(out)


def mean_error(a, b):
    assert a[:2] == b[:2], (a[:2], b[:2])
    return sum(abs(x - y) for x, y in zip(a[2], b[2])) / len(a[2])


def qemu_vnc_snapshot(tmp_path):
    if not shutil.which(QEMU):
        fwskip.unavailable(f"{QEMU} is missing (tools/deps.sh installs it)")
    n = free_display()
    serial = tmp_path / "q-serial.log"
    p = subprocess.Popen([QEMU, "-accel", "tcg", "-m", "64", "-nodefaults", "-vga", "std",
                          "-vnc", f"127.0.0.1:{n}", "-drive",
                          f"file={fw_image(DISK)},format=raw,if=ide",
                          "-serial", f"file:{serial}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        wait_for(lambda: serial.exists() and b"VMM-VGA-READY" in serial.read_bytes(),
                 BOOT_TIMEOUT, "QEMU's boot sector")
        time.sleep(1)  # QEMU's display refresh
        return vncsnapshot(n, tmp_path / "qemu-vnc.ppm")
    finally:
        p.kill()
        p.wait()


def test_vncsnapshot_sees_screendump_and_qemu(vm, tmp_path):
    n = free_display()
    qsock = sock_path(tmp_path)
    v = vm("-nodefaults", "-vga", "std", "-qmp", f"unix:{qsock},server,nowait", "-vnc", f"127.0.0.1:{n}",
           disk=DISK)
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(qsock).negotiate()
    info = q.ok("query-vnc")
    assert (info["host"], info["service"], info["family"]) == \
        ("127.0.0.1", str(5900 + n), "ipv4"), info
    snap = vncsnapshot(n, tmp_path / "vmm-vnc.ppm")
    shot = dump(q, tmp_path)
    q.ok("quit")
    v.finish()
    # JPEG is lossy: against screendump, close; against QEMU's VNC picture
    # through the same client and encoder, identical
    assert snap[:2] == shot[:2] == (720, 400)
    assert mean_error(snap, shot) < 3.0
    assert differing(snap, qemu_vnc_snapshot(tmp_path)) == 0


@pytest.mark.parametrize("args,message", [
    (["-vnc", "localhost"], "-vnc: expected [HOST]:DISPLAY, unix:PATH or none"),
    (["-vnc", ":x"], "-vnc: bad display number 'x'"),
    (["-vnc", ":1,bogus=on"], "-vnc: unsupported option 'bogus'"),
    (["-vnc", ":1,password=maybe"], "-vnc: password: expected on or off"),
    (["-vnc", "none,password=on"], "-vnc none takes no options"),
    (["-vnc", "unix:"], "-vnc: bad Unix socket path"),
    (["-display", "vnc=nothing"], "-vnc: expected [HOST]:DISPLAY"),
    (["-display", "gtk"], "-display gtk: unknown display"),
    (["-k", "xx"], "-k xx: unknown keyboard layout"),
    (["-vnc", ":1", "-k", "de-"], "-k de-: unknown keyboard layout"),
])
def test_vnc_option_errors(args, message):
    p = subprocess.run([VMM, *args], capture_output=True, timeout=30)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert err.startswith("vmm: " + message) and err.count("\n") == 1, err


def test_vnc_every_interface_ipv4_and_ipv6(vm, tmp_path):
    """":N" listens on every IPv4 and (where the host has it) IPv6
    interface, as QEMU's."""
    n = free_display()
    v = vm("-vnc", f":{n}")
    wait_for(lambda: connect_banner(socket.AF_INET, "127.0.0.1", 5900 + n), 30, "IPv4")
    if socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        assert connect_banner(socket.AF_INET6, "::1", 5900 + n)
    v.kill()


def connect_banner(family, addr, port):
    s = socket.socket(family)
    s.settimeout(10)
    try:
        s.connect((addr, port))
        return s.recv(12) == b"RFB 003.008\n"
    except OSError:
        return False
    finally:
        s.close()


def test_vnc_port_taken(tmp_path):
    n = free_display()
    s = socket.socket()
    s.bind(("127.0.0.1", 5900 + n))
    s.listen(1)
    try:
        p = subprocess.run([VMM, "-display", "none", "-vnc", f"127.0.0.1:{n}"],
                           capture_output=True, timeout=30)
    finally:
        s.close()
    err = p.stderr.decode()
    assert p.returncode == 1 and f"-vnc: cannot listen on 127.0.0.1:{5900 + n}" in err, err


def monitor_lines(path, commands):
    s = wait_for(lambda: os.path.exists(path) and socket.socket(socket.AF_UNIX), 30, "socket")
    s.connect(path)
    s.settimeout(30)
    s.sendall("".join(c + "\n" for c in commands).encode())
    data = b""
    while data.count(b"(vmm) ") <= len(commands):  # a prompt after each
        d = s.recv(4096)
        if not d:
            break
        data += d
    s.close()
    return data.decode(errors="replace")


def test_qmp_and_monitor_input(vm, tmp_path):
    """QMP input-send-event and send-key, the monitor's sendkey, info mice
    and info vnc: keys reach the guest's int 16h."""
    qsock, vsock = sock_path(tmp_path), sock_path(tmp_path, "vnc.sock")
    mon = sock_path(tmp_path, "mon.sock")
    v = vm("-qmp", f"unix:{qsock},server,nowait", "-vnc", f"unix:{vsock}",
           "-monitor", f"unix:{mon},server=on,wait=off", disk=DISK)
    v.wait_serial("VMM-VGA-READY")
    q = Qmp(qsock).negotiate()
    assert q.ok("query-display-options") == {"type": "none"}
    assert q.ok("query-mice") == [{"name": "QEMU PS/2 Mouse", "index": 0, "current": True,
                                   "absolute": False}]
    ev = [{"type": "key", "data": {"down": True, "key": {"type": "qcode", "data": "q"}}},
          {"type": "key", "data": {"down": False, "key": {"type": "qcode", "data": "q"}}},
          {"type": "key", "data": {"down": True, "key": {"type": "number", "data": 0x11}}},
          {"type": "key", "data": {"down": False, "key": {"type": "number", "data": 0x11}}},
          {"type": "rel", "data": {"axis": "x", "value": 5}},
          {"type": "btn", "data": {"down": True, "button": "left"}}]
    assert q.ok("input-send-event", {"events": ev}) == {}
    assert wait_keys(v, 2) == ["KEY=71:10", "KEY=77:11"]
    r = q.cmd("input-send-event", {"events": [{"type": "abs",
                                                "data": {"axis": "x", "value": 5}}]})
    assert "absolute pointer" in r["error"]["desc"], r
    r = q.cmd("input-send-event", {"events": [{"type": "btn",
                                                "data": {"down": True, "button": "bogus"}}]})
    assert "'bogus'" in r["error"]["desc"], r
    # buttons 4 and 5 (the IntelliMouse Explorer's) are QEMU's "side" and "extra"
    for b in ("side", "extra"):
        assert q.ok("input-send-event", {"events": [
            {"type": "btn", "data": {"down": True, "button": b}},
            {"type": "btn", "data": {"down": False, "button": b}}]}) == {}
    out = monitor_lines(mon, ["sendkey shift-e", "sendkey 0x13", "sendkey nokey",
                              "info mice", "info vnc"])
    assert "Error: Parameter 'keys' does not accept value 'nokey'" in out, out
    assert "* Mouse #0: QEMU PS/2 Mouse" in out, out
    assert f"Server: {vsock} (unix)" in out and "Auth: none" in out, out
    assert wait_keys(v, 4)[2:] == ["KEY=45:12", "KEY=72:13"]
    q.ok("quit")
    v.finish()


def test_vnc_exit_is_leak_free(tmp_path):
    """vmm under ASan's LeakSanitizer with the VNC server and clients
    connected at quit (one with QEMU's extended key event, whose entry
    libvncserver itself would leak), and a -k layout's table."""
    from test_lifecycle import VMM_ASAN
    if not os.path.exists(VMM_ASAN):
        pytest.fail(f"{VMM_ASAN} is missing: run `make build/vmm-asan`")
    qsock, vsock = sock_path(tmp_path), sock_path(tmp_path, "vnc.sock")
    serial = tmp_path / "serial.log"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    p = subprocess.Popen([VMM_ASAN, "-m", "64", "-nic", "none", "-display", "none",
                          "-drive", f"file={fw_image(DISK)},format=raw,if=ide",
                          "-serial", f"file:{serial}", "-vnc", f"unix:{vsock},password=on",
                          "-qmp", f"unix:{qsock},server,nowait", "-k", "fr",
                          "-sandbox", "off"],  # LeakSanitizer uses ptrace
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        wait_for(lambda: serial.exists() and b"VMM-VGA-READY" in serial.read_bytes(),
                 BOOT_TIMEOUT, "the boot sector")
        q = Qmp(qsock).negotiate()
        q.ok("change-vnc-password", {"password": "pw"})
        c = Rfb(vsock, password="pw")
        c.update(incremental=False)
        c.type_keysyms([ord("q")])  # the US A key on French keyboards
        d = Rfb(vsock, password="pw", encodings=(0, -223, QEMU_EXT_KEY))
        d.update(incremental=False)
        wait_for(lambda: b"KEY=61:1E" in serial.read_bytes(), 60, "the key")
        q.ok("quit")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    err = err.decode(errors="replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert p.returncode == 0, err
