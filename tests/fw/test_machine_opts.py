# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's machine options (issue 19): -rtc, -uuid, -no-acpi, -no-hpet, -msg,
-no-user-config, -boot once/strict/reboot-timeout/splash-time, a NIC given
without netdev=, and the refusal of QEMU names vmm does not implement. Each
option's parsing and error lines, then what the guest sees: the RTC as a
boot sector reads it (disk-14.img), the UUID in the SMBIOS tables (SeaBIOS
prints the type 1 UUID it finds there), the ACPI tables SeaBIOS builds or
not, the boot order of the first boot and of the next."""
import datetime
import os
import re

import pytest

from conftest import fw_image
from test_cli import one_line_error, run
from test_qmp import Qmp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A trailing invalid option: vmm must stop at the first bad option, and a
# build that accepts the one under test stops here instead (never starts a VM).
SENTINEL = ["-frobnicate-sentinel"]


@pytest.mark.parametrize("args,needle", [
    (["-rtc", "base=2006-13-01"], "-rtc base=2006-13-01: invalid datetime format"),
    (["-rtc", "base=2006-02-30"], "-rtc base=2006-02-30: invalid datetime format"),
    (["-rtc", "base=2006-06-17T24:00:00"], "invalid datetime format"),
    (["-rtc", "base=2006-06-17T16:01"], "invalid datetime format"),
    (["-rtc", "base=17.06.2006"], "'2006-06-17T16:01:21' or '2006-06-17'"),
    (["-rtc", "base=tomorrow"], "invalid datetime format"),
    (["-rtc", "clock=wall"], "-rtc clock=wall: expected host, rt or vm"),
    (["-rtc", "driftfix=fast"], "-rtc driftfix=fast: expected none or slew"),
    (["-rtc", "base=utc,color=red"], "-rtc: unknown parameter 'color'"),
    (["-uuid", "12345678-1234-1234-1234-12345678"], "-uuid 12345678-1234-1234-1234-12345678: "
     "invalid UUID"),
    (["-uuid", "12345678-1234-1234-1234-123456789abg"], "invalid UUID"),
    (["-uuid", "123456781234-1234-1234-123456789abcd"], "invalid UUID"),
    (["-uuid", "12345678-1234-1234-1234-123456789abcde"], "invalid UUID"),
    (["-msg", "timestamp=maybe"], "-msg: timestamp: expected 'on' or 'off'"),
    (["-msg", "colour=on"], "-msg: unknown parameter 'colour'"),
    (["-boot", "strict=maybe"], "-boot: strict: expected 'on' or 'off'"),
    (["-boot", "reboot-timeout=70000"], "reboot-timeout=70000: expected milliseconds from -1"),
    (["-boot", "reboot-timeout=-5"], "reboot-timeout=-5: expected milliseconds"),
    (["-boot", "splash-time=-1"], "splash-time=-1: expected milliseconds from 0 to 65535"),
    (["-boot", "once="], "invalid boot order ''"),
    (["-boot", "splash=logo.jpg"], "-boot splash=: not supported by vmm"),
])
def test_bad_values_are_one_line(args, needle):
    one_line_error(run(*args, *SENTINEL), needle)


@pytest.mark.parametrize("args,needle", [
    (["-numa", "node"], "vmm: -numa: not supported by vmm"),
    (["-pflash", "flash.img"], "vmm: -pflash: not supported by vmm"),
    (["--parallel", "none"], "vmm: -parallel: not supported by vmm"),
    (["-device", "usb-tablet"], "vmm: -device usb-tablet: not supported by vmm"),
    (["-device", "virtio-scsi-pci,id=scsi0"], "vmm: -device virtio-scsi-pci: not supported by vmm"),
    (["-machine", "q35"], "vmm: -machine q35: not supported by vmm"),
    (["-M", "pc-q35-7.2"], "vmm: -machine pc-q35-7.2: not supported by vmm"),
    (["-machine", "type=microvm"], "vmm: -machine microvm: not supported by vmm"),
    (["-accel", "tcg"], "vmm: -accel tcg: not supported by vmm"),
    (["-machine", "pc,accel=tcg"], "vmm: -machine accel=tcg: not supported by vmm"),
])
def test_qemu_names_vmm_lacks_are_not_typos(args, needle):
    one_line_error(run(*args), needle)


@pytest.mark.parametrize("qemu,typo,needle", [
    (["-numa", "node"], ["-numa-frob"], "vmm: -numa-frob: invalid option"),
    (["-device", "usb-tablet"], ["-device", "usb-frob"], "unsupported device 'usb-frob'"),
    (["-machine", "q35"], ["-machine", "q36"], "vmm: -machine q36: unsupported machine"),
    (["-accel", "tcg"], ["-accel", "fastest"], "vmm: -accel fastest: unknown accelerator"),
])
def test_a_typo_is_not_called_a_missing_feature(qemu, typo, needle):
    p = run(*typo)
    one_line_error(p, needle)
    assert "not supported by vmm" not in p.stderr
    one_line_error(run(*qemu), "not supported by vmm")


def table_names(kind):
    """The names of one table of src/qemu_names.c."""
    text = open(os.path.join(ROOT, "src", "qemu_names.c")).read()
    body = re.search(r"static const struct qemu_name %s\[\] = \{(.*?)\n\};" % kind, text, re.S)
    return re.findall(r'\{ "([^"]+)", "', body.group(1))


def test_every_listed_option_is_refused_by_name_and_none_is_implemented():
    names = table_names("options")
    assert len(names) > 40 and "numa" in names
    assert "mem-path" not in names and "overcommit" not in names
    helptext = run("-help").stdout
    for name in names:
        assert not re.search(r"^  -%s( |$)" % re.escape(name), helptext, re.M), name
        one_line_error(run("-" + name), f"vmm: -{name}: not supported by vmm (")


def test_every_listed_device_is_refused_by_name():
    names = table_names("devices")
    assert "usb-tablet" in names and "vmxnet3" in names
    implemented = run("-device", "help").stdout
    for name in names:
        assert f'name "{name}"' not in implemented, name
        one_line_error(run("-device", name), f"vmm: -device {name}: not supported by vmm (")


def test_msg_timestamp_prefixes_vmm_messages():
    p = run("-msg", "timestamp=on", "-m", "lots")
    one_line_error_ts = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(one_line_error_ts) == 1, p.stderr
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z vmm: -m lots: "
                     r"invalid RAM size", one_line_error_ts[0])
    assert m, p.stderr
    stamp = datetime.datetime(*map(int, m.groups()[:6]), tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - stamp).total_seconds()) < 60, (stamp, now)
    # off (and the default): no prefix
    one_line_error(run("-msg", "timestamp=off", "-m", "lots"), "invalid RAM size")


def test_accepted_no_ops_are_listed_in_help():
    helptext = run("-help").stdout
    for opt in ["-rtc", "-uuid", "-no-acpi", "-no-hpet", "-no-user-config", "-msg",
                "once=", "strict=", "reboot-timeout=", "splash-time="]:
        assert opt in helptext, opt
    # accepted, then the sentinel is the only complaint
    one_line_error(run("-no-hpet", "-no-user-config", "-no-fd-bootchk", "-rtc",
                       "base=utc,clock=vm,driftfix=slew", "-uuid",
                       "12345678-9ABC-def0-1122-334455667788", "-boot",
                       "order=c,once=d,strict=on,reboot-timeout=-1,splash-time=0",
                       "-msg", "timestamp=off", *SENTINEL), "-frobnicate-sentinel: invalid option")


# ---- what the guest sees ----------------------------------------------------

def rtc_line(r):
    assert r.status == 33, (r.status, r.serial, r.stderr)
    m = re.search(r"VMM-RTC (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)", r.serial)
    assert m, r.serial
    return datetime.datetime(*map(int, m.groups()), tzinfo=datetime.timezone.utc)


def test_rtc_base_date_with_time(vmm):
    r = vmm("-rtc", "base=2006-06-17T16:01:21", "-drive",
            f"file={fw_image('disk-14.img')},format=raw")
    start = datetime.datetime(2006, 6, 17, 16, 1, 21, tzinfo=datetime.timezone.utc)
    got = rtc_line(r)
    # the guest read it after SeaBIOS's POST: later than the base by at most the run
    assert start <= got <= start + datetime.timedelta(seconds=r.seconds + 2), (got, r.seconds)


def test_rtc_base_date_alone_is_midnight(vmm):
    r = vmm("-rtc", "base=2006-06-17,clock=rt", "-drive",
            f"file={fw_image('disk-14.img')},format=raw")
    start = datetime.datetime(2006, 6, 17, tzinfo=datetime.timezone.utc)
    got = rtc_line(r)
    assert start <= got <= start + datetime.timedelta(seconds=r.seconds + 2), (got, r.seconds)


@pytest.mark.parametrize("tz,hours", [("JST-9", 9), ("UTC+5", -5)])
def test_rtc_base_localtime_honours_tz(vmm, monkeypatch, tz, hours):
    monkeypatch.setenv("TZ", tz)
    before = datetime.datetime.now(datetime.timezone.utc)
    r = vmm("-rtc", "base=localtime", "-drive", f"file={fw_image('disk-14.img')},format=raw")
    local = rtc_line(r) - datetime.timedelta(hours=hours)
    assert before - datetime.timedelta(seconds=2) <= local <= \
        before + datetime.timedelta(seconds=r.seconds + 2), (local, before)


def test_rtc_default_and_base_utc_are_utc(vmm):
    for extra in ([], ["-rtc", "base=utc,clock=host,driftfix=none"]):
        before = datetime.datetime.now(datetime.timezone.utc)
        r = vmm(*extra, "-drive", f"file={fw_image('disk-14.img')},format=raw")
        got = rtc_line(r)
        assert before - datetime.timedelta(seconds=2) <= got <= \
            before + datetime.timedelta(seconds=r.seconds + 2), (extra, got, before)


UUID = "12345678-9abc-def0-1122-334455667788"


def test_uuid_reaches_the_smbios_tables(vmm):
    r = vmm("-uuid", UUID.upper(), "-drive", f"file={fw_image('disk-0.img')},format=raw")
    assert r.status == 33, (r.status, r.stderr)
    # SeaBIOS reads it back from the type 1 table it built
    assert f"Machine UUID {UUID}" in r.debuglog, r.debuglog
    # without -uuid the field stays nil, which SeaBIOS does not print
    r = vmm("-drive", f"file={fw_image('disk-0.img')},format=raw")
    assert r.status == 33
    assert "Copying SMBIOS" in r.debuglog and "Machine UUID" not in r.debuglog, r.debuglog


def test_query_uuid(tmp_path):
    import subprocess
    from conftest import VMM
    for extra, want in (([], "00000000-0000-0000-0000-000000000000"),
                        (["-uuid", UUID.upper()], UUID)):
        path = str(tmp_path / "qmp.sock")
        p = subprocess.Popen([VMM, "-display", "none", "-nodefaults", "-S", "-serial", "none",
                              "-qmp", f"unix:{path},server=on,wait=off", *extra],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            q = Qmp(path).negotiate()
            assert q.ok("query-uuid") == {"UUID": want}
            assert "query-uuid" in {c["name"] for c in q.ok("query-commands")}
            q.ok("quit")
            assert p.wait(timeout=30) == 0
        finally:
            if p.poll() is None:
                p.kill()
            p.communicate()


# QEMU 7.2's -no-acpi/-no-hpet, and QEMU 9's spelling of them, which
# QEMU 10 alone accepts (with libvirt's vmport=off beside)
NO_ACPI_SPELLINGS = [["-no-acpi", "-no-hpet"], ["-machine", "pc,acpi=off,hpet=off,vmport=off"],
                     ["-machine", "acpi=off"]]


@pytest.mark.parametrize("spelling", NO_ACPI_SPELLINGS, ids=" ".join)
def test_no_acpi_leaves_the_guest_without_acpi_tables(vmm, spelling):
    disk = ["-drive", f"file={fw_image('disk-0.img')},format=raw"]
    with_acpi = vmm("-machine", "acpi=on", *disk)
    assert with_acpi.status == 33
    assert "ACPI RSDP" in with_acpi.debuglog, with_acpi.debuglog
    r = vmm(*spelling, *disk)
    assert r.status == 33, (r.status, r.stderr)
    # SeaBIOS builds ACPI tables only around a PIIX4 PM function: none
    assert "ACPI" not in r.debuglog, r.debuglog
    assert "Copying SMBIOS" in r.debuglog


@pytest.mark.parametrize("arg,err", [
    ("acpi=maybe", "vmm: -machine: acpi: expected 'on' or 'off', got 'maybe'"),
    ("hpet=on", "vmm: -machine hpet=on: not supported by vmm (no HPET)"),
    ("vmport=on", "vmm: -machine vmport=on: not supported by vmm (no VMware backdoor port)"),
    ("vmport=sometimes", "vmm: -machine: vmport: expected 'on' or 'off', got 'sometimes'"),
])
def test_machine_acpi_hpet_errors_are_one_line(arg, err):
    one_line_error(run("-machine", arg), err)


def test_boot_once_then_the_normal_order_after_a_reset(vmm):
    # the CD's sector resets the machine once (0xCF9); the disk's exits
    r = vmm("-boot", "order=c,once=d", "-drive", f"file={fw_image('disk-0.img')},format=raw",
            "-cdrom", fw_image("cd-1.iso"))
    assert r.status == 33, (r.status, r.serial, r.stderr)
    boots = re.findall(r"VMM-BOOT-OK drive=([0-9A-F]{2})", r.serial)
    assert boots == ["E0", "80"], r.serial
    assert "VMM-RESETTING" in r.serial


def test_boot_reboot_timeout(vmm):
    # nothing to boot: SeaBIOS waits reboot-timeout, then resets (-no-reboot: vmm exits)
    r = vmm("-nodefaults", "-boot", "reboot-timeout=1000", "-no-reboot", timeout=90)
    assert "No bootable device.  Retrying in 1 seconds." in r.debuglog, r.debuglog
    assert "Rebooting." in r.debuglog
    assert r.status == 0, (r.status, r.stderr)


def test_boot_splash_time_is_the_menu_wait(vmm):
    disk = ["-drive", f"file={fw_image('disk-0.img')},format=raw"]
    r = vmm("-boot", "menu=on,splash-time=15000", *disk)
    assert r.status == 33
    assert "Press ESC for boot menu" in r.serial or "Press ESC" in r.debuglog, r.debuglog
    # SeaBIOS's default wait is 2.5 s: the run took the 15 s asked for
    assert r.seconds >= 15, r.seconds


def test_nic_without_netdev_warns_and_boots(vmm):
    r = vmm("-device", "e1000", "-device", "rtl8139,id=lonely", "-device", "virtio-net-pci",
            "-drive", f"file={fw_image('disk-0.img')},format=raw")
    assert r.status == 33, (r.status, r.stderr)
    for name in ("e1000.0", "lonely", "virtio-net-pci.0"):
        assert f"vmm: warning: nic {name} has no peer" in r.stderr, r.stderr
    # the unconnected cards are on the bus: SeaBIOS found them
    for ids in ("8086:100e", "10ec:8139", "1af4:1000"):
        assert ids in r.debuglog, (ids, r.debuglog)


def test_mon_puts_qmp_and_the_monitor_on_chardevs(tmp_path):
    """libvirt's spelling: -chardev socket,...,server=on,wait=off -mon
    chardev=ID,mode=control; the human monitor with mode=readline."""
    import socket
    import subprocess
    from conftest import VMM
    qmp, hmp = str(tmp_path / "qmp.sock"), str(tmp_path / "hmp.sock")
    p = subprocess.Popen([VMM, "-display", "none", "-nodefaults", "-S", "-serial", "none",
                          "-chardev", f"socket,id=charmonitor,path={qmp},server=on,wait=off",
                          "-mon", "chardev=charmonitor,mode=control,pretty=on",
                          "-chardev", f"socket,id=hmp,path={hmp},server=on,wait=off",
                          "-mon", "chardev=hmp,mode=readline", "-uuid", UUID],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        q = Qmp(qmp).negotiate()
        assert q.ok("query-uuid") == {"UUID": UUID}
        assert q.ok("query-status")["status"] == "prelaunch"
        s = socket.socket(socket.AF_UNIX)
        s.connect(hmp)
        s.settimeout(30)
        s.sendall(b"info status\ninfo uuid\nquit\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        assert b"VM status: paused (prelaunch)" in data, data
        assert UUID.encode() + b"\r\n" in data or UUID.encode() + b"\n" in data, data
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
        _, err = p.communicate()
    assert err == b"", err


def test_mon_errors():
    one_line_error(run("-mon", "chardev=nope"), "no -chardev with id 'nope'")
    one_line_error(run("-chardev", "file,id=f,path=/dev/null", "-mon", "chardev=f"),
                   "-mon chardev=f: not supported by vmm on this backend")
    one_line_error(run("-mon", "chardev=x,mode=raw"), "-mon mode=raw: expected control or "
                   "readline")
    one_line_error(run("-mon", "mode=control"), "-mon: chardev= is required")


@pytest.mark.parametrize("args,needle", [
    (["-object", "iothread,id=io0"], "vmm: -object iothread: not supported by vmm"),
    (["-object", "memory-backend-epc,id=m,size=4M"],
     "vmm: -object memory-backend-epc: not supported by vmm"),
    (["-object", "frob,id=x"], "-object frob: unknown object type"),
    (["-object", "rng-random"], "-object rng-random: id= is required"),
    (["-object", "rng-random,id=r,filename="], "filename= is empty"),
    (["-object", "rng-random,id=r,size=5"], "-object rng-random: unknown parameter 'size'"),
    (["-object", "rng-builtin,id=r,filename=/dev/random"],
     "-object rng-builtin: unknown parameter 'filename'"),
    (["-object", "rng-builtin,id=r", "-object", "rng-random,id=r"], "duplicate id 'r'"),
    (["-device", "virtio-rng-pci,rng=nope"], "no -object rng-random or rng-builtin with id "
     "'nope'"),
    (["-object", "rng-random,id=r,filename=/nonexistent/rng", "-device",
      "virtio-rng-pci,rng=r", "-display", "none", "-nodefaults", "-S"],
     "-object rng-random,id=r: cannot open '/nonexistent/rng'"),
])
def test_object_errors(args, needle):
    one_line_error(run(*args), needle)


def test_rng_random_and_builtin_boot(vmm, tmp_path):
    src = tmp_path / "entropy"
    src.write_bytes(b"\x5a" * 4096)
    for obj in ([f"rng-random,id=rng0,filename={src}"], ["rng-builtin,id=rng0"],
                ["rng-random,id=rng0"]):
        r = vmm("-object", *obj, "-device", "virtio-rng-pci,rng=rng0",
                "-drive", f"file={fw_image('disk-0.img')},format=raw")
        assert r.status == 33, (obj, r.status, r.stderr)
        # SeaBIOS found the card (virtio 1.x rng: 1af4:1044, transitional 1af4:1005)
        assert "1af4:1005" in r.debuglog or "1af4:1044" in r.debuglog, r.debuglog


def test_every_listed_object_type_and_machine_is_refused_by_name():
    objects = table_names("objects")
    assert "iothread" in objects and "rng-random" not in objects
    assert "memory-backend-file" not in objects
    for name in objects:
        one_line_error(run("-object", f"{name},id=x"), f"vmm: -object {name}: not supported by vmm (")
    for name in table_names("machines"):
        m = name + "7.2" if name.endswith("-") else name
        one_line_error(run("-machine", m), f"vmm: -machine {m}: not supported by vmm (")
    for name in table_names("accels"):
        one_line_error(run("-accel", name), f"vmm: -accel {name}: not supported by vmm (")
