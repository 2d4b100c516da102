# SPDX-License-Identifier: GPL-2.0-or-later
"""Every emulated NIC model with the kit's Linux drivers, on user-mode
networking (slirp): virtio-net (virtio_net), e1000 82540EM, 82544GC and
82545EM (e1000), RTL8139C (8139too), RTL8139C+ (8139cp), NE2000 PCI
(ne2k-pci on the 8390 library), ISA NE2000 (ne, 686 kernel) and PCnet-PCI
II (pcnet32); the link (QMP set_link) of each; and the SMB share
(-netdev user,smb=DIR) mounted by the guest's cifs.

Three boots hold every card, several cards per guest, each card on a
user-mode network of its own with its own hostfwd port. The guest takes
its cards one at a time, so only one interface has an address at a time:
link up, DHCP (10.0.2.15, router 10.0.2.2), 1 MiB downloaded from the
host's HTTP server with its sha256, then a one-shot listener on port 8080
that the host side (nics_driver.py) reaches through that card's hostfwd;
then the link round (below), and the address is dropped and the link
taken down. The PCI cards share the four PCI INTx lines, as a real PC's
do.

- "device" boot (amd64): every PCI model through -netdev user + -device
  with mac=; the RTL8139 with the property cplus=off (revision 0x10, an
  RTL8139C: 8139too). Its virtio-net card's netdev has smb=DIR: after
  that card's round the guest loads the carried cifs (with cmac and
  sha512, which cifs asks for by name), mounts //10.0.2.4/qemu, reads the
  1 MiB file the host put in DIR (sha256) and writes 256 KiB that the
  host reads after the run (sha256); vmm's private smbd directory must be
  gone after it exits.
- "nic" boot (amd64): -nic for five cards, -net nic + -net user for
  PCnet, no mac= anywhere: the default addresses must be 52:54:00:12:34:56
  .. 5b, one per card (QEMU's numbering). The RTL8139 is QEMU's default
  RTL8139C+ (revision 0x20): 8139too refuses it (the kit's report shows it
  without a driver) and the carried 8139cp takes it.
- "isa" boot (686: amd64 kernels have no ISA bus): the ISA NE2000 as
  `-device ne2k_isa,iobase=0x300,irq=5`, bound by the carried `ne io=0x300
  irq=5`. Not QEMU's default IRQ 9: that is the ACPI SCI's, which Linux
  holds shared, and `ne` asks for its IRQ exclusively.

Link round: the guest prints VMM-LINK-OFF, the host side sends QMP
set_link NAME false (NAME the card's netdev id in the device and isa
boots, QEMU's MODEL.N in the nic boot), then VMM-LINK-ON and set_link
true. Drivers that follow the PHY (virtio_net, e1000, 8139cp) must show
/sys/class/net/IF/carrier 0 and then 1 again. The others never change
their carrier under any VMM (the 8390 has no link status; pcnet32 calls a
PCnet-PCI II's link always up when it autonegotiates; 8139too reads a
link change from CSCR bit 11, which neither vmm nor QEMU sets), so for
them the wire must stop: an HTTP GET to the host fails while the link is
off and works again once it is on.

Needs a kit built with 8139cp, ne, cifs and /etc/vmmkit/modules.carry-deps
(tests/guests/modules-kit.list; `make guests` rebuilds it). Alone, in the L1:

    VMM_REQUIRE_REAL=1 VMM_REAL_VMMS=qemu,vmm VMM_REAL_OPTIONAL_PEERS=0 VMM=$PWD/build/vmm /usr/bin/python3 -m pytest -rs -v tests/real/test_nics.py

What does not need the guest (the command lines, set_link names, the SMB
login) is tests/fw/test_nics_scenarios.py."""
import os
import re
import shlex

import pytest

import guestkit
import nic_models
from nic_models import CARRIED, DEVICE, MODELS, NIC_MODEL, model_of  # noqa: F401

HTTP_PORT = 18090      # host-side server the guest downloads from
FWD_BASE = 12290       # hostfwd ports: FWD_BASE + card index
BLOB = 1 << 20
SMB_GUEST_BYTES = 256 << 10
DRIVER = os.path.join(guestkit.HERE, "nics_driver.py")

