# SPDX-License-Identifier: GPL-2.0-or-later
"""Every emulated NIC over tap between two vmm guests, in two scenarios
of two guests each: the PCI cards in the amd64 kit (the e1000 82540EM,
82544GC and 82545EM (e1000), RTL8139C (cplus=off: 8139too), RTL8139C+ (the
carried 8139cp), NE2000 PCI (ne2k-pci) and PCnet (pcnet32), each guest
with all seven), and the ISA NE2000 (`iobase=0x300,irq=5`, the carried
`ne`) in the 686 kit, the one kernel that has `ne`. virtio-net's pair is
test_virtio_net_tap.py.

Card K of guest A and card K of guest B are the two ports of bridge brK
in a network namespace of the L1 (`-netdev tap,id=nK,ifname=taK|tbK,
script=IFUP,downscript=IFDOWN`, IFUP putting tXK on brK), so each pair of
cards is a wire of its own: A's card K is 10.80.K.10/24 and B's
10.80.K.11/24, and no frame can take another card's way. For each card in
turn A pings B until it answers, sends B 128 KiB of random data (nc; 32
KiB through the NE2000s), and B sends back what it received over the same
cards; A prints the sha256 of what came back, B of what arrived. So both guests' cards transmit and
receive, at full frames, and a frame lost or changed either way shows.

Why the PCI cards are not in the 686 kit as well: with all eight cards in
two 686 guests, three attempts in a row (2026-12-07) were reset, twice by
the nested L1's fault at its own address (docs/testing.md, "L2 resets
under guest-to-host TCP") and once at a guest address 0.5 s into the
kernel's boot, the form the harness cannot tell from a vmm bug. The amd64
pair met the L1's own form twice in ten attempts and the other never.

Both VMMs run with -no-reboot: a reset ends the run instead of running
the script again, and the harness retries it when the L1's trace shows
its own fault. vmm only (the cards against QEMU's are what `make
bench-net` compares)."""
import re

import pytest

import guestkit
import nic_models

KINDS = ("e1000", "e1000-82544gc", "e1000-82545em", "rtl8139", "rtl8139-cplus",
         "ne2k_pci", "ne2k_isa", "pcnet")
assert set(KINDS) == set(nic_models.MODELS) - {"virtio-net-pci"}
PCI = tuple(k for k in KINDS if k != "ne2k_isa")
BLOB_KIB = 128
# The NE2000s move every byte through their data port (string port I/O,
# which the nested L1 emulates): the L1's fault (docs/testing.md) met the
# amd64 pair twice in ten attempts, both times during the ne2k_pci's
# 128 KiB. 32 KiB is still twice the card's 16 KiB ring both ways.
KIB = {"ne2k_pci": 32, "ne2k_isa": 32}
SEND_PORT, BACK_PORT = 5100, 5200  # + K: A to B, B back to A


def mac_of(side, k):
    return "52:54:00:80:%s:%02x" % ({"a": "0a", "b": "0b"}[side], k)


def ip_of(side, k):
    return "10.80.%d.%d" % (k, {"a": 10, "b": 11}[side])


# Both guests: load the carried drivers, then give each card its address.
COMMON = r"""#VMMKIT-SCRIPT
dmesg -n 1
%(carry_fn)s%(iface_fn)sup() {  # up K MAC ADDR
	card_iface $1 $2 || return
	ip addr add $3/24 dev $i
	ip link set $i up
}
%(carry)s%(up)s"""

