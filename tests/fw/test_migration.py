# SPDX-License-Identifier: GPL-2.0-or-later
"""Migration as a user meets it: a guest that counts in RAM and prints to
COM1 (tests/fw/migcount.S, a -bios image: no SeaBIOS, so it counts within
a fraction of a second of the start; 256 KiB of its RAM hold a pattern it
checks) is moved by QMP `migrate` from one vmm to
another, over unix:, tcp:, exec: and file:. The destination goes on
counting from the next number, without a restart ("START") and with its
RAM whole (no "BAD"); the source ends paused in "postmigrate"; the
MIGRATION events come as QEMU sends them. A truncated, corrupt or
mismatched stream is refused by the destination with one line and exit
status 1; a source whose migration fails runs on."""
import gzip
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import fwskip
from conftest import ROOT, VMM, fw_image
from test_qmp import Qmp, wait_for

VMM_ASAN = os.environ.get("VMM_ASAN", os.path.join(ROOT, "build", "vmm-asan"))
RAM_MB = 16
# Guest RAM the stream carries: all of -m but the VGA window (0xA0000-0xBFFFF).
RAM_BYTES = RAM_MB * 1024 * 1024 - 128 * 1024
COUNT = re.compile(r"^[0-9a-f]{8}$")


class Machine:
    def __init__(self, tmp_path, name, extra, vmm=VMM, env=None, ram_mb=RAM_MB):
        if not os.path.exists("/dev/kvm"):
            fwskip.unavailable("/dev/kvm is missing")
        self.log = tmp_path / f"{name}.log"
        self.qmp_path = str(tmp_path / f"{name}.qmp")
        self.proc = subprocess.Popen(
            [vmm, "-bios", fw_image("migcount.bin"), "-m", str(ram_mb), "-nodefaults",
             "-display", "none", "-serial", f"file:{self.log}",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.qmp = None

    def connect(self):
        self.qmp = Qmp(self.qmp_path).negotiate()
        return self.qmp

    def lines(self):
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def counts(self):
        return [int(x, 16) for x in self.lines() if COUNT.match(x)]

    def finish(self, timeout=30):
        if self.qmp and self.proc.poll() is None:
            try:
                self.qmp.ok("quit")
            except (OSError, EOFError):
                pass
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def enable_events(q):
    assert q.ok("migrate-set-capabilities",
                {"capabilities": [{"capability": "events", "state": True}]}) == {}
    assert {"capability": "events", "state": True} in q.ok("query-migrate-capabilities")


def wait_counting(m, n=20):
    wait_for(lambda: m.proc.poll() is not None or len(m.counts()) >= n, 60,
             f"{m.log.name}: {n} counts")
    assert m.proc.poll() is None, m.proc.stderr.read().decode(errors="replace")


def wait_migrated(q, timeout=60):
    def done():
        r = q.ok("query-migrate")
        return r if r.get("status") in ("completed", "failed") else None
    return wait_for(done, timeout, "the migration to end")


def migration_events(q):
    return [e["data"]["status"] for e in q.events if e["event"] == "MIGRATION"]


def check_source_after(src):
    """Paused in postmigrate, the figures QEMU reports, the count stopped."""
    q = src.qmp
    st = q.ok("query-status")
    assert st["status"] == "postmigrate" and st["running"] is False, st
    info = q.ok("query-migrate")
    assert info["status"] == "completed", info
    assert info["total-time"] >= info["downtime"] >= 0, info
    ram = info["ram"]
    assert ram["total"] == RAM_BYTES, ram
    assert ram["remaining"] == 0, ram
    assert ram["normal"] > 0 and ram["duplicate"] > 0, ram
    # Every page at least once (pre-copy sends dirtied pages again).
    assert (ram["normal"] + ram["duplicate"]) * 4096 >= RAM_BYTES, ram
    assert ram["dirty-sync-count"] >= 2, ram
    # Zero pages are a byte each: the stream is far smaller than RAM.
    assert ram["normal-bytes"] < ram["transferred"] < RAM_BYTES // 10, ram
    q.event("STOP", timeout=5)
    assert migration_events(q) == ["setup", "active", "completed"], q.events
    passes = [e["data"]["pass"] for e in q.events if e["event"] == "MIGRATION_PASS"]
    assert passes == list(range(1, ram["dirty-sync-count"] + 1)), q.events
    return source_output(src)


def source_output(src):
    """What the source printed, once it no longer prints."""
    text = src.log.read_text(errors="replace")
    time.sleep(0.5)
    assert src.log.read_text(errors="replace") == text, "the source still prints"
    return text


def check_destination_continues(dst, src_text):
    """The source's output, then the destination's, is one count from 1,
    consecutive, START once at the very beginning and no BAD. (The guest
    may have stopped in the middle of a line: the destination finishes
    it, so the two outputs are checked as one.)"""
    wait_for(lambda: dst.proc.poll() is not None or len(dst.counts()) >= 20, 60,
             "the destination to count on")
    assert dst.proc.poll() is None, dst.proc.stderr.read().decode(errors="replace")
    dst_text = dst.log.read_text(errors="replace")
    assert not dst_text.startswith("START"), dst_text[:40]
    lines = (src_text + dst_text).splitlines()
    assert lines[0] == "START" and "START" not in lines[1:], lines[:5]
    assert "BAD" not in lines, [x for x in lines if not COUNT.match(x)][:5]
    counts = [int(x, 16) for x in lines if COUNT.match(x)]
    assert counts == list(range(1, len(counts) + 1)), counts
    assert len(src_text.splitlines()) >= 2 and len(dst.counts()) >= 19
    q = dst.qmp
    st = q.ok("query-status")
    assert st == {"running": True, "singlestep": False, "status": "running"}, st


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_migration(tmp_path, uri, extra=()):
    dst = Machine(tmp_path, "dst", [*extra, "-incoming", uri])
    src = Machine(tmp_path, "src", [*extra])
    try:
        qd = dst.connect()
        # Waiting: paused in inmigrate, and cont cannot start it early.
        assert qd.ok("query-status")["status"] == "inmigrate"
        qd.ok("cont")
        assert qd.ok("query-status") == {"running": False, "singlestep": False,
                                         "status": "inmigrate"}
        assert dst.counts() == []
        enable_events(qd)
        qs = src.connect()
        enable_events(qs)
        wait_counting(src)
        assert qs.ok("migrate", {"uri": uri}) == {}
        assert wait_migrated(qs)["status"] == "completed"
        # the stream has ended (the thread may still be cleaning up): a
        # cancel has nothing to cancel, as QEMU's
        assert qs.ok("migrate_cancel") == {}
        assert qs.ok("query-migrate")["status"] == "completed"
        assert "cancelling" not in migration_events(qs), qs.events
        last = check_source_after(src)
        check_destination_continues(dst, last)
        qd.event("RESUME", timeout=5)
        assert migration_events(qd)[-2:] == ["active", "completed"], qd.events
        if "-smp" in extra:
            cpus = qd.ok("query-cpus-fast")
            assert len(cpus) == int(extra[list(extra).index("-smp") + 1]), cpus
            assert all(c["thread-id"] > 0 for c in cpus), cpus
        assert qd.ok("query-migrate")["status"] == "completed"
        for m in (src, dst):
            status, err = m.finish()
            assert status == 0, err
    finally:
        src.kill()
        dst.kill()


def test_migrate_over_unix_socket(tmp_path):
    socket_migration(tmp_path, f"unix:{tmp_path / 'mig.sock'}")
    assert not (tmp_path / "mig.sock").exists(), "the incoming socket is left behind"


def test_live_precopy_of_a_bigger_guest(tmp_path):
    """256 MiB: the first pass takes long enough for the guest to write its
    counter page again while it runs; the destination still continues from
    the source's very last count, so the dirty log carried it. The guest
    stops only for the last pass: downtime below total time."""
    uri = f"unix:{tmp_path / 'mig.sock'}"
    dst = Machine(tmp_path, "dst", ["-incoming", uri], ram_mb=256)
    src = Machine(tmp_path, "src", [], ram_mb=256)
    try:
        dst.connect()
        qs = src.connect()
        enable_events(qs)
        wait_counting(src)
        before = len(src.counts())
        assert qs.ok("migrate", {"uri": uri}) == {}
        info = wait_migrated(qs)
        assert info["status"] == "completed", info
        assert info["downtime"] < info["total-time"], info
        assert info["ram"]["total"] == 256 * 1024 * 1024 - 128 * 1024
        assert info["ram"]["dirty-sync-count"] >= 2, info
        assert len(src.counts()) >= before
        check_destination_continues(dst, source_output(src))
        for m in (src, dst):
            status, err = m.finish()
            assert status == 0, err
    finally:
        src.kill()
        dst.kill()


def test_max_bandwidth_and_downtime_limit(tmp_path):
    """migrate-set-parameters: 1 MiB/s of max-bandwidth makes pre-copy's
    ~300 KiB take about a third of a second (the last pass, the guest
    stopped, goes at full speed); the values read back."""
    path = tmp_path / "slow.bin"
    src = Machine(tmp_path, "src", [])
    try:
        qs = src.connect()
        params = qs.ok("query-migrate-parameters")
        assert params == {"downtime-limit": 300, "max-bandwidth": 128 << 20}, params
        qs.ok("migrate-set-parameters", {"max-bandwidth": 1 << 20, "downtime-limit": 50})
        assert qs.ok("query-migrate-parameters") == {"downtime-limit": 50,
                                                     "max-bandwidth": 1 << 20}
        wait_counting(src, 5)
        qs.ok("migrate", {"uri": f"file:{path}"})
        info = wait_migrated(qs)
        assert info["status"] == "completed", info
        assert info["total-time"] >= 200, info
        assert info["downtime"] < info["total-time"] // 2, info
        src_text = source_output(src)
        src.finish()
    finally:
        src.kill()
    dst = Machine(tmp_path, "dst", ["-incoming", f"file:{path}"])
    try:
        dst.connect()
        check_destination_continues(dst, src_text)
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


def test_cancel_while_precopy_runs(tmp_path):
    """At 64 KiB/s pre-copy takes seconds, during which QMP answers (the
    transfer has a thread of its own) and the guest counts on;
    migrate_cancel ends it (cancelling, cancelled), the guest never
    stopped. Then a migration at full speed to a waiting destination goes
    through."""
    uri = f"unix:{tmp_path / 'mig.sock'}"
    dst = Machine(tmp_path, "dst", ["-incoming", uri])
    src = Machine(tmp_path, "src", [])
    try:
        dst.connect()
        qs = src.connect()
        enable_events(qs)
        wait_counting(src, 5)
        qs.ok("migrate-set-parameters", {"max-bandwidth": 64 << 10})
        qs.ok("migrate", {"uri": uri})
        info = wait_for(lambda: (lambda r: r if r["status"] == "active" and
                                 r["ram"]["transferred"] > 0 else None)(
                                     qs.ok("query-migrate")), 30, "pre-copy to start")
        assert info["ram"]["remaining"] > 0, info
        assert qs.ok("query-status") == {"running": True, "singlestep": False,
                                         "status": "running"}
        n = len(src.counts())
        wait_for(lambda: len(src.counts()) > n + 10, 30, "the guest to count during pre-copy")
        r = qs.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 30})
        assert "in progress" in r["error"]["desc"], r
        assert qs.ok("migrate_cancel") == {}
        info = wait_for(lambda: (lambda r: r if r["status"] == "cancelled" else None)(
            qs.ok("query-migrate")), 30, "the cancel")
        assert "error-desc" not in info, info
        assert migration_events(qs) == ["setup", "active", "cancelling", "cancelled"], qs.events
        assert not any(e["event"] == "STOP" for e in qs.events), qs.events
        assert qs.ok("query-status")["status"] == "running"
        n = len(src.counts())
        wait_for(lambda: len(src.counts()) > n + 5, 30, "the source to count on")
        # The destination saw a stream end early: refused, one line.
        out, err = dst.proc.communicate(timeout=30)
        err = err.decode(errors="replace")
        assert dst.proc.returncode == 1 and err.count("\n") == 1, err
        # Again, at full speed, to a new destination.
        dst2 = Machine(tmp_path, "dst2", ["-incoming", uri])
        try:
            dst2.connect()
            qs.events.clear()
            qs.ok("migrate-set-parameters", {"max-bandwidth": 1 << 30})
            qs.ok("migrate", {"uri": uri})
            assert wait_migrated(qs)["status"] == "completed"
            check_destination_continues(dst2, source_output(src))
            status, err = dst2.finish()
            assert status == 0, err
        finally:
            dst2.kill()
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()
        dst.kill()


