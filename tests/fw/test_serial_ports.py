# SPDX-License-Identifier: GPL-2.0-or-later
"""COM1-COM4 as QEMU has them: -serial up to four times (index N is COM N+1
at QEMU's isa-serial defaults: 0x3f8/IRQ 4, 0x2f8/3, 0x3e8/4, 0x2e8/3),
-serial none leaving an index out, and -device isa-serial,chardev=ID with
index=/iobase=/irq=. SeaBIOS probes the four ports and fills the BIOS data
area's table at 0x400; the boot sector (tests/fw/bootsect.S, method 12)
prints that table on COM1, writes a line out of the second port it lists,
and has COM1 and the third port share IRQ 4. The conftest's vmm fixture
gives -serial stdio first: COM1 is the console here, the ports the tests
add come after it."""
import socket
import subprocess
import threading

from conftest import VMM, fw_image

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S


def run(*args, timeout=30):
    return subprocess.run([VMM, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def test_serial_given_twice_is_com2_seabios_lists_it(vmm, tmp_path):
    # Before: "-serial: only one serial port (COM1) is supported".
    com2 = tmp_path / "com2.log"
    r = vmm("-m", "64", "-hda", fw_image("disk-12.img"), "-serial", f"file:{com2}",
            "-serial", "null")
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert "VMM-BDA-COM 03F8 02F8 03E8 0000\r\n" in r.serial, r.serial
    assert com2.read_bytes() == b"VMM-COM2-OK\r\n"
    # COM1 and COM3 on IRQ 4: both ask, COM1 stops, the line stays up
    # until COM3 stops too (each UART its own input of the ISA router).
    assert "VMM-SHARE 10 10 00\r\n" in r.serial, r.serial
    # COM1 is still the console, exactly as before.
    assert "VMM-BOOT-OK drive=80\r\n" in r.serial, r.serial


def test_serial_none_leaves_its_index_out(vmm, tmp_path):
    # -serial stdio (the fixture's), none, file: COM1 and COM3 only.
    # SeaBIOS packs the ports it finds into the table, so COM3 is the
    # second entry and gets the line.
    com3 = tmp_path / "com3.log"
    r = vmm("-m", "64", "-hda", fw_image("disk-12.img"), "-serial", "none",
            "-serial", f"file:{com3}")
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert "VMM-BDA-COM 03F8 03E8 0000 0000\r\n" in r.serial, r.serial
    assert com3.read_bytes() == b"VMM-COM2-OK\r\n"


def test_device_isa_serial_on_a_socket_chardev(vmm, tmp_path):
    # COM2 from -device (the first free index, 1: 0x2f8, IRQ 3) on a unix
    # socket the host listens on; COM3 by index=2 with no chardev (output
    # dropped), still found by SeaBIOS and still sharing IRQ 4; COM4 moved
    # to a port of its own by iobase=, which SeaBIOS does not probe.
    path = str(tmp_path / "com2.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(150)
    got = bytearray()

    def collect():
        conn, _ = srv.accept()
        with conn:
            while True:
                b = conn.recv(4096)
                if not b:
                    break
                got.extend(b)

    t = threading.Thread(target=collect)
    t.start()
    try:
        r = vmm("-m", "64", "-hda", fw_image("disk-12.img"),
                "-chardev", f"socket,id=c2,path={path}",
                "-device", "isa-serial,chardev=c2",
                "-device", "isa-serial,index=2",
                "-device", "isa-serial,index=3,iobase=0x2e0,irq=5")
    finally:
        t.join(timeout=30)
        srv.close()
    assert r.status == EXIT_OK, (r.status, r.stderr)
    assert "VMM-BDA-COM 03F8 02F8 03E8 0000\r\n" in r.serial, r.serial
    assert "VMM-SHARE 10 10 00\r\n" in r.serial, r.serial
    assert bytes(got) == b"VMM-COM2-OK\r\n", bytes(got)


def test_isa_serial_help_lists_its_properties():
    p = run("-device", "isa-serial,help")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "isa-serial options:"
    props = [l.split("=")[0].strip() for l in lines[1:]]
    assert props == ["chardev", "index", "iobase", "irq"], props
    assert "isa-serial" in run("-device", "help").stdout
    assert "up to 4 times for COM1-COM4" in run("-help").stdout


def test_taken_index_or_port_is_one_line_before_start(tmp_path):
    com1 = tmp_path / "com1.log"
    cases = [
        (["-chardev", "null,id=a", "-device", "isa-serial,chardev=a,index=0"],
         "vmm: -device isa-serial: index 0 (COM1) is already taken by -serial"),
        (["-device", "isa-serial,index=1", "-device", "isa-serial,index=1"],
         "vmm: -device isa-serial: index 1 (COM2) is already taken by another isa-serial"),
        (["-serial", "null", "-device", "isa-serial,iobase=0x2fc"],
         "vmm: -device isa-serial: ports 0x2fc-0x303 overlap COM2's (0x2f8-0x2ff)"),
        (["-device", "isa-serial,index=4"],
         "vmm: -device isa-serial: index must be 0 to 3 (got 4)"),
        (["-device", "isa-serial,iobase=0x60"],
         "vmm: -device isa-serial: ports 0x60-0x67 are taken by another device"),
        (["-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null"],
         "vmm: -serial: at most 4 serial ports (COM1-COM4) are supported"),
        (["-device", "isa-serial", "-device", "isa-serial", "-device", "isa-serial",
          "-device", "isa-serial"],
         "vmm: -device isa-serial: at most 4 serial ports (COM1-COM4), -serial's included "
         "(-serial none leaves COM1 out)"),
        (["-chardev", "null,id=a", "-serial", "chardev:a", "-serial", "chardev:a"],
         "vmm: -serial chardev:a: chardev 'a' is already used by -serial"),
        (["-serial", "stdio", "-serial", "stdio"],
         "vmm: stdio is used by more than one -serial/-chardev/-qmp/-monitor"),
    ]
    for args, msg in cases:
        p = run("-serial", f"file:{com1}", *args)
        assert (p.returncode, p.stderr, p.stdout) == (1, msg + "\n", ""), args
        # iobase=0x60 is found when the devices are made, after the
        # chardevs: COM1's file exists then, but no guest ran.
        if "0x60" not in msg:
            assert not com1.exists(), args
        com1.unlink(missing_ok=True)
