# SPDX-License-Identifier: GPL-2.0-or-later
"""Network boot at firmware level: `-boot n` with a NIC's iPXE option ROM
and user networking's DHCP and TFTP (`-netdev user,tftp=DIR,bootfile=F`).

The chain: SeaBIOS runs the card's ROM (Debian's ipxe-qemu efi-*.rom),
boots its BEV because -boot n puts the network first, iPXE gets a lease
from libslirp naming pxeboot.0, fetches it over TFTP from DIR, loads it at
0:7C00 and jumps to it; pxeboot.0 (tests/fw/pxeboot.S) prints
VMM-PXE-NBP-OK on COM1 and exits through isa-debug-exit (status 33).

iPXE runs in 32-bit protected mode with interrupts on. The project's
software-nested /dev/kvm (kvm_pvm) cannot return from a protected-mode
interrupt: its instruction emulator stops at the IRET ("KVM internal
error"), or kvm-pvm fails to deliver the timer interrupt to iPXE's halted
vCPU and reports a triple fault, which vmm turns into a reset: the reset
loop seen with -boot n on every card. QEMU 10 on the same host stops at the
IRET of iPXE's interrupt wrapper (tests/fw/pmirq.S asks the host that
question in 100 bytes). So this layer checks the part every host runs:
the card's ROM is booted first, vmm and the sandbox stay up, no reset
loop once -no-reboot is given, slirp's TFTP server (tests/fw/tftpget.S
reads a file through the e1000 in real mode, under the sandbox), the NBP
itself, and the options. The whole chain, iPXE fetching a kernel and
initrd over TFTP with an iPXE script and booting them, is
tests/real/test_pxe.py, on every card with a ROM, in the nested L1 (or on
hardware virtualization). Under QEMU TCG every card's ROM chains
pxeboot.0 to its marker in about 5 s.

Before tftp=/bootfile= existed, vmm refused them ("tftp= is not
supported"): every test here that boots from the network failed."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import VMM, fw_image, seabios_log_args

MARKER = "VMM-PXE-NBP-OK"
PMIRQ_MARKER = "VMM-PMIRQ-OK"
# The PCI cards that carry an iPXE ROM by default (virtio-net has none yet).
CARDS = ["e1000", "e1000-82544gc", "e1000-82545em", "rtl8139", "ne2k_pci", "pcnet"]
# A real host boots the NBP within seconds of SeaBIOS; here POST alone
# takes 5-10 s and iPXE's start is slow.
TIMEOUT = 150


class Boot:
    def __init__(self, status, serial, debuglog, stderr, seconds):
        self.status, self.serial, self.debuglog = status, serial, debuglog
        self.stderr, self.seconds = stderr, seconds


def run_vmm(tmp_path, args, stop_when=None, timeout=TIMEOUT):
    """vmm with COM1 and SeaBIOS's log in files; ends when vmm exits, when
    stop_when(serial, debuglog) is true (vmm is then terminated), or at
    the timeout (a failure)."""
    serial = tmp_path / "com1.log"
    log = tmp_path / "debugcon.log"
    for f in (serial, log):
        if f.exists():
            f.unlink()
    cmd = [VMM, "-display", "none", "-serial", f"file:{serial}", *seabios_log_args(log),
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *args]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)

    def read(f):
        return f.read_text(errors="replace") if f.exists() else ""

    try:
        while p.poll() is None:
            if time.monotonic() - start > timeout:
                pytest.fail(f"vmm ran past {timeout}s\nserial:\n{read(serial)}\n"
                            f"debugcon:\n{read(log)[-3000:]}")
            if stop_when and stop_when(read(serial), read(log)):
                break
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.terminate()
        _, err = p.communicate(timeout=30)
    return Boot(p.returncode, read(serial), read(log), err.decode(errors="replace"),
                time.monotonic() - start)


def test_protected_mode_interrupt_probe(tmp_path):
    """tests/fw/pmirq.S takes a timer interrupt in 32-bit protected mode
    and returns from it, as iPXE does all the time. It must pass, or stop
    at the one known limit of this project's software-nested KVM: the
    emulator giving up at the IRET (opcode cf). vmm must not reset, hang
    or crash either way."""
    r = run_vmm(tmp_path, ["-nodefaults", "-m", "32", "-no-reboot",
                           "-drive", f"file={fw_image('pmirq.img')},format=raw,if=ide,snapshot=on"],
                timeout=90)
    if PMIRQ_MARKER in r.debuglog:
        assert r.status == 33, r.stderr
        return
    why = r.stderr.strip().splitlines()[:1]
    assert any("emulation failure; instruction cf" in w for w in why), (
        f"status {r.status}, stderr {r.stderr}, debugcon {r.debuglog[-500:]}")


def tftp_dir(tmp_path):
    d = tmp_path / "tftp"
    d.mkdir()
    shutil.copy(fw_image("pxeboot.0"), d / "pxeboot.0")
    return d


def test_nbp_runs_as_a_boot_sector(tmp_path):
    """The NBP itself, from a disk: what the network tests wait for."""
    disk = tmp_path / "nbp.img"
    shutil.copy(fw_image("pxeboot.0"), disk)
    os.truncate(disk, 1 << 20)
    r = run_vmm(tmp_path, ["-nodefaults", "-m", "32",
                           "-drive", f"file={disk},format=raw,if=ide"])
    assert MARKER in r.serial, r.stderr + r.debuglog[-2000:]
    assert r.status == 33


@pytest.mark.parametrize("present", [True, False])
def test_tftp_read_through_the_e1000_under_the_sandbox(tmp_path, present):
    """tests/fw/tftpget.S reads tftp.txt from slirp's TFTP server by
    itself (no SeaBIOS, no iPXE, so this host runs it): the file's first
    line comes back, or a TFTP error for a missing file. slirp opens and
    reads the file on the NIC's I/O thread, under its seccomp filter."""
    d = tmp_path / "tftp"
    d.mkdir()
    if present:
        (d / "tftp.txt").write_text("VMM-TFTP-OK from slirp\nnot this line\n")
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", "-m", "32",
                        "-bios", fw_image("tftpget.bin"), "-serial", "stdio",
                        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-netdev", f"user,id=n0,tftp={d}",
                        "-device", "e1000,netdev=n0,addr=05,romfile="],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert "forbidden system call" not in p.stderr, p.stderr
    expected = "VMM-TFTP-OK from slirp\n" if present else "TFTP-ERROR\n"
    assert p.stdout == expected, p.stdout + p.stderr
    assert p.returncode == 33, p.stderr


