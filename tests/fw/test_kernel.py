# SPDX-License-Identifier: GPL-2.0-or-later
"""-kernel/-initrd/-append: a tiny bzImage of ours (tinylinux.S) and a
Multiboot ELF of ours (multiboot.S) boot through SeaBIOS and vmm's option
ROM, and check from inside the guest what the loader handed them. Bad
kernels are refused before the VM starts."""
import os
import re
import subprocess

import pytest

import fwskip

from conftest import VMM, fw_image

LINUX_OK = (0x21 << 1) | 1
MULTIBOOT_OK = (0x22 << 1) | 1
DISK_OK = (0x10 << 1) | 1       # what the boot sector on disk-0.img exits with
MIB = 1 << 20


def sum16(data):
    return sum(data) & 0xFFFF


def pattern(n, seed):
    return bytes((i * seed + (i >> 8)) & 0xFF for i in range(n))


def tinylinux_fields(serial):
    m = re.search(r"TINYLINUX loader=(\w+) flags=(\w+) heap=(\w+) seg=(\w+) cmdptr=(\w+)", serial)
    k = re.search(r"TINYLINUX kernel=(\S+) rd=(\w+)\+(\w+) sum=(\w+)", serial)
    c = re.search(r"TINYLINUX cmdline=\[(.*)\]", serial)
    assert m and k and c, serial
    return {
        "loader": int(m.group(1), 16), "flags": int(m.group(2), 16),
        "heap": int(m.group(3), 16), "seg": int(m.group(4), 16), "cmdptr": int(m.group(5), 16),
        "kernel": k.group(1), "rd_image": int(k.group(2), 16), "rd_size": int(k.group(3), 16),
        "rd_sum": int(k.group(4), 16), "cmdline": c.group(1),
    }


@pytest.fixture(params=["dma", "pio"])
def transfer(request, monkeypatch):
    """The ROM copies with fw_cfg DMA, or (VMM_FW_CFG_DMA=0: vmm offers
    only the traditional interface) through the data port and int 15h."""
    if request.param == "pio":
        monkeypatch.setenv("VMM_FW_CFG_DMA", "0")
    return request.param


def check_transfer(r, transfer):
    dma_line = "QEMU fw_cfg DMA interface supported"
    assert (dma_line in r.debuglog) == (transfer == "dma"), r.debuglog[:3000]


def test_linux_boot_protocol(vmm, tmp_path, transfer):
    initrd = tmp_path / "initrd.img"
    data = pattern(300 * 1024 + 123, 7)
    initrd.write_bytes(data)
    append = "console=ttyS0 vmm.token=tiny-42 quiet"
    # A bootable disk too: the kernel must still boot first.
    r = vmm("-m", "64", "-hda", fw_image("disk-0.img"), "-kernel", fw_image("tinylinux.bin"),
            "-initrd", str(initrd), "-append", append)
    print("tinylinux boot (%s): %.2f s" % (transfer, r.seconds))
    assert r.status == LINUX_OK, (r.status, r.stderr, r.serial, r.debuglog[-1500:])
    check_transfer(r, transfer)
    f = tinylinux_fields(r.serial)
    assert f["loader"] == 0xFF
    assert f["flags"] == 0x81            # LOADED_HIGH | CAN_USE_HEAP
    assert f["heap"] == 0xDE00
    assert f["seg"] == 0x1000
    assert f["cmdptr"] == 0x1E000
    assert f["cmdline"] == append
    assert f["kernel"] == "TINYKERN"      # the protected-mode part is at 1 MiB
    assert f["rd_size"] == len(data)
    assert f["rd_image"] % 4096 == 0
    assert f["rd_image"] >= MIB + 4096
    # as high as possible, below the top MiB SeaBIOS keeps its tables in
    assert 63 * MIB - 4096 - len(data) <= f["rd_image"] <= 63 * MIB - len(data)
    assert f["rd_sum"] == sum16(data[:512])
    assert "VMM-BOOT-OK" not in r.serial


def test_linux_without_initrd_or_append(vmm):
    r = vmm("-m", "32", "-kernel", fw_image("tinylinux.bin"))
    assert r.status == LINUX_OK, (r.status, r.stderr, r.serial)
    f = tinylinux_fields(r.serial)
    assert f["rd_image"] == 0 and f["rd_size"] == 0
    assert f["cmdline"] == ""


