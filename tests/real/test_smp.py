# SPDX-License-Identifier: GPL-2.0-or-later
"""SMP under vmm with a stock Linux: -smp N brings N CPUs online (SeaBIOS
and Linux start the APs through INIT/SIPI), and a sockets/cores/threads
topology reaches the guest as the same packages, cores and SMT siblings.

The guest prints each CPU's topology from sysfs (a script on -hdb, found by
the kit init by its first line)."""
import re

import pytest

import guestkit

TOPOLOGY_SCRIPT = b"""#VMMKIT-SCRIPT
echo "cpuflags topoext=$(grep -c -w topoext /proc/cpuinfo) ht=$(grep -c -w ht /proc/cpuinfo) $(grep -m1 'model name' /proc/cpuinfo)"
for c in /sys/devices/system/cpu/cpu[0-9]*; do
	t=$c/topology
	echo "topo $(basename $c) pkg=$(cat $t/physical_package_id) core=$(cat $t/core_id) sib=$(cat $t/thread_siblings_list)"
done
"""


class SmpBoot(guestkit.Boot):
    """The kit CD under vmm with -smp SPEC and the topology script as -hdb."""

    def __init__(self, spec, arch="amd64", vmm="vmm"):
        guestkit.Boot.__init__(self, vmm, "cdrom", arch, extra=("-smp", spec))
        self.name = "%s-smp-%s-%s" % (vmm, spec.replace(",", "-").replace("=", ""), arch)
        self.spec = spec

    def add_to(self, batch):
        data = batch.stage(guestkit.kit("data.img"), "%s-data.img" % self.name)
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   TOPOLOGY_SCRIPT + b"\0" * (-len(TOPOLOGY_SCRIPT) % 512))
        argv = guestkit.vmm_argv(self.vmm, self.mem_mb, cdrom=self.boot_file(), hda=data,
                                 hdb=script, extra=self.extra)
        batch.add(self.name, argv, timeout=self.timeout, marker=guestkit.MARKER_DONE, grace=15,
                  idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(),
                  flake_signs=guestkit.BOOT_FLAKE_SIGNS)


# (spec, CPUs online, packages, cores per package, threads per core)
CASES = [
    ("2", 2, 1, 2, 1),
    ("4", 4, 1, 4, 1),
    ("8,sockets=2,cores=2,threads=2", 8, 2, 2, 2),
    ("3,sockets=3", 3, 3, 1, 1),
]
SCENARIOS = [SmpBoot(spec) for spec, *_ in CASES] + [SmpBoot("2", arch="686")]
EXPECT = {sc.name: case for sc, case in zip(SCENARIOS, CASES + [CASES[0]])}


def topology(guest):
    """{cpu name: (package, core, siblings)} from the script's output."""
    out = {}
    for ln in guest.report.script_output():
        m = re.search(r"topo (cpu\d+) pkg=(\d+) core=(\d+) sib=(\S+)", ln)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)), m.group(4))
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_all_cpus_online(guest, scenario):
    _, cpus, _, _, _ = EXPECT[scenario.name]
    assert guest.result.marker_seen and guest.report.found, guest.describe()
    assert guest.report.cpus == cpus, guest.describe()
    assert len(topology(guest)) == cpus, guest.describe()
    assert guest.result.exited and guest.result.rc == 0, guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_topology_reaches_guest(guest, scenario):
    _, cpus, packages, cores, threads = EXPECT[scenario.name]
    topo = topology(guest)
    assert len({pkg for pkg, _, _ in topo.values()}) == packages, (topo, guest.describe())
    per_pkg = {}
    for pkg, core, _ in topo.values():
        per_pkg.setdefault(pkg, set()).add(core)
    assert all(len(c) == cores for c in per_pkg.values()), (topo, guest.describe())
    for _, _, sib in topo.values():
        # "0-1" or "0,4" for two SMT siblings, "3" for none
        n = len(re.split(r"[,-]", sib))
        assert n == threads, (topo, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_guest_sees_the_cpus_name(guest, scenario):
    """-cpu host (vmm's default) names the L1's CPU: KVM gives the brand
    leaves as zeros, and a guest without them shows its family and model
    in hex ("17/01") as its model name."""
    line = next((ln for ln in guest.report.script_output() if "cpuflags" in ln), "")
    m = re.search(r"model name\s*:\s*(.*)$", line)
    assert m, (line, guest.describe())
    assert m.group(1).strip() and not re.fullmatch(r"[0-9a-f]+/[0-9a-f]+", m.group(1).strip()), \
        (line, guest.describe())