def test_migrate_two_vcpus(tmp_path):
    """-smp 2: the second vCPU (an AP still waiting for its SIPI: its MP
    state is part of its kvm-vcpu section) moves too; the destination
    shows both and counts on."""
    socket_migration(tmp_path, f"unix:{tmp_path / 'mig.sock'}", ["-smp", "2"])


def test_migrate_over_tcp(tmp_path):
    socket_migration(tmp_path, f"tcp:127.0.0.1:{free_tcp_port()}")


def to_file_then_back(tmp_path, out_uri, in_uri, src_extra):
    """The source into a file (cold migration), then a new vmm from it."""
    src = Machine(tmp_path, "src", src_extra)
    try:
        qs = src.connect()
        enable_events(qs)
        wait_counting(src)
        assert qs.ok("migrate", {"uri": out_uri}) == {}
        assert wait_migrated(qs)["status"] == "completed"
        last = check_source_after(src)
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()
    dst = Machine(tmp_path, "dst", ["-incoming", in_uri])
    try:
        dst.connect()
        check_destination_continues(dst, last)
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


def test_migrate_to_file_and_back(tmp_path):
    path = tmp_path / "state.bin"
    to_file_then_back(tmp_path, f"file:{path}", f"file:{path}", [])
    assert path.stat().st_size < RAM_BYTES // 10


