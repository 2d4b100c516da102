# SPDX-License-Identifier: GPL-2.0-or-later
"""The monitor's info qtree on a machine with devices on every bus vmm has:
the tree's shape (main-system-bus, the i440FX host's pci.0, PIIX3's isa.0,
the IDE channels, a virtio function's virtio-bus and virtio-serial's
ports), each PCI function as query-pci sees it, ISA devices with their
ports and IRQs; and the PCI functions and their identity lines as QEMU's
info qtree shows them for the same command line."""
import json
import shutil
import subprocess

import fwskip

from test_qmp import Qmp, sock_path, vm  # noqa: F401 (vm is a fixture)

QEMU = shutil.which("qemu-system-x86_64")

DEVICES = ["-device", "e1000,id=nic0,netdev=n0", "-netdev", "user,id=n0",
           "-device", "virtio-balloon-pci", "-device", "virtio-serial-pci",
           "-chardev", "null,id=c0", "-device", "virtconsole,chardev=c0,id=con0",
           "-device", "ne2k_isa,netdev=n1,iobase=0x320,irq=10", "-netdev", "user,id=n1"]


class Node:
    def __init__(self, text, parent=None):
        self.text, self.parent, self.children = text, parent, []

    def find(self, text):
        return [c for c in self.children if c.text == text or c.text.startswith(text + ",")]

    def dev(self, name):
        found = [c for c in self.children if c.text.startswith(f"dev: {name}, ")]
        assert len(found) == 1, (name, [c.text for c in self.children])
        return found[0]

    def bus(self, name, kind):
        found = self.find(f"bus: {name}")
        assert len(found) == 1, (name, [c.text for c in self.children])
        assert found[0].children[0].text == f"type {kind}", found[0].children[0].text
        return found[0]

    def lines(self):
        return [c.text for c in self.children]

    def devs(self):
        return [c.text.split(",")[0][5:] for c in self.children if c.text.startswith("dev: ")]


def parse(text):
    """Lines indented two spaces a level, into a tree of Nodes."""
    root = Node("")
    stack = [(-1, root)]
    for line in text.replace("\r\n", "\n").splitlines():
        depth = (len(line) - len(line.lstrip(" ")))
        assert depth % 2 == 0, line
        while stack[-1][0] >= depth:
            stack.pop()
        node = Node(line.strip(), stack[-1][1])
        stack[-1][1].children.append(node)
        stack.append((depth, node))
    return root


def qtree_of(q):
    return parse(q.ok("human-monitor-command", {"command-line": "info qtree"}))


def pci_bus(root):
    system = root.bus("main-system-bus", "System")
    return system.dev("i440FX-pcihost").bus("pci.0", "PCI")


