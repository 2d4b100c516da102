# SPDX-License-Identifier: GPL-2.0-or-later
"""Dirty logging of a memory region, seen from QMP's test hooks
(x-dirty-log, x-query-dirty-pages): SeaBIOS boots disk-10.img, a boot sector
that writes one byte to the page it is told over COM1 and writes nothing
else meanwhile; the bitmap must show exactly that page, before and after a
system reset (which replaces the KVM VM and so every memory slot)."""
import os
import socket
import subprocess
import time

import pytest

import fwskip

from conftest import BOOT_TIMEOUT, VMM, fw_image, seabios_log_args
from test_qmp import Qmp


class SerialGuest:
    """vmm with COM1 on a unix socket (vmm waits for us before it starts)."""

    def __init__(self, tmp_path, *args):
        if not os.path.exists("/dev/kvm"):
            fwskip.unavailable("/dev/kvm is missing")
        self.serial_path = str(tmp_path / "com1.sock")
        self.qmp_path = str(tmp_path / "qmp.sock")
        cmd = [VMM, "-m", "64", "-display", "none",
               "-serial", f"unix:{self.serial_path},server",
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
               *seabios_log_args(tmp_path / "debugcon.log"), "-hda", fw_image("disk-10.img"),
               *args]
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.com1 = self._connect(self.serial_path)
        self.out = b""

    def _connect(self, path, timeout=30):
        end = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return s
            except OSError:
                s.close()
                if time.monotonic() > end or self.p.poll() is not None:
                    pytest.fail(f"cannot connect to {path}: {self.p.stderr.read()}")
                time.sleep(0.05)

    def wait_for(self, needle, count, timeout=BOOT_TIMEOUT):
        """Reads COM1 until 'needle' has appeared 'count' times in all."""
        end = time.monotonic() + timeout
        while self.out.count(needle) < count:
            left = end - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {needle!r} x{count} on COM1 in {timeout}s: {self.out[-500:]!r}")
            self.com1.settimeout(left)
            try:
                data = self.com1.recv(4096)
            except TimeoutError:
                data = b""
                if self.out.count(needle) < count:
                    pytest.fail(f"no {needle!r} x{count} on COM1 in {timeout}s: "
                                f"{self.out[-500:]!r}")
            if not data and self.out.count(needle) < count:
                pytest.fail(f"COM1 closed: {self.out[-500:]!r}")
            self.out += data

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate()
        self.com1.close()


@pytest.fixture
def guest(tmp_path):
    g = SerialGuest(tmp_path)
    yield g
    g.kill()


def dirty(q, region="ram-below-4g"):
    r = q.ok("x-query-dirty-pages", {"region": region})
    assert r["page-size"] == 4096
    assert r["count"] == len(r["pages"]), r
    return r["pages"]


def paused_dirty(q, then_empty=False):
    """The dirty pages with every vCPU out of KVM_RUN: a CPU that logs
    writes in a buffer of its own (Intel PML) hands them to KVM's bitmap
    only when it exits, so a query while the guest runs may see a page
    written just before it only at the next query. With then_empty, a
    second query in the same pause must find nothing: returned is cleared."""
    q.ok("stop")
    pages = dirty(q)
    if then_empty:
        assert dirty(q) == []
    q.ok("cont")
    return pages


def one_round(g, q, readies, dones, page):
    """Once the guest has printed its 'readies'-th READY: clear the log,
    have it write 'page' (its 'dones'-th DONE), check, let it go on."""
    g.wait_for(b"VMM-DIRTY-READY\r\n", readies)
    paused_dirty(q)  # whatever SeaBIOS or the previous round left
    g.com1.sendall(bytes([0x30 + page]))
    g.wait_for(b"VMM-DIRTY-DONE\r\n", dones)
    assert paused_dirty(q, then_empty=True) == [0x100000 + page * 4096]
    g.com1.sendall(b"n")


def test_boot_sector_write_shows_exactly_its_page(guest, tmp_path):
    q = Qmp(guest.qmp_path).negotiate()
    r = q.cmd("x-query-dirty-pages", {"region": "ram-below-4g"})
    assert "Dirty logging is off" in r["error"]["desc"], r
    r = q.cmd("x-dirty-log", {"region": "no-such-region", "enable": True})
    assert r["error"]["desc"] == "No memory region 'no-such-region'", r
    r = q.cmd("x-dirty-log", {"region": "ram-below-4g"})
    assert "'enable' is missing" in r["error"]["desc"], r
    names = {c["name"] for c in q.ok("query-commands")}
    assert {"x-dirty-log", "x-query-dirty-pages"} <= names

    assert q.ok("x-dirty-log", {"region": "ram-below-4g", "enable": True}) == {}
    one_round(guest, q, 1, 1, 5)
    one_round(guest, q, 2, 2, 3)

    # A reset builds a new KVM VM: the slots and their logging come back.
    guest.wait_for(b"VMM-DIRTY-READY\r\n", 3)
    q.ok("system_reset")
    q.event("RESET")
    one_round(guest, q, 4, 3, 7)  # READY 3 was before the reset

    # Off: nothing is logged any more.
    assert q.ok("x-dirty-log", {"region": "ram-below-4g", "enable": False}) == {}
    r = q.cmd("x-query-dirty-pages", {"region": "ram-below-4g"})
    assert "Dirty logging is off" in r["error"]["desc"], r
    q.ok("quit")
    assert guest.p.wait(timeout=30) == 0
