# SPDX-License-Identifier: GPL-2.0-or-later
"""The machine-level QMP and monitor commands that management tools probe
and users type: inject-nmi / nmi reach the guest's NMI handler (disk-11's
boot sector points vector 2 at a handler that prints VMM-WDT-NMI and exits,
tests/fw/bootsect.S); memsave / pmemsave write what the guest holds (the
boot sector SeaBIOS loaded at 0x7c00 is the disk's first sector); the
memory summary, the suspend answers and the lists of objects vmm has none
of are QEMU's answers for such a machine."""
import json
import os
import shutil
import subprocess

import fwskip

from conftest import VMM, fw_image
from test_qmp import Qmp, sock_path, vm  # noqa: F401  (vm: the fixture)

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S
DEBUG_EXIT = ("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
MIB = 1 << 20
QEMU = shutil.which("qemu-system-x86_64")


def qmp_stdio(cmd, msgs):
    """QMP over stdio of a machine that never starts: the replies."""
    p = subprocess.run([*cmd, "-qmp", "stdio", "-nodefaults", "-display", "none", "-S"],
                       input="".join(json.dumps(m) + "\n" for m in msgs).encode(),
                       capture_output=True, timeout=120)
    return [r for r in map(json.loads, p.stdout.splitlines()) if "QMP" not in r
            and "event" not in r]


def hmp(q, line):
    """The monitor's answer with plain newlines (QMP carries the monitor's CRLF)."""
    return q.ok("human-monitor-command", {"command-line": line}).replace("\r\n", "\n")


def test_inject_nmi_reaches_the_guest(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm(*DEBUG_EXIT, "-qmp", f"unix:{path},server=on,wait=off", disk="disk-11.img")
    q = Qmp(path).negotiate()
    v.wait_serial("VMM-WDT-ARMED")  # no ib700 here: the guest idles until the NMI
    assert "VMM-WDT-NMI" not in v.text(v.serial)
    assert q.ok("inject-nmi") == {}
    status, _, err = v.finish(timeout=60)
    assert status == EXIT_OK, err
    assert "VMM-WDT-NMI" in v.text(v.serial)


def test_monitor_nmi_reaches_the_guest(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm(*DEBUG_EXIT, "-qmp", f"unix:{path},server=on,wait=off", disk="disk-11.img")
    q = Qmp(path).negotiate()
    v.wait_serial("VMM-WDT-ARMED")
    assert hmp(q, "nmi") == ""
    assert v.finish(timeout=60)[0] == EXIT_OK
    assert "VMM-WDT-NMI" in v.text(v.serial)


def test_memsave_and_pmemsave_write_the_guests_memory(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    v.wait_serial("VMM-BOOT-OK")
    with open(fw_image("disk-5.img"), "rb") as f:
        sector = f.read(512)
    phys, lin = tmp_path / "phys.bin", tmp_path / "lin.bin"
    assert q.ok("pmemsave", {"val": 0x7c00, "size": 512, "filename": str(phys)}) == {}
    # the code and the signature as on disk (the sector keeps its variables
    # in itself, past the code)
    got = phys.read_bytes()
    assert got[:96] == sector[:96] and got[510:] == b"\x55\xaa", got.hex()
    # the boot sector runs in real mode: linear is physical
    assert q.ok("memsave", {"val": 0x7c00, "size": 512, "filename": str(lin),
                            "cpu-index": 0}) == {}
    assert lin.read_bytes() == got
    # past the end of RAM (64 MiB): physical reads as zeros, as QEMU's
    # unassigned memory; 130 KiB crosses the 64 KiB chunks
    tail = tmp_path / "tail.bin"
    assert q.ok("pmemsave", {"val": 64 * MIB - 4096, "size": 130 << 10,
                             "filename": str(tail)}) == {}
    data = tail.read_bytes()
    assert len(data) == 130 << 10 and data[4096:] == bytes(len(data) - 4096)
    # a linear address that reaches no memory fails the save, in QEMU's words
    r = q.cmd("memsave", {"val": 64 * MIB, "size": 16, "filename": str(lin)})
    assert r["error"] == {"class": "GenericError",
                          "desc": f"Invalid addr 0x{64 * MIB:016x}/size 16 specified"}, r
    r = q.cmd("memsave", {"val": 0, "size": 16, "filename": str(lin), "cpu-index": 5})
    assert r["error"]["desc"] == "Parameter 'cpu-index' expects a CPU number", r
    r = q.cmd("pmemsave", {"val": 0, "size": 16, "filename": str(tmp_path / "no" / "f")})
    assert r["error"]["desc"] == f"Could not open '{tmp_path / 'no' / 'f'}': " \
                                 "No such file or directory", r
    r = q.cmd("pmemsave", {"val": 0, "size": 16})
    assert r["error"]["class"] == "GenericError", r
    # the monitor's spellings: expressions for address and size
    mon = tmp_path / "mon.bin"
    assert hmp(q, f"pmemsave 0x7c00 0x100+0x100 {mon}") == ""
    assert mon.read_bytes() == got
    assert hmp(q, f"memsave 0x7c00 512 {mon}") == ""
    assert mon.read_bytes() == got
    assert hmp(q, "memsave 0x7c00").startswith("Error: memsave: expected ADDR SIZE FILE")
    assert "memsave addr size file --" in hmp(q, "help")
    assert q.ok("query-status")["running"] is True
    q.ok("quit")
    assert v.finish()[0] == 0


def test_memory_summary_suspend_and_absent_objects(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    assert q.ok("query-memory-size-summary") == {"base-memory": 64 * MIB, "plugged-memory": 0}
    assert hmp(q, "info memory_size_summary") == \
        f"base memory: {64 * MIB}\nplugged memory: 0\n"
    # vmm's PM has S5 only: nothing to wake from, in QEMU's words
    assert q.ok("query-current-machine") == {"wakeup-suspend-support": False}
    r = q.cmd("system_wakeup")
    assert r["error"] == {"class": "GenericError",
                          "desc": "wake-up from suspend is not supported by this guest"}, r
    assert hmp(q, "system_wakeup") == \
        "Error: wake-up from suspend is not supported by this guest\n"
    for cmd in ("query-iothreads", "query-block-jobs", "query-tpm", "query-tpm-models",
                "query-tpm-types", "query-acpi-ospm-status", "query-memory-devices"):
        assert q.ok(cmd) == [], cmd
    assert hmp(q, "info iothreads") == "" and hmp(q, "info tpm") == ""
    assert q.ok("rtc-reset-reinjection") == {}
    names = {c["name"] for c in q.ok("query-commands")}
    assert {"inject-nmi", "memsave", "pmemsave", "query-memory-size-summary"} <= names
    schema = {e["name"]: e for e in q.ok("query-qmp-schema")}
    assert schema["memsave"]["meta-type"] == "command"
    q.ok("quit")
    assert v.finish()[0] == 0
    assert not os.path.exists(tmp_path / "no")


def test_every_qemu_command_is_there_or_has_a_reason():
    """The list of QEMU's QMP commands vmm lacks, with reasons
    (src/control/qmp_lacking.c), held against the QEMU installed: each of
    QEMU's commands vmm does not list in query-commands answers
    CommandNotFound naming its reason; none vmm has is on the list."""
    if not QEMU:
        fwskip.unavailable("qemu-system-x86_64 is not installed")
    caps = {"execute": "qmp_capabilities"}
    qemu = {c["name"] for c in qmp_stdio([QEMU, "-machine", "pc", "-accel", "tcg"],
                                         [caps, {"execute": "query-commands"},
                                          {"execute": "quit"}])[1]["return"]}
    mine = {c["name"] for c in qmp_stdio([VMM], [caps, {"execute": "query-commands"},
                                                 {"execute": "quit"}])[1]["return"]}
    lacking = sorted(qemu - mine)
    replies = qmp_stdio([VMM], [caps] + [{"execute": n} for n in lacking] + [{"execute": "quit"}])
    assert len(replies) == len(lacking) + 2, replies
    for name, r in zip(lacking, replies[1:]):
        desc = r.get("error", {}).get("desc", "")
        assert r["error"]["class"] == "CommandNotFound", (name, r)
        assert desc.startswith(f"The command {name} has not been found (not supported by vmm: "), \
            (name, r)
    assert len(mine) > 70 and len(lacking) < len(qemu)