def test_info_qtree(vm, tmp_path):
    path = sock_path(tmp_path)
    cd = tmp_path / "cd.iso"
    cd.write_bytes(bytes(1 << 20))
    vm("-qmp", f"unix:{path},server=on,wait=off", "-S", "-cdrom", str(cd), *DEVICES)
    q = Qmp(path).negotiate()
    root = qtree_of(q)
    system = root.bus("main-system-bus", "System")
    assert "fw_cfg_io" in system.devs()
    pci = pci_bus(root)

    # every PCI function query-pci lists, and nothing else, in address order
    funcs = q.ok("query-pci")[0]["devices"]
    nodes = [c for c in pci.children if c.text.startswith("dev: ")]
    assert len(nodes) == len(funcs)
    for f, n in zip(funcs, nodes):
        addr = f"{f['slot']:02x}.{f['function']:x}"
        assert n.lines()[0] == f"addr = {addr}", (n.text, n.lines())
        assert n.text.endswith(f'id "{f["qdev_id"]}"'), (n.text, f)
        cls = [t for t in n.lines() if t.startswith("class ")]
        ids = f["id"]
        assert cls == [f"class {f['class_info'].get('desc', 'Class %04x' % f['class_info']['class'])}"
                       f", addr 00:{addr}, pci id {ids['vendor']:04x}:{ids['device']:04x} "
                       f"(sub {ids['subsystem-vendor']:04x}:{ids['subsystem']:04x})"], cls
        bars = [t for t in n.lines() if t.startswith("bar ")]
        assert [int(b.split()[1][:-1]) for b in bars] == [r["bar"] for r in f["regions"]]
    assert pci.dev("e1000").text == 'dev: e1000, id "nic0"'
    assert 'netdev = "n0"' in pci.dev("e1000").lines()

    # ISA: the board's devices and -device's, with ports and IRQs
    isa = pci.dev("PIIX3").bus("isa.0", "ISA")
    serial = isa.dev("isa-serial").lines()
    assert "iobase = 1016 (0x3f8)" in serial and "irq = 4 (0x4)" in serial, serial
    assert "irq = 8 (0x8)" in isa.dev("mc146818rtc").lines()
    assert "iobase = 112 (0x70)" in isa.dev("mc146818rtc").lines()
    ne = isa.dev("ne2k_isa").lines()
    assert "iobase = 800 (0x320)" in ne and "irq = 10 (0xa)" in ne, ne
    assert {"i8042", "port92", "i8257"} <= set(isa.devs())

    # IDE: the disk (-hda) on the primary channel, the CD on the secondary
    ide = pci.dev("piix3-ide")
    disk = ide.bus("ide.0", "IDE").dev("ide-hd").lines()
    assert 'drive = "ide0-hd0"' in disk, disk
    cdrom = ide.bus("ide.1", "IDE").dev("ide-cd").lines()
    assert 'drive = "ide1-cd0"' in cdrom, cdrom

    # virtio: the device behind the function, virtio-serial's ports
    vb = pci.dev("virtio-balloon-pci").bus("virtio-bus", "virtio-pci-bus")
    assert vb.devs() == ["virtio-balloon-device"]
    vs = pci.dev("virtio-serial-pci").bus("virtio-bus", "virtio-pci-bus")
    port = vs.dev("virtio-serial-device").bus("virtio-serial-bus.0", "virtio-serial-bus")
    assert port.dev("virtconsole").text == 'dev: virtconsole, id "con0"'
    assert 'chardev = "c0"' in port.dev("virtconsole").lines()
    q.ok("quit")


def test_info_qtree_pci_as_qemu(vm, tmp_path):
    """The PCI functions QEMU's tree has for the same devices, in the same
    slots, with the same class, vendor and device (subsystem IDs and
    properties differ)."""
    if not QEMU:
        fwskip.unavailable("qemu-system-x86_64 is not installed")
    args = ["-S", "-display", "none", "-vga", "std", *DEVICES]
    msgs = (b'{"execute": "qmp_capabilities"}\n{"execute": "human-monitor-command", '
            b'"arguments": {"command-line": "info qtree"}}\n{"execute": "quit"}\n')
    p = subprocess.run([QEMU, "-machine", "pc", "-accel", "tcg", "-qmp", "stdio", "-nodefaults",
                        *args], input=msgs, capture_output=True, timeout=60)
    replies = [json.loads(x) for x in p.stdout.splitlines()]
    theirs = pci_bus(parse([r["return"] for r in replies if isinstance(r.get("return"), str)][0]))

    path = sock_path(tmp_path)
    vm("-qmp", f"unix:{path},server=on,wait=off", "-nodefaults", *args)
    q = Qmp(path).negotiate()
    ours = pci_bus(qtree_of(q))
    q.ok("quit")

    def identity(bus):
        out = {}
        for n in bus.children:
            if n.text.startswith("dev: "):
                cls = [t for t in n.lines() if t.startswith("class ") and ", addr " in t][0]
                out[n.text.split(",")[0]] = cls.split(" (sub ")[0]
        return out
    assert identity(ours) == identity(theirs)