def test_migrate_through_exec(tmp_path):
    """exec: both ways: the source pipes into a command (its sandbox off:
    the command would inherit the filter), the destination reads a
    command's output (started at set-up, before its sandbox)."""
    path = tmp_path / "state.bin"
    # The destination's command lingers after the stream (20 s, its
    # stderr away from the test's pipe): it is not waited for, the guest
    # runs at once.
    to_file_then_back(tmp_path, f"exec:cat > {path}",
                      f"exec:cat {path}; exec sleep 20 2>/dev/null", ["-sandbox", "off"])


def test_exec_refused_under_sandbox(tmp_path):
    src = Machine(tmp_path, "src", [])
    try:
        qs = src.connect()
        wait_counting(src, 5)
        r = qs.cmd("migrate", {"uri": f"exec:cat > {tmp_path / 'x'}"})
        assert "sandbox" in r["error"]["desc"] and "spawn=allow" in r["error"]["desc"], r
        r = qs.cmd("migrate", {"uri": "ftp:nowhere"})
        assert "unknown URI" in r["error"]["desc"], r
        assert qs.ok("query-migrate") == {}
        assert qs.ok("query-status")["status"] == "running"
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def test_exec_both_ways_with_the_sandbox_on_and_spawn_allowed(tmp_path):
    """-sandbox on,spawn=allow: exec: commands run from the launcher vmm
    forked before its filters (a command forked by a filtered thread
    inherits the filter and dies mapping its libraries). The source pipes
    into gzip; a destination started with -incoming defer takes exec:
    through migrate-incoming (zcat) and goes on where the source stopped.
    The launcher is vmm's one child and ends with it."""
    path = tmp_path / "state.gz"
    sandbox = ["-sandbox", "on,spawn=allow"]
    src = Machine(tmp_path, "src", sandbox)
    try:
        qs = src.connect()
        enable_events(qs)
        wait_counting(src)
        launchers = children(src.proc.pid)
        assert len(launchers) == 1, launchers
        assert qs.ok("migrate", {"uri": f"exec:gzip -c > {path}"}) == {}
        assert wait_migrated(qs)["status"] == "completed"
        last = check_source_after(src)
        status, err = src.finish()
        assert status == 0, err
        assert not os.path.exists(f"/proc/{launchers[0]}"), "the launcher outlived vmm"
    finally:
        src.kill()
    with gzip.open(path) as f:
        assert len(f.read()) > 4096
    dst = Machine(tmp_path, "dst", [*sandbox, "-incoming", "defer"])
    try:
        qd = dst.connect()
        assert qd.ok("migrate-incoming", {"uri": f"exec:zcat {path}"}) == {}
        check_destination_continues(dst, last)
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


