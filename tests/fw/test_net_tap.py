# SPDX-License-Identifier: GPL-2.0-or-later
"""-netdev tap on the host, in a private network namespace (needs root and
iproute2's `ip`): the interface is created with the vnet header, the ifup
and ifdown scripts run with its name, fd= takes an open tap, and every
failure (busy interface, failing or missing script, no /dev/net/tun, a
descriptor that is no tap) is one line and exit status 1. SeaBIOS boots
disk-0.img, which exits at once; the guest never drives the NIC in those.
The data path: every card tests/fw/nictx.S drives sends its datagram
through a tap (test_every_card_sends_through_tap); with Linux guests in
tests/real/test_virtio_net_tap.py and test_nics_tap.py."""
import fcntl
import os
import struct
import subprocess
import uuid

import pytest

import test_nic
from conftest import VMM, fw_image

DISK_OK = (0x10 << 1) | 1
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.fail("tap tests need root (network namespaces, /dev/net/tun)")
    name = "vmmfw-%s" % uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


def vmm_in(ns, *args, pass_fds=(), pre=()):
    cmd = ["ip", "netns", "exec", ns, *pre, VMM, "-display", "none", "-serial", "stdio",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-m", "64",
           "-drive", "file=%s,format=raw,index=0,media=disk" % fw_image("disk-0.img"), *args]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, pass_fds=pass_fds)


def one_line_error(p, *needles):
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def scripts(tmp_path, up_rc=0):
    log = tmp_path / "scripts.log"
    up, down = tmp_path / "ifup", tmp_path / "ifdown"
    # The ifup script also records the tap's flags as the kernel shows them.
    up.write_text('#!/bin/sh\necho "up $1 $(ip -d link show "$1" | grep -o "vnet_hdr [a-z]*")"'
                  ' >> %s\nexit %d\n' % (log, up_rc))
    down.write_text('#!/bin/sh\necho "down $1" >> %s\n' % log)
    up.chmod(0o755)
    down.chmod(0o755)
    return up, down, log


def test_tap_scripts_run_with_the_name(netns, tmp_path):
    up, down, log = scripts(tmp_path)
    p = vmm_in(netns, "-netdev", "tap,id=n0,ifname=vfw0,script=%s,downscript=%s" % (up, down),
               "-device", "virtio-net-pci,netdev=n0")
    assert p.returncode == DISK_OK, p.stderr
    assert log.read_text().splitlines() == ["up vfw0 vnet_hdr on", "down vfw0"]
    # -nic and -net forms, the kernel choosing the name; vnet_hdr=off.
    log.unlink()
    p = vmm_in(netns, "-nic", "tap,model=virtio,script=%s,downscript=%s" % (up, down))
    assert p.returncode == DISK_OK, p.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("up tap") and lines[0].endswith("vnet_hdr on")
    assert lines[1] == "down " + lines[0].split()[1]
    log.unlink()
    p = vmm_in(netns, "-net", "nic,model=virtio",
               "-net", "tap,ifname=vfw1,vnet_hdr=off,script=%s,downscript=no" % up)
    assert p.returncode == DISK_OK, p.stderr
    assert log.read_text().splitlines() == ["up vfw1 vnet_hdr off"]
    # The interface went away with vmm (not persistent).
    q = subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "show", "vfw0"],
                       capture_output=True)
    assert q.returncode != 0