# PCI revision the guest must see
REVISION = {"rtl8139": "0x10", "rtl8139-cplus": "0x20"}
# drivers whose carrier follows the link; the others' wire is checked
CARRIER_DRIVERS = ("virtio_net", "e1000", "8139cp")


def guest_script(carry=(), link=False, smb_mac=""):
    """The kit script: loads the carried drivers `carry` (script lines'
    arguments of `carry`), then takes each card in turn; link: its link
    round for every card; smb_mac: the card whose slirp has smb=."""
    return GUEST_SCRIPT_TEMPLATE % {
        "http": HTTP_PORT, "link": 1 if link else 0, "smb_mac": smb_mac or "none",
        "smb_kib": SMB_GUEST_BYTES >> 10, "carrier_drivers": "|".join(CARRIER_DRIVERS),
        "carry": "".join("carry %s\n" % c for c in carry),
        "carry_fn": nic_models.CARRY_SH}


GUEST_SCRIPT_TEMPLATE = r"""#VMMKIT-SCRIPT
dmesg -n 1
LINK=%(link)d SMB_MAC=%(smb_mac)s HTTP=http://10.0.2.2:%(http)d
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
if [ "$1" = bound ]; then
	ip addr add $ip/$mask dev $interface
	echo "dhcp ip=$ip mask=$mask router=$router" > /tmp/dhcp-$interface.txt
fi
exit 0
EOS
chmod +x /tmp/dhcp.sh
%(carry_fn)swait_carrier() {  # wait_carrier DIR 0|1: up to 20 s for that carrier; prints the last read
	k=0
	while [ "$(cat $1/carrier 2>/dev/null)" != "$2" ] && [ $k -lt 100 ]; do sleep 0.2; k=$((k + 1)); done
	cat $1/carrier 2>/dev/null
}
ping_host() {  # ping_host MAC: one HTTP GET to the host side's /ping
	rm -f /tmp/ping
	timeout 4 wget -q -O /tmp/ping "$HTTP/ping?$1" 2>/dev/null && [ "$(cat /tmp/ping)" = pong ]
}
link_round() {  # link_round MAC DIR DRIVER KEY
	echo "nic $1 link-before carrier=$(cat $2/carrier)"
	echo "VMM-LINK-OFF $1 $4"
	case $3 in
	%(carrier_drivers)s)
		echo "nic $1 link-off carrier=$(wait_carrier $2 0)"
		echo "VMM-LINK-ON $1 $4"
		echo "nic $1 link-on carrier=$(wait_carrier $2 1)"
		;;
	*)
		# GETs work until the host has acted (its QMP command follows our line)
		k=0
		while [ $k -lt 15 ] && ping_host $1; do k=$((k + 1)); sleep 1; done
		[ $k -lt 15 ] && echo "nic $1 link-off wire=cut after=$k" || echo "nic $1 link-off wire=open"
		echo "VMM-LINK-ON $1 $4"
		k=0 ok=0
		while [ $k -lt 15 ]; do ping_host $1 && { ok=1; break; }; k=$((k + 1)); sleep 1; done
		[ $ok = 1 ] && echo "nic $1 link-on wire=open after=$k" || echo "nic $1 link-on wire=cut"
	esac
}
smb_round() {  # smb_round MAC: mount the slirp's SMB share, read the host's file, write one
	carry cmac; carry sha512_generic; carry ctr; carry ghash_generic; carry gcm; carry ccm; carry cifs
	mkdir -p /mnt/smb
	# each step bounded (SIGKILL: a cifs wait may ignore SIGTERM), so that a
	# share that does not answer fails these tests, not the whole boot
	if timeout -s KILL 60 mount -t cifs //10.0.2.4/qemu /mnt/smb \
		-o 'ip=10.0.2.4,unc=\\10.0.2.4\qemu,username=guest,password=guest,vers=3.0' 2>/tmp/smb.err; then
		echo "nic $1 smb mounted"
		f=/mnt/smb/from-host.bin
		echo "nic $1 smb read sha=$(timeout -s KILL 60 sha256sum $f | cut -d' ' -f1) size=$(stat -c %%s $f)"
		dd if=/dev/urandom of=/tmp/from-guest.bin bs=1024 count=%(smb_kib)d 2>/dev/null
		timeout -s KILL 60 cp /tmp/from-guest.bin /mnt/smb/from-guest.bin
		echo "nic $1 smb wrote sha=$(sha256sum /tmp/from-guest.bin | cut -d' ' -f1) size=$(stat -c %%s /tmp/from-guest.bin)"
		timeout -s KILL 60 umount /mnt/smb && echo "nic $1 smb unmounted"
	else
		echo "nic $1 smb mount failed: $(tr '\n' ' ' < /tmp/smb.err) $(dmesg | grep -i cifs | tail -n 3 | tr '\n' ' ')"
	fi
}
%(carry)sfor n in /sys/class/net/eth*; do
	i=${n##*/} mac=$(cat $n/address)
	pci=$(cut -c3- $n/device/vendor 2>/dev/null):$(cut -c3- $n/device/device 2>/dev/null)
	[ "$pci" = : ] && pci=isa
	drv=$(readlink $n/device/driver)
	echo "nic $mac pci=$pci driver=${drv##*/}"
	[ -e $n/device/revision ] && echo "nic $mac rev=$(cat $n/device/revision)"
	ip link set $i up
	udhcpc -i $i -n -q -t 10 -T 2 -s /tmp/dhcp.sh >/dev/null 2>&1 || echo "nic $mac dhcp failed"
	[ -f /tmp/dhcp-$i.txt ] && echo "nic $mac $(cat /tmp/dhcp-$i.txt)"
	wget -q -O /tmp/blob $HTTP/blob && echo "nic $mac wget size=$(wc -c < /tmp/blob) sha=$(sha256sum /tmp/blob | cut -d' ' -f1)"
	rm -f /tmp/blob
	body="VMM-GUEST-HELLO $mac"
	printf 'HTTP/1.0 200 OK\r\nContent-Length: %%d\r\n\r\n%%s\n' $((${#body} + 1)) "$body" > /tmp/resp
	timeout 90 nc -l -p 8080 < /tmp/resp > /dev/null & w=$!
	echo "VMM-FWD-READY $mac $pci"
	wait $w
	[ "$mac" = "$SMB_MAC" ] && smb_round $mac
	[ $LINK = 1 ] && link_round $mac $n ${drv##*/} $pci
	ip addr flush dev $i
	ip link set $i down
done
echo "VMM-NICS-DONE"
"""
# the plain rounds (tools/reset_repro.py --workload nics)
GUEST_SCRIPT = guest_script()


