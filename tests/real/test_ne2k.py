# SPDX-License-Identifier: GPL-2.0-or-later
"""The NE2000 on PCI (ne2k_pci, an RTL8029) on user-mode networking, with
the kit's Linux (ne2k-pci module, on the 8390 library): the driver binds
the card, the guest gets 10.0.2.15 by DHCP from slirp, downloads 1 MiB
from an HTTP server on the host side (sha256 checked) and serves a file
the host fetches through a hostfwd port (test_virtio_net.py's guest
script and host side). One boot through -device with a MAC, one through
-nic model=ne2k_pci.

The ISA card (ne2k_isa) has no real-guest test yet: it needs Linux's
`ne` module, which the guest kit does not carry (the 686 kernel builds
it, CONFIG_NE2000=m; tests/guests/modules-kit.list would need `ne @carry`
and a rebuilt kit, then `insmod ne.ko io=0x300 irq=5` with
`-device ne2k_isa,netdev=..,irq=5`: IRQ 9, QEMU's default, is the ACPI
SCI's, which `ne` cannot share). tests/fw/test_nic.py sends through it."""
import pytest

import guestkit
import test_virtio_net as vnet


class Ne2kScenario(vnet.NetScenario):
    def __init__(self, form, mac):
        vnet.NetScenario.__init__(self, form)
        self.name = "vmm-ne2k_pci-%s" % form
        self.mac = mac

    def nic_args(self):
        fwd = "hostfwd=tcp::%d-:8080" % vnet.FWD_PORT
        if self.form == "netdev":
            return ["-netdev", "user,id=n0," + fwd,
                    "-device", "ne2k_pci,netdev=n0,mac=%s" % self.mac]
        return ["-nic", "user,model=ne2k_pci," + fwd]


SCENARIOS = [Ne2kScenario("netdev", "52:54:00:ab:cd:02"),
             Ne2kScenario("nic", "52:54:00:12:34:56")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_ne2k_pci_binds_and_gets_dhcp(guest, scenario):
    out = guest.result.stdout
    dhcp = vnet.line(out, "dhcp ip=")
    assert dhcp and "ip=10.0.2.15" in dhcp and "router=10.0.2.2" in dhcp, guest.describe()
    rep = guestkit.Report(out)
    assert rep.nets.get("eth0") == (scenario.mac, "ne2k-pci"), (rep.nets, guest.describe())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_ne2k_pci_download_from_host(guest, scenario):
    out = guest.result.stdout
    want = vnet.line(out, "@@blob sha=")
    got = vnet.line(out, "wget size=")
    assert want and got, guest.describe()
    assert got == "wget size=%d sha=%s" % (vnet.BLOB, want.split("=", 1)[1]), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_ne2k_pci_hostfwd_reaches_guest(guest, scenario):
    assert vnet.line(guest.result.stdout, "@@fwd VMM-GUEST-HELLO"), guest.describe()
