# SPDX-License-Identifier: GPL-2.0-or-later
"""Every emulated NIC over tap, in one boot of the kit's 686 Linux (the one
kernel with the ISA NE2000's `ne` as well as every PCI driver): virtio-net
(virtio_net), e1000 82540EM, 82544GC and 82545EM (e1000), RTL8139C
(cplus=off: 8139too), RTL8139C+ (the carried 8139cp), NE2000 PCI
(ne2k-pci), ISA NE2000 (`-device ne2k_isa,iobase=0x300,irq=5`, the carried
`ne io=0x300 irq=5`; not IRQ 9, see test_nics.py) and PCnet (pcnet32).

Card K is `-netdev tap,id=nK,ifname=vtapK,script=$d/ifup,downscript=no
-device MODEL,netdev=nK,mac=52:54:00:79:00:KK`, its tap on a bridge
(192.168.79.1/24) in a network namespace of the L1 (nic_models.netns_shell),
where the host side serves 1 MiB of random data over HTTP and
tools/bench/net_sink.py takes one stream per card on port SINK+K and
prints its sha256. The guest takes its cards one at a time (the others
down, without an address): finds the card by its MAC, gives it
192.168.79.10/24, pings the bridge until it answers, downloads the blob
(host to guest: its size and sha256) and sends the 1 MiB of random data it
made at the start to port SINK+K (guest to host: the host's sha256 of
what arrived), then takes the address off and the link down.

vmm only (QEMU's cards over tap are what `make bench-net` compares). One
boot, ~3-5 minutes in the nested L1; needs root there (it has it). Alone:

    VMM_REQUIRE_REAL=1 VMM_REAL_VMMS=vmm VMM=$PWD/build/vmm /usr/bin/python3 -m pytest -rs -v tests/real/test_nics_tap.py

What needs no guest (vmm takes the whole command line in a namespace, the
script is valid shell, the kit carries what it loads) is checked at
firmware level in tests/fw/test_nics_scenarios.py."""
import os
import re

import pytest

import guestkit
import nic_models

HOST_IP, GUEST_IP = "192.168.79.1", "192.168.79.10"
HTTP_PORT = 18091
SINK_PORT = 15101
BLOB = 1 << 20
SINK = os.path.join(guestkit.REPO, "tools", "bench", "net_sink.py")
# every kind, in command-line order: the tests find each card by its index
KINDS = ("virtio-net-pci", "e1000", "e1000-82544gc", "e1000-82545em", "rtl8139",
         "rtl8139-cplus", "ne2k_pci", "ne2k_isa", "pcnet")
assert set(KINDS) == set(nic_models.MODELS)


def mac_of(k):
    return "52:54:00:79:00:%02x" % k


GUEST_SCRIPT = r"""#VMMKIT-SCRIPT
dmesg -n 1
%(carry_fn)s%(iface_fn)scard() {  # card K MAC PORT
	card_iface $1 $2 || return
	ip addr add %(guest)s/24 dev $i
	ip link set $i up
	k=0
	until ping -c 1 -W 1 %(host)s >/dev/null 2>&1; do k=$((k+1)); [ $k -ge 30 ] && break; sleep 1; done
	[ $k -lt 30 ] && echo "nic $1 ping ok after $k" || echo "nic $1 ping failed"
	rm -f /tmp/blob
	timeout 120 wget -q -O /tmp/blob http://%(host)s:%(http)d/blob \
		&& echo "nic $1 wget size=$(wc -c < /tmp/blob) sha=$(sha256sum /tmp/blob | cut -d' ' -f1)" \
		|| echo "nic $1 wget failed"
	timeout 120 nc %(host)s $3 < /tmp/sent && echo "nic $1 sent" || echo "nic $1 send failed"
	ip addr flush dev $i
	ip link set $i down
}
%(carry)sdd if=/dev/urandom of=/tmp/sent bs=1024 count=%(kib)d 2>/dev/null
echo "nic sent sha=$(sha256sum /tmp/sent | cut -d' ' -f1) size=$(wc -c < /tmp/sent)"
%(cards)secho "VMM-NICS-TAP-DONE"
"""


def guest_script():
    carry = [nic_models.CARRIED[kind] for kind in KINDS if kind in nic_models.CARRIED]
    return GUEST_SCRIPT % {
        "carry_fn": nic_models.CARRY_SH, "iface_fn": nic_models.IFACE_SH,
        "guest": GUEST_IP, "host": HOST_IP, "http": HTTP_PORT, "kib": BLOB >> 10,
        "carry": "".join("carry %s\n" % c for c in carry),
        "cards": "".join("card %d %s %d\n" % (k, mac_of(k), SINK_PORT + k)
                         for k in range(len(KINDS)))}


