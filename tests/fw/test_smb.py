# SPDX-License-Identifier: GPL-2.0-or-later
"""-netdev user,smb=DIR at host level: the share, its private directory's
life, and the errors.

vmm runs SeaBIOS with no disk (it idles at "No bootable device") and a
virtio-net card on user networking with smb=DIR. Its smbd launcher listens
on DIR/smbd.sock in vmm's private directory ($TMPDIR/vmm-smb.XXXXXX, mode
0700): the socket libslirp connects each guest connection to 10.0.2.4:445
to. The test makes the same connection from the host (socat bridges a
local TCP port to that socket) and runs Debian's smbclient against it, so
the launcher, its TCP relay, the real smbd and vmm's smb.conf are the ones
a guest gets; the part in between, libslirp handing the guest's connection
to the socket, is tests/unit/test_net_slirp.c (test_smb_share). A real
guest's cifs mount is tests/real/test_nics.py's device boot (checked
without the guest by test_nics_scenarios.py): see docs/testing.md, "SMB
folder share".

Before smb= existed vmm refused it ("smb= is not supported"): every test
here failed."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import fwskip
from conftest import VMM, fw_image

SMBD = shutil.which("smbd") or ("/usr/sbin/smbd" if os.path.exists("/usr/sbin/smbd") else None)


def need_tools():
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    for tool in ("smbclient", "socat"):
        if not shutil.which(tool):
            fwskip.unavailable(f"{tool} is not installed (tools/deps.sh)")
    if not SMBD:
        fwskip.unavailable("smbd is not installed (Debian's samba; tools/deps.sh)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vmm:
    """vmm with smb=share, its private directory under tmp_path/tmp."""

    def __init__(self, tmp_path, share, extra=(), nic=("-device", "virtio-net-pci,netdev=n0")):
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        # the socket's path must fit a sun_path (else vmm uses /tmp)
        assert len(str(self.tmpdir)) + len("/vmm-smb.XXXXXX/smbd.sock") < 108
        env = dict(os.environ, TMPDIR=str(self.tmpdir))
        self.p = subprocess.Popen(
            [VMM, "-nodefaults", "-display", "none",
             *(() if "-serial" in extra else ("-serial", "none", "-m", "64")),
             "-netdev", f"user,id=n0,smb={share}", *nic, *extra], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, text=True)
        self.dir = self.wait_for_dir()

    def wait_for_dir(self):
        for _ in range(300):
            found = glob.glob(str(self.tmpdir / "vmm-smb.*" / "smbd.sock"))
            if found:
                return os.path.dirname(found[0])
            if self.p.poll() is not None:
                pytest.fail(f"vmm ended ({self.p.returncode}): {self.p.stderr.read()}")
            time.sleep(0.1)
        self.p.kill()
        pytest.fail("vmm made no private directory with smbd.sock in 30 s")

    def end(self, sig):
        self.p.send_signal(sig)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            pytest.fail(f"vmm did not end on signal {sig}")
        return self.p.returncode


def gone_within(path, seconds):
    end = time.monotonic() + seconds
    while os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)
    return not os.path.exists(path)


def smbclient(port, command, cwd):
    return subprocess.run(["smbclient", "//127.0.0.1/qemu", "-p", str(port), "-N",
                           "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_share_read_write_and_cleanup_at_exit(tmp_path):
    need_tools()
    share = tmp_path / "share"
    share.mkdir()
    (share / "from-host.txt").write_text("written by the host\n")
    work = tmp_path / "client"
    work.mkdir()
    (work / "from-guest.txt").write_text("written through smbd\n")
    v = Vmm(tmp_path, share)
    try:
        # the private directory: mode 0700, smbd's configuration in it
        assert os.stat(v.dir).st_mode & 0o777 == 0o700
        conf = open(os.path.join(v.dir, "smb.conf")).read()
        assert f"path = {share}\n" in conf and "[qemu]\n" in conf
        port = free_port()
        bridge = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
             f"UNIX-CONNECT:{v.dir}/smbd.sock"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) != 0:
                        time.sleep(0.1)
                        continue
                break
            # socat without fork serves one connection: the probe above
            # used it; start the bridge again for smbclient
            bridge.wait(timeout=10)
            bridge = subprocess.Popen(
                ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
                 f"UNIX-CONNECT:{v.dir}/smbd.sock"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            r = smbclient(port, "get from-host.txt got.txt; put from-guest.txt from-guest.txt",
                          work)
            assert r.returncode == 0, r.stdout + r.stderr
        finally:
            bridge.kill()
            bridge.wait()
        assert (work / "got.txt").read_text() == "written by the host\n"
        assert (share / "from-guest.txt").read_text() == "written through smbd\n"
        # written as the invoking user (force user)
        assert os.stat(share / "from-guest.txt").st_uid == os.getuid()
    finally:
        status = v.end(signal.SIGINT)
    assert status == 0, v.p.stderr.read()
    # vmm waits for the launcher's clean-up before it exits
    assert not os.path.exists(v.dir)
    assert not glob.glob(str(v.tmpdir / "vmm-smb.*"))


def test_guest_connection_reaches_smbd_under_the_sandbox(tmp_path):
    """tests/fw/smbconn.S, as the guest, completes a TCP handshake with
    10.0.2.4:445 through an e1000: libslirp connects the flow to the
    launcher's unix socket on the NIC's I/O thread, under its filter
    (socket(AF_UNIX) is allowed there only with smb=), and the launcher
    starts an smbd for it (its log appears in the private directory)."""
    need_tools()
    share = tmp_path / "share"
    share.mkdir()
    serial = tmp_path / "com1.log"
    v = Vmm(tmp_path, share, nic=("-device", "e1000,netdev=n0,addr=05,romfile="),
            extra=("-bios", fw_image("smbconn.bin"), "-serial", f"file:{serial}",
                   "-m", "32"))
    try:
        deadline = time.monotonic() + 60
        logs = []
        while time.monotonic() < deadline and v.p.poll() is None:
            text = serial.read_text() if serial.exists() else ""
            logs = glob.glob(os.path.join(v.dir, "log", "*smbd*"))
            if "SMB-TCP-CONNECTED" in text and logs:
                break
            time.sleep(0.1)
        assert v.p.poll() is None, v.p.stderr.read()
        assert "SMB-TCP-CONNECTED" in serial.read_text()
        assert logs, "no smbd ran for the guest's connection"
    finally:
        status = v.end(signal.SIGTERM)
    err = v.p.stderr.read()
    assert "forbidden system call" not in err, err
    assert status == 0, err
    assert not os.path.exists(v.dir)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_private_directory_removed_on_signals(tmp_path, sig):
    need_tools()
    share = tmp_path / "share"
    share.mkdir()
    v = Vmm(tmp_path, share)
    v.end(sig)
    # SIGTERM: vmm's clean exit waits for it; SIGKILL: the launcher sees
    # its pipe close and cleans up on its own
    assert gone_within(v.dir, 0 if sig == signal.SIGTERM else 10), os.listdir(v.dir)


def run_error(*netdev, env=None):
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", "-netdev",
                        "user,id=n0," + ",".join(netdev), "-device", "virtio-net-pci,netdev=n0"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **(env or {})))
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_smb_not_a_directory():
    assert "smb=/dev/null: not a directory" in run_error("smb=/dev/null")
    assert "No such file or directory" in run_error("smb=/nonexistent/vmm-smb")


def test_smbd_not_installed(tmp_path):
    line = run_error(f"smb={tmp_path}", env={"VMM_SMBD": "/nonexistent/smbd"})
    assert "could not find 'smbd', please install it" in line
    tmp = tmp_path / "t"
    tmp.mkdir()
    run_error(f"smb={tmp_path}", env={"VMM_SMBD": "/nonexistent/smbd", "TMPDIR": str(tmp)})
    assert os.listdir(tmp) == []


def test_smb_with_chroot(tmp_path):
    p = subprocess.run([VMM, "-nodefaults", "-display", "none", "-chroot", str(tmp_path),
                        "-netdev", f"user,id=n0,smb={tmp_path}"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "smb=: does not work with -chroot" in lines[0], p.stderr


def test_smbserver_outside_the_network(tmp_path):
    line = run_error(f"smb={tmp_path}", "smbserver=10.0.3.4")
    assert "smbserver 10.0.3.4 must be an address of the guest network" in line
