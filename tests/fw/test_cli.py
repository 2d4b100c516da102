# SPDX-License-Identifier: GPL-2.0-or-later
"""Command-line behaviour: help, and bad input answered with one line and a
non-zero exit before anything starts or is written."""
import os
import shutil
import subprocess

import pytest

import fwskip

from conftest import VMM, fw_image


def run(*args, timeout=30):
    return subprocess.run([VMM, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(p, *needles):
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("vmm: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    assert p.stdout == ""


def test_help_lists_every_option():
    p = run("--help")
    assert p.returncode == 0
    for opt in ["-m ", "-smp", "-hda", "-hdb", "-hdc", "-hdd", "-cdrom", "-drive", "-boot",
                "-bios", "-serial", "-nographic", "-display", "-no-reboot", "-name",
                "-debugcon", "-device", "-enable-kvm", "-machine", "-accel", "-L ", "-version",
                "-qmp", "-monitor", "-daemonize", "-pidfile", "-kernel", "-initrd", "-append",
                "-balloon", "virtio-balloon", "-chardev", "-nodefaults", "-cpu", "-vnc",
                "-full-screen", "sdl", "-audiodev", "-soundhw", "-loadvm", "-incoming", "-S"]:
        assert opt in p.stdout, opt
    assert run("-h").stdout == p.stdout


def test_version():
    p = run("-version")
    assert p.returncode == 0 and p.stdout.startswith("vmm version")


@pytest.mark.parametrize("args,needle", [
    (["-frobnicate"], "-frobnicate: invalid option"),
    (["-m"], "requires an argument"),
    (["-m", "lots"], "invalid RAM size"),
    (["-m", "0"], "RAM size must be between"),
    (["-m", "1K"], "RAM size must be between"),
    (["-m", "-5"], "invalid RAM size"),
    (["-smp", "0"], "at least 1"),
    (["-smp", "999"], "x2APIC"),
    (["-smp", "99999"], "invalid number"),
    (["-cpu", "pentium9"], "unknown model 'pentium9'"),
    (["-cpu", "host,+warp"], "unknown feature 'warp'"),
    (["-cpu", "qemu64,pcid"], "expected +FEATURE"),
    (["-serial", "udp::5"], "unsupported character device"),
    (["-serial", "chardev:nope"], "no -chardev with id 'nope'"),
    (["-chardev", "spice,id=c0"], "'spice' is not a supported backend"),
    (["-chardev", "null"], "id= is required"),
    (["-chardev", "null,id=c0", "-chardev", "file,id=c0,path=x"], "duplicate id 'c0'"),
    (["-chardev", "file,id=c0"], "path= is required"),
    (["-chardev", "socket,id=c0,server=on"], "path=PATH or host=HOST,port=PORT"),
    (["-chardev", "socket,id=c0,path=/tmp/x,color=red"], "unknown parameter 'color'"),
    (["-chardev", "null,id=c0,path=/tmp/x"], "unknown parameter 'path'"),
    (["-chardev", "stdio,id=c0,signal=maybe"], "expected 'on' or 'off'"),
    (["-device", "virtconsole,chardev=nope"], "no -chardev with id 'nope'"),
    (["-device", "virtserialport,name=a.b"], "chardev= is required"),
    (["-chardev", "null,id=c0", "-device", "virtserialport,chardev=c0,nr=0"],
     "reserved for virtconsole"),
    (["-chardev", "null,id=c0", "-device", "virtserialport,chardev=c0,nr=8"], "nr must be 0 to 7"),
    (["-chardev", "null,id=c0", "-device", "virtconsole,chardev=c0",
      "-device", "virtserialport,chardev=c0"], "chardev 'c0' is already used by virtconsole"),
    (["-chardev", "null,id=c0", "-serial", "chardev:c0", "-device", "virtconsole,chardev=c0"],
     "already used by -serial"),
    (["-chardev", "null,id=a", "-chardev", "null,id=b", "-device", "virtserialport,chardev=a,nr=3",
      "-device", "virtserialport,chardev=b,nr=3"], "port number 3 is already in use"),
    (["-device", "virtio-serial-pci", "-device", "virtio-serial-pci"], "only one virtio-serial"),
    (["-chardev", "stdio,id=a", "-chardev", "stdio,id=b"], "stdio is used by more than one"),
    (["-chardev", "stdio,id=a", "-serial", "stdio"], "already the serial console"),
    (["-serial", "null", "-serial", "stdio", "-monitor", "stdio"],
     "stdio is used by more than one -serial"),
    (["-daemonize", "-serial", "null", "-serial", "stdio"],
     "-daemonize: stdio cannot be used by a chardev of a daemon"),
    (["-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null",
      "-serial", "null"], "at most 4 serial ports (COM1-COM4)"),
    (["-machine", "q35"], "unsupported machine"),
    (["-accel", "tcg"], "only kvm"),
    (["-device", "vmxnet3"], "-device vmxnet3: not supported by vmm"),
    (["-device", "frobnic"], "unsupported device 'frobnic'"),
    (["-boot", "order=xyz"], "invalid boot order"),
    (["-display", "gtk"], "-display gtk: unknown display (use none, sdl or vnc=ADDR)"),
    (["-hda", "a.img", "-drive", "file=b.img,index=0"], "already in use"),
    (["-drive", "file=a.img,if=scsi"], "if=scsi is not supported"),
    (["-drive", "if=virtio"], "a disk needs a file"),
    (["-drive", "file=a.img,if=virtio,media=cdrom"], "media=cdrom is not supported"),
    (["-drive", "file=a.img,if=virtio,cache=fast"], "expected writeback, none"),
    (["-drive", "file=a.img,cache=fast"], "expected writeback, none"),
    (["-drive", "file=a.img,if=virtio,discard=maybe"], "discard=maybe: expected ignore or unmap"),
    (["-drive", "file=a.img,if=virtio,format=qed"], "format=qed is not supported"),
    (["-device", "virtio-rng-pci,max-bytes=5"], "unknown parameter"),
    (["-device", "virtio-balloon,free-page-hint=on"], "unknown parameter 'free-page-hint'"),
    (["-device", "virtio-balloon-pci,deflate-on-oom=maybe"], "expected 'on' or 'off'"),
    (["-device", "virtio-balloon,guest-stats-polling-interval=-1"], "invalid number"),
    (["-device", "virtio-balloon", "-device", "virtio-balloon-pci"], "only one virtio-balloon-pci device"),
    (["-balloon", "virtio", "-balloon", "virtio"], "only one virtio-balloon-pci device"),
    (["-balloon", "qxl"], "supported: none, virtio"),
    (["-netdev", "bridge,id=n0"], "unsupported backend (supported: user, tap)"),
    (["-netdev", "tap"], "id= is required"),
    (["-netdev", "tap,id=n0,vhostfd=x"], "vhostfd=x: expected a descriptor number"),
    (["-netdev", "tap,id=n0,vhostforce=sometimes"], "vhostforce=sometimes: expected on or off"),
    (["-nic", "tap,vhost=maybe"], "expected on or off"),
    (["-netdev", "tap,id=n0,fd=3,ifname=tap0"], "fd= cannot be combined"),
    (["-net", "tap,fd=3,script=/x"], "fd= cannot be combined"),
    (["-nic", "tap,ifname=abcdefghijklmnop"], "1 to 15 characters"),
    (["-nic", "tap,queues=9"], "queues=9: expected 1 to 8"),
    (["-nic", "tap,queues=0"], "queues=0: expected 1 to 8"),
    (["-nic", "tap,queues=two"], "queues=two: expected 1 to 8"),
    (["-netdev", "tap,id=n0,fd=3,queues=2"], "queues=2 cannot be combined with fd= or vhostfd="),
    (["-netdev", "tap,id=n0,vhostfd=3,queues=2"], "cannot be combined with fd= or vhostfd="),
    (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mq=on,vectors=10"],
     "vectors=10: this card has 4 MSI-X vectors"),
    (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,vectors=4"],
     "vectors=4: this card has 3 MSI-X vectors"),
    (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mq=maybe"],
     "expected 'on' or 'off'"),
    (["-nic", "tap,br=br0"], "br= is not supported"),
    (["-nic", "tap,hostfwd=tcp::1-:2"], "unsupported parameter 'hostfwd'"),
    (["-nic", "user,ifname=x"], "unsupported parameter 'ifname'"),
    (["-nic", "tap,fd=x"], "fd=x: expected a descriptor number"),
    (["-netdev", "user"], "id= is required"),
    (["-netdev", "user,id=n0,hostfwd=tcp::99999-:22"], "hostfwd=tcp::99999-:22"),
    (["-device", "virtio-net-pci,netdev=nope"], "no -netdev with id 'nope'"),
    (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=01:00:00:00:00:01"],
     "multicast"),
    (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=zz"], "six hex bytes"),
    (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
      "-device", "virtio-net-pci,netdev=n0"], "used by two NICs"),
    (["-nic", "user,model=vmxnet3"], "unknown model 'vmxnet3'"),
    (["-net", "nic,model=virtio"], "no -net user"),
    (["-net", "nic"], "no -net user"),
    (["-drive", "file=a.img,if=none"], "id= is required"),
    (["-net", "none,vlan=1"], "takes no parameters"),
    (["-nic", "none,model=virtio"], "takes no parameters"),
    (["-drive", "file=a.img,if=none,id=d", "-drive", "file=b.img,if=none,id=d"], "duplicate id"),
    (["-device", "virtio-blk-pci,drive=nope"], "no -drive if=none with id 'nope'"),
    (["-device", "virtio-blk-pci"], "drive= is required"),
    (["-drive", "file=a.img,if=none,id=d", "-device", "virtio-blk-pci,drive=d",
      "-device", "ide-hd,drive=d"], "already in use"),
    (["-drive", "file=a.img,if=none,id=d", "-device", "ide-hd,drive=d,bus=ide.2"],
     "expected ide.0 or ide.1"),
    (["-drive", "file=a.img,if=none,id=d", "-device", "ide-hd,drive=d,unit=1"], "needs bus="),
    (["-drive", "file=a.img,if=none,id=d", "-device", "ide-hd,drive=d,bus=ide.1",
      "-cdrom", "c.iso"], "already in use"),
    (["-drive", "if=none,id=c,media=cdrom", "-device", "virtio-blk-pci,drive=c"], "CD-ROM"),
])
def test_bad_options(args, needle):
    one_line_error(run(*args), needle)


def test_cpu_help():
    p = run("-cpu", "help")
    assert p.returncode == 0, p.stderr
    for word in ["host", "qemu64", "kvm64", "pcid", "x2apic", "kvm-pv-unhalt"]:
        assert word in p.stdout, word


def test_accepted_qemu_options():
    # Accepted for compatibility; -version ends parsing after them.
    p = run("-enable-kvm", "-machine", "pc,accel=kvm", "-M", "pc", "-accel", "kvm",
            "-name", "guest", "-device",
            "virtio-balloon,id=b0,deflate-on-oom=on,guest-stats-polling-interval=2",
            "-balloon", "none", "-balloon", "virtio,addr=05",
            "-cpu", "qemu64,+popcnt,-x2apic,sse4_2=off", "-version")
    assert p.returncode == 0, p.stderr


def test_missing_image(tmp_path):
    serial = tmp_path / "serial.log"
    p = run("-hda", str(tmp_path / "nope.img"), "-serial", f"file:{serial}")
    if "/dev/kvm" in p.stderr:
        fwskip.unavailable("no usable /dev/kvm: " + p.stderr.strip())
    one_line_error(p, "nope.img", "No such file or directory")
    assert not serial.exists()


def test_unreadable_image(tmp_path):
    if os.geteuid() == 0:
        # root reads anything; a directory is unreadable as an image for all.
        img = tmp_path / "dir.img"
        img.mkdir()
        p = run("-hda", str(img))
        if "/dev/kvm" in p.stderr:
            fwskip.unavailable("no usable /dev/kvm")
        one_line_error(p, "dir.img")
    else:
        img = tmp_path / "locked.img"
        img.write_bytes(b"\0" * 512)
        img.chmod(0)
        one_line_error(run("-hda", str(img)), "Permission denied")


def test_firmware_not_found(tmp_path):
    p = run("-bios", str(tmp_path / "missing.bin"))
    if "/dev/kvm" in p.stderr:
        fwskip.unavailable("no usable /dev/kvm")
    one_line_error(p, "firmware", "missing.bin", "No such file")


def test_bad_firmware_size(tmp_path):
    bios = tmp_path / "tiny.bin"
    bios.write_bytes(b"\xf4" * 1000)
    p = run("-bios", str(bios))
    if "/dev/kvm" in p.stderr:
        fwskip.unavailable("no usable /dev/kvm")
    one_line_error(p, "multiple of 64 KiB")


def test_no_dev_kvm(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        fwskip.unavailable("needs root and unshare to hide /dev/kvm")
    # A private mount namespace with an empty /dev: /dev/kvm is missing.
    p = subprocess.run(["unshare", "--mount", "sh", "-c",
                        f"mount -t tmpfs none /dev && exec {VMM} -m 64 2>&1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stdout
    lines = p.stdout.strip().splitlines()
    assert lines == ["vmm: /dev/kvm not found: is the kvm module loaded "
                     "(modprobe kvm_intel or kvm_amd)?"], lines


def test_chardev_socket_client_refused(tmp_path):
    # A client socket connects at start; nobody listens: one line, exit 1.
    p = run("-chardev", f"socket,id=c0,path={tmp_path}/none.sock",
            "-device", "virtserialport,chardev=c0,name=x")
    if "/dev/kvm" in p.stderr:
        fwskip.unavailable("no usable /dev/kvm")
    one_line_error(p, "-chardev c0", "cannot connect", "none.sock")
    p = run("-serial", "tcp:127.0.0.1:1")
    one_line_error(p, "-serial", "cannot connect", "127.0.0.1:1")


def test_ctrl_a_x_quits(tmp_path):
    # COM1 on a terminal (the implicit -nographic console): Ctrl-A x ends vmm.
    import pty
    import time
    master, slave = pty.openpty()
    p = subprocess.Popen([VMM, "-m", "64", "-nographic"], stdin=slave, stdout=slave,
                         stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    try:
        time.sleep(2)
        os.write(master, b"\x01x")
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    err = p.stderr.read().decode()
    if "/dev/kvm" in err:
        fwskip.unavailable("no usable /dev/kvm")
    assert rc == 0, err
    assert "terminating on signal from console" in err


def test_virtio_missing_image(tmp_path):
    one_line_error(run("-drive", f"file={tmp_path}/nope.img,if=virtio"), "nope.img")


def test_help_mentions_virtio():
    p = run("-help")
    assert "if=ide|virtio" in p.stdout and "virtio-rng-pci" in p.stdout


# Regression (issue 12, hole 7): -pidfile followed a symbolic link and
# truncated its target. In a shared directory (/tmp) anyone can plant such a
# link. vmm must refuse it, and a hard link to someone's file, before writing
# anything. (vmm then stops at the missing disk, so no /dev/kvm is needed.)
def test_pidfile_refuses_symlink(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("do not touch\n")
    link = tmp_path / "vmm.pid"
    link.symlink_to(victim)
    p = run("-pidfile", str(link), "-hda", str(tmp_path / "nope.img"))
    one_line_error(p, "vmm.pid", "symbolic link")
    assert victim.read_text() == "do not touch\n"
    assert link.is_symlink()
    # A dangling link is not followed either (it would create the target).
    dangling = tmp_path / "dangling.pid"
    dangling.symlink_to(tmp_path / "created-by-vmm")
    one_line_error(run("-pidfile", str(dangling), "-hda", str(tmp_path / "nope.img")),
                   "symbolic link")
    assert not (tmp_path / "created-by-vmm").exists()


def test_pidfile_refuses_hard_link_and_non_files(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("do not touch\n")
    hard = tmp_path / "vmm.pid"
    os.link(victim, hard)
    one_line_error(run("-pidfile", str(hard), "-hda", str(tmp_path / "nope.img")),
                   "hard links")
    assert victim.read_text() == "do not touch\n"
    fifo = tmp_path / "fifo.pid"
    os.mkfifo(fifo)
    one_line_error(run("-pidfile", str(fifo), "-hda", str(tmp_path / "nope.img"), timeout=10),
                   "not a regular file")


def test_pidfile_written_then_removed_on_error(tmp_path):
    # A plain pidfile still works: written, then removed when vmm gives up.
    pidfile = tmp_path / "ok.pid"
    p = run("-pidfile", str(pidfile), "-hda", str(tmp_path / "nope.img"))
    one_line_error(p, "nope.img")
    assert not pidfile.exists()


# Issue 12, hole 5: QEMU's isolation and addressing options of -netdev user
# (the behaviour itself is proven in tests/unit/test_net_slirp.c).
@pytest.mark.parametrize("opts", [
    "restrict=on",
    "restrict=off,host-loopback=off",
    "net=192.168.7.0/24,host=192.168.7.1,dns=192.168.7.53,dhcpstart=192.168.7.100",
    "net=172.20.0.0/255.255.0.0,hostname=guest,domainname=example.org,"
    "dnssearch=a.example,dnssearch=b.example",
    "ipv6=on,ipv6-net=fd00:1::/64,ipv6-host=fd00:1::9,ipv6-dns=fd00:1::53",
    "ipv4=on,restrict=on,hostfwd=tcp::5555-:22",
    "tftp=/tmp,bootfile=pxelinux.0,tftp-server-name=boot.example",
])
def test_netdev_user_options_accepted(tmp_path, opts):
    # accepted: vmm goes on to the (missing) disk
    one_line_error(run("-netdev", f"user,id=n0,{opts}", "-device", "virtio-net-pci,netdev=n0",
                       "-hda", str(tmp_path / "nope.img")), "nope.img")
    one_line_error(run("-nic", f"user,{opts}", "-hda", str(tmp_path / "nope.img")), "nope.img")


@pytest.mark.parametrize("opts,needle", [
    ("restrict=maybe", "expected on or off"),
    ("net=10.0.2.0/31", "1 to 30 bits"),
    ("host=10.9.9.2", "not an address of the guest network"),
    ("dns=10.0.2.2", "must differ"),
    ("ipv4=off,ipv6=off", "nothing left"),
    ("ipv6-host=fd00::2", "without ipv6=on"),
    ("smb=/nonexistent/vmm-smb", "No such file or directory"),
    ("smb=/dev/null", "not a directory"),
    ("smbserver=10.0.2.4", "smbserver= needs smb=DIR"),
    ("tftp=/nonexistent/vmm-tftp", "No such file or directory"),
    ("bootfile=" + "f" * 128, "1 to 127 characters"),
])
def test_netdev_user_bad_options(opts, needle):
    one_line_error(run("-netdev", f"user,id=n0,{opts}"), "-netdev user", needle)