def test_failed_migration_leaves_the_source_running(tmp_path):
    """Nobody listening, a command that reads nothing (the pipe breaks: the
    stream is larger than its buffer), a command that fails after reading
    everything: each time status failed
    with the reason, a MIGRATION failed event, and the guest counts on."""
    src = Machine(tmp_path, "src", ["-sandbox", "off"])
    try:
        qs = src.connect()
        enable_events(qs)
        wait_counting(src, 5)
        r = qs.cmd("migrate", {"uri": f"unix:{tmp_path / 'nobody.sock'}"})
        assert "cannot connect" in r["error"]["desc"], r
        info = qs.ok("query-migrate")
        assert info["status"] == "failed" and "cannot connect" in info["error-desc"], info
        assert migration_events(qs) == ["setup", "failed"]
        for uri, why in (("exec:true", "broke"), ("exec:cat >/dev/null; exit 3", "exit status 3")):
            qs.events.clear()
            assert qs.ok("migrate", {"uri": uri}) == {}
            info = wait_migrated(qs)
            assert info["status"] == "failed" and why in info["error-desc"], info
            # Stopped for the last pass (the command failed only at its
            # end): resumed. A pipe broken during pre-copy never stopped it.
            if any(e["event"] == "STOP" for e in qs.events):
                qs.event("RESUME", timeout=5)
            assert migration_events(qs) == ["setup", "active", "failed"], qs.events
            assert qs.ok("query-status")["status"] == "running"
            n = len(src.counts())
            wait_for(lambda: len(src.counts()) > n + 5, 30, "the source to count on")
        assert "BAD" not in src.lines()
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()