def boot_n(tmp_path, card, stop_when=None):
    """-boot n with the card on user networking serving pxeboot.0, and a
    bootable disk too: -boot n must still take the network first."""
    d = tftp_dir(tmp_path)
    disk = tmp_path / "disk.img"
    shutil.copy(fw_image("disk-0.img"), disk)
    r = run_vmm(tmp_path, ["-nodefaults", "-m", "128", "-no-reboot", "-boot", "n",
                           "-drive", f"file={disk},format=raw,if=ide,snapshot=on",
                           "-netdev", f"user,id=n0,tftp={d},bootfile=pxeboot.0",
                           "-device", f"{card},netdev=n0"],
                stop_when=stop_when)
    assert "not supported" not in r.stderr, r.stderr
    assert "forbidden system call" not in r.stderr, r.stderr
    return r


def rom_entered(serial, log):
    return "Booting from ROM" in log and "Booting from c" in log


@pytest.mark.parametrize("card", CARDS)
def test_boot_n_boots_the_card_rom_first(tmp_path, card):
    """SeaBIOS runs the card's iPXE ROM at POST and boots its BEV (in the
    option ROM area, c000-) before the disk. The e1000 variants carry the
    82540EM's ROM: without its PCI IDs set to theirs SeaBIOS skipped it."""
    r = boot_n(tmp_path, card, stop_when=rom_entered)
    assert "Running option rom at c" in r.debuglog, r.stderr + r.debuglog[-3000:]
    assert rom_entered(r.serial, r.debuglog), r.stderr + r.debuglog[-3000:]
    assert "Booting from Hard Disk" not in r.debuglog


def test_boot_n_without_a_rom_boots_the_disk(tmp_path):
    """romfile= (no ROM): nothing to boot from the network, SeaBIOS goes on
    to the disk, whose boot sector (bootsect.S) exits with 33."""
    disk = tmp_path / "disk.img"
    shutil.copy(fw_image("disk-0.img"), disk)
    r = run_vmm(tmp_path, ["-nodefaults", "-m", "32", "-boot", "n",
                           "-drive", f"file={disk},format=raw,if=ide,snapshot=on",
                           "-netdev", f"user,id=n0,tftp={tmp_path}",
                           "-device", "e1000,netdev=n0,romfile="])
    assert "Booting from ROM" not in r.debuglog
    assert "Booting from Hard Disk" in r.debuglog, r.stderr + r.debuglog[-2000:]
    assert r.status == 33, r.stderr


@pytest.mark.parametrize("opt,why", [
    ("tftp=/nonexistent/vmm-tftp", "No such file or directory"),
    ("tftp=/dev/null", "not a directory"),
    ("bootfile=" + "b" * 128, "1 to 127 characters"),
])
def test_bad_network_boot_options(opt, why):
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", "-netdev", f"user,id=n0,{opt}"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0], p.stderr