def nic_args():
    args = []
    for k, kind in enumerate(KINDS):
        props = nic_models.props_of(kind)
        args += ["-netdev", "tap,id=n%d,ifname=vtap%d,script=$d/ifup,downscript=no" % (k, k),
                 "-device", "%s,netdev=n%d,mac=%s%s" % (nic_models.model_of(kind), k, mac_of(k),
                                                        "," + props if props else "")]
    return args


# the host side, in $d: the blob the guest downloads, and its sha256
SETUP = ('mkdir -p "$d/www"; head -c %d /dev/urandom > "$d/www/blob"; '
         'echo "@@blob sha=$(sha256sum "$d/www/blob" | cut -d\' \' -f1)"' % BLOB)


def services():
    return [("/usr/bin/python3 %s --sha256 0.0.0.0 %d-%d 1"
             % (SINK, SINK_PORT, SINK_PORT + len(KINDS) - 1), "listening"),
            ("/usr/bin/python3 -u -m http.server --bind %s --directory \"$d/www\" %d"
             % (HOST_IP, HTTP_PORT), "Serving HTTP")]


class NicsTap(guestkit.Scenario):
    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-nics-tap", timeout=900)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def vmm_argv(self, script):
        return guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-686.iso"),
                                 extra=["-drive", "file=%s,if=virtio" % script] + nic_args())

    def shell(self, script, vmm_cmd=None):
        """The L1 command; vmm_cmd: another command line in vmm's place
        (tests/fw/test_nics_scenarios.py's stand-in guest)."""
        return nic_models.netns_shell(
            self.name, vmm_cmd or nic_models.shell_argv(self.vmm_argv(script)), services(),
            self.timeout - 120, tap_host=HOST_IP, setup=SETUP, stream_services=False)

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(guest_script()))
        batch.add(self.name, self.shell(script), timeout=self.timeout, marker="@@nic-run-end",
                  grace=10, idle=guestkit.BOOT_IDLE, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(), flake_signs=guestkit.BOOT_FLAKE_SIGNS,
                  signs_after=nic_models.WHOLE_VMM_LOG)


SCENARIO = NicsTap()
CARDS = [pytest.param(k, id=kind) for k, kind in enumerate(KINDS)]


def lines_of(guest, k):
    """The guest's "nic K ..." lines of card k, without the prefix."""
    console = nic_models.log(guest.result.stdout, "vmm")
    pre = "nic %d " % k
    return [ln[ln.index(pre) + len(pre):].strip() for ln in console.split("\n") if pre in ln]


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
@pytest.mark.parametrize("k", CARDS)
def test_card_binds_its_driver(guest, scenario, k):
    pci, driver = nic_models.MODELS[KINDS[k]]
    assert any(t.startswith("iface=") and t.endswith(" pci=%s driver=%s" % (pci, driver))
               for t in lines_of(guest, k)), guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
@pytest.mark.parametrize("k", CARDS)
def test_card_pings_the_bridge(guest, scenario, k):
    assert any(t.startswith("ping ok ") for t in lines_of(guest, k)), guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
@pytest.mark.parametrize("k", CARDS)
def test_card_receives_from_the_host(guest, scenario, k):
    """1 MiB over HTTP from the bridge: the host's bytes, in full."""
    m = re.search(r"^@@blob sha=([0-9a-f]{64})$", guest.result.stdout, re.M)
    assert m, guest.describe()
    assert "wget size=%d sha=%s" % (BLOB, m.group(1)) in lines_of(guest, k), guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
@pytest.mark.parametrize("k", CARDS)
def test_card_sends_to_the_host(guest, scenario, k):
    """The guest's 1 MiB to the sink's port for this card: what arrived is
    what the guest sent."""
    console = nic_models.log(guest.result.stdout, "vmm")
    m = re.search(r"nic sent sha=([0-9a-f]{64}) size=(\d+)", console)
    assert m and int(m.group(2)) == BLOB, guest.describe()
    assert "sent" in lines_of(guest, k), guest.describe()
    sink = nic_models.log(guest.result.stdout, "service0")
    assert re.search(r"^@@run %d [\d.]+ %d sha=%s$" % (BLOB, SINK_PORT + k, m.group(1)), sink,
                     re.M), guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_guest_powers_off_and_vmm_exits_0(guest, scenario):
    console = nic_models.log(guest.result.stdout, "vmm")
    assert "VMM-NICS-TAP-DONE" in console and "VMMKIT-DONE rc=0" in console, guest.describe()
    assert "@@vmm rc=0" in guest.result.stdout, guest.describe()
    assert "@@fail" not in guest.result.stdout, guest.describe()
