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


def test_proc_stat_cpu_ticks():
    # the command name may hold spaces and parentheses: fields count from the last ')'
    stat = ("4242 (vmm (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 "
            "517 83 0 0 20 0 3 0 12345 1000000 300 18446744073709551615")
    assert bench.proc_cpu_ticks(stat) == 517 + 83


def test_static_screen_goal_allows_one_tick():
    tick, window = 0.01, 10.0  # one tick in 10 s: 1 ms/s
    row = bench.static_screen_metric("mode 13h (320x200x8)", True, 3, window, 0.0045, 0.004, tick)
    assert row["goal_met"] is True and "VNC viewer" in row["metric"]
    row = bench.static_screen_metric("mode 13h (320x200x8)", False, 3, window, 0.0061, 0.004, tick)
    assert row["goal_met"] is False and "headless" in row["metric"]
    assert bench.static_screen_metric("m", False, 3, window, 0.004, None, tick)["goal_met"] is None


def test_a_still_screen_that_costs_nothing_is_measured():
    row = bench.static_screen_metric("m", False, 3, 10.0, 0.0, 0.0, 0.01)
    assert bench.unmeasured([row], {}, with_qemu=True) == []
    row = bench.static_screen_metric("m", False, 3, 10.0, None, -1.0, 0.01)
    assert len(bench.unmeasured([row], {}, with_qemu=True)) == 2
    # elsewhere a zero is still a broken figure
    assert bench.unmeasured([metric("exits", 0.0)], {}, with_qemu=False) == ["vmm: exits"]


def test_strict_fails_on_a_goal_missed_or_not_judged():
    ok = bench.metric("boot", "s", 1.0, 2.0, "<= qemu", True)
    missed = bench.metric("boot cirrus", "s", 3.0, 2.0, "<= qemu", False)
    no_qemu = bench.static_screen_metric("m", True, 3, 10.0, 0.004, None, 0.01)
    no_goal = bench.metric("info", "s", 1.0, None, "", None)
    assert bench.strict_failures([ok, no_goal]) == []
    out = bench.strict_failures([ok, missed, no_qemu, no_goal])
    assert len(out) == 2
    assert out[0].startswith("MISSED: boot cirrus")
    assert out[1].startswith("NOT JUDGED: static screen") and "qemu n/a" in out[1]


def test_display_rows_are_recorded(tmp_path):
    rows = [bench.metric("SeaBIOS + VGA BIOS to boot sector, -vga cirrus, -m 64 (median of 3)",
                         "s", 5.123, 5.0, "", None),
            bench.static_screen_metric("VBE 0x142 (640x480x32)", True, 3, 10.0, 0.0042, 0.005,
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
    # the server went away before stop(): that run's figure would not count
    assert viewer.error == "server closed the connection"