# A: per card, ping B, listen for the way back, send.
SENDER = COMMON + r"""dd if=/dev/urandom of=/tmp/blob bs=1024 count=%(kib)d 2>/dev/null
xfer() {  # xfer K PEER KIB
	t0=$(date +%%s)
	head -c $(($3 * 1024)) /tmp/blob > /tmp/blob$1
	echo "nic $1 blob size=$(wc -c < /tmp/blob$1) sha=$(sha256sum /tmp/blob$1 | cut -d' ' -f1)"
	k=0
	until ping -c 1 -W 1 $2 >/dev/null 2>&1; do k=$((k+1)); [ $k -ge 60 ] && break; sleep 1; done
	[ $k -lt 60 ] && echo "nic $1 ping ok after $k" || { echo "nic $1 ping failed"; return; }
	sleep 600 | nc -l -p $((%(back)d + $1)) > /tmp/back$1 & l=$!
	j=0
	until nc -w 10 $2 $((%(send)d + $1)) < /tmp/blob$1; do j=$((j+1)); [ $j -ge 20 ] && break; sleep 1; done
	[ $j -lt 20 ] && echo "nic $1 sent tries=$j" || { echo "nic $1 send failed"; kill $l; return; }
	i=0; while kill -0 $l 2>/dev/null && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done
	kill $l 2>/dev/null
	echo "nic $1 back size=$(wc -c < /tmp/back$1) sha=$(sha256sum /tmp/back$1 | cut -d' ' -f1)"
	echo "nic $1 took $(( $(date +%%s) - t0 )) s"
}
%(xfers)secho "VMM-NICS-PAIR-DONE"
"""

# B: every card at once, each in a subshell of its own (a card that
# never gets its data holds up no other): listen, say what arrived, send
# it back.
RECEIVER = COMMON + r"""t=$(( $(date +%%s) + 300 ))
echo_back() {  # echo_back K PEER
	sleep 600 | nc -l -p $((%(send)d + $1)) > /tmp/recv$1 & l=$!
	while kill -0 $l 2>/dev/null && [ $(date +%%s) -lt $t ]; do sleep 1; done
	kill $l 2>/dev/null
	echo "nic $1 recv size=$(wc -c < /tmp/recv$1) sha=$(sha256sum /tmp/recv$1 | cut -d' ' -f1)"
	j=0
	until nc -w 10 $2 $((%(back)d + $1)) < /tmp/recv$1; do j=$((j+1)); [ $j -ge 20 ] && break; sleep 1; done
	echo "nic $1 returned tries=$j"
}
%(echoes)ssleep 1
echo "pair listening"
wait
echo "VMM-NICS-PAIR-DONE"
"""


def kib_of(kind):
    return KIB.get(kind, BLOB_KIB)


def guest_script(side, kinds=KINDS):
    """Guest `side`'s script when card K is kinds[K] (the other side's
    card K too)."""
    carry = [nic_models.CARRIED[kind] for kind in kinds if kind in nic_models.CARRIED]
    vals = {"carry_fn": nic_models.CARRY_SH, "iface_fn": nic_models.IFACE_SH,
            "carry": "".join("carry %s\n" % c for c in carry),
            "up": "".join("up %d %s %s\n" % (k, mac_of(side, k), ip_of(side, k))
                          for k in range(len(kinds))),
            "kib": BLOB_KIB, "send": SEND_PORT, "back": BACK_PORT}
    if side == "a":
        vals["xfers"] = "".join("xfer %d %s %d\n" % (k, ip_of("b", k), kib_of(kind))
                                for k, kind in enumerate(kinds))
        return SENDER % vals
    vals["echoes"] = "".join("echo_back %d %s &\n" % (k, ip_of("a", k))
                             for k in range(len(kinds)))
    return RECEIVER % vals


def nic_args(side, kinds=KINDS):
    args = []
    for k, kind in enumerate(kinds):
        props = nic_models.props_of(kind)
        args += ["-netdev", "tap,id=n%d,ifname=t%s%d,script=$d/ifup,downscript=$d/ifdown"
                 % (k, side, k),
                 "-device", "%s,netdev=n%d,mac=%s%s" % (nic_models.model_of(kind), k,
                                                        mac_of(side, k),
                                                        "," + props if props else "")]
    return args


