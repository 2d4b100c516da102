# SPDX-License-Identifier: GPL-2.0-or-later
"""The gdb stub (-gdb, -s, monitor gdbserver) with a real debugger: Debian's
gdb attaches to vmm started with -S, to tests/fw/gdbguest.S (a -bios image
that enters long mode and runs a payload at 0xFFFFFFFF80100000, mapped by
its own page tables), sets a hardware and a software breakpoint, continues,
hits them, reads registers and memory through the guest's page tables,
single-steps and detaches; the guest then runs on and prints GDBOK on the
debug console. A raw protocol client covers what gdb in batch mode cannot
(Ctrl-C, two vCPUs as threads, hostile packets against the live process).

Both gdb breakpoint kinds work on this project's software-nested KVM
(kvm_pvm): hardware breakpoints and single steps as KVM_EXIT_DEBUG; a
software breakpoint's INT3 is an emulation failure there (KVM's emulator,
which runs the guest's ring-0 code, cannot run INT3), which vmm takes as
the #BP it would be when the stub put an INT3 at that address. Data
watchpoints are programmed (DR7, checked in tests/unit/test_gdbstub.c) but
do not fire on kvm_pvm: its emulator does not check data breakpoints."""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import fwskip
from conftest import FW_BUILD, VMM, fw_image

PAYLOAD_VA = 0xFFFFFFFF80100000
GDB = shutil.which("gdb")