def multiboot_fields(serial):
    lines = [ln.strip() for ln in serial.replace("\r", "").split("\n") if ln.startswith("MB ")]
    out = {"mmap": [], "mods": []}
    for ln in lines:
        if ln.startswith("MB magic="):
            m = re.match(r"MB magic=(\w+) flags=(\w+) bss=(\w+)", ln)
            out.update(magic=int(m.group(1), 16), flags=int(m.group(2), 16), bss=m.group(3))
        elif ln.startswith("MB mem "):
            m = re.match(r"MB mem lower=(\w+) upper=(\w+)", ln)
            out.update(lower=int(m.group(1), 16), upper=int(m.group(2), 16))
        elif ln.startswith("MB mmap "):
            b, n, t = ln.split()[2:5]
            out["mmap"].append((int(b, 16), int(n, 16), int(t, 16)))
        elif ln.startswith("MB cmdline="):
            out["cmdline"] = ln[len("MB cmdline=["):-1]
        elif ln.startswith("MB loader="):
            out["loader"] = ln[len("MB loader=["):-1]
        elif ln.startswith("MB mod "):
            m = re.match(r"MB mod (\w+) (\w+) (\w+) \[(.*)\]", ln)
            out["mods"].append((int(m.group(1), 16), int(m.group(2), 16),
                                int(m.group(3), 16), m.group(4)))
    return out


def test_multiboot_info(vmm, tmp_path, transfer):
    m1, m2 = tmp_path / "mod1.bin", tmp_path / "mod2.bin"
    d1, d2 = pattern(5000, 3), pattern(70000, 11)
    m1.write_bytes(d1)
    m2.write_bytes(d2)
    kernel = fw_image("multiboot.elf")
    r = vmm("-m", "64", "-kernel", kernel, "-append", "mb.token=77 root=none",
            "-initrd", "%s first module,%s second,,with comma" % (m1, m2))
    print("multiboot boot (%s): %.2f s" % (transfer, r.seconds))
    assert r.status == MULTIBOOT_OK, (r.status, r.stderr, r.serial, r.debuglog[-1500:])
    check_transfer(r, transfer)
    f = multiboot_fields(r.serial)
    assert f["magic"] == 0x2BADB002
    # mem, cmdline, mods, mmap, boot loader name
    assert f["flags"] == (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9), hex(f["flags"])
    assert f["bss"] == "ok"
    assert 600 <= f["lower"] <= 640
    assert 60 * 1024 <= f["upper"] <= 63 * 1024
    ram = [(b, n) for b, n, t in f["mmap"] if t == 1]
    assert ram[0][0] == 0 and 600 * 1024 <= ram[0][1] <= 640 * 1024, f["mmap"]
    assert (MIB, f["upper"] * 1024) in ram, f["mmap"]
    assert f["cmdline"] == kernel + " mb.token=77 root=none"
    assert f["loader"] == "vmm"
    assert len(f["mods"]) == 2, r.serial
    (s1, e1, sum1, str1), (s2, e2, sum2, str2) = f["mods"]
    assert str1 == "%s first module" % m1
    assert str2 == "%s second,with comma" % m2
    assert (e1 - s1, sum1) == (len(d1), sum16(d1))
    assert (e2 - s2, sum2) == (len(d2), sum16(d2))
    assert s1 % 4096 == 0 and s2 % 4096 == 0 and s1 >= MIB and e1 <= s2
    assert e2 <= 63 * MIB


