# SPDX-License-Identifier: GPL-2.0-or-later
"""qom-list-types and device-list-properties from vmm's device table: the
types are the drivers -device help lists (and the abstract kinds they
are filed under), each driver's properties are those -device DRIVER,help
lists, the replies are values of their schema types; and against QEMU's
answers for the same drivers: the same parents, and "implements" finds
the same drivers."""
import json
import re
import shutil
import subprocess

import fwskip

from conftest import VMM
from test_qmp import Qmp, sock_path, vm  # noqa: F401 (vm is a fixture)
from test_qmp_schema import check_value, index

QEMU = shutil.which("qemu-system-x86_64")
KINDS = ["device", "pci-device", "isa-device", "ide-device", "virtio-pci",
         "virtio-serial-port", "e1000-base", "pci-vga", "memory-backend", "rng-backend"]
# The -object types vmm takes, after the drivers (not devices: -device help
# does not list them).
OBJECTS = ["memory-backend-ram", "memory-backend-file", "memory-backend-memfd", "rng-random",
           "rng-builtin"]


def help_drivers():
    text = subprocess.run([VMM, "-help"], capture_output=True, text=True, timeout=30).stdout
    block = text.split("-device drivers", 1)[1].split("\n\n")[0].splitlines()[1:]
    return " ".join(block).split()


def help_props(driver):
    text = subprocess.run([VMM, "-device", f"{driver},help"], capture_output=True, text=True,
                          timeout=30).stdout
    return [m.group(1) for m in re.finditer(r"^  ([\w-]+)=<", text, re.M)]


def start(vm, tmp_path):
    path = sock_path(tmp_path)
    vm("-qmp", f"unix:{path},server=on,wait=off", "-S")
    return Qmp(path).negotiate()


def test_types_and_properties(vm, tmp_path):
    q = start(vm, tmp_path)
    by = index(q.ok("query-qmp-schema"))
    drivers = help_drivers()
    assert len(drivers) > 20

    concrete = q.ok("qom-list-types")
    check_value(by, concrete, "[ObjectTypeInfo]", "qom-list-types")
    assert [t["name"] for t in concrete] == drivers + OBJECTS
    assert all("abstract" not in t for t in concrete)
    every = q.ok("qom-list-types", {"abstract": True})
    check_value(by, every, "[ObjectTypeInfo]", "qom-list-types")
    names = {t["name"]: t for t in every}
    for t in every:  # each parent is a type listed (virtconsole's is virtserialport)
        assert "parent" in t or t["name"] == "object", t
        if "parent" in t:
            assert t["parent"] in names, t
    assert set(names) - set(drivers) - set(OBJECTS) == \
        {t["name"] for t in every if t.get("abstract")}

    def implementing(kind, abstract=False):
        return {t["name"] for t in q.ok("qom-list-types", {"implements": kind,
                                                           "abstract": abstract})}
    assert implementing("device") == set(drivers)
    assert {"e1000", "VGA", "virtio-net-pci", "ES1370", "i6300esb"} <= implementing("pci-device")
    assert implementing("virtio-pci") == {d for d in drivers if d.startswith("virtio-") and
                                          d.endswith("-pci")}
    assert implementing("isa-device") == {"isa-serial", "ne2k_isa", "isa-debugcon",
                                          "isa-debug-exit", "ib700", "sb16", "cs4231a", "gus"}
    assert implementing("e1000", abstract=True) == {"e1000"}
    assert "pci-device" in implementing("pci-device", abstract=True)
    assert implementing("no-such-type") == set()
    assert implementing("memory-backend") == {"memory-backend-ram", "memory-backend-file",
                                              "memory-backend-memfd"}
    assert implementing("rng-backend") == {"rng-random", "rng-builtin"}
    assert implementing("object") == set(drivers) | set(OBJECTS)

    for d in drivers:
        props = q.ok("device-list-properties", {"typename": d})
        check_value(by, props, "[ObjectPropertyInfo]", d)
        assert sorted(p["name"] for p in props) == sorted(help_props(d)), d
    serial = {p["name"]: p for p in q.ok("device-list-properties", {"typename": "e1000"})}
    assert serial["multifunction"] == {"name": "multifunction", "type": "bool",
                                       "description": "function 0 of a slot with other functions",
                                       "default-value": False}
    assert serial["romfile"]["default-value"] == "efi-e1000.rom"
    r = q.cmd("device-list-properties", {"typename": "no-such"})
    assert r["error"] == {"class": "DeviceNotFound", "desc": "Device 'no-such' not found"}, r
    for typename in ("pci-device", "memory-backend-file"):  # the latter as QEMU 10
        r = q.cmd("device-list-properties", {"typename": typename})
        assert r["error"] == {"class": "GenericError", "desc": "Parameter 'typename' expects "
                              "a non-abstract device type"}, r
    q.ok("quit")


def test_types_as_qemu(vm, tmp_path):
    if not QEMU:
        fwskip.unavailable("qemu-system-x86_64 is not installed")
    msgs = [{"execute": "qmp_capabilities"},
            {"execute": "qom-list-types", "arguments": {"abstract": True}}]
    msgs += [{"execute": "qom-list-types", "arguments": {"implements": k}} for k in KINDS]
    msgs.append({"execute": "quit"})
    p = subprocess.run([QEMU, "-machine", "pc", "-accel", "tcg", "-qmp", "stdio", "-nodefaults",
                        "-display", "none", "-S"],
                       input="".join(json.dumps(m) + "\n" for m in msgs).encode(),
                       capture_output=True, timeout=60)
    replies = [json.loads(x) for x in p.stdout.splitlines()]
    returns = [r["return"] for r in replies if isinstance(r.get("return"), list)]
    qemu_all = {t["name"]: t for t in returns[0]}

    q = start(vm, tmp_path)
    ours = q.ok("qom-list-types", {"abstract": True})
    for t in ours:  # every type vmm names is QEMU's, under the same parent
        assert t["name"] in qemu_all, t
        assert qemu_all[t["name"]].get("parent") == t.get("parent"), (t, qemu_all[t["name"]])
    drivers = set(help_drivers()) | set(OBJECTS)
    for kind, theirs in zip(KINDS, returns[1:]):
        mine = {t["name"] for t in q.ok("qom-list-types", {"implements": kind})}
        assert mine == {t["name"] for t in theirs} & drivers, kind
    q.ok("quit")