class NicsBoot(guestkit.Scenario):
    """cards: (kind, form, mac or None) in command-line order; form is
    "device", "nic" or "net" (at most one "net": -net cards share a hub).
    smb: the kind whose netdev gets smb= (a "device" card)."""

    def __init__(self, name, cards, arch="amd64", smb=None):
        guestkit.Scenario.__init__(self, "vmm-nics-%s" % name, timeout=900)
        self.cards, self.arch, self.smb = cards, arch, smb

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def link_name(self, k):
        """What set_link calls card k: its netdev's id (-device), else
        QEMU's MODEL.N (N counts the cards of that model before it)."""
        kind, form, _ = self.cards[k]
        if form == "device":
            return "n%d" % k
        same = sum(1 for (other, _, _) in self.cards[:k] if model_of(other) == model_of(kind))
        return "%s.%d" % (model_of(kind), same)

    def nic_args(self):
        args = []
        for k, (kind, form, mac) in enumerate(self.cards):
            user = "user,hostfwd=tcp::%d-:8080" % (FWD_BASE + k)
            model, props = DEVICE.get(kind, (kind, ""))
            name = NIC_MODEL.get(model, model)
            if form == "device":
                smb = ",smb=@SMBDIR@" if kind == self.smb else ""
                args += ["-netdev", "%s,id=n%d%s" % (user, k, smb),
                         "-device", "%s,netdev=n%d%s%s" % (model, k, ",mac=" + mac if mac else "",
                                                           "," + props if props else "")]
            else:
                assert not props and kind != self.smb, "%s: properties need -device" % kind
                if form == "nic":
                    args += ["-nic", "%s,model=%s" % (user, name)]
                else:
                    args += ["-net", "nic,model=%s" % name, "-net", user]
        return args

    def smb_mac(self):
        return next((mac for (kind, _, mac) in self.cards if kind == self.smb), None)

    def script(self):
        carry = [CARRIED[kind] for (kind, _, _) in self.cards if kind in CARRIED]
        return guest_script(carry, link=True, smb_mac=self.smb_mac())

    def driver_args(self):
        """nics_driver.py's arguments before "--"."""
        ports = ["%s=%d,%s" % (MODELS[kind][0], FWD_BASE + k, self.link_name(k))
                 for k, (kind, _, _) in enumerate(self.cards)]
        return [str(HTTP_PORT), str(BLOB), *ports] + (["--smb"] if self.smb else [])

    def vmm_argv(self, script_path):
        return guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-%s.iso" % self.arch),
                                 extra=["-drive", "file=%s,if=virtio" % script_path]
                                 + self.nic_args())

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(self.script()))
        cmd = ["/usr/bin/python3", DRIVER, *self.driver_args(), "--", *self.vmm_argv(script)]
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
], smb="virtio-net-pci")
NIC_BOOT = NicsBoot("nic", [
    ("virtio-net-pci", "nic", None),
    ("e1000-82544gc", "nic", None),
    ("e1000-82545em", "nic", None),
    ("rtl8139-cplus", "nic", None),
    ("ne2k_pci", "nic", None),
    ("pcnet", "net", None),
])
ISA_BOOT = NicsBoot("isa", [("ne2k_isa", "device", "52:54:00:ab:cd:04")], arch="686")
BOOTS = [DEVICE_BOOT, NIC_BOOT, ISA_BOOT]
# one test per card: (boot, card index)
CARDS = [pytest.param(b, k, id="%s-%s" % (b.name, kind))
         for b in BOOTS for k, (kind, _, _) in enumerate(b.cards)]


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