@pytest.fixture
def good_stream(tmp_path):
    """A valid stream of the counting guest, in a file."""
    path = tmp_path / "good.bin"
    src = Machine(tmp_path, "src", [])
    try:
        qs = src.connect()
        wait_counting(src, 5)
        qs.ok("migrate", {"uri": f"file:{path}"})
        assert wait_migrated(qs)["status"] == "completed"
        src.finish()
    finally:
        src.kill()
    return path.read_bytes()


def refused(tmp_path, data, expect, extra=(), vmm=VMM, env=None):
    """A destination given 'data' exits 1 with one line naming 'expect'."""
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    dst = Machine(tmp_path, "dst", ["-incoming", f"file:{path}", *extra], vmm=vmm, env=env)
    try:
        out, err = dst.proc.communicate(timeout=60)
    finally:
        dst.kill()
    err = err.decode(errors="replace")
    assert dst.proc.returncode == 1, err
    assert err.count("\n") == 1 and err.startswith("vmm: migration: "), err
    assert expect in err, err
    assert dst.counts() == [], "a refused stream ran"
    return err


def test_truncated_and_corrupt_streams_are_refused(tmp_path, good_stream):
    data = good_stream
    refused(tmp_path, data[:len(data) // 2], "ended")
    refused(tmp_path, data[:-1], "ended")
    refused(tmp_path, b"", "ended in its header")
    refused(tmp_path, b"not a migration stream at all, " * 4, "bad magic")
    middle = bytearray(data)
    middle[len(data) // 2] ^= 0x40
    refused(tmp_path, bytes(middle), "corrupt")
    # Another machine shape: named, with the option to fix.
    refused(tmp_path, data, "RAM", extra=["-m", "32"])
    refused(tmp_path, data, "vCPUs", extra=["-smp", "2"])
    # The same guest loaded from the good stream counts on.
    path = tmp_path / "good-again.bin"
    path.write_bytes(data)
    dst = Machine(tmp_path, "dst2", ["-incoming", f"file:{path}"])
    try:
        dst.connect()
        wait_counting(dst, 5)
        assert "START" not in dst.lines()
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


def test_bad_incoming_uri_is_one_line(tmp_path):
    p = subprocess.run([VMM, "-incoming", "ftp:x"], capture_output=True, timeout=30)
    assert p.returncode == 1
    assert p.stderr.decode().count("\n") == 1 and "unknown URI" in p.stderr.decode()
    p = subprocess.run([VMM, "-bios", fw_image("migcount.bin"), "-nodefaults", "-display", "none",
                        "-incoming", f"file:{tmp_path / 'missing'}"], capture_output=True,
                       timeout=30)
    assert p.returncode == 1
    assert p.stderr.decode().strip().endswith("No such file or directory"), p.stderr


def test_refused_and_accepted_streams_leak_free_under_asan(tmp_path, good_stream):
    """Under ASan, UBSan and LeakSanitizer: a corrupt stream is refused
    (status 1, no report), and a good one loads and runs."""
    if not os.path.exists(VMM_ASAN):
        pytest.fail(f"{VMM_ASAN} is missing: run `make build/vmm-asan`")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    bad = bytearray(good_stream)
    bad[len(bad) - 40] ^= 1  # inside the saved-state section
    err = refused(tmp_path, bytes(bad), "corrupt", extra=["-sandbox", "off"], vmm=VMM_ASAN,
                  env=env)
    assert "Sanitizer" not in err and "runtime error" not in err, err
    path = tmp_path / "good.bin"
    dst = Machine(tmp_path, "asan", ["-incoming", f"file:{path}", "-sandbox", "off"],
                  vmm=VMM_ASAN, env=env)
    try:
        dst.connect()
        wait_counting(dst, 3)
        status, err = dst.finish(timeout=60)
    finally:
        dst.kill()
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert status == 0, err


def test_defer_then_migrate_incoming_and_start_paused(tmp_path):
    """-incoming defer waits for migrate-incoming; -S holds the loaded
    machine until cont."""
    uri = f"unix:{tmp_path / 'deferred.sock'}"
    dst = Machine(tmp_path, "dst", ["-incoming", "defer", "-S"])
    src = Machine(tmp_path, "src", [])
    try:
        qd = dst.connect()
        assert qd.ok("query-status")["status"] == "inmigrate"
        assert qd.ok("query-migrate") == {}
        # Under the sandbox the main thread may not read a file or start
        # a command: refused (not killed), the machine still waits.
        for bad in (f"file:{tmp_path / 'x.bin'}", "exec:cat x.bin"):
            r = qd.cmd("migrate-incoming", {"uri": bad})
            assert "sandbox" in r["error"]["desc"], r
        assert qd.ok("migrate-incoming", {"uri": uri}) == {}
        r = qd.cmd("migrate-incoming", {"uri": uri})
        assert "already" in r["error"]["desc"], r
        qs = src.connect()
        wait_counting(src, 5)
        qs.ok("migrate", {"uri": uri})
        assert wait_migrated(qs)["status"] == "completed"
        last = source_output(src)
        wait_for(lambda: qd.ok("query-migrate").get("status") == "completed", 30,
                 "the destination to load")
        st = qd.ok("query-status")
        assert st["running"] is False and st["status"] == "paused", st
        time.sleep(0.3)
        assert dst.counts() == []
        qd.ok("cont")
        check_destination_continues(dst, last)
        # The source may run again (QEMU's cont after postmigrate).
        qs.ok("cont")
        assert qs.ok("query-status")["status"] == "running"
        for m in (src, dst):
            status, err = m.finish()
            assert status == 0, err
    finally:
        src.kill()
        dst.kill()


def test_start_paused_prelaunch(tmp_path):
    m = Machine(tmp_path, "s", ["-S"])
    try:
        q = m.connect()
        assert q.ok("query-status") == {"running": False, "singlestep": False,
                                        "status": "prelaunch"}
        time.sleep(0.3)
        assert m.lines() == []
        q.ok("cont")
        wait_counting(m, 3)
        assert m.lines()[0] == "START"
        status, err = m.finish()
        assert status == 0, err
    finally:
        m.kill()


def test_full_machine_migrates_into_asan_destination(tmp_path):
    """Every device model (test_lifecycle.py's full machine: IDE disks and
    CD, virtio-blk/net/rng/balloon/serial, five NICs, two displays, three
    UARTs, both watchdogs), booted by SeaBIOS to its boot sector, moved to
    a fresh vmm under ASan/UBSan/LeakSanitizer: every section finds its
    device there, the machine runs on, and it quits leak-free."""
    from test_lifecycle import full_machine
    if not os.path.exists(VMM_ASAN):
        pytest.fail(f"{VMM_ASAN} is missing: run `make build/vmm-asan`")
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    src_dir.mkdir()
    dst_dir.mkdir()
    uri = f"unix:{tmp_path / 'mig.sock'}"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    dst_qmp = str(dst_dir / "qmp.sock")
    dst = subprocess.Popen([VMM_ASAN, *full_machine(dst_dir, dst_qmp), "-incoming", uri],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
    src_qmp = str(src_dir / "qmp.sock")
    src = subprocess.Popen([VMM, *full_machine(src_dir, src_qmp)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        qd = Qmp(dst_qmp, timeout=120).negotiate()
        qs = Qmp(src_qmp).negotiate()
        serial = src_dir / "serial.log"
        wait_for(lambda: src.poll() is not None or
                 "VMM-BOOT-OK" in serial.read_text(errors="replace"), 120, "VMM-BOOT-OK")
        assert qs.ok("migrate", {"uri": uri}) == {}
        info = wait_migrated(qs, timeout=120)
        assert info["status"] == "completed", info
        wait_for(lambda: dst.poll() is not None or
                 qd.ok("query-status")["status"] == "running", 120, "the destination to run")
        assert dst.poll() is None, dst.stderr.read().decode(errors="replace")
        time.sleep(1)
        assert qd.ok("query-status")["status"] == "running"
        qd.ok("quit")
        qs.ok("quit")
        out, err = dst.communicate(timeout=120)
        err = err.decode(errors="replace")
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert dst.returncode == 0, err
        src.communicate(timeout=60)
        assert src.returncode == 0
    finally:
        for p in (src, dst):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_disks_that_cannot_be_handed_over_are_refused(tmp_path):
    """A writable qcow2 image (metadata cached in the process) or a
    -snapshot overlay (the process's own file): the source's migrate and
    the destination's -incoming refuse by name; read-only and raw disks
    migrate."""
    vmm_img = os.environ.get("VMM_IMG", os.path.join(ROOT, "build", "vmm-img"))
    qcow = tmp_path / "d.qcow2"
    raw = tmp_path / "d.raw"
    subprocess.run([vmm_img, "create", "-f", "qcow2", str(qcow), "1M"], check=True,
                   capture_output=True)
    raw.write_bytes(bytes(1 << 20))
    for disk in (["-drive", f"file={qcow},format=qcow2,if=ide"],
                 ["-drive", f"file={raw},format=raw,if=ide", "-snapshot"]):
        p = subprocess.run([VMM, "-bios", fw_image("migcount.bin"), "-m", "16", "-nodefaults",
                            "-display", "none", *disk, "-incoming",
                            f"unix:{tmp_path / 'x.sock'}"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        err = p.stderr.decode(errors="replace")
        assert p.returncode == 1 and err.count("\n") == 1, err
        assert "-incoming: migration: disk '" in err and "raw files" in err, err
        src = Machine(tmp_path, "src", disk)
        try:
            qs = src.connect()
            wait_counting(src, 3)
            r = qs.cmd("migrate", {"uri": f"file:{tmp_path / 'never.bin'}"})
            assert "qcow2" in r["error"]["desc"] and str(disk[1].split(",")[0][5:]) in \
                r["error"]["desc"], r
            assert qs.ok("query-status")["status"] == "running"
            assert not (tmp_path / "never.bin").exists()
            src.finish()
        finally:
            src.kill()
    # A raw disk and a read-only qcow2 one: the migration goes through.
    disks = ["-drive", f"file={raw},format=raw,if=ide",
             "-drive", f"file={qcow},format=qcow2,if=ide,index=1,readonly=on"]
    path = tmp_path / "ok.bin"
    src = Machine(tmp_path, "src2", disks)
    try:
        qs = src.connect()
        wait_counting(src, 3)
        qs.ok("migrate", {"uri": f"file:{path}"})
        assert wait_migrated(qs)["status"] == "completed"
        src_text = source_output(src)
        src.finish()
    finally:
        src.kill()
    dst = Machine(tmp_path, "dst2", [*disks, "-incoming", f"file:{path}"])
    try:
        dst.connect()
        check_destination_continues(dst, src_text)
        status, err = dst.finish()
        assert status == 0, err
    finally:
        dst.kill()


@pytest.mark.parametrize("call,name", [("execve", "execve (59)"), ("open", "openat (257)")])
def test_migration_thread_is_filtered(tmp_path, call, name):
    """The sender thread has a seccomp filter of its own (only the common
    list: writes to the channel, KVM's dirty log, sleeps): a forbidden
    call there kills vmm with one line (VMM_SANDBOX_SELFTEST, as
    tests/fw/test_sandbox.py uses it)."""
    env = dict(os.environ, VMM_SANDBOX_SELFTEST=f"migration:{call}")
    src = Machine(tmp_path, "src", [], env=env)
    try:
        qs = src.connect()
        wait_counting(src, 3)
        try:
            qs.cmd("migrate", {"uri": f"file:{tmp_path / 'x.bin'}"})
        except (OSError, EOFError):
            pass  # killed before or while answering
        out, err = src.proc.communicate(timeout=30)
        err = err.decode(errors="replace")
        assert src.proc.returncode == -signal.SIGSYS, (src.proc.returncode, err)
        assert [x for x in err.splitlines() if "sandbox" in x] == [
            f"vmm: sandbox: the migration thread made a forbidden system call: {name}; "
            "killing vmm"], err
    finally:
        src.kill()


def test_migrate_during_seabios_post(tmp_path):
    """Moved in the middle of SeaBIOS's POST (timers, the RTC, IDE, PCI
    set-up under way), the destination finishes the boot the source began:
    it prints the boot sector's VMM-BOOT-OK and exits through
    isa-debug-exit (status 33), while the source, paused in postmigrate,
    never booted. The disk is shared read-only by both."""
    from conftest import seabios_log_args
    uri = f"unix:{tmp_path / 'mig.sock'}"

    def args(name):
        return [VMM, "-m", "32", "-display", "none", "-serial", f"file:{tmp_path / name}.log",
                "-drive", f"file={fw_image('disk-0.img')},format=raw,if=ide,readonly=on",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                *seabios_log_args(tmp_path / f"{name}-bios.log"),
                "-qmp", f"unix:{tmp_path / name}.qmp,server=on,wait=off"]

    dst = subprocess.Popen([*args("dst"), "-incoming", uri], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    src = subprocess.Popen(args("src"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        Qmp(str(tmp_path / "dst.qmp")).negotiate()
        qs = Qmp(str(tmp_path / "src.qmp")).negotiate()
        bios_log = tmp_path / "src-bios.log"
        # POST has begun (SeaBIOS's first lines), far from the boot sector.
        wait_for(lambda: bios_log.exists() and "SeaBIOS" in bios_log.read_text(errors="replace"),
                 60, "SeaBIOS to start")
        assert qs.ok("migrate", {"uri": uri}) == {}
        assert wait_migrated(qs, timeout=120)["status"] == "completed"
        assert qs.ok("query-status")["status"] == "postmigrate"
        dst.communicate(timeout=120)
        assert dst.returncode == 33, dst.returncode
        assert "VMM-BOOT-OK" in (tmp_path / "dst.log").read_text(errors="replace")
        assert "VMM-BOOT-OK" not in (tmp_path / "src.log").read_text(errors="replace")
        # The destination's SeaBIOS log goes on where the source's stops.
        dst_bios = (tmp_path / "dst-bios.log").read_text(errors="replace")
        first = bios_log.read_text(errors="replace").splitlines()[0]
        assert first.startswith("SeaBIOS (version"), first
        assert not dst_bios.startswith(first), dst_bios[:200]
        assert "Booting from" in dst_bios, dst_bios[-500:]
        qs.ok("quit")
        src.communicate(timeout=60)
        assert src.returncode == 0
    finally:
        for p in (src, dst):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_silent_source_does_not_hold_the_destination(tmp_path, good_stream):
    """A source that sends part of a stream and then nothing: the
    destination waits (a slow source is no error) but still ends on
    SIGTERM, with one line and status 1."""
    uri_path = tmp_path / "mig.sock"
    dst = Machine(tmp_path, "dst", ["-incoming", f"unix:{uri_path}"])
    try:
        dst.connect()
        wait_for(uri_path.exists, 30, "the incoming socket")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(uri_path))
        s.sendall(good_stream[:1000])
        time.sleep(0.5)
        assert dst.proc.poll() is None
        dst.proc.send_signal(signal.SIGTERM)
        out, err = dst.proc.communicate(timeout=30)
        err = err.decode(errors="replace")
        assert dst.proc.returncode == 1, err
        assert re.fullmatch(r"vmm: migration: interrupted by a signal after \d+ bytes of the "
                            r"stream\n", err), err
        s.close()
    finally:
        dst.kill()
