#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Stands in for test_nics.py's guest at firmware level (test_nics_scenarios.py):
run by tests/real/nics_driver.py in the VMM's place, it runs the VMM
(SeaBIOS, no guest OS) and says on its stdout what the real guest's
script says, so the driver acts on it as it would in the L1.

usage: nics_fake_guest.py VMM ARGV...
env:   FAKE_LINKS "MAC KEY,MAC KEY,..."  cards to unplug and plug back
       FAKE_SMB=1                       use the smb= share as the guest would
       FAKE_MONDIR                      where the monitor's socket goes (/tmp)

Prints "VMM-LINK-OFF MAC KEY" for every card, waits until the VMM's
monitor ("info network", on a unix socket of its own) shows every link
down ("fake links down=N/M"), then the VMM-LINK-ON lines and the same for
up. With FAKE_SMB, reaches the launcher's socket in $TMPDIR/vmm-smb.* the
way libslirp does (socat bridges a TCP port to it) and, with smbclient,
logs in with the guest's credentials and dialect, gets from-host.bin
("fake smb read sha=.. size=..") and puts 256 KiB as from-guest.bin
("fake smb wrote sha=.. size=.."). Then SIGTERM; exits with the VMM's
status."""
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SMB_BYTES = 256 << 10
PROMPTS = (b"(vmm)", b"(qemu)")


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for(path, p, seconds=60):
    end = time.monotonic() + seconds
    while not os.path.exists(path):
        if p.poll() is not None or time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def monitor(path, command):
    """One HMP command on a fresh connection; its output up to the prompt."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(10)
        buf = b""
        while not buf.rstrip().endswith(PROMPTS):
            buf += s.recv(4096)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.rstrip().endswith(PROMPTS):
            d = s.recv(4096)
            if not d:
                break
            buf += d
    return buf.decode(errors="replace")


def links(mon, cards, state, expect):
    for mac, key in cards:
        say("VMM-LINK-%s %s %s" % (state, mac, key))
    end, n = time.monotonic() + 30, -1
    while time.monotonic() < end:
        n = monitor(mon, "info network").count("link: %s" % expect)
        if n == len(cards):
            break
        time.sleep(0.2)
    say("fake links %s=%d/%d" % (expect, n, len(cards)))


def smb():
    socks = glob.glob(os.path.join(os.environ.get("TMPDIR", "/tmp"), "vmm-smb.*", "smbd.sock"))
    if len(socks) != 1:
        say("fake smb sockets %r" % socks)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bridge = subprocess.Popen(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
                               "UNIX-CONNECT:%s" % socks[0]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="vmmfakeguest")
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        data = os.urandom(SMB_BYTES)
        with open(os.path.join(work, "mine.bin"), "wb") as f:
            f.write(data)
        # the guest's mount options: username=guest,password=guest,vers=3.0
        r = subprocess.run(["smbclient", "//10.0.2.4/qemu", "-I", "127.0.0.1", "-p", str(port),
                            "-U", "guest%guest", "-m", "SMB3", "--option=client min protocol=SMB3",
                            "-c", "get from-host.bin got.bin; put mine.bin from-guest.bin"],
                           cwd=work, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            say("fake smb smbclient failed: %s" % (r.stdout + r.stderr).replace("\n", " "))
            return
        got = open(os.path.join(work, "got.bin"), "rb").read()
        say("fake smb read sha=%s size=%d" % (hashlib.sha256(got).hexdigest(), len(got)))
        say("fake smb wrote sha=%s size=%d" % (hashlib.sha256(data).hexdigest(), len(data)))
    finally:
        bridge.kill()
        bridge.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    # not in $TMPDIR: the driver checks that vmm leaves nothing there
    mondir = tempfile.mkdtemp(prefix="vmmfakemon", dir=os.environ.get("FAKE_MONDIR", "/tmp"))
    mon = os.path.join(mondir, "mon.sock")
    argv = sys.argv[1:] + ["-monitor", "unix:%s,server=on,wait=off" % mon]
    err = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    if not wait_for(mon, p):
        say("fake no monitor socket")
    else:
        cards = [tuple(c.split()) for c in os.environ.get("FAKE_LINKS", "").split(",") if c]
        if cards:
            links(mon, cards, "OFF", "down")
            links(mon, cards, "ON", "up")
        if os.environ.get("FAKE_SMB") == "1":
            smb()
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    shutil.rmtree(mondir, ignore_errors=True)
    if rc != 0:
        err.seek(0)
        for line in err.read().decode(errors="replace").splitlines()[-5:]:
            say("fake vmm stderr: " + line)
    sys.exit(rc)


if __name__ == "__main__":
    main()
