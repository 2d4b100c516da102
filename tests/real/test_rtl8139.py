# SPDX-License-Identifier: GPL-2.0-or-later
"""The RTL8139 on user-mode networking, with the kit's Linux: the driver
binds the card, DHCP from slirp, 1 MiB downloaded from the host side with
its sha256, hostfwd into the guest (test_virtio_net.py's guest script and
host side).

Linux's 8139too refuses revision 0x20 and up (the C+, 8139cp's), so the C
mode is booted with vmm's `cplus=off` (an RTL8139C, revision 0x10), given
as a -device property and as -global behind -nic. The C+ mode needs the
8139cp module, which the guest kit does not carry yet
(tests/guests/modules-kit.list): its scenario is collected only once the
kit has it."""
import pytest

import guestkit
import test_virtio_net as vnet


class RtlScenario(vnet.NetScenario):
    def __init__(self, form, driver, mac):
        vnet.NetScenario.__init__(self, form)
        self.name = "vmm-rtl8139-%s-%s" % (driver, form)
        self.driver = driver
        self.mac = mac

    def nic_args(self):
        fwd = "hostfwd=tcp::%d-:8080" % vnet.FWD_PORT
        if self.form == "netdev":
            return ["-netdev", "user,id=n0," + fwd,
                    "-device", "rtl8139,netdev=n0,mac=%s,cplus=off" % self.mac]
        if self.form == "nic":
            return ["-nic", "user,model=rtl8139," + fwd, "-global", "rtl8139.cplus=off"]
        return ["-net", "nic,model=rtl8139", "-net", "user," + fwd]


def kit_has_module(name):
    try:
        with open(guestkit.kit("modules-amd64.txt")) as f:
            return ("module %s" % name) in f.read().split("\n")
    except OSError:
        return False


SCENARIOS = [RtlScenario("netdev", "8139too", "52:54:00:ab:cd:01"),
             RtlScenario("nic", "8139too", "52:54:00:12:34:56")]
if kit_has_module("8139cp"):
    SCENARIOS.append(RtlScenario("net", "8139cp", "52:54:00:12:34:56"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_rtl8139_binds_and_gets_dhcp(guest, scenario):
    out = guest.result.stdout
    dhcp = vnet.line(out, "dhcp ip=")
    assert dhcp and "ip=10.0.2.15" in dhcp and "router=10.0.2.2" in dhcp, guest.describe()
    rep = guestkit.Report(out)
    assert rep.nets.get("eth0") == (scenario.mac, scenario.driver), (rep.nets, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_rtl8139_download_from_host(guest, scenario):
    out = guest.result.stdout
    want = vnet.line(out, "@@blob sha=")
    got = vnet.line(out, "wget size=")
    assert want and got, guest.describe()
    assert got == "wget size=%d sha=%s" % (vnet.BLOB, want.split("=", 1)[1]), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_rtl8139_hostfwd_reaches_guest(guest, scenario):
    assert vnet.line(guest.result.stdout, "@@fwd VMM-GUEST-HELLO"), guest.describe()
