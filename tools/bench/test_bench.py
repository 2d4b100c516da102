# SPDX-License-Identifier: GPL-2.0-or-later
"""bench.py's own checks (run by `make bench-smoke`): the loop guest's debug
console output parses only when it is exactly what the guest writes, and a
figure that is missing or zero fails the run."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "real"))
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
    lines = kernel_boot.command_lines("/build/vmm", "vmlinuz", "vmlinux", "initrd", cpu)
    # the same machine and guest for all; the pvh legs get the vmlinux
    pvh = [label for label in lines if label.endswith(" pvh")]
    assert sorted(pvh) == ["qemu -M microvm pvh", "qemu -M pc pvh", "vmm pvh"], lines
    tails = [[a.replace("vmlinux", "vmlinuz") for a in _tail(argv)] if label in pvh
             else _tail(argv) for label, argv in lines.items()]
    assert all(t == tails[0] for t in tails), lines
    assert all("vmlinux" in lines[label] for label in pvh), lines
    assert all("vmlinux" not in argv for label, argv in lines.items() if label not in pvh)
    # vmm's firmware leg is the firmware path, its default leg is not
    assert lines["vmm firmware"][1:3] == ["-machine", "kernel-boot=firmware"]
    assert "-machine" not in lines["vmm"]
    for flag in (["-cpu", cpu], ["-nodefaults"], ["-no-reboot"]):
        assert any(tails[0][i:i + len(flag)] == flag for i in range(len(tails[0]))), flag


@pytest.mark.parametrize("cpu", ["host", "qemu64"])
def test_virtio_blk_bench_gives_every_vmm_the_same_machine(cpu):
    import argparse
    import virtio_blk
    for bus in ("virtio", "ide"):
        a = argparse.Namespace(cache="writeback", cpu=cpu, bus=bus)
        vmm = virtio_blk.vmm_argv("vmm", a, "s.img", "d.img", "q.qcow2")
        qemu = virtio_blk.vmm_argv("qemu", a, "s.img", "d.img", "q.qcow2")
        assert _tail(vmm) == _tail(qemu)
        for flag in ("-nodefaults", "-no-reboot"):
            assert flag in vmm
        assert vmm[vmm.index("-cpu") + 1] == cpu
        drives = [vmm[i + 1] for i, x in enumerate(vmm) if x == "-drive"]
        want = ["if=virtio"] * 3 if bus == "virtio" else ["if=ide,index=%d" % i for i in (0, 1, 3)]
        assert [d.split(",")[1] + ("," + d.split(",")[2] if bus == "ide" else "")
                for d in drives[-3:]] == want, drives


class _FakeBatch:
    def __init__(self):
        self.cmds = {}

    def stage_bytes(self, name, data=None, size=None):
        return "/stage/" + name

    def add(self, name, cmd, **kw):
        self.cmds[name] = cmd


# ---- the NICs bench (tools/bench/nics.py): everything but the L1 ----------

def _nics_lines(cards="e1000,rtl8139,virtio-net-pci", backends="user,tap", cpu="qemu64"):
    """{vmm: its VMM command line} of one pass over every leg."""
    import nics
    a = nics.parse_args(["--cards", cards, "--backends", backends, "--cpu", cpu])
    legs = nics.legs_of(nics.plan(a.cards, a.backends))
    b = _FakeBatch()
    names = {vmm: nics.command(b, vmm, legs, a.runs, a.size_mb, a.cpu) for vmm in ("vmm", "qemu")}
    return {vmm: next(ln for ln in b.cmds[name].split("\n") if " -netdev " in ln)
            for vmm, name in names.items()}, legs


@pytest.mark.parametrize("backends", ["user", "tap", "user,tap"])
def test_nics_bench_gives_every_vmm_the_same_machine(backends):
    lines, legs = _nics_lines(backends=backends)
    tails = [ln[ln.index(" -m "):].replace("vmm-nics", "X").replace("qemu-nics", "X")
             for ln in lines.values()]
    assert tails[0] == tails[1], tails
    assert "-cpu qemu64" in tails[0] and "-nodefaults" in tails[0] and "-no-reboot" in tails[0]
    # one netdev and one card per leg, each with its own address; the
    # emulated cards without their iPXE ROM, the RTL8139 as QEMU's default
    assert tails[0].count(" -netdev ") == len(legs) == 3 * len(backends.split(","))
    for leg in legs:
        dev = "-device %s,netdev=n%d,mac=%s" % (leg.card, leg.k, leg.mac)
        assert dev + ("" if leg.card == "virtio-net-pci" else ",romfile=") in tails[0], dev
    assert "cplus" not in tails[0]
    # tap legs: the whole run in a network namespace, one tap per leg
    tap = "tap" in backends
    assert lines["vmm"].startswith("ip netns exec $ns ") == tap
    assert tails[0].count("script=$d/ifup") == (3 if tap else 0)


def _boot_lines(groups, size_mb, cpu):
    """The fake batch, {(vmm, group index): command name} and {(vmm, group
    index): the VMM command line from -m on, its name made X} of one boot
    per group and VMM."""
    import nics
    b = _FakeBatch()
    names = {(vmm, g): nics.command(b, vmm, group, 3, size_mb, cpu)
             for g, group in enumerate(groups) for vmm in ("vmm", "qemu")}
    line = {k: next(ln for ln in b.cmds[n].split("\n") if " -netdev " in ln)
            for k, n in names.items()}
    tail = {k: ln[ln.index(" -m "):].replace("vmm-nics", "X").replace("qemu-nics", "X")
            for k, ln in line.items()}
    return b, names, tail


def test_nics_bench_vhost_leg():
    """tap,vhost=on for virtio-net alone, the same for both VMMs, in the
    tap legs' namespace."""
    lines, legs = _nics_lines(backends="tap,vhost")
    assert [(leg.card, leg.backend) for leg in legs if leg.backend == "vhost"] == [
        ("virtio-net-pci", "vhost")]
    for ln in lines.values():
        assert ln.startswith("ip netns exec $ns ")
        assert ln.count(",vhost=on ") == 1 and ln.count("script=$d/ifup") == len(legs)