def symbols():
    """The payload's labels as guest virtual addresses (from gdbguest.o)."""
    fw_image("gdbguest.bin")
    out = subprocess.run(["nm", os.path.join(FW_BUILD, "gdbguest.o")], capture_output=True,
                         text=True, check=True).stdout
    syms = {l.split()[2]: int(l.split()[0], 16) for l in out.splitlines() if len(l.split()) == 3}
    return {k: PAYLOAD_VA + v - syms["payload"] for k, v in syms.items()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vmm:
    def __init__(self, tmp_path, *args):
        if not os.path.exists("/dev/kvm"):
            fwskip.unavailable("/dev/kvm is missing")
        self.log = tmp_path / "debugcon.log"
        self.proc = subprocess.Popen(
            [VMM, "-bios", fw_image("gdbguest.bin"), "-m", "16", "-nodefaults", "-display",
             "none", "-debugcon", f"file:{self.log}", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def debugcon(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_debugcon(self, text, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.debugcon():
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


def connect(addr, timeout=30):
    """A client socket to the stub (tcp port or unix path), once it listens."""
    end = time.monotonic() + timeout
    while True:
        try:
            if isinstance(addr, int):
                return socket.create_connection(("127.0.0.1", addr), timeout=timeout)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(addr)
            return s
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def wait_listening(port, timeout=30):
    """Until a socket listens on the TCP port (a test connection would be
    a client: it would stop and then resume the machine)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(name) as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if int(local.split(":")[1], 16) == port and state == "0A":
                        return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on port {port}")


class Rsp:
    """A minimal GDB remote protocol client."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def _read_until(self, pred):
        while not pred():
            data = self.s.recv(65536)
            if not data:
                raise EOFError("stub closed the connection")
            self.buf += data

    def raw(self, data):
        self.s.sendall(data)

    def ack(self):
        self._read_until(lambda: len(self.buf) >= 1)
        c, self.buf = self.buf[:1], self.buf[1:]
        return c

    def packet(self):
        self._read_until(lambda: re.search(rb"\$[^#]*#..", self.buf, re.S))
        m = re.search(rb"\$([^#]*)#(..)", self.buf, re.S)
        self.buf = self.buf[m.end():]
        data = m.group(1)
        assert int(m.group(2), 16) == sum(data) & 0xFF, data
        return re.sub(rb"\}(.)", lambda x: bytes([x.group(1)[0] ^ 0x20]), data,
                      flags=re.S).decode("latin-1")

    def send(self, data):
        body = data.encode("latin-1") if isinstance(data, str) else data
        self.raw(b"$" + body + b"#%02x" % (sum(body) & 0xFF))
        assert self.ack() == b"+"

    def cmd(self, data):
        self.send(data)
        return self.packet()


def gdb(script, timeout=120):
    assert GDB, "gdb is missing (tools/deps.sh installs it)"
    p = subprocess.run([GDB, "-batch", "-nx", *sum((["-ex", c] for c in script), [])],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.stdout + p.stderr


def test_gdb_breaks_reads_steps_and_detaches(tmp_path):
    sym = symbols()
    port = free_port()
    vm = Vmm(tmp_path, "-gdb", f"tcp:127.0.0.1:{port}", "-S")
    try:
        wait_listening(port)
        out = gdb([
            f"target remote 127.0.0.1:{port}",
            # At -S the guest is at the reset vector, paging off: a
            # hardware breakpoint needs no memory.
            "info registers rip cs",
            "info registers mxcsr",
            # written and read back through the XSAVE area
            "set $mxcsr = 0x1f00",
            "set $xmm3.v4_int32[0] = 0x5a5a",
            "set $rax = 7",
            "info registers mxcsr",
            "p/x $xmm3.v4_int32[0]",
            "set $mxcsr = 0x1f80",
            f"hbreak *{sym['bp_target']:#x}",
            "continue",
            "info registers rip rbx efer cr3",
            f"x/wx {sym['counter']:#x}",
            f"x/gx {sym['magic']:#x}",
            "delete",
            # Now the payload is mapped: a software breakpoint (an INT3 in RAM)
            f"break *{sym['after_nop']:#x}",
            "continue",
            "info registers rip rbx",
            f"x/2xb {sym['bp_target']:#x}",
            "stepi",
            "info registers rip",
            "info threads",
            "delete",
            "detach",
        ])
        rip = lambda v: rf"rip\s+{v:#x}\s"
        assert re.search(r"rip\s+0xfff0\s", out), out        # the first instruction, from -S
        assert re.search(r"cs\s+0xf000\s", out), out
        assert re.findall(r"mxcsr\s+(0x[0-9a-f]+)", out)[:2] == ["0x1f80", "0x1f00"], out
        assert re.search(r"= 0x5a5a$", out, re.M), out
        assert f"Hardware assisted breakpoint 1 at {sym['bp_target']:#x}" in out, out
        assert re.search(rip(sym["bp_target"]), out), out
        assert re.search(r"rbx\s+0x1\s", out), out
        assert re.search(r"efer\s+0x[d5]00\s", out), out       # LME|LMA (and SCE off)
        assert re.search(r"cr3\s+0x10000\s", out), out
        assert re.search(rf"{sym['counter']:#x}:\s+0x00000001", out), out
        assert re.search(rf"{sym['magic']:#x}:\s+0x1122334455667788", out), out
        assert f"Breakpoint 2, {sym['after_nop']:#018x}" in out, out
        assert re.search(rip(sym["after_nop"]), out), out
        # the stub hides its INT3: gdb reads the guest's nops
        assert re.search(rf"{sym['bp_target']:#x}:\s+0x90\s+0x90", out), out
        assert re.search(rip(sym["after_nop"] + 1), out), out  # one nop stepped
        assert "Thread 1 (CPU#0" in out, out
        assert "detached" in out, out
        # the guest runs on without breakpoints: the loop ends, GDBOK
        assert vm.wait_debugcon("GDBOK"), (out, vm.debugcon())
    finally:
        status, err = vm.stop()
    assert status == 0, err
    assert "sandbox" not in err, err


def test_interrupt_threads_and_hostile_packets(tmp_path):
    sym = symbols()
    path = str(tmp_path / "gdb.sock")
    vm = Vmm(tmp_path, "-smp", "2", "-gdb", f"unix:{path},server")
    try:
        assert vm.wait_debugcon("GDBOK")
        r = Rsp(connect(path))
        # connecting stops the machine
        assert r.cmd("?") == "T05thread:1;"
        assert r.cmd("qfThreadInfo") == "m1,2"
        assert r.cmd("qsThreadInfo") == "l"
        spins1 = int.from_bytes(bytes.fromhex(r.cmd(f"m{sym['spins']:x},4")), "little")
        # the AP (thread 2) waits for its SIPI at the reset vector
        assert r.cmd("Hg2") == "OK"
        g = r.cmd("g")
        assert int.from_bytes(bytes.fromhex(g[16 * 16:17 * 16]), "little") == 0xFFF0
        # what the AP sees without paging: the BIOS ROM below 4 GiB and its
        # low alias at 0xF0000 (the PAM's view, not the RAM beneath), the
        # reset vector's far jump; the VGA window is MMIO: refused
        rom = open(fw_image("gdbguest.bin"), "rb").read()
        assert r.cmd("mfffffff0,5") == rom[0xFFF0:0xFFF5].hex()
        assert r.cmd("mffff0,5") == rom[0xFFF0:0xFFF5].hex()
        assert r.cmd("mffff0,5").startswith("ea")
        assert r.cmd("Mffff0,1:90") == "E0e"              # the ROM is read-only
        assert r.cmd("ma0000,4") == "E0e"
        assert r.cmd("mfffffffe,4") == "E0e"              # past 4 GiB: nothing there
        assert r.cmd("Hg1") == "OK"
        # runs, Ctrl-C stops it again, and it ran meanwhile
        r.send("vCont;c")
        time.sleep(0.5)
        r.raw(b"\x03")
        assert r.packet() == "T02thread:1;"
        spins2 = int.from_bytes(bytes.fromhex(r.cmd(f"m{sym['spins']:x},4")), "little")
        assert spins2 > spins1
        # hostile input: errors, never a crash
        r.raw(b"$m0,4#00")
        assert r.ack() == b"-"
        r.raw(b"$" + b"M" * 20000 + b"#00")
        assert r.ack() == b"+" and r.packet() == "E22"
        assert r.cmd("m0,ffffffffffffffff") == "E22"
        assert r.cmd("mdead00000000,10") == "E0e"       # not mapped
        assert r.cmd("m3ffffe,4") == "E0e"              # crosses into an unmapped page
        assert r.cmd(f"m{sym['magic']:x},8") == "8877665544332211"
        assert r.cmd("Hg3") == "E01"
        assert r.cmd("p9999") == "E01"
        assert r.cmd("D") == "OK"
        r.s.close()
    finally:
        status, err = vm.stop()
    assert status == 0, err


def test_monitor_gdbserver_starts_and_stops_the_stub(tmp_path):
    mon_path = str(tmp_path / "mon.sock")
    gdb_path = str(tmp_path / "gdb.sock")
    vm = Vmm(tmp_path, "-monitor", f"unix:{mon_path},server=on,wait=off")
    try:
        assert vm.wait_debugcon("GDBOK")
        mon = connect(mon_path)

        def monitor(line):
            mon.sendall(line.encode() + b"\n")
            out = b""
            while not out.endswith(b"(vmm) "):
                out += mon.recv(4096)
            return out.decode()

        banner = b""
        while not banner.endswith(b"(vmm) "):
            banner += mon.recv(4096)
        assert f"Waiting for gdb connection on device 'unix:{gdb_path}'" in \
            monitor(f"gdbserver unix:{gdb_path}")
        r = Rsp(connect(gdb_path))
        assert r.cmd("?") == "T05thread:1;"
        assert "VM status: paused (debug)" in monitor("info status")
        assert "Disabled gdbserver" in monitor("gdbserver none")
        # the client was detached and the guest runs again
        assert "VM status: running" in monitor("info status")
        assert not os.path.exists(gdb_path)
        assert "Error: gdbserver" in monitor("gdbserver udp::1")
        mon.close()
    finally:
        status, err = vm.stop()
    assert status == 0, err


def test_dash_s_listens_on_1234(tmp_path):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", 1234))
        except OSError:
            pytest.fail("TCP port 1234 is taken on this host: -s cannot be tested")
    vm = Vmm(tmp_path, "-s")
    try:
        r = Rsp(connect(1234))
        assert r.cmd("?") == "T05thread:1;"
        assert r.cmd("qSupported:xmlRegisters=i386").startswith("PacketSize=1000;")
        r.send("k")  # kill: vmm exits
        assert vm.proc.wait(timeout=30) == 0
    finally:
        vm.stop()


@pytest.mark.parametrize("spec,why", [
    ("udp::1234", "expected tcp:[HOST]:PORT, unix:PATH or none"),
    ("tcp::99999", "invalid port"),
    ("tcp::1234,server=on,wait=on", "wait=on is not supported"),
])
def test_bad_gdb_option_is_one_line(spec, why):
    p = subprocess.run([VMM, "-gdb", spec, "-display", "none"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and lines[0].startswith("vmm: -gdb: "), p.stderr


def test_help_lists_gdb_options():
    out = subprocess.run([VMM, "-help"], capture_output=True, text=True, timeout=30).stdout
    assert re.search(r"^\s*-s\s", out, re.M), out
    assert re.search(r"^\s*-gdb tcp:\[HOST\]:PORT\|unix:PATH", out, re.M), out


def test_side_by_side_with_qemu(tmp_path):
    """The same gdb session against QEMU's stub (KVM) and vmm's, on the same
    guest, up to the hardware breakpoint: the same registers, memory and
    thread list. (Past that, QEMU on kvm_pvm stops at the first software
    breakpoint with a KVM internal error: its emulator cannot run INT3.)"""
    qemu = shutil.which("qemu-system-x86_64")
    assert qemu, "qemu-system-x86_64 is missing (tools/deps.sh installs it)"
    sym = symbols()
    script = lambda port: [
        f"target remote 127.0.0.1:{port}",
        "info registers rip cs",
        # the reset values: MXCSR 1F80h (KVM_GET_FPU reads 0 there)
        "info registers mxcsr fctrl",
        f"hbreak *{sym['bp_target']:#x}",
        "continue",
        "info registers rip rbx rsp cr0 cr3 cr4",
        f"x/wx {sym['counter']:#x}",
        f"x/gx {sym['magic']:#x}",
        "stepi",
        "info registers rip",
        "info threads",
        "detach",
    ]
    # the values gdb printed, without the type-dependent decoration
    values = lambda out: re.findall(r"^(\w+)\s+(0x[0-9a-f]+)|^(0x[0-9a-f]+):\s+(0x[0-9a-f]+)|"
                                    r"^\*?\s+1\s+Thread 1", out, re.M)
    port_q, port_v = free_port(), free_port()
    common = ["-bios", fw_image("gdbguest.bin"), "-m", "16", "-nodefaults", "-display", "none",
              "-S", "-smp", "1"]
    q = subprocess.Popen([qemu, "-accel", "kvm", *common, "-gdb", f"tcp:127.0.0.1:{port_q}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    vm = Vmm(tmp_path, "-gdb", f"tcp:127.0.0.1:{port_v}", "-S")
    try:
        wait_listening(port_q)
        wait_listening(port_v)
        out_q = gdb(script(port_q))
        out_v = gdb(script(port_v))
    finally:
        q.terminate()
        q.wait(timeout=30)
        vm.stop()
    assert len(values(out_q)) >= 12, out_q
    assert values(out_v) == values(out_q), (out_v, out_q)


@pytest.mark.parametrize("detach", [False, True])
def test_exit_with_a_client_is_leak_free(tmp_path, detach):
    """vmm under ASan ends by SIGTERM with a gdb client attached (holding a
    software and a hardware breakpoint, the machine stopped) or after one
    detached, and after monitor gdbserver replaced the -gdb socket: status
    0, no leak, no sanitizer report."""
    vmm_asan = os.environ.get("VMM_ASAN", os.path.join(os.path.dirname(VMM), "vmm-asan"))
    if not os.path.exists(vmm_asan):
        pytest.fail(f"{vmm_asan} is missing: run `make build/vmm-asan`")
    sym = symbols()
    path, path2 = str(tmp_path / "gdb.sock"), str(tmp_path / "gdb2.sock")
    mon_path = str(tmp_path / "mon.sock")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    log = tmp_path / "debugcon.log"
    p = subprocess.Popen(
        [vmm_asan, "-bios", fw_image("gdbguest.bin"), "-m", "16", "-nodefaults", "-display",
         "none", "-debugcon", f"file:{log}", "-gdb", f"unix:{path}",
         "-monitor", f"unix:{mon_path},server=on,wait=off",
         # LeakSanitizer stops the threads with ptrace, which the seccomp
         # filters forbid (as in test_lifecycle.py)
         "-sandbox", "off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        text=True)
    try:
        mon = connect(mon_path)
        mon.sendall(f"gdbserver unix:{path2}\n".encode())
        out = b""
        while b"Waiting for gdb" not in out:
            out += mon.recv(4096)
        end = time.monotonic() + 120
        while "GDBOK" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < end and p.poll() is None
            time.sleep(0.2)
        r = Rsp(connect(path2))
        assert r.cmd("?") == "T05thread:1;"
        assert r.cmd(f"Z0,{sym['spin']:x},1") == "OK"
        assert r.cmd(f"Z1,{sym['done']:x},1") == "OK"
        if detach:
            assert r.cmd("D") == "OK"
            r.s.close()
        time.sleep(0.5)
        p.terminate()
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert "LeakSanitizer" not in err and "AddressSanitizer" not in err, err
    assert "runtime error" not in err, err
    assert p.returncode == 0, err
