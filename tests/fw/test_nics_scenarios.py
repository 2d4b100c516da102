# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/real/test_nics.py's command lines and host side, at firmware level.

The real-guest test runs only in the nested L1; what does not need the
guest is checked here, so that a run there fails only on what the guest
does. For each of its boots (device, nic, isa): vmm takes the boot's NIC
options as they are (SeaBIOS, no guest OS), and tests/real/nics_driver.py
runs it with tests/fw/nics_fake_guest.py saying the guest script's
VMM-LINK-OFF / VMM-LINK-ON lines. The driver's QMP set_link must succeed
for the name the test expects for every card (the netdev's id for
-device, QEMU's MODEL.N for -nic and -net), and vmm's monitor must then
show every link down, then up. The device boot's smb=: the driver's share
directory and private TMPDIR; the fake guest logs in to the launcher's
socket with the real guest's credentials and dialect (guest%guest, SMB 3)
and gets and puts the files the real guest does; the driver's after-run
report sees the file and no private directory left. And the guest
scripts: valid busybox shell, and every carried module they load is in
the kit (modules.carry-deps)."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

import fwskip
from conftest import ROOT, VMM

sys.path.insert(0, os.path.join(ROOT, "tests", "real"))
import test_nics  # noqa: E402

FAKE_GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nics_fake_guest.py")


def fake_mac(boot, k):
    return boot.cards[k][2] or "52:54:00:12:34:%02x" % (0x56 + k)


def run_boot(boot):
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    if boot.smb:
        for tool in ("smbclient", "socat"):
            if not shutil.which(tool):
                fwskip.unavailable(f"{tool} is not installed (tools/deps.sh)")
        if not (shutil.which("smbd") or os.path.exists("/usr/sbin/smbd")):
            fwskip.unavailable("smbd is not installed (Debian's samba; tools/deps.sh)")
    links = ",".join("%s %s" % (fake_mac(boot, k), test_nics.MODELS[kind][0])
                     for k, (kind, _, _) in enumerate(boot.cards))
    # a short TMPDIR: the launcher's socket path must fit a sun_path
    tmp = tempfile.mkdtemp(prefix="nx", dir="/tmp")
    env = dict(os.environ, FAKE_LINKS=links, FAKE_SMB="1" if boot.smb else "0", TMPDIR=tmp)
    argv = [VMM, "-nodefaults", "-display", "none", "-serial", "none", "-m", "64",
            *boot.nic_args()]
    # the driver's HTTP port is fixed (the guest script has it): one run at a time
    try:
        r = subprocess.run(["/usr/bin/python3", test_nics.DRIVER, *boot.driver_args(), "--",
                            "/usr/bin/python3", FAKE_GUEST, *argv],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=240, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return r.stdout + r.stderr


@pytest.fixture(scope="module", params=test_nics.BOOTS, ids=str)
def boot_run(request):
    return request.param, run_boot(request.param)


def test_set_link_names_every_card(boot_run):
    boot, out = boot_run
    for k in range(len(boot.cards)):
        for state in ("off", "on"):
            want = "@@link %s %s %s -> {'return': {}}" % (fake_mac(boot, k), state,
                                                          boot.link_name(k))
            assert want in out, out
    n = len(boot.cards)
    assert "fake links down=%d/%d" % (n, n) in out, out
    assert "fake links up=%d/%d" % (n, n) in out, out


def test_vmm_takes_the_options_and_exits_0(boot_run):
    _, out = boot_run
    assert re.search(r"^@@vmm rc=0 ", out, re.M), out
    assert "fake vmm stderr" not in out, out


def test_smb_share_with_the_guests_login(boot_run):
    boot, out = boot_run
    if not boot.smb:
        assert "@@smb" not in out and "smb=" not in " ".join(boot.nic_args())
        return
    host = re.search(r"@@smb host sha=(\w+) size=(\d+)", out)
    assert host, out
    assert "fake smb read sha=%s size=%s" % host.groups() in out, out
    wrote = re.search(r"fake smb wrote sha=(\w+) size=(\d+)", out)
    assert wrote, out
    assert "@@smb guest sha=%s size=%s" % wrote.groups() in out, out
    assert "@@smb leftover 0 " in out, out


@pytest.mark.parametrize("boot", test_nics.BOOTS, ids=str)
def test_guest_script_is_valid_shell(boot, tmp_path):
    """The kit's busybox sh parses the boot's script (busybox is a kit
    build tool: tools/deps.sh)."""
    if not shutil.which("busybox"):
        fwskip.unavailable("busybox is not installed (tools/deps.sh)")
    script = tmp_path / "script.sh"
    script.write_text(boot.script())
    r = subprocess.run(["busybox", "sh", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def kit_carry_deps(arch):
    """{module: [files]} from the kit initramfs' modules.carry-deps."""
    initrd = os.path.join(test_nics.guestkit.kit_dir(), "initrd-%s.xz" % arch)
    if not os.path.exists(initrd):
        fwskip.unavailable("%s is missing (run `make guests`)" % initrd)
    r = subprocess.run("xz -dc %s | cpio -i --quiet --to-stdout etc/vmmkit/modules.carry-deps"
                       % shlex.quote(initrd), shell=True, capture_output=True, text=True)
    deps = {}
    for line in r.stdout.splitlines():
        name, _, files = line.partition(":")
        deps[name] = files.split()
    return deps


@pytest.mark.parametrize("boot", test_nics.BOOTS, ids=str)
def test_kit_carries_what_the_script_loads(boot):
    """Every `carry NAME` of the boot's script (its card drivers, and
    cifs and the crypto it asks for by name, for the SMB mount) is in its kit's
    modules.carry-deps, ending with NAME.ko."""
    deps = kit_carry_deps(boot.arch)
    names = re.findall(r"^carry (\S+)", boot.script(), re.M)
    if boot.smb:
        names += re.findall(r"\bcarry (\w+)", boot.script().split("smb_round() {", 1)[1]
                            .split("\n}", 1)[0])
    assert names, boot.script()
    for name in names:
        assert name in deps, (name, deps)
        # a module's name has "_" where its file may have "-" (ghash-generic.ko)
        assert deps[name][-1].replace("-", "_") == name + ".ko", (name, deps[name])


# ---- test_nics_tap.py and the bench's cards (tools/bench/nics.py) ---------

import test_nics_tap  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
import nics as nics_bench  # noqa: E402

DISK_OK = (0x10 << 1) | 1  # disk-0.img's isa-debug-exit status


def test_tap_guest_script_is_valid_shell(tmp_path):
    if not shutil.which("busybox"):
        fwskip.unavailable("busybox is not installed (tools/deps.sh)")
    script = tmp_path / "script.sh"
    script.write_text(test_nics_tap.guest_script())
    r = subprocess.run(["busybox", "sh", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_tap_kit_carries_what_the_script_loads():
    """Its 686 kit carries 8139cp and ne; every card of the test has its
    line, with the sink port the host side listens on."""
    script = test_nics_tap.guest_script()
    deps = kit_carry_deps("686")
    names = re.findall(r"^carry (\S+)", script, re.M)
    assert sorted(names) == ["8139cp", "ne"], script
    for name in names:
        assert name in deps and deps[name][-1] == name + ".ko", (name, deps)
    for k in range(len(test_nics_tap.KINDS)):
        assert "\ncard %d %s %d\n" % (k, test_nics_tap.mac_of(k), test_nics_tap.SINK_PORT + k) \
            in script


def bench_nic_args():
    legs = nics_bench.legs_of(nics_bench.plan(list(nics_bench.CARDS), ["user", "tap"]))
    return [a for leg in legs for a in leg.args()]


@pytest.mark.parametrize("cards", ["test_nics_tap", "bench"])
def test_vmm_takes_the_tap_command_lines(cards, tmp_path):
    """The L1 shell of test_nics_tap.py (its namespace, bridge, blob, sink
    and HTTP server, nic_models.netns_shell) runs here with vmm taking that
    test's nine cards on taps, or the bench's sixteen (every card over
    user and over tap, the two ISA NE2000s each at its own port and IRQ),
    and booting disk-0.img (SeaBIOS, which exits at
    once) instead of the kit: vmm opens every tap and runs its ifup script,
    says nothing on stderr and exits with the disk's status; the services
    came up and the shell ends with its marker."""
    if os.geteuid() != 0:
        pytest.fail("tap tests need root (network namespaces, /dev/net/tun)")
    from conftest import fw_image
    args = test_nics_tap.nic_args() if cards == "test_nics_tap" else bench_nic_args()
    ntaps = sum(1 for a in args if a.startswith("tap,"))
    assert ntaps == (9 if cards == "test_nics_tap" else 8)
    argv = [VMM, "-display", "none", "-serial", "none", "-m", "64",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive", "file=%s,format=raw,index=0,media=disk" % fw_image("disk-0.img"), *args]
    nm = test_nics_tap.nic_models
    shell = nm.netns_shell("fwtap", nm.shell_argv(argv), test_nics_tap.services(), 60,
                           tap_host=test_nics_tap.HOST_IP, setup=test_nics_tap.SETUP,
                           stream_services=False)
    r = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TMPDIR=str(tmp_path)))
    out = r.stdout
    assert out.rstrip().endswith("@@nic-run-end"), out + r.stderr
    assert "@@vmm rc=%d" % DISK_OK in out, out
    assert nm.log(out, "vmm").strip() == "", out
    assert "@@fail" not in out and re.search(r"^@@blob sha=[0-9a-f]{64}$", out, re.M), out
    assert "listening" in nm.log(out, "service0"), out
    assert "Serving HTTP" in nm.log(out, "service1"), out
    want = ["ifup " + a.split("ifname=")[1].split(",")[0] for a in args if a.startswith("tap,")]
    assert sorted(ln for ln in nm.log(out, "ifup").split("\n") if ln) == sorted(want), out


FAKE_TAP_GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "nics_tap_fake_guest.sh")


def run_fake_tap_guest(shell_of, script_text, macs, tmp_path):
    """An L1 command (shell_of(vmm_cmd)) run here with nics_tap_fake_guest.sh
    in the VMM's place, the guest script and the cards' MACs its arguments."""
    if os.geteuid() != 0:
        pytest.fail("tap tests need root (network namespaces, veth)")
    if not shutil.which("busybox"):
        fwskip.unavailable("busybox is not installed (tools/deps.sh)")
    script = tmp_path / "guest.sh"
    script.write_text(script_text)
    shell = shell_of(" ".join([FAKE_TAP_GUEST, str(script), *macs]))
    r = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.stdout.rstrip().endswith("@@nic-run-end"), r.stdout + r.stderr
    return r.stdout


def fake_guest_run(out):
    """What the real-guest tests read of a GuestRun (its output and its
    description), for a stand-in guest's output."""
    class Guest:
        class result:
            stdout = out

        @staticmethod
        def describe():
            return out
    return Guest


def test_tap_guest_script_with_the_host_side(tmp_path):
    """test_nics_tap.py's guest script, its host side (blob, HTTP server,
    sink) and the tests' reading of the output, with veth cards in a guest
    namespace instead of vmm and Linux: every card pings the bridge,
    downloads the host's blob and sends what the guest made, byte for byte
    (only the driver and PCI ID are the stand-in's)."""
    t = test_nics_tap
    macs = [t.mac_of(k) for k in range(len(t.KINDS))]
    out = run_fake_tap_guest(lambda cmd: t.SCENARIO.shell("unused", vmm_cmd=cmd),
                             t.guest_script(), macs, tmp_path)

    guest = fake_guest_run(out)
    for k in range(len(t.KINDS)):
        assert "iface=fg%d pci=isa driver=" % k in t.lines_of(guest, k), out
        t.test_card_pings_the_bridge(guest, t.SCENARIO, k)
        t.test_card_receives_from_the_host(guest, t.SCENARIO, k)
        t.test_card_sends_to_the_host(guest, t.SCENARIO, k)
    assert "VMM-NICS-TAP-DONE" in t.nic_models.log(out, "vmm"), out


def test_bench_guest_script_with_the_host_side(tmp_path):
    """tools/bench/nics.py's guest script and host side with veth cards
    (its tap legs; user legs need slirp): every leg streams its runs in
    full to its own sink port, and a pass settles with every leg done."""
    legs = nics_bench.legs_of(nics_bench.plan(["e1000", "pcnet", "ne2k_pci"], ["tap"]))
    out = run_fake_tap_guest(
        lambda cmd: nics_bench.run_shell("fake-nics", cmd, legs, 2, 120),
        nics_bench.guest_script(legs, 2, 1), [leg.mac for leg in legs], tmp_path)
    runs, drivers = nics_bench.parse(out, legs)
    assert drivers == {0: "", 1: "", 2: ""}, out
    done, again, why = nics_bench.settle(legs, {"vmm": runs}, 2, 1)
    assert list(done) == [0, 1, 2] and not again, (why, out)


# ---- test_nics_tap_pair.py: two guests, a bridge per pair of cards ----------

import test_nics_tap_pair as pair  # noqa: E402

PAIRS = [pair.PCI_PAIR, pair.ISA_PAIR]


@pytest.mark.parametrize("side", ["a", "b"])
@pytest.mark.parametrize("scenario", PAIRS, ids=str)
def test_pair_guest_scripts_are_valid_shell_and_carried(scenario, side, tmp_path):
    """Each guest's script is valid busybox shell, loads the drivers its
    kit carries (8139cp in the amd64 kit, ne in the 686 one), and brings
    up every card with its MAC and address."""
    if not shutil.which("busybox"):
        fwskip.unavailable("busybox is not installed (tools/deps.sh)")
    text = pair.guest_script(side, scenario.kinds)
    script = tmp_path / "script.sh"
    script.write_text(text)
    r = subprocess.run(["busybox", "sh", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    deps = kit_carry_deps(scenario.arch)
    names = re.findall(r"^carry (\S+)", text, re.M)
    assert names == [pair.nic_models.CARRIED[k].split()[0] for k in scenario.kinds
                     if k in pair.nic_models.CARRIED] and names, text
    for name in names:
        assert name in deps and deps[name][-1] == name + ".ko", (name, deps)
    for k in range(len(scenario.kinds)):
        assert "\nup %d %s %s\n" % (k, pair.mac_of(side, k), pair.ip_of(side, k)) in text


def pair_run(tmp_path, scenario, a_cmd, b_cmd):
    """The scenario's own L1 command, a_cmd and b_cmd in the VMMs' place."""
    if os.geteuid() != 0:
        pytest.fail("tap tests need root (network namespaces, /dev/net/tun)")
    shell = scenario.shell("unused", "unused", cmds=(a_cmd, b_cmd))
    r = subprocess.run(["sh", "-c", shell], capture_output=True, text=True,
                       timeout=scenario.timeout, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert "@@fail" not in r.stdout, r.stdout + r.stderr
    return r.stdout


@pytest.mark.parametrize("scenario", PAIRS, ids=str)
def test_vmm_takes_the_pair_command_lines(scenario, tmp_path):
    """Both guests' command lines, booting disk-0.img (SeaBIOS, which exits
    at once) instead of the kit, in the pair's L1 shell: each vmm opens its
    taps and runs the ifup and ifdown scripts for each, says nothing,
    exits with the disk's status, and no tap is left on a bridge."""
    from conftest import fw_image
    cmds = []
    for side in ("a", "b"):
        argv = scenario.vmm_argv(side, "unused")
        args = argv[argv.index("-drive") + 2:]  # the cards, after the script disk
        assert "-no-reboot" in argv and len(args) == 4 * len(scenario.kinds), argv
        cmds.append(pair.nic_models.shell_argv(
            [VMM, "-display", "none", "-serial", "none", "-m", "64",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-drive", "file=%s,format=raw,index=0,media=disk" % fw_image("disk-0.img"),
             *args]))
    out = pair_run(tmp_path, scenario, *cmds)
    head, a, b = pair.nic_models.pair_logs(out)
    assert "@@rc a=%d" % DISK_OK in head and "@@rc b=%d" % DISK_OK in head, out
    assert a.strip() == "" and b.strip() == "", out
    assert "@@slaves_left 0" in head, out
    assert pair.nic_models.PAIR_DONE not in out, out  # no kit, no VMMKIT-DONE
    for side in ("a", "b"):
        for k in range(len(scenario.kinds)):
            for script in ("ifup", "ifdown"):
                assert "@@script %s t%s%d" % (script, side, k) in head, out


@pytest.mark.parametrize("scenario", PAIRS, ids=str)
def test_pair_scripts_with_fake_guests(scenario, tmp_path):
    """The two guest scripts, the pair's L1 shell and the tests' reading of
    the output, with two stand-in guests of veth cards (each card's on its
    pair's bridge) instead of vmm and Linux: for every card A pings B, B
    gets A's blob and A gets it back, byte for byte, and the marker comes
    last."""
    if not shutil.which("busybox"):
        fwskip.unavailable("busybox is not installed (tools/deps.sh)")
    cmds = []
    for side in ("a", "b"):
        script = tmp_path / ("guest-%s.sh" % side)
        script.write_text(pair.guest_script(side, scenario.kinds))
        cmds.append(" ".join([FAKE_TAP_GUEST, "-p", "br", str(script)] +
                             [pair.mac_of(side, k) for k in range(len(scenario.kinds))]))
    out = pair_run(tmp_path, scenario, *cmds)

    guest = fake_guest_run(out)
    _, a, b = pair.nic_models.pair_logs(out)
    for k in range(len(scenario.kinds)):
        for text in (a, b):
            assert "iface=fg%d pci=isa driver=" % k in pair.lines_of(text, k), out
        pair.test_a_pings_b(guest, scenario, k)
        pair.test_data_crosses_both_ways(guest, scenario, k)
    assert out.rstrip().endswith(pair.nic_models.PAIR_DONE), out
    assert "@@rc a=0" in out and "@@rc b=0" in out, out
