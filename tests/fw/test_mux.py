# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's stdio multiplexer (-nographic, -serial mon:stdio, -chardev
stdio,mux=on with -mon): COM1 and the human monitor share stdio, Ctrl-A c
switches between them, Ctrl-A x quits, Ctrl-A b is a break on COM1,
Ctrl-A s flushes the disks; the keys work on a terminal and on a pipe.

The guest is bootsect.S's RESET_METHOD 15: it echoes what COM1 receives
and prints VMM-BREAK for a break (LSR BI)."""
import os
import pty
import shutil
import subprocess
import threading
import time

import pytest

import fwskip

from conftest import VMM, fw_image

TIMEOUT = 90


class Console:
    """vmm with stdin and stdout on a pipe or on a terminal (pty)."""

    def __init__(self, mode, *args, vmm=VMM, env=None):
        self.mode = mode
        self.out = b""
        self.lock = threading.Lock()
        if mode == "pty":
            self.master, slave = pty.openpty()
            self.p = subprocess.Popen([vmm, "-m", "64", *args], stdin=slave, stdout=slave,
                                      stderr=subprocess.PIPE, close_fds=True, env=env)
            os.close(slave)
            self.rfd = self.master
        else:
            self.p = subprocess.Popen([vmm, "-m", "64", *args], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            self.rfd = self.p.stdout.fileno()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.rfd, 4096)
            except OSError:
                return  # EIO: the terminal's other side closed
            if not data:
                return
            with self.lock:
                self.out += data

    def send(self, data):
        if self.mode == "pty":
            os.write(self.master, data)
        else:
            self.p.stdin.write(data)
            self.p.stdin.flush()

    def close_input(self):
        self.p.stdin.close()

    def mark(self):
        with self.lock:
            return len(self.out)

    def wait_for(self, needle, since=0, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if needle in self.out[since:]:
                    return self.out.index(needle, since) + len(needle)
            if self.p.poll() is not None:
                time.sleep(0.2)  # what it wrote last
                with self.lock:
                    if needle in self.out[since:]:
                        return self.out.index(needle, since) + len(needle)
                self._unavailable()
                pytest.fail(f"vmm exited ({self.p.returncode}) before {needle!r}: "
                            f"{self.out[since:][-400:]!r} {self.p.stderr.read()!r}")
            time.sleep(0.05)
        pytest.fail(f"no {needle!r} in {self.out[since:][-600:]!r}")

    def _unavailable(self):
        err = self.p.stderr.read().decode(errors="replace")
        if "/dev/kvm" in err:
            fwskip.unavailable("no usable /dev/kvm")
        self.p.stderr = _Done(err)

    def wait_exit(self, timeout=30):
        rc = self.p.wait(timeout=timeout)
        self.reader.join(timeout=5)
        err = self.p.stderr.read()
        return rc, err if isinstance(err, str) else err.decode(errors="replace")

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if self.mode == "pty":
            os.close(self.master)


class _Done:
    def __init__(self, text):
        self.text = text

    def read(self):
        return self.text


@pytest.fixture
def console(request):
    made = []

    def start(mode, *args, **kw):
        c = Console(mode, *args, **kw)
        made.append(c)
        return c
    yield start
    for c in made:
        c.close()


def guest(tmp_path):
    """A writable copy of the echo guest (Ctrl-A s has something to flush)."""
    path = tmp_path / "echo.img"
    shutil.copy(fw_image("disk-15.img"), path)
    return str(path)


def boot(console, mode, tmp_path, *args, **kw):
    c = console(mode, "-drive", f"file={guest(tmp_path)},format=raw,if=ide", *args, **kw)
    c.wait_for(b"VMM-ECHO-READY")
    return c


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_nographic_switches_between_console_and_monitor(console, tmp_path, mode):
    c = boot(console, mode, tmp_path, "-nographic")
    m = c.mark()
    c.send(b"hello")
    c.wait_for(b"hello", m)  # the guest echoes: COM1 has the keyboard
    # the monitor's banner was held, not mixed into the console
    assert b"monitor - type 'help'" not in c.out
    m = c.mark()
    c.send(b"\x01c")
    c.wait_for(b"(vmm) ", m)
    m = c.mark()
    c.send(b"info status\r")
    c.wait_for(b"VM status: running", m)
    c.wait_for(b"(vmm) ", m)
    m = c.mark()
    c.send(b"\x01c")
    c.send(b"world")
    c.wait_for(b"world", m)
    c.send(b"\x01x")
    rc, err = c.wait_exit()
    assert rc == 0, err
    assert "terminating on signal from console" in err


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_ctrl_a_b_is_a_break_on_com1(console, tmp_path, mode):
    c = boot(console, mode, tmp_path, "-nographic")
    m = c.mark()
    c.send(b"\x01b")
    c.wait_for(b"VMM-BREAK", m)
    # Ctrl-A Ctrl-A is one Ctrl-A for the guest
    m = c.mark()
    c.send(b"<\x01\x01>")
    c.wait_for(b"<\x01>", m)
    c.send(b"\x01x")
    assert c.wait_exit()[0] == 0


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_ctrl_a_s_and_h(console, tmp_path, mode):
    c = boot(console, mode, tmp_path, "-serial", "mon:stdio", "-display", "none")
    m = c.mark()
    c.send(b"\x01s")
    c.send(b"\x01h")
    end = c.wait_for(b"C-a C-a  sends C-a", m)
    help_text = c.out[m:end]
    for key in (b"C-a h", b"C-a x", b"C-a s", b"C-a b", b"C-a c"):
        assert key in help_text
    m = c.mark()
    c.send(b"[ok]")
    c.wait_for(b"[ok]", m)
    # the keys never reached the guest (it would have echoed them)
    assert b"\x01" not in c.out
    c.send(b"\x01x")
    rc, err = c.wait_exit()
    assert rc == 0, err
    assert "flushing" not in err


def test_pipe_split_escape_long_line_and_monitor_quit(console, tmp_path):
    # Ctrl-A and its key in two writes (two reads), a monitor line past
    # the limit, then 'quit' on the monitor: vmm ends with status 0.
    c = boot(console, "pipe", tmp_path, "-nographic")
    m = c.mark()
    c.send(b"\x01")
    time.sleep(0.5)
    c.send(b"c")
    c.wait_for(b"(vmm) ", m)
    m = c.mark()
    c.send(b"x" * 5000 + b"\n")
    c.wait_for(b"line too long", m)
    m = c.mark()
    c.send(b"info status\n")
    c.wait_for(b"VM status: running", m)
    c.send(b"quit\n")
    c.close_input()  # EOF on the pipe as well
    rc, err = c.wait_exit()
    assert rc == 0, err


def test_pipe_eof_keeps_the_machine(console, tmp_path):
    # stdin's end is not the machine's: it runs until told otherwise
    c = boot(console, "pipe", tmp_path, "-nographic", "-qmp", f"unix:{tmp_path}/q.sock,server=on,wait=off")
    c.close_input()
    time.sleep(1)
    assert c.p.poll() is None


def test_chardev_mux_with_mon(console, tmp_path):
    c = boot(console, "pipe", tmp_path, "-display", "none", "-chardev", "stdio,mux=on,id=c0",
             "-serial", "chardev:c0", "-mon", "chardev=c0")
    m = c.mark()
    c.send(b"\x01cinfo status\n")
    c.wait_for(b"VM status: running", m)
    c.send(b"\x01cback")
    c.wait_for(b"back", m)
    c.send(b"\x01x")
    assert c.wait_exit()[0] == 0


def test_plain_serial_stdio_on_a_pipe_has_no_keys(console, tmp_path):
    # QEMU's plain stdio backend has no multiplexer: Ctrl-A goes to the
    # guest (on a terminal vmm keeps its long-standing Ctrl-A x, h).
    c = boot(console, "pipe", tmp_path, "-display", "none", "-serial", "stdio")
    m = c.mark()
    c.send(b"\x01c\x01x")
    c.wait_for(b"\x01c\x01x", m)
    assert c.p.poll() is None


def test_mon_stdio_with_another_monitor_is_one_line(tmp_path):
    p = subprocess.run([VMM, "-serial", "mon:stdio", "-monitor",
                        f"unix:{tmp_path}/m.sock,server=on,wait=off"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "only one monitor" in p.stderr, p.stderr


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_asan_every_key_is_clean(console, tmp_path, mode):
    # vmm-asan (leaks checked at exit; -sandbox off as in test_lifecycle:
    # the leak checker's prctl is not in the filters): every key, the
    # monitor held and shown, then quit from the monitor.
    asan = os.environ.get("VMM_ASAN", os.path.join(os.path.dirname(VMM), "vmm-asan"))
    if not os.path.exists(asan):
        pytest.fail(f"{asan} is missing: run `make vmm-asan`")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    c = boot(console, mode, tmp_path, "-nographic", "-sandbox", "off", vmm=asan, env=env)
    m = c.mark()
    c.send(b"\x01h\x01s\x01b\x01\x01")
    c.wait_for(b"VMM-BREAK", m)
    c.wait_for(b"\x01", m)
    m = c.mark()
    c.send(b"\x01cinfo status\r")
    c.wait_for(b"VM status: running", m)
    m = c.mark()
    c.send(b"\x01c\x01c")  # to the console and back: the prompt again
    c.wait_for(b"(vmm) ", m)
    c.send(b"quit\r")
    rc, err = c.wait_exit(timeout=60)
    for bad in ("LeakSanitizer", "AddressSanitizer", "runtime error"):
        assert bad not in err, err
    assert rc == 0, err