def test_nics_bench_multiqueue_legs():
    """tap-mq and vhost-mq: virtio-net only, queues=2 and mq=on with a
    vector per queue, the same for both VMMs, in a boot of their own with
    -smp 2 (the other legs keep one CPU); two sink ports per leg, after
    the single-queue legs' ports."""
    import nics
    keys = nics.plan(["e1000", "virtio-net-pci"], ["tap", "tap-mq", "vhost-mq"])
    assert keys == [("e1000", "tap"), ("virtio-net-pci", "tap"), ("virtio-net-pci", "tap-mq"),
                    ("virtio-net-pci", "vhost-mq")]
    legs = nics.legs_of(keys)
    assert [leg.ports for leg in legs] == [[15001], [15002], [15003, 15004], [15005, 15006]]
    single, mq = nics.boots(legs)
    assert [leg.k for leg in single] == [0, 1] and [leg.k for leg in mq] == [2, 3]
    b, names, tail = _boot_lines((single, mq), 8, "qemu64")
    assert names[("vmm", 1)] == "vmm-nics-mq" and names[("qemu", 0)] == "qemu-nics"
    assert tail[("vmm", 1)] == tail[("qemu", 1)] and tail[("vmm", 0)] == tail[("qemu", 0)]
    assert " -smp 2 " in tail[("vmm", 1)] and "-smp" not in tail[("vmm", 0)]
    assert "queues" not in tail[("vmm", 0)] and "mq=on" not in tail[("vmm", 0)]
    assert ("-netdev tap,id=n2,ifname=btap2,script=$d/ifup,downscript=no,queues=2 "
            "-device virtio-net-pci,netdev=n2,mac=52:54:00:be:00:02,mq=on,vectors=6"
            in tail[("vmm", 1)])
    assert ",vhost=on,queues=2 " in tail[("vmm", 1)]
    assert "net_sink.py --times 0.0.0.0 15003,15004,15005,15006 3 " in b.cmds["vmm-nics-mq"]
    assert "net_sink.py --times 0.0.0.0 15001,15002 3 " in b.cmds["vmm-nics"]
    text = nics.guest_script(mq, 3, 8)
    assert "leg 2 52:54:00:be:00:02 192.168.78.10 192.168.78.1 15003 15004\n" in text
    assert "stream $4 $5 1 & s0=$!" in text and "stream $4 $6 2 & s1=$!" in text
    # twice the bytes in the time budget
    assert nics.budget(mq[:1], 3, 8) - nics.budget(single[:1], 3, 8) == 3 * 8 * 60 // 4


def test_nics_bench_isa_legs():
    """The ISA NE2000: a 686 boot of its own (amd64 kernels have no ISA
    bus), the same for both VMMs, each ISA card at its own port and IRQ
    (no iPXE ROM property: an ISA card has none), one `ne` bound to them
    in that order; the PCI legs keep their amd64 boot."""
    import nics
    legs = nics.legs_of(nics.plan(["e1000", "ne2k_isa"], ["user", "tap"]))
    pci, isa = nics.boots(legs)
    assert [(leg.card, leg.backend) for leg in isa] == [("ne2k_isa", "user"), ("ne2k_isa", "tap")]
    assert [leg.card for leg in pci] == ["e1000", "e1000"]
    b, names, tail = _boot_lines((pci, isa), 1, "host")
    assert names[("vmm", 1)] == "vmm-nics-isa" and names[("qemu", 0)] == "qemu-nics"
    assert tail[("vmm", 1)] == tail[("qemu", 1)]
    assert "kit-686.iso" in tail[("vmm", 1)] and "kit-amd64.iso" in tail[("vmm", 0)]
    assert ("-device ne2k_isa,netdev=n1,mac=52:54:00:be:00:01,iobase=0x300,irq=5 "
            in tail[("vmm", 1)])
    assert ("-device ne2k_isa,netdev=n3,mac=52:54:00:be:00:03,iobase=0x320,irq=7 "
            in tail[("vmm", 1)])
    assert "romfile" not in tail[("vmm", 1)] and "ne2k" not in tail[("vmm", 0)]
    text = nics.guest_script(isa, 3, 1)
    assert "carry ne io=0x300,0x320 irq=5,7\n" in text and text.count("carry ne") == 1
    assert isa[0].driver == "ne"
    with pytest.raises(ValueError):
        nics.legs_of([("ne2k_isa", "user"), ("ne2k_isa", "tap"), ("ne2k_isa", "vhost")])


def test_nics_bench_multiqueue_runs_are_both_streams_together():
    """A multiqueue run: the n-th stream of each port, bytes summed, over
    the first first-byte to the last end; complete only with both streams
    whole; the guest's queue list read back."""
    import nics
    legs = nics.legs_of([("virtio-net-pci", "tap"), ("virtio-net-pci", "vhost-mq")])
    mib = 1 << 20
    sink = "\n".join([
        "@@run %d 2.0000 15001 at=100.0000" % (2 * mib),
        "@@run %d 1.0000 15002 at=200.0000" % (2 * mib),
        "@@run %d 2.0000 15003 at=200.5000" % (2 * mib),
        "@@run %d 1.0000 15003 at=300.0000" % (2 * mib),
        "@@run %d 1.5000 15002 at=299.0000" % (2 * mib),
        "@@run %d 9.0000 15001 at=400.0000" % (2 * mib)])
    out = ("\n@@log vmm\nbench leg 1 iface=eth1 driver=virtio_net\n"
           "bench leg 1 queues rx-0 rx-1 tx-0 tx-1 \n"
           "bench leg 1 irqs before input.0 5\nbench leg 1 irqs before output.0 0\n"
           "bench leg 1 irqs before input.1 7\nbench leg 1 irqs before output.1 1\n"
           "bench leg 1 irqs after input.0 50\nbench leg 1 irqs after output.0 90\n"
           "bench leg 1 irqs after input.1 7\nbench leg 1 irqs after output.1 1\n"
           "\n@@log service0\n%s\n@@nic-run-end\n" % sink)
    runs, drivers = nics.parse(out, legs)
    assert [r["bytes"] for r in runs[0]] == [2 * mib, 2 * mib]
    assert [(r["bytes"], r["seconds"]) for r in runs[1]] == [(4 * mib, 2.5), (4 * mib, 2.0)]
    assert runs[1][0]["streams"] == [{"bytes": 2 * mib, "seconds": 1.0},
                                     {"bytes": 2 * mib, "seconds": 2.0}]
    assert nics.parse_queues(out) == {1: ["rx-0", "rx-1", "tx-0", "tx-1"]}
    # which queues carried the streams: here pair 1 had none
    assert nics.parse_queue_irqs(out) == {1: {"input.0": 45, "input.1": 0, "output.0": 90,
                                              "output.1": 0}}
    # a guest with one pair gives the multiqueue leg no figure
    one = out.replace("queues rx-0 rx-1 tx-0 tx-1", "queues rx-0 tx-0")
    assert nics.parse(one, legs)[0] == {0: runs[0], 1: []}
    # a run whose second stream never came: the runs pair up by order, so
    # the leg is short one run (settle discards it), never mispaired
    gone = out.replace("@@run %d 1.5000 15002 at=299.0000" % (2 * mib), "")
    assert [r["seconds"] for r in nics.parse(gone, legs)[0][1]] == [2.5]
    assert nics.settle(legs, {"vmm": nics.parse(gone, legs)[0]}, 2, 2)[1] == [legs[1]]
    assert drivers == {1: "virtio_net"}
    done, again, why = nics.settle(legs, {"vmm": runs}, 2, 2)
    assert list(done) == [0, 1] and not again
    short = {0: runs[0], 1: [dict(runs[1][0], bytes=3 * mib), runs[1][1]]}
    done, again, why = nics.settle(legs, {"vmm": short}, 2, 2)
    assert again == [legs[1]] and why == ["virtio-net-pci/vhost-mq: vmm: 1 complete runs of 2"]
    # without --times a multiqueue run has no common clock: no figure
    assert nics.parse(out.replace(" at=", " x="), legs)[0][1] == []


