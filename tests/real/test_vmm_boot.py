# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-specific real-guest tests, beyond the kit boots shared with the QEMU
peer (test_peer_qemu.py runs those for every VMM in VMM_REAL_VMMS):

* a stock Linux reboots itself under vmm (a full system reset: SeaBIOS and
  Linux run again), and what it wrote before the reset is on the disk after
  it, and still there for a new vmm process;
* the triple-fault reset path of the firmware layer, which needs
  hardware-semantics KVM (software-nested KVM stops at the fault instead);
* -cpu models and feature flags, as a boot sector sees CPUID (this
  machine's software-nested KVM lets CPUID reach the host's CPU).
"""
import hashlib
import os
import re
import shlex

import pytest

import guestkit
import nested  # noqa: E402  (on the path guestkit sets)

PERSIST_BYTES = 4 << 20
PERSIST_LINE = b"VMM-PERSIST-0123456789\n"


def persist_sha256():
    data = (PERSIST_LINE * (PERSIST_BYTES // len(PERSIST_LINE) + 1))[:PERSIST_BYTES]
    return hashlib.sha256(data).hexdigest()


# The guest-side script, found by the kit init on a disk that starts with
# "#VMMKIT-SCRIPT". On the first boot the scratch disk is blank: write the
# pattern, sync and reboot. On later boots: print the checksum of what is
# there, and power off (the kit init does that after the script).
GUEST_SCRIPT = """#VMMKIT-SCRIPT
dev=/dev/sda
n=%(bytes)d
if [ "$(head -c 23 $dev)" = "VMM-PERSIST-0123456789" ]; then
	echo "persist boot=$(cat /proc/sys/kernel/random/boot_id) sha=$(head -c $n $dev | sha256sum | cut -d' ' -f1)"
	exit 0
fi
yes VMM-PERSIST-0123456789 | head -c $n > $dev
sync
echo "persist written; rebooting"
reboot -f
""" % {"bytes": PERSIST_BYTES}


class PersistAcrossReset(guestkit.Scenario):
    """One vmm process: Linux boots from the kit CD, writes a pattern to a
    blank IDE disk, reboots (system reset), boots again and checksums the
    disk, powers off. Then a second vmm process boots and checksums again."""

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-persist-reset", timeout=900)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        # Staged (L1 tmpfs), not scratch_path (9p): VMM disk I/O on 9p files
        # lost writes between the two vmm processes.
        body = GUEST_SCRIPT.encode()
        script = batch.stage_bytes("persist-script.img", body + b"\0" * (-len(body) % 512 + 512))
        disk = batch.stage_bytes("persist-disk.img", size=16 << 20)
        base = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"), hda=disk,
                                 hdb=script)
        cmd = " ".join(shlex.quote(a) for a in base)
        shell = "%s; echo \"@@first-vmm rc=$?\"; %s; echo \"@@second-vmm rc=$?\"" % (cmd, cmd)
        batch.add(self.name, shell, timeout=self.timeout)


class BootSectorScenario(guestkit.Scenario):
    """A scenario on one of the firmware layer's boot sectors (build/fw)."""
    needs_kit = False
    image_name = None

    def image(self):
        return os.path.join(guestkit.REPO, "build", "fw", self.image_name)

    def missing(self):
        if not os.path.exists(self.image()):
            return "%s missing (run `make fw-images`)" % self.image()
        return guestkit.vmm_missing("vmm")


class TripleFault(BootSectorScenario):
    """SeaBIOS boots a boot sector that triple-faults once; vmm must reset
    and SeaBIOS must boot it again (second boot exits through port 0xf4)."""
    image_name = "disk-4.img"

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-triple-fault", timeout=180)

    def add_to(self, batch):
        disk = batch.stage(self.image(), "triple-fault.img")
        batch.add(self.name, [guestkit.VMM_BINARY, "-m", "64", "-display", "none",
                              "-serial", "stdio", "-device",
                              "isa-debug-exit,iobase=0xf4,iosize=0x04", "-hda", disk],
                  timeout=self.timeout)


