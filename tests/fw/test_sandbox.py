# SPDX-License-Identifier: GPL-2.0-or-later
"""The sandbox (-sandbox, -runas, -chroot) on a running machine.

VMM_SANDBOX_SELFTEST=KIND[:CALL] is vmm's hidden test hook: the first
thread of that kind makes a system call no list allows right after loading
its filter. With the sandbox on that must kill vmm by SIGSYS with one clear
line; with it off (or the matching sub-option) nothing happens."""
import os
import pwd
import signal
import subprocess

import pytest

from conftest import BOOT_TIMEOUT, VMM, fw_image
from test_cli import one_line_error, run
from test_qmp import Qmp, sock_path

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S

# x86-64 numbers, as the message prints them.
CALLS = {"getppid": ("getppid", 110), "execve": ("execve", 59), "fork": ("clone", 56),
         "open": ("openat", 257), "setuid": ("setuid", 105),
         "getpriority": ("getpriority", 140), "sysfs": ("sysfs", 139),
         "socket": ("socket", 41)}

# One device per thread kind: virtio-rng and virtio-blk have I/O threads,
# virtio-blk a worker pool, user networking its backend thread.
DEVICES = ("-device", "virtio-rng-pci", "-nic", "user,model=virtio")


def vmm_cmd(*args, disk="disk-0.img"):
    return [VMM, "-m", "64", "-display", "none", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive", f"file={fw_image(disk)},format=raw,if=ide",
            "-drive", f"file={fw_image('disk-1.img')},format=raw,if=virtio,readonly=on",
            *DEVICES, *args]


