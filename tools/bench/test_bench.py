# SPDX-License-Identifier: GPL-2.0-or-later
"""bench.py's own checks (run by `make bench-smoke`): the loop guest's debug
console output parses only when it is exactly what the guest writes, and a
figure that is missing or zero fails the run."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def test_guest_cycles_parse():
    assert bench.parse_guest_cycles("00000001233edf26\n") == 0x1233edf26


@pytest.mark.parametrize("text", [
    "",                                      # nothing captured
    "00000001233edf26",                      # no newline
    "00000000001233edf26\n",                 # too long
    # every byte twice: vmm's -debugcon took ports 0x402 and 0xE9 at once
    "0000000000000000112233eeddff2266\n\n",
    "00000001233edf26\n00000001233edf26\n",  # two consoles into one file
    "0000000000000000\n",                    # a zero count
    "00000001233EDF2G\n",
])
def test_guest_cycles_refuses(text):
    with pytest.raises(ValueError):
        bench.parse_guest_cycles(text)


def metric(name, vmm, qemu=None):
    return bench.metric(name, "x", vmm, qemu, "", None)


def test_unmeasured_figures_are_named():
    m = [metric("start-to-exit", 20.0, 50.0), metric("exits", 0, 1.0), metric("pct", None, 2.0)]
    bare = {"start_to_exit_ms": 9.0, "exits_per_s_guest_tsc": None}
    assert bench.unmeasured(m, bare, with_qemu=False) == [
        "vmm: exits", "vmm: pct", "kvm-loop: exits_per_s_guest_tsc"]
    m[0]["qemu"] = float("nan")
    assert "qemu: start-to-exit" in bench.unmeasured(m, bare, with_qemu=True)


def test_smoke_bounds(tmp_path):
    rec = tmp_path / "recorded.json"
    rec.write_text('{"start_to_exit_ms": 20, "peak_rss_mib_m256": 2.0, '
                   '"peak_rss_mib_m2048": 2.0}')
    good = [bench.metric("start-to-exit, ...", "ms", 30.0, None, "", None, vmm_best=25.0),
            metric("peak RSS, empty guest, -m 256", 2.5),
            metric("peak RSS, empty guest, -m 2048", 2.9),
            metric("  the same as % of a bare KVM_RUN loop", 85.0)]
    assert bench.smoke_check(good, {}, str(rec)) == []
    slow = [dict(good[0], vmm_best=41.0)] + good[1:]
    assert "start_to_exit_ms" in bench.smoke_check(slow, {}, str(rec))[0]
    fat = good[:1] + [metric("peak RSS, empty guest, -m 256", 3.1)] + good[2:]
    assert "peak_rss_mib_m256" in bench.smoke_check(fat, {}, str(rec))[0]
    slow_exits = good[:3] + [metric("  the same as % of a bare KVM_RUN loop", 79.0)]
    assert "under 80 %" in bench.smoke_check(slow_exits, {}, str(rec))[0]
    assert "cannot read" in bench.smoke_check(good, {}, str(tmp_path / "none.json"))[0]
    # with round-by-round pairs the bound applies to the best round
    noisy = good[:3] + [dict(metric("  the same as % of a bare KVM_RUN loop", 75.0),
                             vmm_range=[60.0, 96.0])]
    assert bench.smoke_check(noisy, {}, str(rec)) == []
    slow_pairs = good[:3] + [dict(metric("  the same as % of a bare KVM_RUN loop", 60.0),
                                  vmm_range=[55.0, 79.0])]
    assert "under 80 %" in bench.smoke_check(slow_pairs, {}, str(rec))[0]


def _loop_run(cycles, hz=1e9):
    r = bench.Run(33, 1.0, 2000, "", "", tsc_hz=hz)
    r.cycles = cycles
    return r


def test_exit_rate_is_paired_round_by_round():
    # Round 2's host was twice as slow for both: best(vmm)/best(loop) would
    # compare round 1's loop with round 3's vmm; the pairs see 95 % each time.
    loop = [_loop_run(1000), _loop_run(2000), _loop_run(1000)]
    vmm = [_loop_run(1000 / 0.95), _loop_run(2000 / 0.95), _loop_run(1000 / 0.95)]
    t4 = {"kvm-loop": loop, "vmm": vmm, "qemu": None}
    assert [round(x, 6) for x in bench.paired_pct(t4, "vmm", 100000)] == [95.0] * 3
    # the TSC rate of each run counts (cycles over that run's own rate)
    vmm[1] = _loop_run(2000 * 1.1 / 0.95, hz=1.1e9)
    assert round(bench.paired_pct(t4, "vmm", 100000)[1], 6) == 95.0
    assert bench.paired_pct(t4, "qemu", 100000) == []  # not run: no figure
    assert bench.paired_pct({"kvm-loop": loop, "vmm": vmm[:2]}, "vmm", 100000) == []


def _tail(argv):
    """A command line from its -m on: what every VMM must share."""
    return argv[argv.index("-m"):]


@pytest.mark.parametrize("cpu", ["host", "qemu64"])
def test_kernel_boot_gives_every_vmm_the_same_machine(cpu):
    import kernel_boot
    lines = kernel_boot.command_lines("/build/vmm", "vmlinuz", "initrd", cpu)
    tails = [_tail(argv) for argv in lines.values()]
    assert all(t == tails[0] for t in tails), lines
    for flag in (["-cpu", cpu], ["-nodefaults"], ["-no-reboot"]):
        assert any(tails[0][i:i + len(flag)] == flag for i in range(len(tails[0]))), flag


@pytest.mark.parametrize("cpu", ["host", "qemu64"])
def test_virtio_blk_bench_gives_every_vmm_the_same_machine(cpu):
    import argparse
    import virtio_blk
    a = argparse.Namespace(cache="writeback", cpu=cpu)
    vmm = virtio_blk.vmm_argv("vmm", a, "s.img", "d.img", "q.qcow2")
    qemu = virtio_blk.vmm_argv("qemu", a, "s.img", "d.img", "q.qcow2")
    assert _tail(vmm) == _tail(qemu)
    for flag in ("-nodefaults", "-no-reboot"):
        assert flag in vmm
    assert vmm[vmm.index("-cpu") + 1] == cpu


class _FakeBatch:
    def __init__(self):
        self.cmds = {}

    def stage_bytes(self, name, data=None, size=None):
        return "/stage/" + name

    def add(self, name, cmd, **kw):
        self.cmds[name] = cmd


@pytest.mark.parametrize("backend", ["user", "tap"])
def test_virtio_net_bench_gives_every_vmm_the_same_machine(backend):
    import virtio_net
    b = _FakeBatch()
    for vmm in ("vmm", "qemu"):
        virtio_net.command(b, vmm, backend, 3, 16, "qemu64")
    lines = [ln for cmd in b.cmds.values() for ln in cmd.split("\n") if "-netdev" in ln]
    assert len(lines) == 2
    tails = [ln[ln.index(" -m "):].replace("vmm-net", "X-net").replace("qemu-net", "X-net")
             for ln in lines]
    assert tails[0] == tails[1] and "-cpu qemu64" in tails[0] and "-nodefaults" in tails[0]