class CpuModels(BootSectorScenario):
    """One command: the CPUID boot sector under each -cpu in CPU_SPECS,
    each run printing "@@cpu SPEC" before its output, then the same under
    QEMU with the same -cpu in the same L1 ("@@qemu-cpu SPEC")."""
    image_name = "disk-7.img"

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-cpu-models", timeout=240)

    def missing(self):
        return BootSectorScenario.missing(self) or guestkit.vmm_missing("qemu")

    def add_to(self, batch):
        disk = batch.stage(self.image(), "cpuid.img")
        runs = []
        for spec in CPU_SPECS:
            argv = [guestkit.VMM_BINARY, "-m", "32", "-display", "none", "-serial", "stdio",
                    "-cpu", spec, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                    "-hda", disk]
            runs.append("echo '@@cpu %s'; %s" % (spec, " ".join(shlex.quote(a) for a in argv)))
        for spec in CPU_SPECS:
            argv = guestkit.vmm_argv("qemu", 32, hda=disk, extra=[
                "-cpu", spec, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            argv = [a for a in argv if a != "-nographic"] + ["-display", "none",
                                                            "-serial", "stdio"]
            runs.append("echo '@@qemu-cpu %s'; %s" % (spec, " ".join(shlex.quote(a) for a in argv)))
        batch.add(self.name, "; ".join(runs), timeout=self.timeout)


CPU_SPECS = ["host", "qemu64", "host,-x2apic,-smep", "qemu64,+popcnt,-x2apic"]
PERSIST = PersistAcrossReset()
TRIPLE = TripleFault()
CPUS = CpuModels()


@pytest.mark.parametrize("scenario", [PERSIST], ids=str)
def test_writes_survive_reset_and_restart(guest, scenario):
    out = guest.log
    assert "persist written; rebooting" in out, guest.describe()
    want = persist_sha256()
    sums = [ln.split("sha=")[1].strip() for ln in out.replace("\r", "").split("\n")
            if ln.startswith("persist boot=")]
    # Second boot of the first process (after the guest's own reboot), then
    # the boot of the second process.
    assert sums == [want, want], "want %s twice, got %s\n%s" % (want, sums, guest.describe())
    # A reset reran SeaBIOS and Linux in the same process.
    assert out.count("VMMKIT-REPORT-BEGIN") == 3, guest.describe()
    # Both processes ended through the guest's ACPI power-off with status 0.
    assert "@@first-vmm rc=0" in out and "@@second-vmm rc=0" in out, guest.describe()


@pytest.mark.parametrize("scenario", [TRIPLE], ids=str)
def test_triple_fault_resets(guest, scenario):
    r = guest.result
    assert r.stdout.count("VMM-BOOT-OK") == 2, guest.describe()
    assert "VMM-RESETTING" in r.stdout
    assert r.rc == (0x10 << 1) | 1, guest.describe()
    # the harness's VMM_DUMP_CPUS=1: the fault's place and events, once
    assert len(re.findall(r"vmm: vCPU 0: triple fault at [0-9a-f]{4}:[0-9a-f]+ \(rsp=",
                          r.stderr)) == 1, guest.describe()
    # The L1 recorded the guest's shutdown exit at the guest's own RIP: the
    # evidence the harness's l1-fault rule reads is there, and a guest's
    # triple fault does not look like the L1's fault.
    if r.mode == "l1":
        guest_rips = [rip for rip in nested.shutdown_rips(r)
                      if rip and not nested.is_l1_fault_rip(rip)]
        assert len(guest_rips) == 1, guest.describe()


def cpuid_lines(out, prefix="@@cpu "):
    """{spec: (leaf 1 ECX, leaf 7 EBX)} from the scenario's output (vmm's;
    QEMU's with prefix "@@qemu-cpu ")."""
    seen, spec = {}, None
    for ln in out.replace("\r", "").split("\n"):
        if ln.startswith("@@"):
            spec = ln[len(prefix):].strip() if ln.startswith(prefix) else None
        i = ln.find("VMM-CPUID 1.ecx=")
        if i >= 0 and spec:
            f = ln[i:].split()
            seen[spec] = (int(f[1].split("=")[1], 16), int(f[2].split("=")[1], 16))
    return seen


@pytest.mark.parametrize("scenario", [CPUS], ids=str)
def test_cpu_models(guest, scenario):
    seen = cpuid_lines(guest.log)
    assert set(seen) == set(CPU_SPECS), guest.describe()
    host1, host7 = seen["host"]
    x2apic, popcnt, smep, hypervisor = 1 << 21, 1 << 23, 1 << 7, 1 << 31
    # The host model passes KVM's set: something in leaf 7 on any x86-64
    # host KVM supports (the L1's emulated EPYC has SMEP, BMI1/2, ...).
    assert host7 != 0 and host1 & hypervisor, seen
    # qemu64: SSE3, CX16, x2APIC and the hypervisor bit, nothing in leaf 7.
    q1, q7 = seen["qemu64"]
    assert q1 == (1 | 1 << 13 | x2apic | hypervisor) & host1, seen
    assert q7 == 0, seen
    # Flags remove from (or add to) the model's set.
    h1, h7 = seen["host,-x2apic,-smep"]
    assert h1 == host1 & ~x2apic and h7 == host7 & ~smep, seen
    f1, f7 = seen["qemu64,+popcnt,-x2apic"]
    assert f1 == (q1 | (popcnt & host1)) & ~x2apic and f7 == 0, seen


@pytest.mark.parametrize("scenario", [CPUS], ids=str)
def test_cpu_models_match_qemu(guest, scenario):
    # The same -cpu gives the guest the same leaf 1 ECX and leaf 7 EBX under
    # vmm as under QEMU, in the same L1 (OSXSAVE follows the guest's CR4,
    # which the boot sector does not set: it is compared as well).
    vmm, qemu = cpuid_lines(guest.log), cpuid_lines(guest.log, "@@qemu-cpu ")
    assert set(qemu) == set(CPU_SPECS), guest.describe()
    diff = {spec: ("leaf1.ecx vmm^qemu=%08x" % (vmm[spec][0] ^ qemu[spec][0]),
                   "leaf7.ebx vmm^qemu=%08x" % (vmm[spec][1] ^ qemu[spec][1]))
            for spec in CPU_SPECS if vmm.get(spec) != qemu[spec]}
    assert not diff, "vmm %s\nqemu %s\n%s" % (vmm, qemu, diff)