def test_tap_errors(netns, tmp_path):
    up, down, log = scripts(tmp_path, up_rc=3)
    one_line_error(vmm_in(netns, "-netdev", "tap,id=n0,ifname=vfw2,script=%s" % up,
                          "-device", "virtio-net-pci,netdev=n0"),
                   "network script %s failed with status 3" % up)
    one_line_error(vmm_in(netns, "-nic", "tap,script=%s" % (tmp_path / "nope")),
                   "could not launch network script", "No such file or directory")
    # The interface is held by another process: busy.
    holder = subprocess.Popen(
        ["ip", "netns", "exec", netns, "/usr/bin/python3", "-c",
         "import fcntl,os,struct,sys,time\n"
         "fd=os.open('/dev/net/tun',os.O_RDWR)\n"
         "fcntl.ioctl(fd,%d,struct.pack('16sH','vfwbusy'.encode(),%d))\n"
         "print('held',flush=True); time.sleep(60)" % (TUNSETIFF, IFF_TAP | IFF_NO_PI)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_error(vmm_in(netns, "-nic", "tap,ifname=vfwbusy,script=no"),
                       "ifname=vfwbusy", "busy")
    finally:
        holder.kill()
        holder.wait()
    # No /dev/net/tun (a private mount namespace hides it).
    one_line_error(vmm_in(netns, "-nic", "tap,ifname=vfw3,script=no",
                          pre=["unshare", "-m", "sh", "-c",
                               'mount -t tmpfs none /dev/net && exec "$0" "$@"']),
                   "cannot open /dev/net/tun", "No such file or directory")
    # fd= that is not a tap.
    with open("/dev/null") as f:
        one_line_error(vmm_in(netns, "-nic", "tap,fd=%d" % f.fileno(), pass_fds=[f.fileno()]),
                       "fd=%d is not a tap" % f.fileno())


def test_vhost_without_the_kernel_module_falls_back(netns, tmp_path):
    """vhost=on where /dev/vhost-net is not vhost-net (absent here, or
    /dev/null bound over it in a private mount namespace): one
    warning line naming the cause, then the machine runs on vmm's own data
    path. vhostfd= of something that is not vhost-net: the same, with the
    kernel's refusal. (The kernel's path itself is tests/real/
    test_virtio_net_tap.py's, in the L1, which has the module.)"""
    hide = ["unshare", "-m", "sh", "-c",
            '[ -e /dev/vhost-net ] && mount --bind /dev/null /dev/vhost-net; exec "$0" "$@"']
    p = vmm_in(netns, "-netdev", "tap,id=n0,ifname=vfw5,script=no,downscript=no,vhost=on",
               "-device", "virtio-net-pci,netdev=n0", pre=hide)
    assert p.returncode == DISK_OK, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if "vhost" in ln]
    assert len(warnings) == 1, p.stderr
    assert "vhost=on" in warnings[0] and "using vmm's own data path" in warnings[0], warnings
    with open("/dev/null", "rb") as f:
        p = vmm_in(netns, "-netdev", "tap,id=n0,ifname=vfw6,script=no,downscript=no,"
                   "vhostfd=%d" % f.fileno(), "-device", "virtio-net-pci,netdev=n0",
                   pass_fds=[f.fileno()])
    assert p.returncode == DISK_OK, p.stderr
    assert "VHOST_SET_OWNER" in p.stderr and "using vmm's own data path" in p.stderr, p.stderr


def test_tap_fd_from_the_caller(netns, tmp_path):
    """libvirt's way: the caller opens the tap (with IFF_VNET_HDR) and passes it."""
    helper = tmp_path / "open_tap.py"
    helper.write_text(
        "import fcntl,os,struct,sys\n"
        "fd=os.open('/dev/net/tun',os.O_RDWR)\n"
        "fcntl.ioctl(fd,%d,struct.pack('16sH',b'vfwfd',%d))\n"
        "os.set_inheritable(fd,True)\n"
        "args=[a.replace('FD',str(fd)) for a in sys.argv[1:]]\n"
        "os.execv(args[0],args)\n" % (TUNSETIFF, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    p = vmm_in(netns, "-netdev", "tap,id=n0,fd=FD", "-device", "virtio-net-pci,netdev=n0",
               pre=["/usr/bin/python3", str(helper)])
    assert p.returncode == DISK_OK, p.stderr
    # vnet_hdr=off cannot undo the descriptor's header.
    p = vmm_in(netns, "-netdev", "tap,id=n0,fd=FD,vnet_hdr=off",
               "-device", "virtio-net-pci,netdev=n0", pre=["/usr/bin/python3", str(helper)])
    one_line_error(p, "IFF_VNET_HDR")


def test_downscript_helper_under_sandbox_runas_and_kill9(netns, tmp_path):
    """The sandbox forbids execve, so the downscript runs from a helper vmm
    forks at set-up: with the identity vmm started with (root here, although
    vmm itself runs as nobody), and even when vmm is killed."""
    import signal
    import time
    log = tmp_path / "scripts.log"
    up, down = tmp_path / "ifup", tmp_path / "ifdown"
    up.write_text('#!/bin/sh\necho "up $1" >> %s\n' % log)
    down.write_text('#!/bin/sh\necho "down $1 uid=$(id -u)" >> %s\n' % log)
    up.chmod(0o755)
    down.chmod(0o755)
    serial = tmp_path / "serial.log"
    cmd = ["ip", "netns", "exec", netns, VMM, "-display", "none", "-serial", "file:%s" % serial,
           "-m", "64", "-drive", "file=%s,format=raw,if=ide" % fw_image("disk-5.img"),
           "-runas", "nobody",
           "-netdev", "tap,id=n0,ifname=vfw9,script=%s,downscript=%s" % (up, down),
           "-device", "virtio-net-pci,netdev=n0"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while "VMM-BOOT-OK" not in (serial.read_text() if serial.exists() else ""):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < end, "no VMM-BOOT-OK"
            time.sleep(0.1)
        with open("/proc/%d/status" % p.pid) as f:
            status = f.read()
        assert "Seccomp:\t2" in status and "Uid:\t65534" in status, status
        assert log.read_text().splitlines() == ["up vfw9"]
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
        end = time.monotonic() + 30
        while len(log.read_text().splitlines()) < 2 and time.monotonic() < end:
            time.sleep(0.1)
        assert log.read_text().splitlines() == ["up vfw9", "down vfw9 uid=0"]
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


# The receiving end of nictx.S's datagram in the namespace: bound before
# the tap exists (the ifup script gives it slirp's gateway's address and
# MAC, where the frame goes); prints what came and from where.
RECEIVER = """import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", %d))
s.settimeout(60)
print("listening", flush=True)
try:
    data, (addr, port) = s.recvfrom(2048)
    print("got %%s from %%s:%%d" %% (data.hex(), addr, port), flush=True)
except socket.timeout:
    print("nothing", flush=True)
"""


@pytest.mark.parametrize("image,device", test_nic.SENDERS)
def test_every_card_sends_through_tap(netns, tmp_path, image, device):
    """Each card nictx.S drives sends its UDP datagram over a tap, as over
    user networking in test_nic.py: the host side (the tap, given the
    frame's destination 10.0.2.2 and MAC) receives it from 10.0.2.15:1234,
    byte for byte; vnet_hdr stays on (a card that is not virtio-net gets
    the header filled in by vmm and taken off by the kernel)."""
    up = tmp_path / "ifup"
    up.write_text('#!/bin/sh\nip link set "$1" address 52:55:0a:00:02:02 && '
                  'ip addr add 10.0.2.2/24 dev "$1" && ip link set "$1" up && '
                  'echo "up $1 $(ip -d link show "$1" | grep -o "vnet_hdr [a-z]*")" >> %s\n'
                  % (tmp_path / "scripts.log"))
    up.chmod(0o755)
    rx = subprocess.Popen(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c",
                           RECEIVER % test_nic.PORT],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    vmm = None
    try:
        assert rx.stdout.readline().strip() == "listening"
        vmm = subprocess.Popen(
            ["ip", "netns", "exec", netns, VMM, "-nodefaults", "-display", "none", "-m", "32",
             "-bios", fw_image(image),
             "-netdev", "tap,id=n0,ifname=vfwtx,script=%s,downscript=no" % up,
             "-device", "%s,netdev=n0%s" % (device, test_nic.placed(device))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = rx.communicate(timeout=90)[0].strip()
        alive = vmm.poll() is None
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.communicate()
        if vmm:
            vmm.terminate()
            err = vmm.communicate(timeout=30)[1].decode(errors="replace")
    assert alive, err
    assert (tmp_path / "scripts.log").read_text() == "up vfwtx vnet_hdr on\n", err
    assert got == "got %s from 10.0.2.15:1234" % test_nic.PAYLOAD.hex(), (got, err)


# Floods every tap of the namespace with broadcast UDP, as a busy bridge
# does, until killed: each tap K has 10.0.K.2/24 (its ifup script).
FLOODER = """import socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
print("flooding", flush=True)
while True:
    for k in range(n):
        try:
            s.sendto(b"x" * 512, ("10.0.%d.255" % k, 9))
        except OSError:
            pass
"""

TEARDOWN_CARDS = ("e1000", "rtl8139", "pcnet", "ne2k_pci", "virtio-net-pci", "ne2k_isa")


def test_frames_arriving_at_exit_never_reach_a_freed_card(netns, tmp_path):
    """A tap's reader thread hands frames to its card until vmm exits; at
    exit the card was freed while that thread still ran, and a frame
    arriving then was a use after free (vmm died with SIGSEGV now and
    then when its taps were busy). Every card on its own flooded tap,
    vmm-asan exits through isa-debug-exit as soon as SeaBIOS boots the
    disk, five times: each exit is clean, with the disk's status."""
    from test_lifecycle import VMM_ASAN
    if not os.path.exists(VMM_ASAN):
        pytest.fail(f"{VMM_ASAN} is missing: run `make build/vmm-asan`")
    up = tmp_path / "ifup"
    up.write_text('#!/bin/sh\nk=${1#vfl}\nip addr add 10.0.$k.2/24 dev "$1" && '
                  'ip link set "$1" up\n')
    up.chmod(0o755)
    args = []
    for k, card in enumerate(TEARDOWN_CARDS):
        rom = "" if card in ("ne2k_isa", "virtio-net-pci") else ",romfile="
        args += ["-netdev", "tap,id=n%d,ifname=vfl%d,script=%s,downscript=no" % (k, k, up),
                 "-device", "%s,netdev=n%d%s" % (card, k, rom)]
    flood = subprocess.Popen(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c",
                              FLOODER, str(len(TEARDOWN_CARDS))],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert flood.stdout.readline().strip() == "flooding"
        for run in range(5):
            p = subprocess.run(
                ["ip", "netns", "exec", netns, VMM_ASAN, "-nodefaults", "-display", "none",
                 "-serial", "none", "-m", "32", "-sandbox", "off",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                 "-drive", "file=%s,format=raw,if=ide,snapshot=on" % fw_image("disk-0.img"),
                 *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=120, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
            assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, \
                (run, p.stderr)
            assert p.returncode == DISK_OK, (run, p.returncode, p.stderr)
    finally:
        flood.kill()
        flood.communicate()