def test_nics_bench_arguments():
    import nics
    a = nics.parse_args([])
    assert a.cards == list(nics.CARDS)
    assert a.backends == ["user", "tap", "vhost", "tap-mq", "vhost-mq"]
    assert a.vmms == ["vmm", "qemu"] and (a.runs, a.size_mb) == (3, 8)
    assert len(nics.plan(a.cards, a.backends)) == 19  # vhost and multiqueue: virtio-net only
    assert nics.plan(["pcnet", "e1000"], ["tap", "user"]) == [
        ("pcnet", "tap"), ("e1000", "tap"), ("pcnet", "user"), ("e1000", "user")]
    for bad in (["--cards", "e1000,ne2k"], ["--cards", "e1000,e1000"], ["--cards", ","],
                ["--backends", "vde"], ["--vmms", "kvmtool"], ["--runs", "0"],
                ["--size-mb", "0.01"], ["--size-mb", "0"], ["--ne2000-size-mb", "0.1"]):
        with pytest.raises(SystemExit) as e:
            nics.parse_args(bad)
        assert e.value.code == 2, bad


def test_nics_bench_guest_script():
    """Valid shell for the kit's busybox; 8139cp carried only for an
    RTL8139; a leg line per leg with its address and sink port."""
    import shutil
    import subprocess
    import nics
    legs = nics.legs_of(nics.plan(["e1000", "rtl8139"], ["user", "tap"]))
    text = nics.guest_script(legs, 2, 4)
    sh = shutil.which("busybox")
    r = subprocess.run([sh, "sh", "-n"] if sh else ["sh", "-n"], input=text, text=True,
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    assert text.count("\ncarry 8139cp\n") == 1
    assert "carry 8139cp" not in nics.guest_script(legs[:1], 2, 4)
    assert "leg 1 52:54:00:be:00:01 10.0.2.15 10.0.2.2 15002\n" in text
    assert "leg 3 52:54:00:be:00:03 192.168.78.10 192.168.78.1 15004\n" in text
    assert "blocks=64 tmo=300\nleg 0 " in text  # 4 MiB in 64 KiB blocks
    assert "count=$blocks " in text
    assert "blocks=4 tmo=75\nleg 0 " in nics.guest_script(legs, 2, 0.25)
    assert nics.parse_args(["--size-mb", "0.25"]).size_mb == 0.25
    # the NE2000s stream --ne2000-size-mb, the others --size-mb
    legs = nics.legs_of(nics.plan(["e1000", "ne2k_pci"], ["user"]), 0.25)
    text = nics.guest_script(legs, 2, 4)
    assert "blocks=64 tmo=300\nleg 0 " in text and "blocks=4 tmo=75\nleg 1 " in text
    assert nics.budget(legs[1:], 2, 4) == nics.budget(legs[1:], 2, 0.25)
    a = nics.parse_args(["--ne2000-size-mb", "1"])
    assert (a.size_mb, a.ne2000_size_mb) == (8, 1)


def _run(nbytes, seconds=1.0):
    return {"bytes": nbytes, "seconds": seconds, "mb_s": nbytes / seconds / 1e6}


def test_nics_bench_a_leg_counts_when_every_vmm_completed_it():
    import nics
    legs = nics.legs_of(nics.plan(["e1000", "pcnet", "ne2k_pci"], ["user"]))
    full = 8 << 20
    got = {"vmm": {0: [_run(full)] * 3, 1: [_run(full)] * 3, 2: [_run(full)] * 2},
           "qemu": {0: [_run(full)] * 3, 1: [_run(full)] * 2 + [_run(full - 1)], 2: []}}
    done, again, why = nics.settle(legs, got, 3, 8)
    assert list(done) == [0] and set(done[0]) == {"vmm", "qemu"}
    assert [leg.card for leg in again] == ["pcnet", "ne2k_pci"]
    assert why[0] == "pcnet/user: qemu: 2 complete runs of 3"
    assert why[1] == ("ne2k_pci/user: vmm: 2 complete runs of 3; "
                      "qemu: 0 complete runs of 3")
    figures = {"e1000/user": {"runs": {"vmm": [_run(full, 2), _run(full, 1)],
                                       "qemu": [_run(full, 2)]}}}
    rows = nics.rows([("e1000", "user"), ("pcnet", "user")], figures)
    assert rows[0][:2] == ("e1000", "user") and round(rows[0][4], 6) == 2.0
    assert rows[1] == ("pcnet", "user", None, None, None)
    text = nics.table([("e1000", "user"), ("pcnet", "user")], figures, 3, 8, 0.25)
    assert text.split("\n")[1].split() == ["e1000", "user", "8.39", "4.19", "2.00"]
    assert text.split("\n")[2].split() == ["pcnet", "user", "n/a", "n/a", "n/a"]
    # the median: of 2 runs their mean, of 3 the middle one
    figures["pcnet/user"] = {"runs": {"vmm": [_run(full, 1), _run(full, 4), _run(full, 2)],
                                      "qemu": [_run(full, 8), _run(full, 1)]}}
    text = nics.table([("e1000", "user"), ("pcnet", "user")], figures, 3, 8, 0.25,
                      pick=nics.median)
    assert "median of 3 x 8 MiB" in text.split("\n")[0]
    assert text.split("\n")[1].split() == ["e1000", "user", "6.29", "4.19", "1.50"]
    assert text.split("\n")[2].split() == ["pcnet", "user", "4.19", "4.72", "0.89"]
    # request/response: qemu/vmm of the mean round trips, above 1 when vmm is quicker
    figures["e1000/user"]["rtt_ms"] = {"vmm": {"min": 0.1, "avg": 0.25, "max": 1.0},
                                       "qemu": {"min": 0.2, "avg": 0.5, "max": 2.0}}
    text = nics.rtt_table([("e1000", "user"), ("pcnet", "user")], figures)
    assert text.split("\n")[1].split() == ["e1000", "user", "0.250", "0.500", "2.00"]
    assert text.split("\n")[2].split() == ["pcnet", "user", "n/a", "n/a", "n/a"]


def _free_ports(n):
    """n consecutive TCP ports free on 127.0.0.1 (a first port that
    binds, and the ones after it)."""
    import random
    import socket
    for _ in range(50):
        first = random.randint(20000, 60000)
        socks = []
        try:
            for p in range(first, first + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no %d free consecutive ports" % n)


def test_nics_bench_run_shell_sink_and_parse(tmp_path):
    """The L1 command's shell (tools/bench/nics.py's, without the network
    namespace) with a stand-in VMM that prints the guest's lines and
    streams to the sink's ports as the guest would: each port's streams go
    to their leg (the ones the tail shows while they come are not counted
    twice), the guest's drivers are read, the run ends with its marker."""
    import hashlib
    import subprocess
    import nics
    import nic_models
    first = _free_ports(2)
    legs = nics.legs_of(nics.plan(["e1000", "pcnet"], ["user"]))
    for leg in legs:
        leg.port = first + leg.k
    fake = tmp_path / "fake_vmm.py"
    fake.write_text(
        "import socket, sys\n"
        "for k, port, n in ((0, %d, 3), (1, %d, 2)):\n"
        "    print('bench leg %%d iface=eth%%d driver=%%s' %% (k, k, ['e1000', 'pcnet32'][k]))\n"
        "    for _ in range(n):\n"
        "        s = socket.create_connection(('127.0.0.1', port))\n"
        "        s.sendall(b'\\0' * (1 << 20)); s.close()\n"
        "    print('bench leg %%d rtt 0.%%d10/0.500/1.250 ms' %% (k, k + 1))\n"
        "print('VMMKIT-DONE rc=0', flush=True)\n" % (first, first + 1))
    sink = "/usr/bin/python3 %s --sha256 127.0.0.1 %d-%d 3 30" % (
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "net_sink.py"), first, first + 1)
    shell = nic_models.netns_shell("nics-t", "/usr/bin/python3 %s" % fake,
                                   [(sink, "listening")], 60)
    r = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.stdout.rstrip().endswith("@@nic-run-end"), r.stdout + r.stderr
    assert "@@vmm rc=0" in r.stdout, r.stdout
    runs, drivers = nics.parse(r.stdout, legs)
    assert [len(runs[0]), len(runs[1])] == [3, 2], r.stdout
    assert all(x["bytes"] == 1 << 20 for x in runs[0] + runs[1])
    assert drivers == {0: "e1000", 1: "pcnet32"}
    assert nics.parse_rtt(r.stdout) == {0: {"min": 0.11, "avg": 0.5, "max": 1.25},
                                        1: {"min": 0.21, "avg": 0.5, "max": 1.25}}
    zero = hashlib.sha256(b"\0" * (1 << 20)).hexdigest()
    assert nic_models.log(r.stdout, "service0").count("sha=" + zero) == 5
    done, again, _ = nics.settle(legs, {"vmm": runs}, 3, 1)
    assert list(done) == [0] and again == [legs[1]]


def _sink_session(args, talk, timeout):
    """Runs net_sink.py with args; talk(readline) connects and streams
    once the sink listens; returns what talk returned after the sink ended
    with status 0 within timeout seconds."""
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(here, "net_sink.py")] + args,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in p.stdout.readline()
        got = talk(lambda: p.stdout.readline().split())
        assert p.wait(timeout=timeout) == 0
        return got
    finally:
        p.kill()


