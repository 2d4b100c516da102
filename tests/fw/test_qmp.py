# SPDX-License-Identifier: GPL-2.0-or-later
"""QMP, the human monitor, -daemonize and -pidfile on a running machine:
SeaBIOS boots disk-5.img, a boot sector that prints VMM-BOOT-OK and idles in
hlt, while the tests drive vmm over unix and TCP sockets and stdio."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

import fwskip

from conftest import BOOT_TIMEOUT, VMM, fw_image, seabios_log_args
from test_cli import one_line_error, run


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def thread_stacks(pid):
    """Each thread's backtrace of a running process, by gdb (a diagnostic:
    never raises)."""
    try:
        r = subprocess.run(["gdb", "-batch", "-nx", "-p", str(pid), "-ex",
                            "thread apply all bt 30"], capture_output=True, text=True,
                           timeout=90)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("Thread", "#"))]
        return "\n".join(lines) or r.stderr[-2000:]
    except (OSError, subprocess.SubprocessError) as e:
        return f"no stacks: {e!r}"


class Qmp:
    """A minimal QMP client: replies in order, events kept aside."""

    def __init__(self, addr, timeout=30):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        end = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            try:
                self.sock.connect(addr)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self.read()

    def read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send_raw(self, data):
        self.sock.sendall(data)

    def reply(self):
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def cmd(self, name, args=None, **extra):
        req = {"execute": name, **extra}
        if args is not None:
            req["arguments"] = args
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.reply()

    def ok(self, name, args=None):
        r = self.cmd(name, args)
        assert "return" in r, r
        return r["return"]

    def event(self, name, timeout=60):
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            self.sock.settimeout(max(0.1, end - time.monotonic()))
            if time.monotonic() > end:
                pytest.fail(f"no {name} event; got {self.events}")
            msg = self.read()
            assert "event" in msg, msg
            self.events.append(msg)

    def negotiate(self):
        assert self.ok("qmp_capabilities") == {}
        return self

    def close(self):
        self.sock.close()


class Vmm:
    """build/vmm booting the idle boot sector, serial and SeaBIOS log in files."""

    def __init__(self, tmp_path, *args, stdin=subprocess.DEVNULL, disk="disk-5.img",
                 display=("-display", "none")):
        self.serial = tmp_path / "serial.log"
        self.debuglog = tmp_path / "debugcon.log"
        cmd = [VMM, "-m", "64", *display, "-serial", f"file:{self.serial}",
               *seabios_log_args(self.debuglog), "-hda", fw_image(disk), *args]
        self.p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def text(self, path):
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_serial(self, needle, count=1, timeout=BOOT_TIMEOUT):
        try:
            wait_for(lambda: self.p.poll() is not None or
                     self.text(self.serial).count(needle) >= count,
                     timeout, f"{needle!r} x{count} on the serial console")
        except pytest.fail.Exception as e:
            # where a silent vmm is stuck: each thread's stack, then its stderr
            stacks = thread_stacks(self.p.pid)
            if self.p.poll() is None:
                self.p.kill()
            err = self.p.communicate()[1].decode(errors="replace")
            pytest.fail(f"{e}\n{stacks}\nvmm's stderr:\n{err[-4000:]}")
        assert self.p.poll() is None, self.finish()
        return self.text(self.serial)

    def lines(self, prefix):
        """The serial lines starting with prefix that the guest has finished
        (the file may end in the middle of one)."""
        done = self.text(self.serial).rpartition("\n")[0]
        return [ln.strip() for ln in done.splitlines() if ln.startswith(prefix)]

    def finish(self, timeout=30):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(self.p.pid)
            self.p.kill()
            out, err = self.p.communicate()
            pytest.fail(f"vmm did not exit: {err.decode(errors='replace')}\n{stacks}")
        return self.p.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


@pytest.fixture
def vm(tmp_path):
    started = []

    def start(*args, **kw):
        v = Vmm(tmp_path, *args, **kw)
        started.append(v)
        return v

    yield start
    for v in started:
        v.kill()


def sock_path(tmp_path, name="qmp.sock"):
    return str(tmp_path / name)


def test_qmp_unix_session(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=off", "-name", "fwtest")
    q = Qmp(path)
    ver = q.greeting["QMP"]["version"]
    # the QEMU whose interface vmm follows (tools gate features on it)
    assert ver["qemu"] == {"major": 7, "minor": 2, "micro": 0}
    assert ver["package"].startswith("vmm ")
    assert q.greeting["QMP"]["capabilities"] == []
    r = q.cmd("query-status")
    assert r["error"]["class"] == "CommandNotFound", r
    q.negotiate()
    r = q.cmd("qmp_capabilities")
    assert r["error"]["class"] == "CommandNotFound", r

    st = q.ok("query-status")
    assert st == {"running": True, "singlestep": False, "status": "running"}
    assert q.ok("query-name") == {"name": "fwtest"}
    assert q.ok("query-version") == ver
    names = {c["name"] for c in q.ok("query-commands")}
    assert {"query-status", "stop", "cont", "system_reset", "system_powerdown", "quit",
            "query-cpus-fast"} <= names
    cpus = q.ok("query-cpus-fast")
    assert len(cpus) == 1
    assert cpus[0]["cpu-index"] == 0 and cpus[0]["target"] == "x86_64"
    assert cpus[0]["qom-path"].startswith("/machine/")
    assert os.path.exists(f"/proc/{v.p.pid}/task/{cpus[0]['thread-id']}"), cpus
    r = q.cmd("query-status", id={"tag": [1, "two"]})
    assert r["id"] == {"tag": [1, "two"]}

    v.wait_serial("VMM-BOOT-OK")
    q.ok("system_powerdown")
    q.event("POWERDOWN")
    # The boot sector has no ACPI driver: the button press changes nothing else.
    assert q.ok("query-status")["running"]
    assert q.ok("quit") == {}
    e = q.event("SHUTDOWN")
    assert e["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert set(e["timestamp"]) == {"seconds", "microseconds"}
    status, _, err = v.finish()
    assert status == 0, err
    assert not os.path.exists(path), "socket left behind"


def test_stop_really_pauses_the_vcpus(vm, tmp_path):
    """Stopped during SeaBIOS POST, the BIOS log stops growing; after cont
    the same boot goes on to the boot sector. wait=on starts the vCPUs only
    when the client connects, so the stop lands within POST even on hosts
    where POST takes milliseconds."""
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=on")
    q = Qmp(path).negotiate()
    q.ok("stop")
    q.event("STOP")
    assert q.ok("query-status") == {"running": False, "singlestep": False, "status": "paused"}
    q.ok("stop")  # already stopped: no second event
    size = len(v.text(v.debuglog))
    time.sleep(2)
    assert len(v.text(v.debuglog)) == size, "the guest ran while stopped"
    assert "VMM-BOOT-OK" not in v.text(v.serial)
    q.ok("cont")
    q.event("RESUME")
    assert q.ok("query-status")["status"] == "running"
    v.wait_serial("VMM-BOOT-OK")
    assert v.text(v.debuglog).count("Running on KVM") == 1, "stop/cont must not reset"
    assert not [e for e in q.events if e["event"] in ("STOP", "RESUME", "RESET")], q.events
    q.ok("quit")
    assert v.finish()[0] == 0


def test_qmp_tcp_and_hostile_input(vm, tmp_path):
    port = free_port()
    v = vm("-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off")
    q = Qmp(("127.0.0.1", port)).negotiate()

    def error(raw):
        q.send_raw(raw)
        r = q.reply()
        assert "error" in r, r
        return r["error"]

    assert error(b'{"execute": "query-status",,}\n')["desc"].startswith("JSON parse error")
    assert error(b"[1, 2]\n")["desc"] == "QMP input must be a JSON object"
    assert error(b"not json at all\n")["class"] == "GenericError"
    assert error(b'{"execute": "no-such-command"}\n') == {
        "class": "CommandNotFound", "desc": "The command no-such-command has not been found"}
    assert error(b'{"execute": 42}\n')["class"] == "GenericError"
    assert error(b'{"execute": "stop", "arguments": [1]}\n')["class"] == "GenericError"
    assert "unexpected" in error(b'{"execute": "stop", "arguments": {"now": true}}\n')["desc"]
    assert "unexpected" in error(b'{"execute": "stop", "when": 1}\n')["desc"]
    r = q.cmd("qmp_capabilities", {"enable": "oob"})
    assert r["error"]["class"] == "CommandNotFound"
    # A 1 MiB line: one error, and the connection goes on.
    big = b'{"execute": "query-status", "id": "' + b"x" * (1 << 20) + b'"}\n'
    assert "too long" in error(big)["desc"]
    assert error(b"[" * 5000 + b"\n")["desc"].startswith("QMP message nested too deeply")
    assert q.ok("query-status")["running"]
    # Leave in the middle of a message; the next client is served.
    q.send_raw(b'{"execute": "sto')
    q.close()
    q2 = Qmp(("127.0.0.1", port)).negotiate()
    assert q2.ok("query-status")["running"], "the half message must not have run"
    q2.close()
    q3 = Qmp(("127.0.0.1", port)).negotiate()
    q3.ok("quit")
    assert q3.event("SHUTDOWN")["data"]["reason"] == "host-qmp-quit"
    assert v.finish()[0] == 0


def test_second_client_waits_for_the_first(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=off")
    a = Qmp(path).negotiate()
    b = socket.socket(socket.AF_UNIX)
    b.connect(path)
    b.settimeout(1)
    with pytest.raises(socket.timeout):
        b.recv(1)  # no greeting while the first client is served
    a.close()
    b.settimeout(10)
    assert b"QMP" in b.recv(4096)
    b.close()
    v.kill()


def test_system_reset_reruns_seabios(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    v.wait_serial("VMM-BOOT-OK")
    assert q.ok("system_reset") == {}
    e = q.event("RESET")
    assert e["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    v.wait_serial("VMM-BOOT-OK", count=2)
    assert v.text(v.debuglog).count("Running on KVM") == 2
    # Stopped machines stay stopped across a reset, as in QEMU.
    q.ok("stop")
    q.ok("system_reset")
    q.event("RESET")
    assert q.ok("query-status")["status"] == "paused"
    q.ok("quit")
    assert v.finish()[0] == 0


def test_no_reboot_reset_is_a_shutdown(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-no-reboot", "-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    q.ok("system_reset")
    e = q.event("SHUTDOWN")
    assert e["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    assert v.finish()[0] == 0


def test_sigterm_ends_cleanly(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    v.p.send_signal(signal.SIGTERM)
    assert q.event("SHUTDOWN")["data"] == {"guest": False, "reason": "host-signal"}
    status, _, err = v.finish()
    assert status == 0 and "terminating on signal 15" in err, err
    assert not os.path.exists(path)


def test_monitor_stdio(vm, tmp_path):
    v = vm("-monitor", "stdio", stdin=subprocess.PIPE)
    v.wait_serial("VMM-BOOT-OK")
    cmds = b"info status\nstop\ninfo status\ninfo cpus\ninfo version\ncont\ninfo status\n" \
           b"frobnicate\nhelp\nsystem_powerdown\nquit\n"
    out, err = v.p.communicate(cmds, timeout=30)
    out = out.decode()
    assert v.p.returncode == 0, err
    assert out.startswith("vmm ") and "(vmm) " in out
    assert out.count("VM status: running") == 2 and out.count("VM status: paused") == 1, out
    assert "* CPU #0: thread_id=" in out
    assert "unknown command: 'frobnicate'" in out
    for c in ("info ", "|status|", "stop|s", "cont|c", "system_reset", "system_powerdown",
              "quit"):
        assert c in out, c


def test_monitor_unix(vm, tmp_path):
    path = sock_path(tmp_path, "mon.sock")
    v = vm("-monitor", f"unix:{path},server=on,wait=off")
    s = wait_for(lambda: os.path.exists(path) and socket.socket(socket.AF_UNIX), 30, "socket")
    s.connect(path)
    s.settimeout(30)
    s.sendall(b"info status\nquit\n")
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    assert b"VM status: running" in data, data
    assert v.finish()[0] == 0


def test_daemonize_and_pidfile(tmp_path):
    pidfile = tmp_path / "vmm.pid"
    path = sock_path(tmp_path)
    serial = tmp_path / "serial.log"
    # format=raw: a probed raw image draws a warning on stderr, as in QEMU.
    args = ["-m", "64", "-display", "none", "-drive",
            f"file={fw_image('disk-5.img')},format=raw,if=ide,index=0", "-serial",
            f"file:{serial}", "-qmp", f"unix:{path},server=on,wait=off", "-daemonize",
            "-pidfile", str(pidfile)]
    p = subprocess.run([VMM, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"" and p.stderr == b""
    pid = int(pidfile.read_text())
    try:
        assert os.path.exists(f"/proc/{pid}")
        assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(VMM)
        assert os.getsid(pid) != os.getsid(0), "the daemon must have its own session"
        # A second vmm cannot take the locked pidfile.
        other = [a.replace(path, path + "2") for a in args]
        one_line_error(run(*other), "locked", str(pid))
        assert not os.path.exists(path + "2")
        assert int(pidfile.read_text()) == pid
        q = Qmp(path).negotiate()
        wait_for(lambda: serial.exists() and "VMM-BOOT-OK" in serial.read_text(), BOOT_TIMEOUT,
                 "the daemon's guest to boot")
        q.ok("quit")
        q.event("SHUTDOWN")
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, "the daemon to exit")
        assert not pidfile.exists() and not os.path.exists(path)
    finally:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)


def test_daemonize_with_stdio_closed(tmp_path):
    """Started with descriptors 0-2 closed (a script's `<&- >&- 2>&-`),
    vmm takes them with /dev/null first: its QMP socket would otherwise
    be descriptor 0, which -daemonize puts /dev/null over."""
    pidfile = tmp_path / "vmm.pid"
    path = sock_path(tmp_path)

    def close_stdio():
        for fd in (0, 1, 2):
            os.close(fd)
    p = subprocess.run([VMM, "-bios", fw_image("migcount.bin"), "-m", "16", "-nodefaults",
                        "-display", "none", "-qmp", f"unix:{path},server=on,wait=off",
                        "-daemonize", "-pidfile", str(pidfile)],
                       preexec_fn=close_stdio, timeout=60)
    assert p.returncode == 0
    pid = int(pidfile.read_text())
    try:
        assert [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)] == ["/dev/null"] * 3
        q = Qmp(path).negotiate()
        assert q.ok("query-status")["status"] == "running"
        q.ok("quit")
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, "the daemon to exit")
    finally:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)


def test_pidfile_without_daemonize(vm, tmp_path):
    pidfile = tmp_path / "p.pid"
    path = sock_path(tmp_path)
    v = vm("-pidfile", str(pidfile), "-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    assert int(pidfile.read_text()) == v.p.pid
    q.ok("quit")
    assert v.finish()[0] == 0
    assert not pidfile.exists()


def test_daemon_startup_error_reaches_the_terminal(tmp_path):
    p = run("-daemonize", "-display", "none", "-hda", str(tmp_path / "missing.img"))
    if "/dev/kvm" in p.stderr:
        fwskip.unavailable("no usable /dev/kvm")
    one_line_error(p, "missing.img")


def test_bad_qmp_and_stdio_options(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    long_path = "/tmp/" + "x" * 120
    live = str(tmp_path / "live.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(live)
    listener.listen(1)
    cases = [
        (["-qmp", "foo:bar"], "-qmp 'foo:bar': unsupported"),
        (["-qmp", f"unix:{tmp_path}/q.sock"], "only server mode"),
        (["-qmp", f"unix:{tmp_path}/q.sock,server=off"], "only server mode"),
        (["-qmp", f"unix:{tmp_path}/q.sock,server=on,colour=blue"], "unknown parameter 'colour'"),
        (["-qmp", "tcp:127.0.0.1:99999,server=on,wait=off"], "invalid port"),
        (["-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"], "Address already in use"),
        (["-qmp", f"unix:{long_path},server=on,wait=off"], "longer than 107 bytes"),
        (["-qmp", f"unix:{tmp_path}/no/such/dir/q.sock,server=on,wait=off"], "cannot listen"),
        (["-qmp", f"unix:{live},server=on,wait=off"], "in use by another process"),
        (["-monitor", "vc"], "-monitor 'vc': unsupported"),
        (["-nographic", "-monitor", "stdio"], "stdio is already the serial console"),
        (["-serial", "stdio", "-qmp", "stdio"], "stdio is already the serial console"),
        (["-monitor", "stdio", "-qmp", "stdio"], "more than one"),
        (["-daemonize", "-nographic"], "-nographic cannot be used with -daemonize"),
        (["-daemonize", "-serial", "stdio"], "-daemonize"),
        (["-daemonize", "-display", "none", "-monitor", "stdio"], "-daemonize"),
    ]
    try:
        for args, needle in cases:
            one_line_error(run(*args), needle)
        assert os.path.exists(live), "a live socket must not be removed"
    finally:
        taken.close()
        listener.close()
    assert not os.path.exists(f"{tmp_path}/q.sock")


def test_stop_cont_with_two_vcpus(vm, tmp_path):
    """Both vCPUs park, also an AP still waiting for its SIPI inside KVM_RUN."""
    path = sock_path(tmp_path)
    v = vm("-smp", "2", "-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    q.ok("stop")  # before SeaBIOS has started the AP
    q.event("STOP")
    cpus = q.ok("query-cpus-fast")
    assert [c["cpu-index"] for c in cpus] == [0, 1]
    assert len({c["thread-id"] for c in cpus}) == 2, cpus
    assert [c["props"]["socket-id"] for c in cpus] == [0, 1]
    q.ok("cont")
    q.event("RESUME")
    wait_for(lambda: "Found 2 cpu(s)" in v.text(v.debuglog), BOOT_TIMEOUT, "SeaBIOS to find 2 CPUs")
    q.ok("stop")
    q.event("STOP")
    size = len(v.text(v.debuglog))
    time.sleep(1)
    assert len(v.text(v.debuglog)) == size
    q.ok("cont")
    v.wait_serial("VMM-BOOT-OK")
    q.ok("quit")
    assert v.finish()[0] == 0


def test_qmp_stdio(vm, tmp_path):
    v = vm("-qmp", "stdio", stdin=subprocess.PIPE)
    out, err = v.p.communicate(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n'
                               b'{"execute": "quit", "id": 3}\n', timeout=60)
    assert v.p.returncode == 0, err
    msgs = [json.loads(line) for line in out.decode().splitlines()]
    assert "QMP" in msgs[0]
    assert msgs[1] == {"return": {}}
    assert msgs[2]["return"]["running"] is True
    assert msgs[3] == {"return": {}, "id": 3}
    assert msgs[4]["event"] == "SHUTDOWN"


def test_wait_on_holds_the_machine_until_a_client_connects(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server")  # QEMU's default: wait=on
    wait_for(lambda: os.path.exists(path), 30, "the socket")
    time.sleep(2)
    assert v.text(v.debuglog) == "", "the machine ran before the first client"
    q = Qmp(path).negotiate()
    assert q.ok("query-status")["running"]
    v.wait_serial("VMM-BOOT-OK")
    q.ok("quit")
    status, _, err = v.finish()
    assert status == 0 and "waiting for connection" in err, err


def test_sigterm_ends_the_wait_for_a_client(vm, tmp_path):
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=on")
    wait_for(lambda: os.path.exists(path), 30, "the socket")
    v.p.send_signal(signal.SIGTERM)
    assert v.finish()[0] == -signal.SIGTERM


def test_guest_reset_event(vm, tmp_path):
    """disk-1.img resets itself once through 0xCF9, then exits through
    isa-debug-exit, which (as in QEMU) ends vmm without a SHUTDOWN event."""
    path = sock_path(tmp_path)
    v = vm("-qmp", f"unix:{path},server=on,wait=on", "-device",
           "isa-debug-exit,iobase=0xf4,iosize=0x04", disk="disk-1.img")
    q = Qmp(path, timeout=BOOT_TIMEOUT).negotiate()
    assert q.event("RESET", timeout=BOOT_TIMEOUT)["data"] == {"guest": True,
                                                              "reason": "guest-reset"}
    status, _, err = v.finish(timeout=BOOT_TIMEOUT)
    assert status == (0x10 << 1) | 1, err
    q.sock.settimeout(5)
    rest = q.sock.recv(65536)
    assert b"SHUTDOWN" not in rest, rest


def test_balloon_commands(vm, tmp_path):
    # Without a balloon device: QEMU's DeviceNotActive for both commands.
    path = sock_path(tmp_path, "q1.sock")
    v = vm("-qmp", f"unix:{path},server=on,wait=off")
    q = Qmp(path).negotiate()
    for name, args in (("query-balloon", None), ("balloon", {"value": 1 << 20})):
        r = q.cmd(name, args)
        assert r["error"] == {"class": "DeviceNotActive",
                              "desc": "No balloon device has been activated"}, r
    assert q.ok("quit") == {}
    assert v.finish()[0] == 0
    # With one: the target is accepted, but a boot sector has no balloon
    # driver, so the guest keeps all of its 64 MiB.
    path, mon = sock_path(tmp_path, "q2.sock"), sock_path(tmp_path, "mon.sock")
    v = vm("-device", "virtio-balloon-pci,deflate-on-oom=on", "-qmp",
           f"unix:{path},server=on,wait=off", "-monitor", f"unix:{mon},server=on,wait=off")
    q = Qmp(path).negotiate()
    assert {"balloon", "query-balloon"} <= {c["name"] for c in q.ok("query-commands")}
    assert q.ok("query-balloon") == {"actual": 64 << 20}
    assert q.ok("balloon", {"value": 32 << 20}) == {}
    assert q.ok("balloon", {"value": 1 << 40}) == {}  # above RAM: no balloon
    assert q.cmd("balloon", {"value": 0})["error"]["class"] == "GenericError"
    v.wait_serial("VMM-BOOT-OK")
    assert q.ok("query-balloon") == {"actual": 64 << 20}
    s = socket.socket(socket.AF_UNIX)
    s.connect(mon)
    s.settimeout(30)
    s.sendall(b"balloon 16\ninfo balloon\nquit\n")
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    assert b"balloon: actual=64\n" in data, data
    assert v.finish()[0] == 0
