"""Stock Debian kernels boot from the kit's CD and disk images under a VMM.

The VMMs come from guestkit.vmms() (env VMM_REAL_VMMS, default "qemu"): QEMU
is the peer that proves the kit and the harness; adding "vmm" runs the same
guests under build/vmm with the same options. All boots share one batch (one
L1 boot) with every other real-guest test of the session.
"""
import pytest

import guestkit

# QEMU's boots are the kit's reference, measured in every full run
# (VMM_REAL_OPTIONAL_PEERS=1, the default) but left out of `make check`,
# whose nested batch has to fit CI's time on the slower hosts (docs/testing.md).
SCENARIOS = guestkit.boot_scenarios(guestkit.vmms_peer_optional())
ARCH = {"amd64": "x86_64", "686": "i686"}


def assert_booted(guest):
    r = guest.result
    assert r.error is None, guest.describe()
    assert r.marker_seen, "no %s marker\n%s" % (guestkit.MARKER_DONE, guest.describe())
    assert guest.report.found, "no report\n" + guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_boots_to_marker(guest, scenario):
    assert_booted(guest)
    assert guest.report.arch == ARCH[scenario.arch], guest.describe()
    assert guest.report.done_rc == 0, guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_sees_ide_devices(guest, scenario):
    assert_booted(guest)
    rep = guest.report
    assert rep.driver_of("8086:7010") == "ata_piix", guest.describe()
    for kind, sizes in scenario.expected_blocks().items():
        seen = sorted(size for dev, size in rep.blocks.items() if dev.startswith(kind))
        assert seen == sizes, "%s*: want sizes %s, report has %s\n%s" % (
            kind, sizes, rep.blocks, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_data_disk_reads_back(guest, scenario):
    assert_booted(guest)
    want = guestkit.data_sha256()
    # the data disk by its content, whichever name it got (see expected_blocks)
    found = [dev for dev, (st, _) in guest.report.data.items() if st == "ok"]
    assert list(guest.report.data.values()) == [("ok", want)], "data disk: %s\n%s" % (
        guest.report.data, guest.describe())
    assert guest.report.blocks.get(found[0]) == guestkit.DATA_SIZE, guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_machine_shape(guest, scenario):
    assert_booted(guest)
    rep = guest.report
    assert rep.cpus == 1, guest.describe()
    # -m 256: the kernel reports RAM less its own reservations
    assert 150 * 1024 <= rep.mem_kb <= 256 * 1024, guest.describe()
    # the kit's driver modules load (ISA sound only exists in the 686 kernel)
    assert rep.mods_failed == [], guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_acpi_poweroff_ends_vmm(guest, scenario):
    assert_booted(guest)
    r = guest.result
    assert r.exited and r.rc == 0, (
        "the guest's ACPI power-off should end the VMM with status 0\n" + guest.describe())
