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
