# SPDX-License-Identifier: GPL-2.0-or-later
"""The AMD PCnet-PCI II (pcnet, Am79C970A) on user-mode networking, with
the kit's Linux (pcnet32 module): the driver binds the card, the guest
gets 10.0.2.15 by DHCP from slirp, downloads 1 MiB from an HTTP server on
the host side (sha256 checked) and serves a file the host fetches through
a hostfwd port (test_virtio_net.py's guest script and host side). One boot
through -device with a MAC, one through -net nic,model=pcnet."""
import pytest

import guestkit
import test_virtio_net as vnet


class PcnetScenario(vnet.NetScenario):
    def __init__(self, form, mac):
        vnet.NetScenario.__init__(self, form)
        self.name = "vmm-pcnet-%s" % form
        self.mac = mac

    def nic_args(self):
        fwd = "hostfwd=tcp::%d-:8080" % vnet.FWD_PORT
        if self.form == "netdev":
            return ["-netdev", "user,id=n0," + fwd,
                    "-device", "pcnet,netdev=n0,mac=%s" % self.mac]
        return ["-net", "nic,model=pcnet", "-net", "user," + fwd]


SCENARIOS = [PcnetScenario("netdev", "52:54:00:ab:cd:03"),
             PcnetScenario("net", "52:54:00:12:34:56")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_pcnet_binds_and_gets_dhcp(guest, scenario):
    out = guest.result.stdout
    dhcp = vnet.line(out, "dhcp ip=")
    assert dhcp and "ip=10.0.2.15" in dhcp and "router=10.0.2.2" in dhcp, guest.describe()
    rep = guestkit.Report(out)
    assert rep.nets.get("eth0") == (scenario.mac, "pcnet32"), (rep.nets, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_pcnet_download_from_host(guest, scenario):
    out = guest.result.stdout
    want = vnet.line(out, "@@blob sha=")
    got = vnet.line(out, "wget size=")
    assert want and got, guest.describe()
    assert got == "wget size=%d sha=%s" % (vnet.BLOB, want.split("=", 1)[1]), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_pcnet_hostfwd_reaches_guest(guest, scenario):
    assert vnet.line(guest.result.stdout, "@@fwd VMM-GUEST-HELLO"), guest.describe()