def run(*args, timeout=30):
    return subprocess.run([VMM, "-display", "none", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def refused(p, *needles):
    assert p.returncode == 1, (p.returncode, p.stderr, p.stdout)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert p.stdout == ""


def require_kvm():
    if not os.path.exists("/dev/kvm"):
        why = "/dev/kvm is missing (vmm opens it before loading the kernel)"
        fwskip.unavailable(why)


def test_missing_kernel(tmp_path):
    require_kvm()
    path = str(tmp_path / "nope")
    refused(run("-kernel", path), "vmm: could not load kernel '%s': " % path, "No such file")


def test_garbage_kernel(tmp_path):
    require_kvm()
    path = tmp_path / "garbage"
    path.write_bytes(pattern(20000, 5))
    refused(run("-kernel", str(path)), "could not load kernel '%s'" % path,
            "not a Linux bzImage, PVH ELF or Multiboot kernel")


def test_old_boot_protocol(tmp_path):
    require_kvm()
    data = bytearray(open(fw_image("tinylinux.bin"), "rb").read())
    data[0x206:0x208] = (0x0204).to_bytes(2, "little")
    path = tmp_path / "old"
    path.write_bytes(data)
    refused(run("-kernel", str(path)), "boot protocol 2.04 is too old (need 2.06 or later)")


def test_truncated_bzimage(tmp_path):
    require_kvm()
    data = open(fw_image("tinylinux.bin"), "rb").read()
    path = tmp_path / "short"
    path.write_bytes(data[:len(data) - 1024])
    refused(run("-kernel", str(path)), "truncated")


def test_missing_initrd(tmp_path):
    require_kvm()
    refused(run("-kernel", fw_image("tinylinux.bin"), "-initrd", str(tmp_path / "none")),
            "initrd '%s'" % (tmp_path / "none"))


def test_missing_module(tmp_path):
    require_kvm()
    refused(run("-kernel", fw_image("multiboot.elf"), "-initrd", str(tmp_path / "m") + " x"),
            "module '%s'" % (tmp_path / "m"))


def test_initrd_too_big_for_ram(tmp_path):
    require_kvm()
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(31 * MIB)
    refused(run("-m", "32", "-kernel", fw_image("tinylinux.bin"), "-initrd", str(big)),
            "does not fit in guest RAM")


@pytest.mark.parametrize("args,needle", [
    (["-initrd", "x"], "-initrd only allowed with -kernel option"),
    (["-append", "x"], "-append only allowed with -kernel option"),
])
def test_needs_kernel(args, needle):
    p = run(*args)
    refused(p, "vmm: " + needle)


def guest_kit_file(name):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    kit = os.environ.get("VMM_GUEST_CACHE", os.path.join(root, "build", "guests"))
    path = os.path.join(kit, name)
    if not os.path.exists(path):
        why = "%s missing (run `make guests` or set VMM_GUEST_CACHE)" % path
        fwskip.unavailable(why)
    return path


def read_until(argv, done, limit, stderr=False, env=None):
    """Runs vmm until done(output so far) or limit seconds pass (its
    stdout, the serial console, or its stderr); returns the output and the
    seconds it took."""
    import select
    import time
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env,
                         stdout=subprocess.DEVNULL if stderr else subprocess.PIPE,
                         stderr=subprocess.PIPE if stderr else None)
    stream = p.stderr if stderr else p.stdout
    out = b""
    try:
        while not done(out) and time.monotonic() - start < limit:
            ready, _, _ = select.select([stream], [], [], 0.5)
            if ready:
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        p.kill()
        p.wait()
    return out.decode(errors="replace"), time.monotonic() - start


def read_serial_until(argv, needle, limit):
    """read_until for a needle on the serial console."""
    return read_until(argv, lambda out: needle in out, limit)


def test_debian_kernel_setup_runs(transfer):
    """A stock Debian bzImage (8 MB) and the kit initrd load through the
    firmware (-machine kernel-boot=firmware; vmm's default enters this
    kernel without it), and the kernel's own real-mode setup code runs and
    uses the BIOS (EDD probe).
    The kernel proper is far too slow to finish on this /dev/kvm; the
    real-guest layer boots it to userspace."""
    require_kvm()
    kernel, initrd = guest_kit_file("vmlinuz-amd64"), guest_kit_file("initrd-amd64.xz")
    out, took = read_serial_until([VMM, "-m", "256", "-display", "none", "-serial", "stdio",
                                   "-machine", "kernel-boot=firmware",
                                   "-kernel", kernel, "-initrd", initrd,
                                   "-append", "console=ttyS0 earlyprintk=ttyS0"],
                                  b"Probing EDD", 120)
    print("Debian kernel setup code running (%s) after %.2f s" % (transfer, took))
    assert "Probing EDD" in out, out[-2000:]


def test_pvh_kernel_entered_without_firmware():
    """The kit's vmlinux (the Debian kernel uncompressed, a PVH ELF) is
    entered at its PVH entry with vmm's start info: the kernel proper runs
    at once (no decompressor), and its first messages show what vmm gave
    it: the command line, the memory map with the ACPI tables' range, the
    initrd (module 0), vmm's SMBIOS and ACPI tables (RSDP from the start
    info) with the MADT. The real-guest layer boots it to userspace."""
    require_kvm()
    vmlinux, initrd = guest_kit_file("vmlinux-amd64"), guest_kit_file("initrd-amd64.xz")
    append = "console=ttyS0 earlyprintk=ttyS0 vmm.token=pvh-4711"
    out, took = read_serial_until([VMM, "-m", "256", "-display", "none", "-serial", "stdio",
                                   "-kernel", vmlinux, "-initrd", initrd, "-append", append],
                                  b"ACPI: Reserving APIC table memory", 180)
    print("PVH kernel's MADT line after %.1f s" % took)
    assert "Command line: " + append in out, out[-3000:]
    assert "BIOS-e820: [mem 0x0000000000100000-0x000000000ffdffff] usable" in out, out[-3000:]
    assert "BIOS-e820: [mem 0x000000000ffe0000-0x000000000fffffff] ACPI data" in out, out[-3000:]
    # the initrd ends where vmm put it: at the top of RAM below the last MiB
    assert re.search(r"RAMDISK: \[mem 0x[0-9a-f]+-0x0*fefffff\]", out), out[-3000:]
    assert "DMI: vmm Standard PC" in out, out[-3000:]
    assert re.search(r"ACPI: RSDP 0x000000000FFE0[0-9A-F]{3} 000024 \(v02 VMM", out), out[-3000:]
    assert re.search(r"ACPI: APIC 0x[0-9A-F]+ [0-9A-F]+ \(v05 VMM", out), out[-3000:]


def test_pvh_kernel_entered_again_after_a_reset(tmp_path):
    """A reset enters the PVH kernel again from a clean image: vmm keeps no
    copy of the vmlinux but reads its segments from the file into guest
    RAM again, over whatever the kernel wrote there (its data, its bss)."""
    from test_qmp import Qmp
    require_kvm()
    vmlinux, initrd = guest_kit_file("vmlinux-amd64"), guest_kit_file("initrd-amd64.xz")
    append = "console=ttyS0 earlyprintk=ttyS0 vmm.token=pvh-reset"
    qmp = str(tmp_path / "qmp.sock")
    madt = b"ACPI: Reserving APIC table memory"
    resets = []

    def second_boot_seen(out):
        if out.count(madt) == 1 and not resets:
            resets.append(Qmp(qmp).negotiate().ok("system_reset"))
        return out.count(madt) >= 2
    out, took = read_until([VMM, "-m", "256", "-display", "none", "-serial", "stdio",
                            "-qmp", f"unix:{qmp},server=on,wait=off",
                            "-kernel", vmlinux, "-initrd", initrd, "-append", append],
                           second_boot_seen, 360)
    print("PVH kernel's MADT line twice after %.1f s" % took)
    assert resets == [{}], out[-3000:]
    assert out.count("Command line: " + append) == 2, out[-3000:]
    assert out.count(madt.decode()) == 2, out[-3000:]


def test_pvh_kernel_changed_before_a_reset_stops_vmm(tmp_path):
    """vmm keeps the vmlinux open, not a copy: a file rewritten since its
    headers were read (here only its modification time moves) would give
    the reset a kernel mixed from two builds, so the reset stops vmm with
    one line instead."""
    import shutil
    import time
    from test_qmp import Qmp
    require_kvm()
    vmlinux = tmp_path / "vmlinux"
    shutil.copyfile(guest_kit_file("vmlinux-amd64"), vmlinux)
    qmp = str(tmp_path / "qmp.sock")
    p = subprocess.Popen([VMM, "-m", "256", "-display", "none", "-serial", "stdio",
                          "-qmp", f"unix:{qmp},server=on,wait=off", "-kernel", str(vmlinux),
                          "-append", "console=ttyS0 earlyprintk=ttyS0"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, end = b"", time.monotonic() + 180
        while b"Command line:" not in out and time.monotonic() < end:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
        assert b"Command line:" in out, out[-2000:]
        os.utime(vmlinux, (time.time(), time.time() + 60))
        q = Qmp(qmp).negotiate()
        try:
            q.ok("system_reset")
        except (EOFError, ConnectionResetError):
            pass  # vmm may stop before its answer goes out
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 1, err
    lines = err.decode().strip().split("\n")
    assert lines[-1] == f"vmm: -kernel '{vmlinux}' changed since vmm started; restart vmm " \
        "to boot it", err


@pytest.mark.parametrize("kit_name,args,needles", [
    # a PVH ELF has no firmware path in vmm
    ("vmlinux-amd64", ["-machine", "kernel-boot=firmware"],
     ["-machine kernel-boot=firmware:", "is a PVH ELF kernel"]),
    # the 686 kernel has no 64-bit entry
    ("vmlinuz-686", ["-machine", "kernel-boot=direct"],
     ["-machine kernel-boot=direct: the kernel has no 64-bit entry point"]),
    # what needs the BIOS, named
    ("vmlinuz-amd64", ["-machine", "kernel-boot=direct", "-append", "vga=0x317"],
     ["-machine kernel-boot=direct: vga= in -append sets a mode through the VGA BIOS"]),
    ("vmlinuz-amd64", ["-machine", "kernel-boot=direct", "-boot", "menu=on"],
     ["-machine kernel-boot=direct: -boot menu=on is the BIOS's menu"]),
    ("vmlinux-amd64", ["-no-acpi"],
     ["a PVH ELF kernel is entered without firmware, but -no-acpi"]),
])
def test_direct_boot_refusals(kit_name, args, needles):
    require_kvm()
    refused(run("-m", "256", "-kernel", guest_kit_file(kit_name), *args), *needles)


def test_direct_boot_refuses_an_old_protocol():
    """Our tinylinux.bin speaks boot protocol 2.06: no 64-bit entry."""
    require_kvm()
    refused(run("-m", "64", "-machine", "kernel-boot=direct", "-kernel",
                fw_image("tinylinux.bin")),
            "-machine kernel-boot=direct: boot protocol 2.06 is older than 2.14")


def test_kernel_boot_value_checked():
    refused(run("-machine", "kernel-boot=bios"),
            "-machine kernel-boot=bios: expected auto, firmware or direct")


def kernel_line(err):
    """The first complete stderr line about -kernel, or None."""
    lines = [ln for ln in err.splitlines(True) if "-kernel " in ln and ln.endswith("\n")]
    return lines[0].strip() if lines else None


def boot_path_chosen(args, seconds=10):
    """vmm's debug line saying how -kernel starts (VMM_DEBUG=1, -S: no vCPU
    runs), or what vmm printed when none came."""
    err, _ = read_until([VMM, "-S", "-display", "none", "-serial", "none", *args],
                        lambda out: kernel_line(out.decode(errors="replace")), seconds,
                        stderr=True, env=dict(os.environ, VMM_DEBUG="1"))
    return kernel_line(err) or err


@pytest.mark.parametrize("kit_name,args,want", [
    ("vmlinuz-amd64", [], "-kernel is entered without firmware, at its 64-bit entry"),
    ("vmlinux-amd64", [], "-kernel is entered without firmware, at its 32-bit PVH entry"),
    ("vmlinuz-686", [], "-kernel boots through the firmware: the kernel has no 64-bit entry"),
    ("vmlinuz-amd64", ["-append", "quiet vga=ask"],
     "-kernel boots through the firmware: vga= in -append"),
    ("vmlinuz-amd64", ["-append", "acpi=off quiet"],
     "-kernel boots through the firmware: acpi=off in -append"),
    ("vmlinuz-amd64", ["-append", "pci=noacpi"],
     "-kernel boots through the firmware: pci=noacpi in -append"),
    ("vmlinuz-amd64", ["-boot", "menu=on"],
     "-kernel boots through the firmware: -boot menu=on"),
    ("vmlinuz-amd64", ["-no-acpi"], "-kernel boots through the firmware: -no-acpi"),
    ("vmlinuz-amd64", ["-vnc", "unix:%(tmp)s/vnc.sock"],
     "-kernel boots through the firmware: a display shows the VGA card"),
    ("vmlinuz-amd64", ["-vnc", "unix:%(tmp)s/vnc.sock", "-vga", "none"],
     "-kernel is entered without firmware, at its 64-bit entry"),
    ("vmlinuz-amd64", ["-machine", "kernel-boot=firmware"], None),
])
def test_auto_boot_path(kit_name, args, want, tmp_path):
    """-machine kernel-boot=auto (the default) takes the firmware exactly
    when something needs the BIOS, and says why with VMM_DEBUG=1."""
    require_kvm()
    args = [a % {"tmp": tmp_path} for a in args]
    line = boot_path_chosen(["-m", "256", "-kernel", guest_kit_file(kit_name), *args],
                            seconds=10 if want else 3)
    if want is None:  # firmware asked for: no decision to report
        assert "without firmware" not in line and "through the firmware" not in line, line
    else:
        assert want in line, line