class NicsTapPair(guestkit.Scenario):
    """Two guests of the `arch` kit, card K of each a `kinds[K]`."""

    def __init__(self, name, arch, kinds, timeout):
        guestkit.Scenario.__init__(self, name, timeout=timeout)
        self.arch, self.kinds = arch, kinds

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def vmm_argv(self, side, script):
        return guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-%s.iso" % self.arch),
                                 extra=["-no-reboot", "-drive", "file=%s,if=virtio" % script]
                                 + nic_args(side, self.kinds))

    def shell(self, a_script, b_script, cmds=None):
        """The L1 command; cmds: A's and B's command lines in the VMMs'
        place (tests/fw/test_nics_scenarios.py's)."""
        a_cmd, b_cmd = cmds or (nic_models.shell_argv(self.vmm_argv("a", a_script)),
                                nic_models.shell_argv(self.vmm_argv("b", b_script)))
        return nic_models.pair_shell(
            self.name, a_cmd, b_cmd, self.timeout - 180,
            [("br%d" % k, None) for k in range(len(self.kinds))], "br${1#t?}",
            marks=["nic %d back" % k for k in range(len(self.kinds))] + ["pair listening"])

    def add_to(self, batch):
        scripts = [batch.stage_bytes("%s-%s-script.img" % (self.name, side),
                                     guestkit.script_image(guest_script(side, self.kinds)))
                   for side in ("a", "b")]
        batch.add(self.name, self.shell(*scripts), timeout=self.timeout,
                  marker=nic_models.PAIR_DONE, grace=10, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


PCI_PAIR = NicsTapPair("vmm-nics-tap-pair", "amd64", PCI, 600)
ISA_PAIR = NicsTapPair("vmm-nics-tap-pair-isa", "686", ("ne2k_isa",), 420)
CARDS = [pytest.param(s, k, id="%s-%s" % (s.name, kind))
         for s in (PCI_PAIR, ISA_PAIR) for k, kind in enumerate(s.kinds)]


def lines_of(text, k):
    """A guest's "nic K ..." lines of card k, without the prefix."""
    pre = "nic %d " % k
    return [ln[ln.index(pre) + len(pre):].strip() for ln in text.split("\n") if pre in ln]


@pytest.mark.parametrize("scenario,k", CARDS)
def test_both_guests_bind_the_driver(guest, scenario, k):
    pci, driver = nic_models.MODELS[scenario.kinds[k]]
    _, a, b = nic_models.pair_logs(guest.result.stdout)
    for text in (a, b):
        assert any(t.startswith("iface=") and t.endswith(" pci=%s driver=%s" % (pci, driver))
                   for t in lines_of(text, k)), guest.describe()


@pytest.mark.parametrize("scenario,k", CARDS)
def test_a_pings_b(guest, scenario, k):
    _, a, _ = nic_models.pair_logs(guest.result.stdout)
    assert any(t.startswith("ping ok ") for t in lines_of(a, k)), guest.describe()


@pytest.mark.parametrize("scenario,k", CARDS)
def test_data_crosses_both_ways(guest, scenario, k):
    """What B received over card K is what A made for it, and what came
    back to A over the same cards is too."""
    _, a, b = nic_models.pair_logs(guest.result.stdout)
    made = [t for t in lines_of(a, k) if t.startswith("blob ")]
    m = re.match(r"blob size=(\d+) sha=([0-9a-f]{64})$", made[0] if made else "")
    assert m and int(m.group(1)) == kib_of(scenario.kinds[k]) << 10, guest.describe()
    blob = "size=%s sha=%s" % m.groups()
    assert "recv " + blob in lines_of(b, k), guest.describe()
    assert "back " + blob in lines_of(a, k), guest.describe()


@pytest.mark.parametrize("scenario", [PCI_PAIR, ISA_PAIR], ids=str)
def test_both_power_off_and_the_scripts_ran(guest, scenario):
    head, a, b = nic_models.pair_logs(guest.result.stdout)
    for text in (a, b):
        assert "VMM-NICS-PAIR-DONE" in text and "VMMKIT-DONE rc=0" in text, guest.describe()
    # vmm exits 0 on SIGTERM too: each must have ended by itself
    assert "@@rc a=0" in head and "@@rc b=0" in head, guest.describe()
    assert "@@still running" not in head and "@@ignored SIGTERM" not in head, guest.describe()
    assert "@@fail" not in head, guest.describe()
    assert "@@slaves_left 0" in head, guest.describe()
    for side in ("a", "b"):
        for k in range(len(scenario.kinds)):
            for script in ("ifup", "ifdown"):
                assert "@@script %s t%s%d" % (script, side, k) in head, guest.describe()
    print("\n".join(ln for ln in head.split("\n") if ln.startswith(("@@b ready", "@@progress")))
          + "\n" + "\n".join("nic %d %s" % (k, t) for k in range(len(scenario.kinds))
                              for t in lines_of(a, k) if t.startswith(("took ", "ping "))))
