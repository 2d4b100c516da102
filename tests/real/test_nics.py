# SPDX-License-Identifier: GPL-2.0-or-later
"""Every emulated NIC model with the kit's Linux drivers, on user-mode
networking (slirp): virtio-net (virtio_net), e1000 82540EM, 82544GC and
82545EM (e1000), RTL8139 (8139too), NE2000 PCI (ne2k-pci on the 8390
library) and PCnet-PCI II (pcnet32).

Two boots hold every card, several cards per guest, each card on a
user-mode network of its own with its own hostfwd port. The guest takes
its cards one at a time, so only one interface has an address at a time:
link up, DHCP (10.0.2.15, router 10.0.2.2), 1 MiB downloaded from the
host's HTTP server with its sha256, then a one-shot listener on port 8080
that the host side (nics_driver.py) reaches through that card's hostfwd;
then the address is dropped and the link taken down. The cards share the
four PCI INTx lines, as a real PC's do.

- "device" boot: every model through -netdev user + -device with mac=;
- "nic" boot: -nic for five cards, -net nic + -net user for PCnet, no
  mac= anywhere: the default addresses must be 52:54:00:12:34:56 .. 5b,
  one per card (QEMU's numbering).

Linux's 8139too refuses the C+ revision (0x20, 8139cp's), so the RTL8139
is booted with `cplus=off` (an RTL8139C), as a -device property and as
-global. The C+ mode and the ISA NE2000 need 8139cp and `ne`, which the
guest kit does not carry (tests/guests/modules-kit.list); the ISA card is
sent through by tests/fw/test_nic.py."""
import os
import shlex

import pytest

import guestkit

HTTP_PORT = 18090      # host-side server the guest downloads from
FWD_BASE = 12290       # hostfwd ports: FWD_BASE + card index
BLOB = 1 << 20
DRIVER = os.path.join(guestkit.HERE, "nics_driver.py")

# model -> (PCI vendor:device, Linux driver)
MODELS = {
    "virtio-net-pci": ("1af4:0001", "virtio_net"),  # the virtio device (net), not the PCI function
    "e1000": ("8086:100e", "e1000"),
    "e1000-82544gc": ("8086:100c", "e1000"),
    "e1000-82545em": ("8086:100f", "e1000"),
    "rtl8139": ("10ec:8139", "8139too"),
    "ne2k_pci": ("10ec:8029", "ne2k-pci"),
    "pcnet": ("1022:2000", "pcnet32"),
}
NIC_MODEL = {"virtio-net-pci": "virtio"}  # the -nic/-net model= name where it differs

GUEST_SCRIPT = """#VMMKIT-SCRIPT
dmesg -n 1
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
if [ "$1" = bound ]; then
	ip addr add $ip/$mask dev $interface
	echo "dhcp ip=$ip mask=$mask router=$router" > /tmp/dhcp-$interface.txt
fi
exit 0
EOS
chmod +x /tmp/dhcp.sh
for n in /sys/class/net/eth*; do
	i=${n##*/} mac=$(cat $n/address)
	pci=$(cut -c3- $n/device/vendor):$(cut -c3- $n/device/device)
	drv=$(readlink $n/device/driver)
	echo "nic $mac pci=$pci driver=${drv##*/}"
	ip link set $i up
	udhcpc -i $i -n -q -t 10 -T 2 -s /tmp/dhcp.sh >/dev/null 2>&1 || echo "nic $mac dhcp failed"
	[ -f /tmp/dhcp-$i.txt ] && echo "nic $mac $(cat /tmp/dhcp-$i.txt)"
	wget -q -O /tmp/blob http://10.0.2.2:%(http)d/blob && echo "nic $mac wget size=$(wc -c < /tmp/blob) sha=$(sha256sum /tmp/blob | cut -d' ' -f1)"
	rm -f /tmp/blob
	body="VMM-GUEST-HELLO $mac"
	printf 'HTTP/1.0 200 OK\\r\\nContent-Length: %%d\\r\\n\\r\\n%%s\\n' $((${#body} + 1)) "$body" > /tmp/resp
	timeout 90 nc -l -p 8080 < /tmp/resp > /dev/null & w=$!
	echo "VMM-FWD-READY $mac $pci"
	wait $w
	ip addr flush dev $i
	ip link set $i down
done
echo "VMM-NICS-DONE"
""" % {"http": HTTP_PORT}


class NicsBoot(guestkit.Scenario):
    """cards: (model, form, mac or None) in command-line order; form is
    "device", "nic" or "net" (at most one "net": -net cards share a hub)."""

    def __init__(self, name, cards):
        guestkit.Scenario.__init__(self, "vmm-nics-%s" % name, timeout=900)
        self.cards = cards

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def nic_args(self):
        args = []
        for k, (model, form, mac) in enumerate(self.cards):
            user = "user,hostfwd=tcp::%d-:8080" % (FWD_BASE + k)
            name = NIC_MODEL.get(model, model)
            if form == "device":
                args += ["-netdev", "%s,id=n%d" % (user, k),
                         "-device", "%s,netdev=n%d%s" % (model, k, ",mac=" + mac if mac else "")]
            elif form == "nic":
                args += ["-nic", "%s,model=%s" % (user, name)]
            else:
                args += ["-net", "nic,model=%s" % name, "-net", user]
            if model == "rtl8139":
                args += ["-global", "rtl8139.cplus=off"]
        return args

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name, guestkit.script_image(GUEST_SCRIPT))
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio" % script] + self.nic_args())
        ports = ["%s=%d" % (MODELS[m][0], FWD_BASE + k) for k, (m, _, _) in enumerate(self.cards)]
        cmd = ["/usr/bin/python3", DRIVER, str(HTTP_PORT), str(BLOB), *ports, "--", *argv]
        batch.add(self.name, cmd, timeout=self.timeout, marker="@@vmm rc=", grace=10,
                  idle=guestkit.BOOT_IDLE + 60, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(), flake_signs=guestkit.BOOT_FLAKE_SIGNS,
                  started="@@blob sha=")

    def __repr__(self):
        return "%s: %s" % (self.name, " ".join(shlex.quote(a) for a in self.nic_args()))


