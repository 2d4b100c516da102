# SPDX-License-Identifier: GPL-2.0-or-later
"""The emulated NICs at firmware level: a -bios image of ours
(tests/fw/nictx.S) places the card, hands it one UDP datagram for
10.0.2.2:47123 and halts; user networking must deliver it to the host's
127.0.0.1:47123. slirp opens a host socket for the flow on the vCPU that
rang the card's doorbell (cards transmit within the register write, as
QEMU's do), so this also checks that the vCPU's sandbox list has slirp's
calls with user networking: without them the sandbox killed vmm ("the vcpu
thread made a forbidden system call: socket"). Also: the NIC models are in
-device help and model=help."""
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import VMM, fw_image

PORT = 47123
PAYLOAD = b"VMM-NIC-TX-UDP"


def send_one(image, device):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", PORT))
    except OSError as e:
        pytest.skip(f"UDP port {PORT} is taken: {e}")
    s.settimeout(60)
    p = subprocess.Popen([VMM, "-nodefaults", "-display", "none", "-m", "32",
                          "-bios", fw_image(image), "-netdev", "user,id=n0",
                          "-device", f"{device},netdev=n0{placed(device)}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        data = s.recv(2048)
    except socket.timeout:
        data = None
    finally:
        s.close()
    alive = p.poll() is None
    p.terminate()
    _, err = p.communicate(timeout=30)
    return data, alive, err.decode(errors="replace")


# Every card nictx.S drives: (its image, the -device without netdev=)
SENDERS = [
    ("nictx-e1000.bin", "e1000"),
    ("nictx-e1000.bin", "e1000-82544gc"),
    ("nictx-e1000.bin", "e1000-82545em"),
    ("nictx-rtl8139.bin", "rtl8139"),
    ("nictx-rtl8139.bin", "rtl8139,cplus=off"),
    ("nictx-ne2k_pci.bin", "ne2k_pci"),
    ("nictx-ne2k_isa.bin", "ne2k_isa"),
    ("nictx-pcnet.bin", "pcnet"),
]


def placed(device):
    """The -device's placement: the ISA card has no PCI address (its ports
    are at 0x300); nictx.S looks for a PCI card at 00:05.0."""
    return "" if device.startswith("ne2k_isa") else ",addr=05"


@pytest.mark.parametrize("image,device", SENDERS)
def test_nic_sends_through_slirp_under_the_sandbox(image, device):
    data, alive, err = send_one(image, device)
    assert "forbidden system call" not in err, err
    assert alive, err
    assert data == PAYLOAD, err


def test_nic_models_listed():
    p = subprocess.run([VMM, "-net", "nic,model=help"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    models = p.stdout.split("\n")
    assert models[0] == "Available NIC models:"
    for m in ("e1000", "e1000-82544gc", "e1000-82545em", "rtl8139", "ne2k_pci", "pcnet",
              "virtio-net-pci"):
        assert m in models
    # ne2k_isa is an ISA card: -device only (as here), not a model=.
    assert "ne2k_isa" not in models
    p = subprocess.run([VMM, "-device", "help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    net = p.stdout.split("Network devices:")[1].split("\n\n")[0]
    for m in ("ne2k_pci", "ne2k_isa", "pcnet"):
        assert f'name "{m}"' in net, net
    p = subprocess.run([VMM, "-nic", "user,model=ne2k_isa"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "model=help" in p.stderr


def test_nic_threads_are_filtered():
    # A card transmits on the vCPU (no thread of its own, src/board/pc_nics.c);
    # each user backend has its net thread; every thread is under its kind's
    # filter.
    import os
    import time
    p = subprocess.Popen([VMM, "-nodefaults", "-display", "none", "-m", "32",
                          "-bios", fw_image("nictx-e1000.bin"),
                          "-netdev", "user,id=n0", "-device", "e1000,netdev=n0,addr=05",
                          "-netdev", "user,id=n1", "-device", "rtl8139,netdev=n1,addr=06"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        names = []
        end = time.monotonic() + 30
        while time.monotonic() < end and names.count("vmm-vcpu") < 1:
            time.sleep(0.2)
            names = []
            for tid in os.listdir(f"/proc/{p.pid}/task"):
                with open(f"/proc/{p.pid}/task/{tid}/status") as f:
                    st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
                names.append(st["Name"])
                if st["Name"].startswith("vmm-"):
                    assert st["Seccomp"].strip() == "2", (st["Name"], st["Seccomp"])
        assert names.count("vmm-io") == 0, names
        assert names.count("vmm-net") == 2, names
        assert p.poll() is None
    finally:
        p.kill()
        p.communicate()


EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S


@pytest.mark.parametrize("device,bar0,rom", [
    ("e1000", "size 00020000 [mem]", "efi-e1000.rom"),
    ("rtl8139", "size 00000100 [io]", "efi-rtl8139.rom"),
    ("ne2k_pci", "size 00000020 [io]", "efi-ne2k_pci.rom"),
    ("pcnet", "size 00000020 [io]", "efi-pcnet.rom"),
])
def test_seabios_runs_the_nic_option_rom(vmm, device, bar0, rom):
    # QEMU's default: the card carries iPXE (Debian's ipxe-qemu) in its
    # expansion ROM BAR; SeaBIOS maps and runs it, then boots the disk.
    # (-vga none: the VGA BIOS is the other option ROM SeaBIOS would run.)
    r = vmm("-m", "64", "-vga", "none", "-hda", fw_image("disk-0.img"), "-netdev", "user,id=n0",
            "-device", f"{device},netdev=n0,addr=05")
    assert re.search(r"bdf=00:05\.0\s+bar 0, addr [0-9a-f]+, " + re.escape(bar0),
                     r.debuglog), r.debuglog[-3000:]
    # the expansion ROM BAR, sized for the image
    assert re.search(r"bdf=00:05\.0\s+bar 6, addr [0-9a-f]+, size [0-9a-f]+ \[mem\]",
                     r.debuglog), r.debuglog[-3000:]
    assert "Running option rom at" in r.debuglog, r.debuglog[-3000:]
    assert "VMM-BOOT-OK drive=80" in r.serial, r.serial
    assert r.status == EXIT_OK, (r.status, r.stderr)
    # romfile= (empty): no ROM, nothing for SeaBIOS to run.
    r = vmm("-m", "64", "-vga", "none", "-hda", fw_image("disk-0.img"), "-netdev", "user,id=n0",
            "-device", f"{device},netdev=n0,addr=05,romfile=")
    assert "Running option rom at" not in r.debuglog, r.debuglog[-3000:]
    assert not re.search(r"bdf=00:05\.0\s+bar 6", r.debuglog), r.debuglog[-3000:]
    assert r.status == EXIT_OK, (r.status, r.stderr)


def test_bad_romfile_is_one_line(tmp_path):
    not_rom = tmp_path / "not.rom"
    not_rom.write_bytes(b"\x00" * 4096)
    for romfile, why in (("nope.rom", "romfile 'nope.rom' not found"),
                         (str(not_rom), "no option ROM signature")):
        p = subprocess.run([VMM, "-nodefaults", "-netdev", "user,id=n0", "-device",
                            f"e1000,netdev=n0,romfile={romfile}"], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 1
        assert p.stderr.count("\n") == 1 and why in p.stderr, p.stderr


def udp_ports_of(pid):
    """The local ports of the UDP sockets process `pid` holds (slirp's host
    sockets for the guest's flows)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].split(":")[1], 16))
    return ports


def recv_from_vmm(s, p, timeout):
    """The first datagram on `s` that process p's slirp sent, or None after
    `timeout` seconds: another test on this host may send to the same
    port (nictx.S's is fixed), and must not count."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            data, (_, port) = s.recvfrom(2048)
        except socket.timeout:
            return None
        if port in udp_ports_of(p.pid):
            return data


def test_set_link_stops_and_restarts_the_wire(tmp_path):
    """QMP set_link on the netdev's id takes the e1000's link down: the
    datagram nictx.S sends after a reset (which keeps the cable out, as
    QEMU) never reaches the host. set_link up on the NIC's id, another
    reset: it does. An unknown name is QEMU's DeviceNotFound."""
    from test_qmp import Qmp, sock_path
    path = sock_path(tmp_path)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", PORT))
    except OSError as e:
        pytest.skip(f"UDP port {PORT} is taken: {e}")
    p = subprocess.Popen([VMM, "-nodefaults", "-display", "none", "-m", "32",
                          "-bios", fw_image("nictx-e1000.bin"), "-netdev", "user,id=n0",
                          "-device", "e1000,netdev=n0,addr=05,id=nic0",
                          "-qmp", f"unix:{path},server=on,wait=on"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        q = Qmp(path).negotiate()
        r = q.cmd("set_link", {"name": "nope", "up": False})
        assert r["error"] == {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}, r
        assert q.ok("set_link", {"name": "n0", "up": False}) == {}
        # The first boot's datagram may have left before the cable went:
        # whatever slirp still had in hand arrives now, then nothing.
        while recv_from_vmm(s, p, 3) is not None:
            pass
        q.ok("system_reset")
        q.event("RESET")
        assert recv_from_vmm(s, p, 10) is None
        assert q.ok("set_link", {"name": "nic0", "up": True}) == {}
        q.ok("system_reset")
        q.event("RESET")
        assert recv_from_vmm(s, p, 60) == PAYLOAD
        q.ok("quit")
        assert p.wait(timeout=30) == 0
    finally:
        s.close()
        if p.poll() is None:
            p.kill()
        p.communicate()


def test_monitor_set_link_and_info_network():
    """The monitor on stdio: `-net nic -net user` makes QEMU's default
    e1000, named e1000.0 as in QEMU; set_link e1000.0 off shows in info
    network; a virtio-net NIC by its id; an unknown name is one error."""
    p = subprocess.Popen([VMM, "-nodefaults", "-display", "none", "-m", "32",
                          "-bios", fw_image("nictx-e1000.bin"), "-net", "nic", "-net", "user",
                          "-netdev", "user,id=v0", "-device", "virtio-net-pci,netdev=v0,id=vn",
                          "-monitor", "stdio"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cmds = (b"set_link e1000.0 off\nset_link vn off\ninfo network\nset_link v0 on\n"
            b"info network\nset_link e1000.1 off\nquit\n")
    out, err = p.communicate(cmds, timeout=60)
    out = out.decode()
    assert p.returncode == 0, err
    assert "e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56" in out, out
    assert "vn: index=0,type=nic,model=virtio-net-pci," in out, out
    # first listing: both down; second: the virtio NIC up again
    listings = out.split("e1000.0: ")[1:]
    assert len(listings) == 2, out
    assert listings[0].count("link: down") == 2, out
    assert listings[1].count("link: down") == 1 and listings[1].count("link: up") == 1, out
    assert "Error: Device 'e1000.1' not found" in out, out


def sixteen_cards(n):
    """n cards, every PCI model in turn, each on a user network of its own
    (no option ROMs: sixteen iPXE images do not fit SeaBIOS's ROM space)."""
    models = ("e1000", "e1000-82544gc", "e1000-82545em", "rtl8139", "ne2k_pci", "pcnet",
              "virtio-net-pci")
    args = []
    for k in range(n):
        model = models[k % len(models)]
        args += ["-netdev", f"user,id=n{k}",
                 "-device", f"{model},netdev=n{k}" + ("" if model.startswith("virtio") else
                                                      ",romfile=")]
    return args


def test_sixteen_nics_and_no_more(vmm):
    """A guest may carry sixteen NICs, each on its backend (the NIC bench,
    tools/bench/nics.py, boots with fourteen: every PCI model over user
    and over tap; QEMU sets no limit); the seventeenth backend is one line."""
    r = vmm("-m", "64", "-vga", "none", "-drive",
            "file=%s,format=raw,index=0,media=disk" % fw_image("disk-0.img"), *sixteen_cards(16))
    assert "VMM-BOOT-OK drive=80" in r.serial, (r.serial, r.stderr)
    assert r.status == EXIT_OK and r.stderr == "", (r.status, r.stderr)
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", *sixteen_cards(17)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert p.stderr == "vmm: -netdev: at most 16 network backends\n", p.stderr