def test_net_sink_drains_streams_at_once(tmp_path):
    """Two ports given as a list, streams on both at the same time (a
    multiqueue run): the second one ends while the first is still open,
    and its line comes first; --times puts each first byte on the host's
    monotonic clock; a port list with a port twice is refused."""
    import socket
    import subprocess
    import time
    here = os.path.dirname(os.path.abspath(__file__))
    first = _free_ports(3)
    before = time.monotonic()

    def talk(line):
        a = socket.create_connection(("127.0.0.1", first))
        a.sendall(b"a" * 1000)
        b = socket.create_connection(("127.0.0.1", first + 2))
        b.sendall(b"b" * 5000)
        b.close()
        line_b = line()
        a.sendall(b"a" * 1000)
        a.close()
        return line_b, line()
    line_b, line_a = _sink_session(["--times", "127.0.0.1", "%d,%d" % (first, first + 2), "1",
                                    "20"], talk, 20)
    assert line_b[:2] == ["@@run", "5000"] and line_b[3] == str(first + 2), line_b
    assert line_a[:2] == ["@@run", "2000"] and line_a[3] == str(first), line_a
    assert before - 5 < float(line_b[4][len("at="):]) < time.monotonic()
    r = subprocess.run(["/usr/bin/python3", os.path.join(here, "net_sink.py"), "127.0.0.1",
                        "%d-%d,%d" % (first, first + 1, first), "1"], capture_output=True, text=True)
    assert r.returncode != 0 and "twice" in r.stderr


def test_net_sink_timeout_counts_only_while_no_stream_runs():
    """TIMEOUT 1 s: a stream that lasts 2.5 s (bytes every 0.4 s) is not
    taken for a missing connection, and the next connection still counts."""
    import socket
    import time
    port = _free_ports(1)

    def talk(line):
        c = socket.create_connection(("127.0.0.1", port))
        for _ in range(6):
            c.sendall(b"x" * 100)
            time.sleep(0.4)
        c.close()
        first = line()
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"y" * 10)
        c.close()
        return first, line()
    first, second = _sink_session(["127.0.0.1", str(port), "2", "1"], talk, 10)
    assert first[:2] == ["@@run", "600"] and float(first[2]) > 1.5, first
    assert second[:2] == ["@@run", "10"], second


# ---- the display rows ------------------------------------------------------

def _argvs(args):
    vmm_extra, qemu_extra = bench.runner_extras()
    return ["build/vmm"] + vmm_extra + args, ["qemu"] + qemu_extra + args


@pytest.mark.parametrize("card", bench.DISPLAY_CARDS)
def test_display_boot_gives_both_vmms_the_same_machine(card):
    vmm, qemu = _argvs(bench.display_boot_args(card, "qemu64", "/d.img"))
    assert _tail(vmm) == _tail(qemu)
    for argv in (vmm, qemu):
        assert "-nodefaults" in argv
        assert argv[argv.index("-vga") + 1] == card
        assert argv[argv.index("-cpu") + 1] == "qemu64"
        assert argv[argv.index("-L") + 1] == bench.FIRMWARE_DIR
        assert "-device" in argv and "file=/d.img,format=raw,if=ide" in argv


@pytest.mark.parametrize("display", [None, 61])
def test_static_screen_gives_both_vmms_the_same_machine(display):
    vmm, qemu = _argvs(bench.idle_args("/i.img", "qemu64", "/s", display))
    assert _tail(vmm) == _tail(qemu)
    assert vmm[vmm.index("-display") + 1] == "none"
    assert ("-vnc" in vmm) == (display is not None)
    if display is not None:
        assert vmm[vmm.index("-vnc") + 1] == "127.0.0.1:61"


def test_sdl_static_screen_gives_both_vmms_the_same_machine():
    vmm, qemu = _argvs(bench.idle_args("/i.img", "qemu64", "/s", None, sdl=True))
    assert _tail(vmm) == _tail(qemu)
    assert vmm[vmm.index("-display") + 1] == "sdl" and "-vnc" not in vmm
    # the scrolling guest: the same machine as the static screen's, its own disk
    vmm_s, _ = _argvs(bench.idle_args("/scroll.img", "qemu64", "/s", 61))
    assert _tail(vmm_s) == _tail(_argvs(bench.idle_args("/scroll.img", "qemu64", "/s", 61))[1])
    assert "file=/scroll.img,format=raw,if=ide" in vmm_s


def test_vmhwm_parse():
    status = ("Name:\tvmm\nVmPeak:\t  300000 kB\nVmSize:\t  290000 kB\n"
              "VmHWM:\t    4242 kB\nVmRSS:\t    4000 kB\n")
    assert bench.parse_vmhwm_kib(status) == 4242
    for bad in ("Name:\tvmm\nVmRSS:\t 4000 kB\n", "VmHWM:\t 4242 MB\n", ""):
        with pytest.raises(ValueError):
            bench.parse_vmhwm_kib(bad)
    # this process's own, read live
    assert bench.process_hwm_kib(os.getpid()) > 1000


