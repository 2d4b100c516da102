"""Self-tests of the nested harness; they share the batch with the boots."""
import os
import sys

import pytest

import guestkit
from guestkit import Command

PY = "/usr/bin/python3"
SC = {s.name: s for s in [
    Command("harness-echo", ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"], timeout=30),
    Command("harness-kvm", "ls -l /dev/kvm && build/kvmprobe", timeout=60),
    Command("harness-timeout", "echo started; sleep 600; echo never", timeout=3),
    Command("harness-marker", "echo booting; echo MARK-HERE; sleep 600", timeout=60,
            marker="MARK-HERE", grace=1),
    Command("harness-paths", "pwd; test -f tests/nested/executor.py && echo repo-visible; "
            "touch \"$TMPDIR/w\" && echo tmp-writable", timeout=30),
]}


@pytest.mark.parametrize("scenario", [SC["harness-echo"]], ids=str)
def test_output_and_status(guest, scenario):
    r = guest.result
    assert r.rc == 7 and r.stdout == "out\n" and r.stderr == "err\n", r.describe()
    assert r.exited and not r.timed_out


@pytest.mark.parametrize("scenario", [SC["harness-kvm"]], ids=str)
def test_kvm_is_fast_where_commands_run(guest, scenario):
    # Wherever the harness runs commands, /dev/kvm must pass the probe.
    r = guest.result
    assert r.rc == 0 and "kvmprobe: yes" in r.stdout, r.describe()


@pytest.mark.parametrize("scenario", [SC["harness-timeout"]], ids=str)
def test_hung_command_is_killed(guest, scenario):
    r = guest.result
    assert r.timed_out and r.stdout == "started\n", r.describe()
    assert r.elapsed < 15, r.describe()


@pytest.mark.parametrize("scenario", [SC["harness-marker"]], ids=str)
def test_marker_then_kill(guest, scenario):
    r = guest.result
    assert r.marker_seen and r.killed_after_marker and not r.timed_out, r.describe()
    assert r.elapsed < 15, r.describe()


@pytest.mark.parametrize("scenario", [SC["harness-paths"]], ids=str)
def test_same_paths_as_host(guest, scenario):
    r = guest.result
    assert r.stdout.split() == [guestkit.REPO, "repo-visible", "tmp-writable"], r.describe()


def test_report_parser():
    text = ("junk\r\n\x1b[2JVMMKIT-REPORT-BEGIN v1\nkernel 6.1.0-50-amd64 x86_64\ncpus 2\n"
            "mem_kb 1000\nmods loaded=3 failed=a,b\npci 0000:00:01.1 8086:7010 010180 ata_piix\n"
            "blk sda 4194304 ro=0\ndata sda ok abc\nnet eth0 52:54:00:12:34:56 e1000\n"
            "snd card0 SB16\nVMMKIT-REPORT-END\nVMMKIT-READY\nVMMKIT-SCRIPT-BEGIN\nhello\n"
            "VMMKIT-SCRIPT-END rc=3\nVMMKIT-DONE rc=3\n")
    rep = guestkit.Report(text)
    assert rep.found and rep.arch == "x86_64" and rep.cpus == 2 and rep.mem_kb == 1000
    assert rep.mods_failed == ["a", "b"]
    assert rep.driver_of("8086:7010") == "ata_piix" and rep.driver_of("1234:1111") is None
    assert rep.blocks == {"sda": 4194304} and rep.data == {"sda": ("ok", "abc")}
    assert rep.nets == {"eth0": ("52:54:00:12:34:56", "e1000")} and rep.sound == {"card0": "SB16"}
    assert rep.script_output() == ["hello"] and rep.script_rc == 3 and rep.done_rc == 3


def test_data_pattern_matches_kit():
    why = guestkit.kit_missing()
    if why:
        guestkit.unavailable(why)
    with open(guestkit.kit("data.sha256")) as f:
        assert f.read().strip() == guestkit.data_sha256()
    assert os.path.getsize(guestkit.kit("data.img")) == guestkit.DATA_SIZE


def test_vmm_argv_is_generic():
    q = guestkit.vmm_argv("qemu", cdrom="a.iso", hda="d.img")
    v = guestkit.vmm_argv("vmm", cdrom="a.iso", hda="d.img")
    tail = ["-m", "256", "-cdrom", "a.iso", "-hda", "d.img", "-nographic"]
    assert q[-len(tail):] == tail and v[-len(tail):] == tail
    assert v[0].endswith("build/vmm") and "-enable-kvm" in q
    assert sys.version_info >= (3, 5)


# ---- the retry policy (issue 22), on the host in direct mode -----------------
# These run the executor on the host (no L1): they need /dev/kvm to exist only.

def _direct_batch(monkeypatch, tmp_path):
    import nested
    if not os.path.exists("/dev/kvm"):
        guestkit.unavailable("direct-mode harness tests need /dev/kvm")
    monkeypatch.setenv("VMM_NESTED_QUIET", "1")
    monkeypatch.setenv("VMM_NESTED_ATTEMPT_DIR", str(tmp_path / "attempts"))
    return nested.Batch(mode="direct", scratch_root=str(tmp_path))


RESET = "echo 'SeaBIOS (version 1)'; echo booting; echo 'SeaBIOS (version 1)'; echo DONE"


def test_guest_hang_with_live_l1_is_not_retried(monkeypatch, tmp_path):
    b = _direct_batch(monkeypatch, tmp_path)
    b.add("hang", "echo started; sleep 60", timeout=2, retries=2)
    r = b.run()["hang"]
    assert r.timed_out and r.attempts == 1, r.describe()
    assert [h["reason"] for h in r.history] == ["hang"], r.describe()
    log = r.attempt_logs[0]
    assert os.path.exists(log) and "started" in open(log).read()
    assert log in r.describe()


def test_hang_before_the_vmm_started_is_the_environments(monkeypatch, tmp_path):
    b = _direct_batch(monkeypatch, tmp_path)
    # The first attempt hangs before its shell printed the line it prints
    # before starting the VMM (as in an L1 that stopped running it); the
    # second gets there and passes. A hang after that line still fails.
    once = "if [ -e \"$TMPDIR/once\" ]; then echo '@@pre x'; echo DONE; " \
           "else touch \"$TMPDIR/once\"; sleep 60; fi"
    b.add("not-started", once, timeout=2, retries=1, started="@@pre")
    b.add("started-hang", "echo '@@pre x'; sleep 60", timeout=2, retries=1, started="@@pre")
    res = b.run()
    r = res["not-started"]
    assert r.attempts == 2 and r.retry_reasons == ["not-started"], r.describe()
    assert "DONE" in r.stdout and r.rc == 0, r.describe()
    assert guestkit.retry_violation(guestkit.Boot("vmm", "cdrom", "amd64"), r) is None
    h = res["started-hang"]
    assert h.attempts == 1 and [x["reason"] for x in h.history] == ["hang"], h.describe()


def test_reset_sign_fails_a_vmm_command_but_retries_the_peer(monkeypatch, tmp_path):
    b = _direct_batch(monkeypatch, tmp_path)
    b.add("vmm-x", RESET, timeout=10, retries=2, flake_signs=guestkit.BOOT_FLAKE_SIGNS)
    b.add("qemu-x", RESET, timeout=10, retries=2, flake_signs=guestkit.BOOT_FLAKE_SIGNS,
          retry_guest=True)
    res = b.run()
    assert res["vmm-x"].attempts == 1, res["vmm-x"].describe()
    assert res["vmm-x"].history[0]["reason"] == "sign"
    # ... and its tests fail, even where the second boot's output passes them
    why = guestkit.final_sign(guestkit.Command("vmm-x", RESET), res["vmm-x"])
    assert why and "reset on the way" in why, why
    # the peer's last attempt was a sign too, but it is not the VMM under test
    assert guestkit.final_sign(guestkit.Command("qemu-x", RESET), res["qemu-x"]) is None
    assert res["qemu-x"].attempts == 3, res["qemu-x"].describe()
    assert res["qemu-x"].retry_reasons == ["sign", "sign"]


def test_signs_after_looks_past_the_streamed_console(monkeypatch, tmp_path):
    """A command that streams its console, then prints the log whole
    (nic_models.netns_shell): one boot is not a reset, two in the whole log
    are; the text before the log does not count."""
    import nic_models
    b = _direct_batch(monkeypatch, tmp_path)
    boot, whole = "echo 'SeaBIOS (version 1)'; echo DONE", nic_models.WHOLE_VMM_LOG.strip()
    b.add("once", "%s; echo; echo '%s'; %s" % (boot, whole, boot), timeout=10,
          flake_signs=guestkit.BOOT_FLAKE_SIGNS, signs_after=nic_models.WHOLE_VMM_LOG)
    b.add("reset", "%s; echo; echo '%s'; %s" % (RESET, whole, RESET), timeout=10,
          flake_signs=guestkit.BOOT_FLAKE_SIGNS, signs_after=nic_models.WHOLE_VMM_LOG)
    b.add("no-log", RESET, timeout=10, flake_signs=guestkit.BOOT_FLAKE_SIGNS,
          signs_after=nic_models.WHOLE_VMM_LOG)
    res = b.run()
    assert res["once"].history == [], res["once"].describe()
    for name in ("reset", "no-log"):
        assert [h["reason"] for h in res[name].history] == ["sign"], res[name].describe()


def test_reset_sign_retried_only_with_the_same_sign_from_the_peer(monkeypatch, tmp_path):
    b = _direct_batch(monkeypatch, tmp_path)
    # The peer runs after the command, in the same run: it still counts.
    b.add("vmm-a", RESET, timeout=10, retries=1, flake_signs=guestkit.BOOT_FLAKE_SIGNS,
          peer="qemu-a")
    b.add("qemu-a", RESET, timeout=10, flake_signs=guestkit.BOOT_FLAKE_SIGNS)
    b.add("vmm-b", RESET, timeout=10, retries=1, flake_signs=guestkit.BOOT_FLAKE_SIGNS,
          peer="qemu-b")
    b.add("qemu-b", "echo DONE", timeout=10, flake_signs=guestkit.BOOT_FLAKE_SIGNS)
    res = b.run()
    assert res["vmm-a"].attempts == 2 and res["vmm-a"].retry_reasons == ["sign"], \
        res["vmm-a"].describe()
    assert guestkit.final_sign(guestkit.Command("vmm-a", RESET), res["vmm-a"]) is not None
    assert res["vmm-b"].attempts == 1, res["vmm-b"].describe()


def test_attempt_in_a_dead_l1_is_counted_and_retried(monkeypatch, tmp_path):
    b = _direct_batch(monkeypatch, tmp_path)
    # The first attempt kills the executor (as a frozen or dead L1 ends
    # the run); the second passes.
    once = "if [ -e \"$TMPDIR/once\" ]; then echo second; else touch \"$TMPDIR/once\"; " \
           "echo first; sleep 1; kill -9 $PPID; sleep 2; fi"
    b.add("frozen", once, timeout=20, retries=1)
    r = b.run()["frozen"]
    assert r.attempts == 2 and r.retry_reasons == ["l1-frozen"], r.describe()
    assert r.stdout == "second\n" and r.rc == 0, r.describe()
    assert "first" in open(r.attempt_logs[0]).read()


# What a hung vmm prints when the harness ends it (VMM_DUMP_CPUS=1), as
# seen in the L1 on 2026-12-05 (the virtio-blk bench's guest, hung).
L1_FAULT_DUMP = ("vmm: terminating on signal 15 from pid 662\n"
                 "vmm: vCPU 0: cs:rip=0010:ffffffffc033313c rsp=ffffc90000affb80 "
                 "rflags=00010246 cr0=80050033 cr3=00000000188d4000 efer=d01 mp_state=0\n"
                 "vmm: vCPU 0: exception=1/14 irq=0/42 nmi=0/0 shadow=0 code=unmapped\n")


def test_hang_at_the_l1_fault_address_is_the_environments(monkeypatch, tmp_path):
    """A hang whose vCPU dump shows the L1's fault address, unmapped in the
    guest, is retried and tolerated; the same hang anywhere else, or at
    that address with the guest's own code there, fails as a hang."""
    b = _direct_batch(monkeypatch, tmp_path)
    dump = L1_FAULT_DUMP.replace("\n", "\\n")
    once = ("if [ -e \"$TMPDIR/l1f\" ]; then echo DONE; else touch \"$TMPDIR/l1f\"; "
            "trap 'printf \"%s\" >&2; exit 0' TERM; echo started; sleep 60 & wait; fi" % dump)
    mapped = L1_FAULT_DUMP.replace("code=unmapped", "code=0f0b0f0b0f0b0f0b0f0b0f0b0f0b0f0b")
    elsewhere = L1_FAULT_DUMP.replace("ffffffffc033313c", "ffffffff81000000")
    b.add("l1-fault", once, timeout=3, retries=0)
    for name, text in (("mapped", mapped), ("elsewhere", elsewhere)):
        b.add(name, "trap 'printf \"%s\" >&2; exit 0' TERM; echo started; sleep 60 & wait"
              % text.replace("\n", "\\n"), timeout=3, retries=1)
    res = b.run()
    r = res["l1-fault"]
    assert r.attempts == 2 and r.retry_reasons == ["l1-fault"], r.describe()
    assert "DONE" in r.stdout, r.describe()
    assert guestkit.retry_violation(guestkit.Boot("vmm", "cdrom", "amd64"), r) is None
    for name in ("mapped", "elsewhere"):
        h = res[name]
        assert h.attempts == 1 and [x["reason"] for x in h.history] == ["hang"], h.describe()


# The L1's kvm_exit line for a shutdown at the L1's fault address, as its
# trace showed it under QEMU's guest and vmm's (docs/testing.md).
L1_FAULT_SHUTDOWN = ("CPU 1/KVM-2315 [001] d..1. 412.5: kvm_exit: vcpu 1 reason shutdown "
                     "rip 0xffffffffc033313c info1 0x0000000000000000 info2 0x0000000000000000 "
                     "intr_info 0x80000b0e error_code 0x00000010")
PF_INJECTION = "CPU 1/KVM-2315 [001] d..1. 412.4: kvm_inj_exception: #PF (0x10)"


def test_reset_at_the_l1_fault_address_is_the_environments(monkeypatch, tmp_path):
    """A vmm guest that resets (a second banner, or its VMM ended under
    -no-reboot without the marker) or hangs after a reset is retried and
    tolerated when the L1 recorded its shutdown exits, all at the L1's
    fault address; a shutdown anywhere else, also beside one there, or no
    recorded shutdown, leaves the attempt failed as before."""
    b = _direct_batch(monkeypatch, tmp_path)
    tracefs = tmp_path / "tracefs"
    os.makedirs(tracefs / "events" / "kvm" / "kvm_exit")
    os.makedirs(tracefs / "events" / "kvm" / "kvm_inj_exception")
    (tracefs / "tracing_on").write_text("0\n")
    b.shutdown_trace = str(tracefs)
    trace = str(tracefs / "trace")
    elsewhere = L1_FAULT_SHUTDOWN.replace("ffffffffc033313c", "ffffffff8104d2a6")
    # the same instruction after the module area's layout moved (2026-12-06)
    moved = L1_FAULT_SHUTDOWN.replace("ffffffffc033313c", "ffffffffc035113c")
    # a module-area address at another place in its page: a guest's module
    other_module = L1_FAULT_SHUTDOWN.replace("ffffffffc033313c", "ffffffffc0351140")

    def shutdowns(*lines):
        return "".join("echo '%s' >> %s; " % (l, trace) for l in lines)

    def once(first):
        return ("if [ -e \"$TMPDIR/$0\" ]; then echo DONE; else touch \"$TMPDIR/$0\"; %s; fi"
                % first)

    signs = guestkit.BOOT_FLAKE_SIGNS
    # an injection line beside the shutdown is kept and does not change the verdict
    b.add("reset", ["/bin/sh", "-c", once(shutdowns(PF_INJECTION, L1_FAULT_SHUTDOWN) + RESET),
                    "reset"], timeout=10, marker="DONE", flake_signs=signs)
    b.add("no-reboot", ["/bin/sh", "-c", once(shutdowns(L1_FAULT_SHUTDOWN, L1_FAULT_SHUTDOWN)
                                              + "exit 1"), "no-reboot"],
          timeout=10, marker="DONE")
    b.add("hung", ["/bin/sh", "-c", once(shutdowns(L1_FAULT_SHUTDOWN) + "sleep 60"), "hung"],
          timeout=3, marker="DONE")
    b.add("moved", ["/bin/sh", "-c", once(shutdowns(moved, L1_FAULT_SHUTDOWN) + RESET), "moved"],
          timeout=10, marker="DONE", flake_signs=signs)
    b.add("other-module", shutdowns(other_module) + RESET, timeout=10, marker="DONE",
          flake_signs=signs)
    b.add("guest-rip", shutdowns(elsewhere) + RESET, timeout=10, marker="DONE", flake_signs=signs)
    b.add("both", shutdowns(L1_FAULT_SHUTDOWN, elsewhere) + RESET, timeout=10, marker="DONE",
          flake_signs=signs)
    b.add("untraced", RESET, timeout=10, marker="DONE", flake_signs=signs)
    res = b.run()
    for name in ("reset", "no-reboot", "hung", "moved"):
        r = res[name]
        assert r.attempts == 2 and r.retry_reasons == ["l1-fault"], r.describe()
        assert "DONE" in r.stdout and r.l1_shutdowns == [], r.describe()
        assert guestkit.retry_violation(guestkit.Boot("vmm", "cdrom", "amd64"), r) is None
    assert "2 shutdown exit(s)" in res["no-reboot"].history[0]["detail"]
    assert "ffffffffc035113c" in res["moved"].history[0]["detail"]
    for name in ("guest-rip", "both", "untraced", "other-module"):
        r = res[name]
        assert r.attempts == 1 and [h["reason"] for h in r.history] == ["sign"], r.describe()
    assert "ffffffff8104d2a6" in res["guest-rip"].describe()
    assert PF_INJECTION in open(res["reset"].attempt_logs[0]).read()
    # The executor switched recording on, filtered on SVM's shutdown code
    # and, for injections, on the page fault's vector.
    assert (tracefs / "events" / "kvm" / "kvm_exit" / "filter").read_text() == "exit_reason == 127\n"
    assert (tracefs / "events" / "kvm" / "kvm_inj_exception" / "filter").read_text() == \
        "exception == 14\n"
    assert (tracefs / "tracing_on").read_text() == "1\n"


def test_environment_failures_have_their_own_retry_budget():
    import nested
    c = {"retries": 1}
    assert nested.may_retry(c, "l1-frozen", nested.ENV_RETRIES, set())
    assert not nested.may_retry(c, "l1-frozen", nested.ENV_RETRIES + 1, set())
    assert not nested.may_retry(c, "hang", 1, set())
    assert nested.may_retry(dict(c, retry_guest=True), "hang", 1, set())
    assert not nested.may_retry(dict(c, retry_guest=True), "hang", 2, set())


def test_retry_rule_for_make_check():
    import nested
    vmm, qemu = guestkit.Boot("vmm", "cdrom", "amd64"), guestkit.Boot("qemu", "cdrom", "amd64")

    def res(*reasons):
        hist = [{"attempt": i + 1, "l1_run": i + 1, "reason": r, "detail": "d", "log": "x.log"}
                for i, r in enumerate(reasons)]
        return nested.Result("s", rc=0, attempts=len(reasons) + 1, history=hist, ran=True)

    assert guestkit.retry_violation(vmm, res()) is None
    assert guestkit.retry_violation(vmm, res("stuck", "l1-frozen")) is None
    assert "harness" in guestkit.retry_violation(vmm, res("harness"))
    assert "sign" in guestkit.retry_violation(vmm, res("stuck", "sign"))
    assert guestkit.retry_violation(qemu, res("sign", "hang")) is None
    line = guestkit.retry_summary(vmm, res("l1-frozen"))
    assert "attempts=2" in line and "l1-frozen" in line and "x.log" in line
    assert guestkit.retry_summary(vmm, res()) is None
    assert vmm.retry_guest() is False and qemu.retry_guest() is True


def test_console_trouble():
    assert guestkit.console_trouble("ok\r\n[ 1.0] Kernel panic - not syncing: x\n") == \
        "[ 1.0] Kernel panic - not syncing: x"
    assert guestkit.console_trouble("[ 2.0] BUG: unable to handle page fault\n")
    assert guestkit.console_trouble("[ 3.0] Oops: 0000 [#1] SMP\n")
    assert guestkit.console_trouble("VMMKIT-DONE rc=0\nno DEBUG: here\n") is None


def test_report_parser_keeps_malformed_lines():
    # A report line that does not parse is kept (tests/conftest.py fails
    # the test on it), not dropped.
    text = ("VMMKIT-REPORT-BEGIN v1\nkernel 6.1.0 x86_64\ncpus two\nblk vda\n"
            "[    3.1] random: crng init done\nuptime 3.52\nVMMKIT-REPORT-END\n")
    rep = guestkit.Report(text)
    assert rep.found and rep.kernel == "6.1.0"
    assert rep.malformed == ["cpus two", "blk vda", "[    3.1] random: crng init done"]
    assert guestkit.Report("VMMKIT-REPORT-BEGIN v1\nuptime 1.0\nVMMKIT-REPORT-END\n").malformed == []


# /proc/interrupts and msix_probe as a guest with a disk and an rng prints them
MSIX_GOOD = [
    "irq all 24: 0 PCI-MSIX-0000:00:03.0 0-edge virtio0-config",
    "irq all 25: 311 PCI-MSIX-0000:00:03.0 1-edge virtio0-req.0",
    "irq all 26: 0 PCI-MSIX-0000:00:04.0 0-edge virtio1-config",
    "irq all 27: 2 PCI-MSIX-0000:00:04.0 1-edge virtio1-input",
    "msix all 0000:00:03.0 1af4:1042 virtio0 table=2 allocated=2 driver=virtio_blk",
    "msix all 0000:00:04.0 1af4:1044 virtio1 table=2 allocated=2 driver=virtio_rng",
    # a NIC whose driver a script unloaded: no vectors asked for, not counted
    "msix all 0000:00:05.0 1af4:1041 virtio2 table=3 allocated=0 driver=",
]


def test_msix_every_vector_in_use():
    assert guestkit.msix_problems(MSIX_GOOD, "all") == []
    # each of these passed the old "one PCI-MSI line" check
    shared = [ln for ln in MSIX_GOOD if "req.0" not in ln] + [
        "irq all 25: 311 PCI-MSIX-0000:00:03.0 1-edge virtio0-virtqueues"]
    unused = [ln.replace("virtio1 table=2 allocated=2", "virtio1 table=3 allocated=2")
              for ln in MSIX_GOOD]
    unbound = [ln.replace("driver=virtio_blk", "driver=").replace("driver=virtio_rng", "driver=")
               for ln in MSIX_GOOD]
    intx_rng = [ln.replace("PCI-MSIX-0000:00:04.0 1-edge", "IO-APIC 11-fasteoi")
                if "virtio1-input" in ln else ln for ln in MSIX_GOOD]
    idle = [ln.replace(": 311 ", ": 0 ") for ln in MSIX_GOOD]
    no_probe = [ln for ln in MSIX_GOOD if not ln.startswith("msix")]
    for bad in (shared, unused, intx_rng, idle, no_probe, unbound):
        assert any("PCI-MSI" in ln for ln in bad)
        assert guestkit.msix_problems(bad, "all") != [], bad
    assert guestkit.msix_problems(MSIX_GOOD[:4] + ["msix all 0000:00:03.0 x"], "all") != []


# ---- two executors share a batch (two L1s in l1 mode) -------------------------

def test_two_executors_share_a_batch_and_alone_runs_last(monkeypatch, tmp_path):
    """With l1s=2 two executors take the batch's commands between them:
    each command runs once, two run at the same time, and an `alone`
    command runs after the others, with nothing beside it."""
    b = _direct_batch(monkeypatch, tmp_path)
    b.l1s = 2
    ran = tmp_path / "ran"
    ran.mkdir()
    names = ["a", "b", "c", "d", "alone"]
    for n in names:
        b.add(n, "echo x >> %s/%s; date +%%s.%%N; sleep 1.5; date +%%s.%%N" % (ran, n),
              timeout=20, alone=(n == "alone"))
    res = b.run()
    assert all(r.ok and r.rc == 0 and r.attempts == 1 for r in res.values()), \
        [r.describe() for r in res.values()]
    assert all((ran / n).read_text() == "x\n" for n in names)
    spans = {}
    for n in names:
        t = [float(x) for x in res[n].stdout.split()]
        assert len(t) == 2, res[n].describe()
        spans[n] = t

    def overlap(x, y):
        return x[0] < y[1] and y[0] < x[1]
    pairs = [(x, y) for x in "abcd" for y in "abcd" if x < y and overlap(spans[x], spans[y])]
    assert len(pairs) >= 2, spans
    assert all(spans["alone"][0] >= spans[n][1] for n in "abcd"), spans
    assert b.runs == 2, b.runs