def run_selftest(selftest, *args, timeout=BOOT_TIMEOUT):
    env = dict(os.environ, VMM_SANDBOX_SELFTEST=selftest)
    return subprocess.run(vmm_cmd(*args), env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def assert_killed(p, kind, call):
    name, nr = CALLS[call]
    assert p.returncode == -signal.SIGSYS, (p.returncode, p.stderr)
    lines = [l for l in p.stderr.splitlines() if "sandbox" in l]
    assert lines == [f"vmm: sandbox: the {kind} thread made a forbidden system call: "
                     f"{name} ({nr}); killing vmm"], p.stderr


@pytest.mark.parametrize("kind,call", [("vcpu", "getppid"), ("vcpu", "execve"),
                                       ("vcpu", "fork"), ("io", "getppid"),
                                       ("blk-worker", "execve"), ("net", "open"),
                                       ("main", "getppid"), ("main", "execve")])
def test_violation_kills_vmm_with_one_line(kind, call):
    assert_killed(run_selftest(f"{kind}:{call}"), kind, call)


def test_vcpu_has_slirps_calls_only_with_user_networking():
    """An emulated card transmits through slirp on the vCPU that rang its
    doorbell (src/board/pc_nics.c), so with a -netdev user the vCPU may
    open a socket; without one it may not."""
    p = run_selftest("vcpu:socket")
    assert p.returncode == EXIT_OK and "vmm: sandbox" not in p.stderr, (p.returncode, p.stderr)
    cmd = vmm_cmd()
    i = cmd.index("user,model=virtio")
    cmd[i] = "none"  # no -nic at all would give QEMU's default, an e1000 on user
    p = subprocess.run(cmd, env=dict(os.environ, VMM_SANDBOX_SELFTEST="vcpu:socket"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=BOOT_TIMEOUT)
    assert_killed(p, "vcpu", "socket")


@pytest.mark.parametrize("call", ["open", "execve", "fork"])
def test_vnc_thread_is_filtered(tmp_path, call):
    """The VNC server's thread (it parses what network clients send) has a
    filter of its own: a write open, an exec or a fork kills vmm."""
    p = run_selftest(f"vnc:{call}", "-vnc", f"unix:{tmp_path / 'vnc.sock'}")
    assert_killed(p, "vnc", call)


@pytest.mark.parametrize("kind", ["vcpu", "io", "blk-worker"])
def test_thread_arena_trim_is_no_violation(kind):
    """glibc reads /proc/sys/vm/overcommit_memory the first time a thread
    arena's heap shrinks: under a filter that was an openat, which killed
    vmm at exit once in five guest runs (libslirp's cleanup freeing on the
    main thread what its thread allocated). A thread of each kind gives
    its arena's top back under its filter: the boot sector still exits."""
    p = run_selftest(f"{kind}:trim")
    assert "sandbox" not in p.stderr, p.stderr
    assert p.returncode == EXIT_OK, (p.returncode, p.stderr)


def test_sandbox_off_lets_the_same_calls_through():
    for selftest in ("vcpu:execve", "main:fork"):
        p = run_selftest(selftest, "-sandbox", "off")
        assert p.returncode == EXIT_OK, (selftest, p.returncode, p.stderr)
        assert "VMM-BOOT-OK" in p.stdout
        assert "vmm: sandbox" not in p.stderr


@pytest.mark.parametrize("option,call", [("spawn=allow", "execve"),
                                         ("elevateprivileges=allow", "setuid"),
                                         ("elevateprivileges=children", "setuid"),
                                         ("resourcecontrol=allow", "getpriority"),
                                         ("obsolete=allow", "sysfs")])
def test_sub_options_widen_the_lists(option, call):
    assert_killed(run_selftest(f"vcpu:{call}"), "vcpu", call)
    p = run_selftest(f"vcpu:{call}", "-sandbox", f"on,{option}")
    assert p.returncode == EXIT_OK, (p.returncode, p.stderr)


@pytest.mark.parametrize("args,needle", [
    (("-sandbox", "maybe"), "-sandbox: expected 'on' or 'off', got 'maybe'"),
    (("-sandbox", "on,spawn=perhaps"), "spawn: expected 'allow' or 'deny'"),
    (("-sandbox", "on,elevateprivileges=yes"), "elevateprivileges"),
    (("-sandbox", "on,colour=red"), "unknown parameter 'colour'"),
    (("-sandbox", "on,spawn"), "'spawn' needs a value"),
    (("-sandbox", ""), "-sandbox"),
    (("-runas", "no-such-user-vmm"), "-runas: no such user 'no-such-user-vmm'"),
    (("-runas", ""), "-runas"),
    (("-chroot", "/nonexistent/vmm-chroot"), "-chroot: '/nonexistent/vmm-chroot' is not a"),
    (("-chroot", "/etc/passwd"), "is not a directory"),
])
def test_bad_sandbox_options_are_one_line(args, needle):
    one_line_error(run("-m", "64", "-display", "none", "-serial", "null", *args), needle)


def proc_status(pid, tid=None):
    path = f"/proc/{pid}/task/{tid}/status" if tid else f"/proc/{pid}/status"
    fields = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def threads(pid):
    """(tid, name, status) of every thread but the kernel's io_uring
    workers (iou-wrk/iou-sqp), which never run user code."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = proc_status(pid, tid)
        except FileNotFoundError:
            continue  # a thread that just ended
        if not st["Name"].startswith("iou-"):
            out.append((tid, st["Name"], st))
    return out


class Running:
    """vmm on disk-5.img (prints VMM-BOOT-OK, then idles) with every kind of
    thread, SMP, a balloon and QMP."""

    def __init__(self, tmp_path, *args):
        self.serial = tmp_path / "serial.log"
        self.qmp_path = sock_path(tmp_path)
        cmd = [VMM, "-m", "64", "-smp", "2", "-display", "none",
               "-serial", f"file:{self.serial}", "-hda", fw_image("disk-5.img"),
               "-drive", f"file={fw_image('disk-1.img')},format=raw,if=virtio,readonly=on",
               "-device", "virtio-balloon", *DEVICES,
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *args]
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def wait_boot(self):
        qmp = Qmp(self.qmp_path, timeout=BOOT_TIMEOUT)
        qmp.negotiate()
        import time
        end = time.monotonic() + BOOT_TIMEOUT
        while "VMM-BOOT-OK" not in (self.serial.read_text(errors="replace")
                                    if self.serial.exists() else ""):
            assert self.p.poll() is None, self.p.communicate()
            assert time.monotonic() < end, "no VMM-BOOT-OK"
            time.sleep(0.1)
        return qmp

    def quit(self, qmp):
        qmp.cmd("quit")
        out, err = self.p.communicate(timeout=60)
        return self.p.returncode, err.decode(errors="replace")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


@pytest.fixture
def running(tmp_path):
    started = []

    def start(*args):
        r = Running(tmp_path, *args)
        started.append(r)
        return r

    yield start
    for r in started:
        r.kill()


def test_every_thread_is_filtered(running):
    vm = running()
    qmp = vm.wait_boot()
    # Balloon and QMP traffic while the filters are in place.
    qmp.ok("balloon", {"value": 48 * 1024 * 1024})
    qmp.ok("query-balloon")
    qmp.ok("query-cpus-fast")
    ts = threads(vm.p.pid)
    names = sorted(n for _, n, _ in ts)
    for tid, name, st in ts:
        assert st["Seccomp"] == "2", (tid, name, st["Seccomp"])
        assert st["NoNewPrivs"] == "1", (tid, name)
    # The main thread keeps vmm's name; each other thread is named after its kind.
    for kind in ("vmm", "vmm-vcpu", "vmm-io", "vmm-blk-worker", "vmm-net"):
        assert kind in names, names
    assert names.count("vmm-vcpu") == 2, names
    assert "vmm-timer" not in names, names  # the RTC's timers run in the main loop
    # A vCPU runs under the main thread's filter (its creator's) and its own.
    vcpu = [st for _, n, st in ts if n == "vmm-vcpu"][0]
    assert int(vcpu["Seccomp_filters"]) == 2, vcpu["Seccomp_filters"]
    status, err = vm.quit(qmp)
    assert status == 0, err
    assert "vmm: sandbox" not in err


def test_sandbox_off_filters_nothing(running):
    vm = running("-sandbox", "off")
    qmp = vm.wait_boot()
    for tid, name, st in threads(vm.p.pid):
        assert st["Seccomp"] == "0", (tid, name)
    status, err = vm.quit(qmp)
    assert status == 0, err


@pytest.mark.skipif(os.geteuid() != 0, reason="-runas and -chroot need root")
@pytest.mark.parametrize("user", ["nobody", "65534:65534"])
def test_runas_and_chroot(running, tmp_path, user):
    nobody = pwd.getpwnam("nobody")
    root = tmp_path / "jail"
    root.mkdir()
    vm = running("-runas", user, "-chroot", str(root))
    qmp = vm.wait_boot()
    st = proc_status(vm.p.pid)
    assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(nobody.pw_gid)] * 4, st["Gid"]
    assert st["Groups"].split() == [str(nobody.pw_gid)], st["Groups"]
    assert st["CapEff"] == "0000000000000000"
    # Every thread, not only the main one, changed identity.
    for tid, name, tst in threads(vm.p.pid):
        assert tst["Uid"].split()[1] == str(nobody.pw_uid), (tid, name, tst["Uid"])
        assert tst["Seccomp"] == "2", (tid, name)
    assert os.readlink(f"/proc/{vm.p.pid}/root") == str(root)
    assert os.readlink(f"/proc/{vm.p.pid}/cwd") == str(root)
    status, err = vm.quit(qmp)
    assert status == 0, err
    assert "vmm: sandbox" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="-runas needs root")
def test_runas_with_sandbox_off(running):
    vm = running("-sandbox", "off", "-runas", "nobody")
    qmp = vm.wait_boot()
    assert proc_status(vm.p.pid)["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid)
    status, err = vm.quit(qmp)
    assert status == 0, err


def test_rtc_interrupts_come_from_the_main_loop():
    """disk-8 enables the RTC periodic interrupt and counts its ticks: they
    come from a timer of the main thread's event loop, under the main
    thread's filter; no thread is started for them any more (a vCPU may
    not create threads at all)."""
    p = subprocess.run(vmm_cmd(disk="disk-8.img"), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=BOOT_TIMEOUT)
    assert p.returncode == EXIT_OK, (p.returncode, p.stderr)
    assert "VMM-RTC-OK" in p.stdout, p.stdout
    assert "vmm: sandbox" not in p.stderr


def test_help_shows_the_whole_synopsis():
    p = run("-help")
    assert p.returncode == 0
    assert ("-sandbox on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]"
            "[,spawn=allow|deny][,resourcecontrol=allow|deny]") in p.stdout, p.stdout
    assert "-runas USER|UID:GID" in p.stdout and "-chroot DIR" in p.stdout


def test_sanitizer_build_runs_under_the_sandbox():
    """build/vmm-asan with the sandbox on (LeakSanitizer off: its check
    stops the world with ptrace): every thread kind starts and ends, the
    boot sector exits through isa-debug-exit. ASan's thread start and end
    make calls the release build does not; a violation there names its
    caller (a backtrace, which only the sanitizer build can unwind)."""
    asan = os.environ.get("VMM_ASAN", os.path.join(os.path.dirname(VMM), "vmm-asan"))
    if not os.path.exists(asan):
        pytest.fail(f"{asan} is missing: run `make build/vmm-asan`")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.run([asan, *vmm_cmd()[1:]], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=BOOT_TIMEOUT * 3)
    assert "sandbox" not in p.stderr, p.stderr
    assert p.returncode == EXIT_OK, (p.returncode, p.stderr[-2000:])
    p = subprocess.run([asan, *vmm_cmd()[1:]],
                       env=dict(env, VMM_SANDBOX_SELFTEST="io:getppid"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=BOOT_TIMEOUT * 3)
    assert p.returncode == -signal.SIGSYS, (p.returncode, p.stderr[-2000:])
    assert "the io thread made a forbidden system call: getppid (110)" in p.stderr, p.stderr
    assert "kick_main" in p.stderr or "vmm-asan(" in p.stderr, p.stderr  # the backtrace