def test_drawing_libraries_from_maps():
    maps = "\n".join([
        "7f00-7f10 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libSDL2-2.0.so.0.2600.5",
        "7f10-7f20 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so",
        "7f20-7f30 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1",
        "7f30-7f40 r-xp 00000000 08:01 4 /usr/lib/x86_64-linux-gnu/libGLX_mesa.so.0.0.0",
        "7f40-7f50 r-xp 00000000 08:01 5 /usr/lib/x86_64-linux-gnu/libc.so.6",
        "7f50-7f60 rw-p 00000000 00:00 0 ",
        "7f60-7f70 r-xp 00000000 08:01 6 /opt/libSDL2/libfoo.so"])
    assert bench.drawing_libs(maps) == ["libGLX_mesa.so", "libLLVM-15.so", "libSDL2-2.0.so",
                                        "swrast_dri.so"]
    assert bench.drawing_libs("") == []


def test_display_peak_rss_rows():
    row = bench.display_rss_metric("mode 13h (320x200x8)", "sdl", 3, 6144, 61440)
    assert row["vmm"] == 6.0 and row["qemu"] == 60.0 and round(row["ratio"], 2) == 0.1
    assert row["goal_met"] is True and row["unit"] == "MiB"
    assert "SDL window (Xvfb): VMM peak RSS" in row["metric"]
    # not a row of the empty guest's: --smoke's RSS bounds must not take it
    assert not row["metric"].startswith("peak RSS")
    assert bench.display_rss_metric("m", "vnc", 3, 70000, 61440)["goal_met"] is False
    missing = bench.display_rss_metric("m", "headless", 3, None, 61440)
    assert missing["goal_met"] is None
    assert bench.unmeasured([missing], {}, with_qemu=True) == [f"vmm: {missing['metric']}"]


def _scroll_run(cpu, lines, updates=None, nbytes=None, window=10.0):
    return bench.IdleRun(cpu, window, updates, nbytes, cpu, 5000, lines,
                         None if updates is None else {0: updates})


def test_text_scrolling_rows():
    d = {"headless": {"vmm": [_scroll_run(0.2, 182), _scroll_run(0.3, 182),
                              _scroll_run(0.1, 181)],
                      "qemu": [_scroll_run(0.05, 182)] * 3},
         "vnc": {"vmm": [_scroll_run(0.3, 182, 150, 10 * 2 ** 20),
                         _scroll_run(0.4, 182, 170, 30 * 2 ** 20, window=20.0)],
                 "qemu": None}}
    rows = bench.scroll_metrics(d, 3, 10.0, 0.01)
    assert [r["unit"] for r in rows] == ["cpu", "cpu", "B/s", "/s"]
    head, vnc, nbytes, updates = rows
    assert head["vmm"] == 0.2 and head["qemu"] == 0.05 and head["goal_met"] is False
    assert head["lines_per_s"] == {"vmm": 18.2, "qemu": 18.2}
    assert "text scrolling" in head["metric"] and ", headless: VMM CPU per s" in head["metric"]
    assert round(vnc["vmm"], 6) == 0.35 and vnc["qemu"] is None and vnc["goal_met"] is None
    # per second of each run's own window, then the median
    assert nbytes["vmm"] == (2 ** 20 + 1.5 * 2 ** 20) / 2 and nbytes["qemu"] is None
    assert updates["vmm"] == (15 + 8.5) / 2 and updates["goal"] == ""
    assert bench.fmt(nbytes["vmm"], "B/s") == "1,280.0 KiB/s"
    assert bench.fmt(updates["vmm"], "/s") == "11.75/s"
    # a scrolling screen that costs nothing, or a viewer that got nothing, is broken
    zero = bench.scroll_metrics({"vnc": {"vmm": [_scroll_run(0.0, 182, 0, 0)], "qemu": None}},
                                1, 10.0, 0.01)
    assert len(bench.unmeasured(zero, {}, with_qemu=False)) == 3


def test_scrolling_guests_must_do_the_same_work():
    assert bench.uneven_work({"vmm": 18.2, "qemu": 18.0}) is None
    assert "not the same work" in bench.uneven_work({"vmm": 18.2, "qemu": 16.0})
    assert bench.uneven_work({"vmm": 18.2, "qemu": None}) is None


def test_new_display_rows_are_recorded(tmp_path):
    import json
    d = {"headless": {"vmm": [_scroll_run(0.25, 182)], "qemu": None},
         "vnc": {"vmm": [_scroll_run(0.5, 182, 120, 5 * 2 ** 20)], "qemu": None}}
    rows = [bench.static_screen_metric("mode 13h (320x200x8)", "sdl", 3, 10.0, 0.009, 0.02,
                                       0.01),
            bench.display_rss_metric("VBE 0x142 (640x480x32)", "sdl", 3, 8192, 70000),
            bench.display_rss_metric("VBE 0x142 (640x480x32)", "vnc", 3, 7168, 60000)] \
        + bench.scroll_metrics(d, 1, 10.0, 0.01)
    out = tmp_path / "rec.json"
    bench.write_recorded(str(out), {"date": "d", "host": {"loadavg_before": "1",
                                                          "loadavg_after": "2"},
                                    "metrics": rows})
    rec = json.loads(out.read_text())
    assert rec["static_screen_ms_per_s_13h_sdl"] == 9.0
    assert rec["static_screen_peak_rss_mib_vbe32_sdl"] == 8.0
    assert rec["static_screen_peak_rss_mib_vbe32_vnc"] == 7.0
    assert rec["text_scroll_ms_per_s_headless"] == 250.0
    assert rec["text_scroll_ms_per_s_vnc"] == 500.0
    assert rec["text_scroll_vnc_kib_per_s"] == 512.0
    assert rec["text_scroll_vnc_updates_per_s"] == 12.0
    assert "peak_rss_mib_m256" not in rec  # the empty guest's key stays its own


FAKE_VMM = r"""
import sys, time
serial = next(a[5:] for a in sys.argv if a.startswith("file:"))
dots = int(sys.argv[1])
with open(serial, "w") as f:
    f.write("VMM-VGA-READY\n")
    f.flush()
    while True:
        time.sleep(0.02)
        if dots:
            f.write(".")
            f.flush()
"""


@pytest.mark.parametrize("dots", [1, 0])
def test_display_run_counts_the_scrolled_lines(tmp_path, dots):
    # a stand-in VMM that writes the banner, then a '.' per 20 ms (or none)
    fake = tmp_path / "fake_vmm.py"
    fake.write_text(FAKE_VMM)
    runner = bench.Runner("fake", [sys.executable, str(fake), str(dots)])
    kw = dict(image="/i.img", cpu="qemu64", window=0.5, settle=0.1, frontend="headless",
              boot_timeout=10, count_lines=True)
    if not dots:
        with pytest.raises(bench.RunError, match="scrolled no line"):
            bench.display_run(runner, **kw)
        return
    run = bench.display_run(runner, **kw)
    assert 5 <= run.lines <= 30 and run.per_s("lines") == run.lines / run.window_s
    assert run.hwm_kib > 1000 and run.drawing == [] and run.updates is None
    assert run.cpu_s_per_s >= 0