def card(guest, scenario, k):
    """(mac, the card's lines) of card k, found by its PCI ID (unique in
    each boot) or, for the ISA card, by "pci=isa"."""
    kind = scenario.cards[k][0]
    out = guest.result.stdout
    for mac, texts in nic_lines(out).items():
        if any(t.startswith("pci=%s " % MODELS[kind][0]) for t in texts):
            return mac, texts
    pytest.fail("no card %s (%s) in the guest\n%s" % (kind, MODELS[kind][0], guest.describe()))


@pytest.mark.parametrize("scenario,k", CARDS)
def test_card_binds_with_its_address(guest, scenario, k):
    kind, _, want = scenario.cards[k]
    mac, texts = card(guest, scenario, k)
    assert "pci=%s driver=%s" % MODELS[kind] in texts, guest.describe()
    if want:
        assert mac == want, guest.describe()
    if kind in REVISION:
        assert "rev=%s" % REVISION[kind] in texts, guest.describe()
    rep = guestkit.Report(guest.result.stdout)
    if kind not in CARRIED:
        assert (mac, MODELS[kind][1]) in rep.nets.values(), (rep.nets, guest.describe())
    else:
        # the kit's report comes before the script loads the driver: no
        # interface yet, and a PCI card has no driver (8139too refused
        # revision 0x20)
        assert mac not in [m for m, _ in rep.nets.values()], (rep.nets, guest.describe())
        if MODELS[kind][0] != "isa":
            assert rep.driver_of(MODELS[kind][0]) == "-", (rep.pci, guest.describe())
        bad = [ln for ln in guest.result.stdout.replace("\r", "").split("\n")
               if ln.startswith("carry ")]
        assert not bad, (bad, guest.describe())


@pytest.mark.parametrize("scenario,k", CARDS)
def test_card_gets_dhcp_from_slirp(guest, scenario, k):
    _, texts = card(guest, scenario, k)
    dhcp = [t for t in texts if t.startswith("dhcp ")]
    assert dhcp and "ip=10.0.2.15 mask=24 router=10.0.2.2" in dhcp[0], guest.describe()


