# SPDX-License-Identifier: GPL-2.0-or-later
"""The e1000 family (82540EM, 82544GC, 82545EM) on user-mode networking,
with the kit's Linux (e1000 module): the driver binds the card, the guest
gets 10.0.2.15 by DHCP from slirp, downloads 1 MiB from an HTTP server on
the host side (sha256 checked) and serves a file the host fetches through
a hostfwd port. Each model is given through a different option form
(-device, -nic, -net nic), so every CLI path is booted once. The scenario
and its host-side script are test_virtio_net.py's."""
import pytest

import guestkit
import test_virtio_net as vnet

MODELS = [
    # (model, option form, MAC the guest must see)
    ("e1000", "netdev", "52:54:00:ab:cd:ef"),
    ("e1000-82544gc", "nic", "52:54:00:12:34:56"),
    ("e1000-82545em", "net", "52:54:00:12:34:56"),
]


class E1000Scenario(vnet.NetScenario):
    def __init__(self, model, form, mac):
        vnet.NetScenario.__init__(self, form)
        self.name = "vmm-%s-%s" % (model, form)
        self.model = model
        self.mac = mac

    def nic_args(self):
        fwd = "hostfwd=tcp::%d-:8080" % vnet.FWD_PORT
        if self.form == "netdev":
            return ["-netdev", "user,id=n0," + fwd,
                    "-device", "%s,netdev=n0,mac=%s" % (self.model, self.mac)]
        if self.form == "nic":
            return ["-nic", "user,model=%s,%s" % (self.model, fwd)]
        return ["-net", "nic,model=%s" % self.model, "-net", "user," + fwd]


SCENARIOS = [E1000Scenario(*m) for m in MODELS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_e1000_binds_and_gets_dhcp(guest, scenario):
    out = guest.result.stdout
    dhcp = vnet.line(out, "dhcp ip=")
    assert dhcp and "ip=10.0.2.15" in dhcp and "router=10.0.2.2" in dhcp, guest.describe()
    rep = guestkit.Report(out)
    assert rep.nets.get("eth0") == (scenario.mac, "e1000"), (rep.nets, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_e1000_download_from_host(guest, scenario):
    out = guest.result.stdout
    want = vnet.line(out, "@@blob sha=")
    got = vnet.line(out, "wget size=")
    assert want and got, guest.describe()
    assert got == "wget size=%d sha=%s" % (vnet.BLOB, want.split("=", 1)[1]), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_e1000_hostfwd_reaches_guest(guest, scenario):
    assert vnet.line(guest.result.stdout, "@@fwd VMM-GUEST-HELLO"), guest.describe()