def test_sdl_environment_is_x11():
    sys.path.insert(0, os.path.join(bench.REPO, "tests", "fw"))
    import xvfb
    env = xvfb.sdl_env(":7", {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "HOME": "/h"})
    assert env == {"DISPLAY": ":7", "HOME": "/h"}


def test_proc_stat_cpu_ticks():
    # the command name may hold spaces and parentheses: fields count from the last ')'
    stat = ("4242 (vmm (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 "
            "517 83 0 0 20 0 3 0 12345 1000000 300 18446744073709551615")
    assert bench.proc_cpu_ticks(stat) == 517 + 83


def test_static_screen_goal_allows_one_tick():
    tick, window = 0.01, 10.0  # one tick in 10 s: 1 ms/s
    row = bench.static_screen_metric("mode 13h (320x200x8)", "vnc", 3, window, 0.0045, 0.004,
                                     tick)
    assert row["goal_met"] is True and "VNC viewer" in row["metric"]
    row = bench.static_screen_metric("mode 13h (320x200x8)", "headless", 3, window, 0.0061,
                                     0.004, tick)
    assert row["goal_met"] is False and "headless" in row["metric"]
    row = bench.static_screen_metric("mode 13h (320x200x8)", "sdl", 3, window, 0.0061, 0.0055,
                                     tick)
    assert row["goal_met"] is True and "SDL window (Xvfb):" in row["metric"]
    assert bench.static_screen_metric("m", "headless", 3, window, 0.004, None,
                                      tick)["goal_met"] is None


def test_a_still_screen_that_costs_nothing_is_measured():
    row = bench.static_screen_metric("m", "headless", 3, 10.0, 0.0, 0.0, 0.01)
    assert bench.unmeasured([row], {}, with_qemu=True) == []
    row = bench.static_screen_metric("m", "headless", 3, 10.0, None, -1.0, 0.01)
    assert len(bench.unmeasured([row], {}, with_qemu=True)) == 2
    # elsewhere a zero is still a broken figure
    assert bench.unmeasured([metric("exits", 0.0)], {}, with_qemu=False) == ["vmm: exits"]


def test_strict_fails_on_a_goal_missed_or_not_judged():
    ok = bench.metric("boot", "s", 1.0, 2.0, "<= qemu", True)
    missed = bench.metric("boot cirrus", "s", 3.0, 2.0, "<= qemu", False)
    no_qemu = bench.static_screen_metric("m", "vnc", 3, 10.0, 0.004, None, 0.01)
    no_goal = bench.metric("info", "s", 1.0, None, "", None)
    assert bench.strict_failures([ok, no_goal]) == []
    out = bench.strict_failures([ok, missed, no_qemu, no_goal])
    assert len(out) == 2
    assert out[0].startswith("MISSED: boot cirrus")
    assert out[1].startswith("NOT JUDGED: static screen") and "qemu n/a" in out[1]


def test_display_rows_are_recorded(tmp_path):
    rows = [bench.metric("SeaBIOS + VGA BIOS to boot sector, -vga cirrus, -m 64 (median of 3)",
                         "s", 5.123, 5.0, "", None),
            bench.static_screen_metric("VBE 0x142 (640x480x32)", "vnc", 3, 10.0, 0.0042, 0.005,
                                       0.01)]
    out = tmp_path / "rec.json"
    bench.write_recorded(str(out), {"date": "d", "host": {"loadavg_before": "1",
                                                          "loadavg_after": "2"},
                                    "metrics": rows})
    import json
    rec = json.loads(out.read_text())
    assert rec["display_boot_s_cirrus"] == 5.12
    assert "seabios_boot_s" not in rec  # the plain SeaBIOS row's key stays its own
    assert rec["static_screen_ms_per_s_vbe32_vnc"] == 4.2


def _fake_rfb_server(listener, seen):
    """Serves one client: the RFB 3.8 handshake, a 2x2 Raw update for the
    first request, then a DesktopSize change; records each update request's
    incremental flag."""
    import socket
    import struct
    conn, _ = listener.accept()
    with conn:
        f = conn.makefile("rb")
        conn.sendall(b"RFB 003.008\n")
        f.read(12)
        conn.sendall(b"\x01\x01")  # one security type: None
        f.read(1)
        conn.sendall(struct.pack(">I", 0))
        f.read(1)  # shared
        conn.sendall(struct.pack(">HH", 2, 2) + bytes(16) + struct.pack(">I", 4) + b"fake")
        f.read(20)  # SetPixelFormat
        f.read(4 + 4 * struct.unpack(">xxH", f.read(4))[0] - 4)  # SetEncodings
        for reply in (struct.pack(">BxHHHHHi", 0, 1, 0, 0, 2, 2, 0) + bytes(16),
                      struct.pack(">BxHHHHHi", 0, 1, 0, 0, 4, 4, -223), None):
            msg = f.read(10)
            if len(msg) < 10:
                break
            assert msg[0] == 3
            seen.append(msg[1])
            if reply is None:
                break
            conn.sendall(reply)
        f.close()


def test_vnc_viewer_keeps_an_update_request_outstanding():
    import socket
    import threading
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen = []
    server = threading.Thread(target=_fake_rfb_server, args=(listener, seen), daemon=True)
    server.start()
    viewer = bench.VncViewer(listener.getsockname()[1], timeout=10)
    viewer.start()
    assert viewer.first.wait(10)
    server.join(10)
    viewer.join(10)  # the server's close ends the viewer's loop
    viewer.stop()
    listener.close()
    # full picture first, incremental after a picture, full again after a resize
    assert seen == [0, 1, 0]
    assert viewer.updates == 2
    assert viewer.encodings == {0: 1, -223: 1}  # Raw, then DesktopSize
    assert bench.encoding_names(viewer.encodings) == "Raw 1, DesktopSize 1"
    # the server went away before stop(): that run's figure would not count
    assert viewer.error == "server closed the connection"


def test_bare_loop_gets_the_vmms_cpu_model():
    # -cpu host: the loop's vCPU gets KVM's supported CPUID as the VMMs' do
    assert bench.bare_loop_args("host") == ["-c"]
    assert bench.bare_loop_args("qemu64") == []


# ---- fbcon scrolling (fbcon_scroll.py) ----------------------------------------

@pytest.mark.parametrize("cpu", ["host", "qemu64"])
@pytest.mark.parametrize("card", ["std", "cirrus"])
def test_fbcon_bench_gives_both_vmms_the_same_machine(cpu, card):
    import fbcon_scroll
    vmm = fbcon_scroll.argv_for("vmm", "/s.img", card, cpu)
    qemu = fbcon_scroll.argv_for("qemu", "/s.img", card, cpu)
    assert _tail(vmm) == _tail(qemu)
    for flag in (["-cpu", cpu], ["-vga", card], ["-nodefaults"], ["-no-reboot"],
                 ["-hda", "/s.img"], ["-display", "none"], ["-serial", "stdio"]):
        assert any(vmm[i:i + len(flag)] == flag for i in range(len(vmm))), flag
    append = vmm[vmm.index("-append") + 1].split()
    # fbcon on a VESA mode, the script's output on the serial port (the
    # last console= is /dev/console)
    assert "vga=0x311" in append and append.index("console=tty0") < append.index("console=ttyS0")
    assert "kvm-apic.vapic=false" in qemu and "-enable-kvm" in qemu