DEVICE_BOOT = NicsBoot("device", [
    ("virtio-net-pci", "device", "52:54:00:ab:cd:ef"),
    ("e1000", "device", "52:54:00:ab:cd:e0"),
    ("rtl8139", "device", "52:54:00:ab:cd:01"),
    ("ne2k_pci", "device", "52:54:00:ab:cd:02"),
    ("pcnet", "device", "52:54:00:ab:cd:03"),
])
NIC_BOOT = NicsBoot("nic", [
    ("virtio-net-pci", "nic", None),
    ("e1000-82544gc", "nic", None),
    ("e1000-82545em", "nic", None),
    ("rtl8139", "nic", None),
    ("ne2k_pci", "nic", None),
    ("pcnet", "net", None),
])
BOOTS = [DEVICE_BOOT, NIC_BOOT]
# one test per card: (boot, model)
CARDS = [pytest.param(b, m, id="%s-%s" % (b.name, m)) for b in BOOTS for (m, _, _) in b.cards]


def nic_lines(out):
    """{mac: [the text after "nic MAC " of each of its lines]}."""
    lines = {}
    for ln in out.replace("\r", "").split("\n"):
        i = ln.find("nic 52:54:")
        if i >= 0:
            parts = ln[i:].strip().split(" ", 2)
            if len(parts) == 3:
                lines.setdefault(parts[1], []).append(parts[2])
    return lines


def card(guest, model):
    """(mac, the card's lines) of the model's card, found by its PCI ID."""
    out = guest.result.stdout
    for mac, texts in nic_lines(out).items():
        if any(t.startswith("pci=%s " % MODELS[model][0]) for t in texts):
            return mac, texts
    pytest.fail("no card %s (%s) in the guest\n%s" % (model, MODELS[model][0], guest.describe()))


def given_mac(scenario, model):
    return next(mac for (m, _, mac) in scenario.cards if m == model)


@pytest.mark.parametrize("scenario,model", CARDS)
def test_card_binds_with_its_address(guest, scenario, model):
    mac, texts = card(guest, model)
    assert "pci=%s driver=%s" % MODELS[model] in texts, guest.describe()
    want = given_mac(scenario, model)
    if want:
        assert mac == want, guest.describe()
    rep = guestkit.Report(guest.result.stdout)
    assert (mac, MODELS[model][1]) in rep.nets.values(), (rep.nets, guest.describe())


@pytest.mark.parametrize("scenario,model", CARDS)
def test_card_gets_dhcp_from_slirp(guest, scenario, model):
    _, texts = card(guest, model)
    dhcp = [t for t in texts if t.startswith("dhcp ")]
    assert dhcp and "ip=10.0.2.15 mask=24 router=10.0.2.2" in dhcp[0], guest.describe()


@pytest.mark.parametrize("scenario,model", CARDS)
def test_card_downloads_from_host(guest, scenario, model):
    _, texts = card(guest, model)
    sha = [ln for ln in guest.result.stdout.split("\n") if ln.startswith("@@blob sha=")]
    assert sha, guest.describe()
    want = "wget size=%d sha=%s" % (BLOB, sha[0].split("=", 1)[1].strip())
    assert want in texts, guest.describe()


@pytest.mark.parametrize("scenario,model", CARDS)
def test_card_hostfwd_reaches_guest(guest, scenario, model):
    mac, _ = card(guest, model)
    assert "@@fwd %s VMM-GUEST-HELLO %s" % (mac, mac) in guest.result.stdout, guest.describe()


@pytest.mark.parametrize("scenario", BOOTS, ids=str)
def test_guest_powers_off_and_vmm_exits_0(guest, scenario):
    """After the last card the guest powers off: vmm tears every card and
    its slirp down and exits 0 (not killed by its sandbox, not hung)."""
    out = guest.result.stdout
    assert "VMM-NICS-DONE" in out and "VMMKIT-DONE rc=0" in out, guest.describe()
    assert "@@vmm rc=0 " in out, guest.describe()


@pytest.mark.parametrize("scenario", [NIC_BOOT], ids=str)
def test_default_macs_are_numbered_across_models(guest, scenario):
    """QEMU numbers default addresses across every NIC: six cards of five
    kinds get 52:54:00:12:34:56 to 5b, no two alike."""
    macs = sorted(nic_lines(guest.result.stdout))
    assert macs == ["52:54:00:12:34:%02x" % (0x56 + k) for k in range(6)], guest.describe()