@pytest.mark.parametrize("scenario,k", CARDS)
def test_card_downloads_from_host(guest, scenario, k):
    _, texts = card(guest, scenario, k)
    sha = [ln for ln in guest.result.stdout.split("\n") if ln.startswith("@@blob sha=")]
    assert sha, guest.describe()
    want = "wget size=%d sha=%s" % (BLOB, sha[0].split("=", 1)[1].strip())
    assert want in texts, guest.describe()


@pytest.mark.parametrize("scenario,k", CARDS)
def test_card_hostfwd_reaches_guest(guest, scenario, k):
    mac, _ = card(guest, scenario, k)
    assert "@@fwd %s VMM-GUEST-HELLO %s" % (mac, mac) in guest.result.stdout, guest.describe()


@pytest.mark.parametrize("scenario,k", CARDS)
def test_card_link_follows_set_link(guest, scenario, k):
    """QMP set_link NAME false unplugs the card's cable, true plugs it
    back: the guest's carrier follows where its driver reads the PHY, the
    wire stops and resumes where it does not (module docstring)."""
    kind = scenario.cards[k][0]
    mac, texts = card(guest, scenario, k)
    out = guest.result.stdout
    name = scenario.link_name(k)
    for state in ("off", "on"):
        assert "@@link %s %s %s -> {'return': {}}" % (mac, state, name) in out, guest.describe()
    if MODELS[kind][1] in CARRIER_DRIVERS:
        for want in ("link-before carrier=1", "link-off carrier=0", "link-on carrier=1"):
            assert want in texts, (want, guest.describe())
    else:
        assert any(t.startswith("link-off wire=cut ") for t in texts), guest.describe()
        assert any(t.startswith("link-on wire=open ") for t in texts), guest.describe()


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


def smb_texts(guest, scenario):
    """The SMB card's "smb ..." lines (without the "smb " prefix)."""
    mac = scenario.smb_mac()
    texts = nic_lines(guest.result.stdout).get(mac, [])
    return [t[4:] for t in texts if t.startswith("smb ")]


@pytest.mark.parametrize("scenario", [DEVICE_BOOT], ids=str)
def test_smb_guest_reads_the_hosts_file(guest, scenario):
    """The guest's cifs mounts //10.0.2.4/qemu (slirp hands the
    connection to vmm's smbd launcher) and reads the 1 MiB file the host
    put in DIR: the same sha256 and size."""
    m = re.search(r"@@smb host sha=([0-9a-f]{64}) size=(\d+)", guest.result.stdout)
    assert m, guest.describe()
    texts = smb_texts(guest, scenario)
    assert "mounted" in texts, (texts, guest.describe())
    assert "read sha=%s size=%s" % m.groups() in texts, (texts, guest.describe())


@pytest.mark.parametrize("scenario", [DEVICE_BOOT], ids=str)
def test_smb_host_reads_the_guests_file(guest, scenario):
    """256 KiB the guest wrote through the share and unmounted are in DIR
    after the run, byte for byte."""
    texts = smb_texts(guest, scenario)
    wrote = [t for t in texts if t.startswith("wrote ")]
    assert wrote and "unmounted" in texts, (texts, guest.describe())
    sha, size = re.match(r"wrote sha=([0-9a-f]{64}) size=(\d+)$", wrote[0]).groups()
    assert int(size) == SMB_GUEST_BYTES, guest.describe()
    assert "@@smb guest sha=%s size=%s" % (sha, size) in guest.result.stdout, guest.describe()


@pytest.mark.parametrize("scenario", [DEVICE_BOOT], ids=str)
def test_smb_private_directory_gone_after_exit(guest, scenario):
    """vmm's private smbd directory ($TMPDIR/vmm-smb.*) is removed when
    the guest powers off and vmm exits 0."""
    out = guest.result.stdout
    assert "@@vmm rc=0 " in out and "@@smb leftover 0 " in out, guest.describe()