def test_fbcon_bench_passes_alternate_and_pair_vmm_with_its_qemu():
    import argparse
    import fbcon_scroll
    a = argparse.Namespace(runs=3, lines=10000, card="std", cpu="host", timeout=100, idle=50)
    order = []

    class Batch(_FakeBatch):
        def add(self, name, cmd, **kw):
            order.append((name, kw.get("peer")))
            _FakeBatch.add(self, name, cmd, **kw)
    b = Batch()
    fbcon_scroll.add_pass(b, 0, a)
    fbcon_scroll.add_pass(b, 1, a)
    assert [n for n, _ in order] == ["vmm-fbscroll-std-0", "qemu-fbscroll-std-0",
                                     "qemu-fbscroll-std-1", "vmm-fbscroll-std-1"]
    assert dict(order)["vmm-fbscroll-std-1"] == "qemu-fbscroll-std-1"
    assert "seq 10000 > /dev/tty1" in fbcon_scroll.guest_script(3, 10000)


def _fbcon_boot(runs, extra=""):
    out = "SeaBIOS\r\nVMMKIT-READY\r\nVMMKIT-SCRIPT-BEGIN\r\n@@fbscroll fb=VESA_VGA vt=tty1\r\n"
    for r in runs:
        out += "@@fbscroll run=%d lines=10000 us0=%s us1=%s up0=%s up1=%s\r\n" % r
    return out + extra + "@@fbscroll end\r\nVMMKIT-SCRIPT-END rc=0\r\nVMMKIT-DONE rc=0\r\n"


def test_fbcon_marker_lines_parse():
    import fbcon_scroll
    out = _fbcon_boot([(1, "1000000", "3500000", "20.00", "22.50"),
                       (2, "%N", "%N", "23.00", "25.25")])
    assert fbcon_scroll.parse(out, 2, 10000) == [
        {"run": 1, "lines": 10000, "seconds": 2.5, "clock": "adjtimex"},
        {"run": 2, "lines": 10000, "seconds": 2.25, "clock": "uptime"}]


@pytest.mark.parametrize("out", [
    # a run missing, or one too many
    _fbcon_boot([(1, "1", "2", "1.0", "2.0")]),
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "1", "2", "1.0", "2.0"),
                 (3, "1", "2", "1.0", "2.0")]),
    # the script ran twice (a reset under -no-reboot cannot, a retry can)
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "1", "2", "1.0", "2.0")]) * 2,
    # it failed or did not end
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "1", "2", "1.0", "2.0")]).replace(
        "rc=0", "rc=1"),
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "1", "2", "1.0", "2.0")]).split(
        "@@fbscroll end")[0],
    # a run of another length, a line cut by console noise, a zero time
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "1", "2", "1.0", "2.0")]).replace(
        "run=2 lines=10000", "run=2 lines=1000"),
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "1", "2", "1.0", "2.0")]).replace(
        "run=2 lines=10000 us0=1", "run=2 lines=10000 [ 3.1] us0=1"),
    _fbcon_boot([(1, "1", "2", "1.0", "2.0"), (2, "5", "5", "1.0", "1.0")]),
])
def test_fbcon_marker_lines_refused(out):
    import fbcon_scroll
    assert fbcon_scroll.parse(out, 2, 10000) is None


def test_fbcon_bench_discards_a_pass_for_both_and_runs_it_again(monkeypatch, tmp_path, capsys):
    import json
    import types
    import fbcon_scroll
    good = [(r, str(10 ** 6), str(10 ** 6 + 2500000 * r), "1.0", "2.0") for r in (1, 2, 3)]
    batches = []

    class Batch(_FakeBatch):
        mode = "fake"

        def __init__(self):
            _FakeBatch.__init__(self)
            batches.append(self)

        def run(self):
            out = {}
            for name in self.cmds:
                # the first pass: vmm's script ends early; QEMU's is fine
                bad = len(batches) == 1 and name.startswith("vmm")
                out[name] = types.SimpleNamespace(
                    stdout=_fbcon_boot(good[:2] if bad else good), rc=0, timed_out=False,
                    describe=lambda: "")
            return out
    kit = tmp_path / "k"
    kit.write_bytes(b"")
    monkeypatch.setattr(fbcon_scroll.nested, "Batch", Batch)
    monkeypatch.setattr(fbcon_scroll.guestkit, "kit", lambda name: str(kit))
    monkeypatch.setattr(fbcon_scroll.guestkit, "vmm_missing", lambda v: None)
    js = tmp_path / "f.json"
    assert fbcon_scroll.main(["--json", str(js), "--strict"]) == 0
    assert len(batches) == 2
    got = json.loads(js.read_text())
    assert [x["seconds"] for x in got["figures"]["vmm"]] == [2.5, 5.0, 7.5]
    assert [x["passno"] for x in got["figures"]["qemu"]] == [1, 1, 1]
    assert got["median_s"] == {"vmm": 5.0, "qemu": 5.0} and got["vmm_over_qemu"] == 1.0
    assert len(got["discarded_passes"]) == 1 and "vmm:" in got["discarded_passes"][0]
    assert "| vmm | 5.000 | 2000 |" in capsys.readouterr().out
    # every pass bad: --strict fails, and without it vmm's missing figure does
    batches.clear()
    monkeypatch.setattr(Batch, "run", lambda self: {n: types.SimpleNamespace(
        stdout="", rc=1, timed_out=True, describe=lambda: "") for n in self.cmds})
    assert fbcon_scroll.main(["--strict", "--max-passes", "2"]) == 1
    assert len(batches) == 2
    assert fbcon_scroll.main([]) == 1


@pytest.mark.parametrize("device,image,marker,desc", bench.PLAY_CARDS)
def test_playback_gives_both_vmms_the_same_machine(device, image, marker, desc):
    vmm, qemu = _argvs(bench.playback_args(f"/fw/{image}", device, "qemu64", "/w.wav", "/dc"))
    assert _tail(vmm) == _tail(qemu)
    for argv in (vmm, qemu):
        assert "-nodefaults" in argv
        assert argv[argv.index("-cpu") + 1] == "qemu64"
        assert argv[argv.index("-L") + 1] == bench.FIRMWARE_DIR
        # the wav audiodev in its default format: no out.* options
        assert argv[argv.index("-audiodev") + 1] == "wav,id=snd,path=/w.wav"
        assert f"{device},audiodev=snd" in argv
        assert f"file=/fw/{image},format=raw,if=ide,snapshot=on" in argv
        assert "file,id=seabios,path=/dc" in argv
    assert marker.startswith("VMM-") and marker.endswith(" start")


def test_playback_is_judged_per_second_of_sound():
    assert bench.played_seconds(44100 * 4 * 10) == 10.0
    run = bench.PlayRun(cpu_s=0.09, sched_s=0.1, played_s=9.0, window_s=9.1)
    assert round(run.cpu_s_per_s, 6) == 0.01 and round(run.sched_s_per_s, 6) == round(0.1 / 9, 6)
    # a window whose recording did not grow by about its time measures no playback
    assert bench.pace_problem(9.5, 10.0) is None
    assert "not playing" in bench.pace_problem(0.0, 10.0)
    assert "not playing" in bench.pace_problem(11.5, 10.0)
    row = bench.playback_metric("SB16, 16-bit stereo 22050 Hz", 3, 10.0, 0.0065, 0.006, 0.01)
    assert row["goal_met"] is True and row["unit"] == "cpu"
    row = bench.playback_metric("SB16, 16-bit stereo 22050 Hz", 3, 10.0, 0.0075, 0.006, 0.01)
    assert row["goal_met"] is False
    # no zero: playing is never free
    row = bench.playback_metric("SB16, 16-bit stereo 22050 Hz", 3, 10.0, 0.0, 0.006, 0.01)
    assert bench.unmeasured([row], {}, with_qemu=True) == [f"vmm: {row['metric']}"]


def test_playback_rows_are_recorded(tmp_path):
    rows = [bench.playback_metric(desc, 3, 10.0, 0.0081, 0.009, 0.01)
            for _, _, _, desc in bench.PLAY_CARDS]
    out = tmp_path / "rec.json"
    bench.write_recorded(str(out), {"date": "d", "host": {"loadavg_before": "1",
                                                          "loadavg_after": "2"},
                                    "metrics": rows})
    import json
    rec = json.loads(out.read_text())
    assert rec["playback_ms_per_s_sb16"] == 8.1
    assert rec["playback_ms_per_s_es1370"] == 8.1
    assert rec["playback_ms_per_s_cs4231a"] == 8.1
    assert rec["playback_ms_per_s_gus"] == 8.1


# ---- the scale rows (issue 21) ----------------------------------------------

@pytest.mark.parametrize("label,mem,smp", bench.SCALE_BOOTS)
def test_scale_boots_give_both_vmms_the_same_machine(label, mem, smp):
    vmm, qemu = _argvs(bench.boot_sector_args(mem, "qemu64", "/d.img", smp))
    assert _tail(vmm) == _tail(qemu)
    for argv in (vmm, qemu):
        assert argv[argv.index("-m") + 1] == mem
        assert argv[argv.index("-smp") + 1] == str(smp)
        assert argv[argv.index("-hda") + 1] == "/d.img"
    assert bench.scale_extra("vmm", mem) == []
    backend = bench.scale_extra("qemu", mem)
    # QEMU's RAM for the big row is the same size, mapped without reserving
    assert backend == [] if mem == "1G" else \
        f"memory-backend-ram,id=scale-ram,size={mem},reserve=off" in backend


def test_seabios_row_keeps_its_command_line_without_smp():
    """The SeaBIOS row's recorded command line (docs/bench.md) is built by
    the scale rows' builder without -smp, so its figures stay comparable."""
    assert bench.boot_sector_args("64", "qemu64", "/d.img") == \
        ["-m", "64", "-cpu", "qemu64", "-display", "none", "-serial", "stdio", "-no-reboot"] \
        + bench.DEBUG_EXIT + ["-hda", "/d.img", "-boot", "order=c"]


def test_nics_bench_reads_the_l1_kvm_counters_around_each_legs_pings():
    """The watcher (service1) reads the counters at each leg's idle, ping
    and done lines, which the guest prints around its pings; per round
    trip is the growth over the pings less the idle pause's rate."""
    import nics
    legs = nics.legs_of([("virtio-net-pci", "tap"), ("virtio-net-pci", "vhost")])
    b = _FakeBatch()
    name = nics.command(b, "vmm", legs, 3, 8, "host")
    shell = b.cmds[name]
    # the watcher reads the console as it grows, after emptying a retried
    # command's old log
    assert 'sh "$d/kvmwatch" "$d"' in shell and 'tail -n +1 --pid=$$ -f "$d/vmm.log"' in shell
    assert shell.index(': > "$d/vmm.log"') < shell.index('sh "$d/kvmwatch"')
    script = nics.guest_script(legs, 3, 8)
    for mark in ("idle", "ping", "done"):
        assert 'echo "bench leg $1 kvm %s"' % mark in script
    assert "ping -c %d -A" % nics.PINGS in script
    assert 'echo "bench leg $1 rtt ${rt#*= } received ${n%% *}"' in script

    def snap(k, mark, up, exits, irqs):
        vals = dict.fromkeys(nics.KVM_COUNTERS, 0)
        vals.update(exits=exits, irq_injections=irqs)
        return "kvm %d %s %s %s " % (k, mark, up, " ".join("%s:%d" % kv for kv in vals.items()))
    n = nics.PINGS
    log = "\n".join([
        "watching",
        # idle: 40 exits a second over 4 s; the pings' 2 s add 6 per round trip
        snap(0, "idle", "100.00", 1000, 10), snap(0, "ping", "104.00", 1160, 18),
        snap(0, "done", "106.00", 1160 + 80 + 6 * n, 18 + 3 * n),
        # leg 1 has no done reading: no figure
        snap(1, "idle", "200.00", 5000, 0), snap(1, "ping", "203.00", 5100, 0)])
    console = ("bench leg 0 rtt 0.100/1.000/2.000 ms received %d\r\n"
               "bench leg 1 rtt 0.100/1.000/2.000 ms received %d\r\n" % (n, n))
    out = ("\n@@log vmm\n%sVMMKIT-DONE\n\n@@log service0\n\n@@log service1\n%s\n"
           "@@nic-run-end\n" % (console, log))
    per = nics.parse_kvm(out)
    assert set(per) == {0}
    assert per[0]["exits"] == pytest.approx(6.0)
    assert per[0]["irq_injections"] == pytest.approx(3.0 - 4 / n)
    assert per[0]["halt_exits"] == 0
    assert nics.parse_rtt(out)[0]["avg"] == 1.0
    # over the replies received, not the requests sent; none received, no figure
    half = nics.parse_kvm(out.replace("received %d\r\nbench leg 1" % n,
                                      "received %d\r\nbench leg 1" % (n // 2)))
    assert half[0]["exits"] == pytest.approx(12.0)
    assert nics.parse_kvm(out.replace("ms received %d\r\nbench leg 1" % n,
                                      "ms received 0\r\nbench leg 1")) == {}
    assert nics.parse_kvm(out.replace("ms received %d\r\nbench leg 1" % n,
                                      "ms received \r\nbench leg 1")) == {}
    # a reading without the VM's counters (debugfs missing) gives none
    assert nics.parse_kvm(out.replace(" exits:1160 ", " ")) == {}
    keys = [("virtio-net-pci", "tap"), ("virtio-net-pci", "vhost")]
    text = nics.kvm_table(keys, {"virtio-net-pci/tap": {"kvm_per_rtt": {"vmm": per[0],
                                                                       "qemu": None}}})
    assert "6.00 / n/a" in text and "n/a / n/a" in text.splitlines()[2]
