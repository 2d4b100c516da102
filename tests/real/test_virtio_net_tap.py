# SPDX-License-Identifier: GPL-2.0-or-later
"""Two vmm guests on tap interfaces joined by a bridge, in a network
namespace of the host (the L1 on machines without VT-x). Each vmm gets
`-netdev tap,id=n0,ifname=vtapN,script=IFUP,downscript=IFDOWN -device
virtio-net-pci,netdev=n0,mac=...`; the ifup script puts the tap on the
bridge, the ifdown script logs. The guests take static addresses; A pings B,
then sends B 4 MiB of random data with busybox nc; both print the sha256.
One command; B boots first, A once B is up, then both run (~60 s). Also checked: the offloads the guest
driver negotiated over tap (CSUM, GUEST_CSUM, TSO4 both ways, MRG_RXBUF),
and the scripts ran with the interface name.

A's tap has vhost=on: the host kernel's vhost-net moves A's frames (its
worker thread, vhost-PID, spends CPU time on them), B's go through vmm, so
the one transfer checks both data paths and that they interoperate. While
A sends, QMP pauses A five times (tests/real/pause_driver.py): each stop
takes A's rings back from the kernel and each cont hands them over again,
and the data must still arrive whole.

Both are multiqueue: two CPUs each, `-netdev tap,...,queues=2` and
`-device virtio-net-pci,...,mq=on`. A sends the blob twice at once, one
nc pinned to each CPU (taskset), to two nc on B pinned the same way; the
guest's driver puts each CPU's flow on its own queue pair (XPS), the tap
steers a flow's frames to the queue it last came from, so B's second pair
receives and A's second pair is the kernel's (vhost-net per pair). Each
guest lists its queues (sysfs) and each queue's interrupts."""
import os
import re
import shlex

import pytest

import guestkit
import nic_models

BLOB_MB = 4
A_IP, B_IP, HOST_IP = "192.168.77.10", "192.168.77.11", "192.168.77.1"
MAC_A, MAC_B = "52:54:00:77:00:0a", "52:54:00:77:00:0b"

COMMON = """#VMMKIT-SCRIPT
ip addr add %(ip)s/24 dev eth0
ip link set eth0 up
for f in /sys/bus/virtio/drivers/virtio_net/virtio*/features; do echo "feat $(cat $f)"; done
echo "netqueues $(ls /sys/class/net/eth0/queues | tr '\\n' ' ')"
"""

# Each virtio-net queue's interrupts, summed over the CPUs.
IRQS = """grep -E 'virtio[0-9]+-(input|output)' /proc/interrupts | while read -r n rest; do
  s=0; for x in $rest; do case $x in *[!0-9]*) ;; *) s=$((s+x));; esac; done
  echo "irqs ${rest##* } $s"; done
"""

SENDER = COMMON + """dd if=/dev/urandom of=/tmp/blob bs=1M count=%(mb)d 2>/dev/null
echo "sent size=$(wc -c < /tmp/blob) sha=$(sha256sum /tmp/blob | cut -d' ' -f1)"
i=0; until ping -c 1 -W 1 %(peer)s >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 120 ] && break; sleep 1; done
ping -c 3 -W 2 %(peer)s | grep 'packets transmitted' | sed 's/^/ping /'
(j=0; until taskset 2 nc -w 10 %(peer)s 5001 < /tmp/blob; do j=$((j+1)); [ $j -ge 30 ] && break; sleep 1; done; echo "nc2 tries=$j") & second=$!
i=0; until taskset 1 nc -w 10 %(peer)s 5000 < /tmp/blob; do i=$((i+1)); [ $i -ge 30 ] && break; sleep 1; done
wait $second
echo "nc tries=$i"
""" + IRQS + """sleep 10  # B pings A back after the transfer
"""

RECEIVER = COMMON + """sleep 600 | taskset 1 nc -l -p 5000 > /tmp/recv & nc=$!
sleep 600 | taskset 2 nc -l -p 5001 > /tmp/recv2 & nc2=$!
i=0; while { kill -0 $nc || kill -0 $nc2; } 2>/dev/null && [ $i -lt 240 ]; do sleep 1; i=$((i+1)); done
echo "recv size=$(wc -c < /tmp/recv) sha=$(sha256sum /tmp/recv | cut -d' ' -f1)"
echo "recv2 size=$(wc -c < /tmp/recv2) sha=$(sha256sum /tmp/recv2 | cut -d' ' -f1)"
""" + IRQS + """ping -c 2 -W 2 %(peer)s | grep 'packets transmitted' | sed 's/^/ping /'
ping -c 2 -W 2 %(host)s | grep 'packets transmitted' | sed 's/^/hostping /'
"""


def script_disk(batch, name, body):
    body = body.encode()
    return batch.stage_bytes(name, body + b"\0" * (-len(body) % 512 + 512))


class TapPair(guestkit.Scenario):
    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-virtio-net-tap-pair", timeout=600)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        vals = {"mb": BLOB_MB, "host": HOST_IP}
        sa = script_disk(batch, "tap-a-script.img", SENDER % dict(vals, ip=A_IP, peer=B_IP))
        sb = script_disk(batch, "tap-b-script.img", RECEIVER % dict(vals, ip=B_IP, peer=A_IP))

        def vm(script, tap, mac, vhost):
            argv = guestkit.vmm_argv(
                "vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"),
                extra=(["-qmp", "unix:$d/a.qmp,server=on,wait=off"] if vhost else []) +
                      ["-no-reboot", "-smp", "2", "-drive", "file=%s,if=virtio" % script,
                       "-netdev", "tap,id=n0,ifname=%s,script=$d/ifup,downscript=$d/ifdown,"
                       "vhost=%s,queues=2" % (tap, "on" if vhost else "off"),
                       "-device", "virtio-net-pci,netdev=n0,mac=%s,mq=on,vectors=6" % mac])
            # $d is expanded by the shell: the scripts live in the command's TMPDIR.
            # A's vmm (vhost) logs its hand-overs (VMM_DEBUG) for the test.
            return ("env VMM_DEBUG=1 " if vhost else "") + nic_models.shell_argv(argv)

        # A's vhost worker, once A has sent (it ends with A's vmm): its name
        # and its user and system CPU ticks (/proc/PID/stat fields 14, 15).
        # One grep reads every comm: a cat per process (each an exec over the
        # L1's 9p root) once took longer than A's last 10 s, and found none.
        watch = r"""  if [ -z "$paused" ] && grep -q "sent size=" "$d/a.log"; then
    paused=1; /usr/bin/python3 %s "$d/a.qmp" 5 > "$d/pauses.log" 2>&1 &
  fi
  if [ -z "$vhost_seen" ] && grep -q "nc tries=" "$d/a.log"; then
    vhost_seen=none
    for f in $(grep -lx "vhost-$pa" /proc/[0-9]*/comm 2>/dev/null); do
      vhost_seen="$(cut -d' ' -f14,15 "${f%%/comm}/stat")"
    done
    echo "@@vhost-worker vhost-$pa ticks $vhost_seen"
  fi""" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "pause_driver.py")
        shell = nic_models.pair_shell(
            self.name, vm(sa, "vtap0", MAC_A, True), vm(sb, "vtap1", MAC_B, False),
            self.timeout - 180, [("br0", HOST_IP + "/24")], "br0",
            marks=("feat ", "sent size=", "recv size=", "nc tries="),
            setup='[ -c /dev/vhost-net ] && echo "@@vhost-net device present"\n'
                  'paused=""; vhost_seen=""',
            watch=watch, after='cat "$d/pauses.log" 2>/dev/null')
        # A hung L2 (the nested flake, docs/testing.md) is retried in a fresh L1.
        batch.add(self.name, shell, timeout=self.timeout, marker=nic_models.PAIR_DONE,
                  grace=10, retries=guestkit.BOOT_RETRIES, retry_guest=self.retry_guest())


SCENARIO = TapPair()

MIG_MAC, MIG_IP = "52:54:00:77:00:20", "192.168.77.20"
PINGER = """#VMMKIT-SCRIPT
ip addr add %(ip)s/24 dev eth0
ip link set eth0 up
i=0
while true; do
  if ping -c 1 -W 1 %(host)s >/dev/null 2>&1; then echo "pong $i"; else echo "lost $i"; fi
  i=$((i+1)); sleep 0.2
done
"""


class VhostMigration(guestkit.Scenario):
    """A guest on vhost-net moves live from one vmm to another (each with its
    own tap on the bridge, both vhost=on) while it pings the bridge
    (tests/real/vhost_migration_driver.py)."""

    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-virtio-net-vhost-migration", timeout=900)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        script = script_disk(batch, "vhost-mig-script.img", PINGER % {"ip": MIG_IP,
                                                                      "host": HOST_IP})
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio" % script])
        driver = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "vhost_migration_driver.py")
        shell = r"""set -u
d="${TMPDIR:-/tmp}/%(name)s"; mkdir -p "$d"; ns=vmmmig$$
printf '#!/bin/sh\nip link set "$1" master br0 && ip link set "$1" up\n' > "$d/ifup"
chmod +x "$d/ifup"
ip netns add $ns || { echo "@@fail netns add"; exit 1; }
# The bridge's own MAC is set: otherwise it is its smallest port's, and
# changes when A's tap leaves; the guest's ARP entry for the bridge then
# names a MAC nobody has, and its pings are lost until that entry expires
# (20-30 s, in half the runs before this line).
ip netns exec $ns sh -c "ip link set lo up && ip link add br0 address 02:00:00:77:00:01 type bridge && ip link set br0 up && ip addr add %(host)s/24 dev br0" || echo "@@fail bridge"
ip netns exec $ns /usr/bin/python3 %(driver)s "$d" %(mac)s -- %(argv)s
echo "@@driver rc=$?"
ip netns del $ns
""" % {"name": self.name, "host": HOST_IP, "driver": driver, "mac": MIG_MAC,
       "argv": " ".join(shlex.quote(x) for x in argv)}
        batch.add(self.name, shell, timeout=self.timeout, retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


MIGRATION = VhostMigration()


def line(text, prefix):
    for ln in text.split("\n"):
        i = ln.find(prefix)
        if i >= 0:
            return ln[i:].strip()
    return None


def features(text):
    f = line(text, "feat ")
    return f.split()[1] if f else ""


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_tap_pair_transfer(guest, scenario):
    head, a, b = nic_models.pair_logs(guest.result.stdout)
    sent, recv = line(a, "sent size="), line(b, "recv size=")
    assert sent and recv, guest.describe()
    assert sent.startswith("sent size=%d " % (BLOB_MB << 20)), guest.describe()
    assert recv.replace("recv", "sent") == sent, guest.describe()
    assert (line(b, "recv2 size=") or "").replace("recv2", "sent") == sent, guest.describe()
    assert "3 packets transmitted, 3 packets received" in (line(a, "ping ") or ""), guest.describe()
    assert "2 packets received" in (line(b, "ping ") or ""), guest.describe()
    assert "2 packets received" in (line(b, "hostping ") or ""), guest.describe()
    for text, mac in ((a, MAC_A), (b, MAC_B)):
        rep = guestkit.Report(text)
        assert rep.nets.get("eth0") == (mac, "virtio_net"), (rep.nets, guest.describe())
        assert rep.done_rc == 0, guest.describe()
    # vmm exits 0 on SIGTERM too: each must have ended by itself
    assert "@@rc a=0" in head and "@@rc b=0" in head, guest.describe()
    assert "@@still running" not in head and "@@ignored SIGTERM" not in head, guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_tap_offloads_negotiated(guest, scenario):
    """Linux 6.1's virtio_net takes every offload vmm offers over tap."""
    _, a, b = nic_models.pair_logs(guest.result.stdout)
    for text in (a, b):
        f = features(text)
        assert len(f) >= 17, guest.describe()
        # CSUM, GUEST_CSUM, MAC, GUEST_TSO4/6, HOST_TSO4/6, MRG_RXBUF, STATUS
        for bit in (0, 1, 5, 7, 8, 11, 12, 15, 16):
            assert f[bit] == "1", (bit, f)
        for bit in (9, 10, 13, 14):  # ECN, UFO: not offered
            assert f[bit] == "0", (bit, f)


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_tap_scripts_ran(guest, scenario):
    head, _, _ = nic_models.pair_logs(guest.result.stdout)
    for tap in ("vtap0", "vtap1"):
        assert "@@script ifup %s" % tap in head, guest.describe()
        assert "@@script ifdown %s" % tap in head, guest.describe()


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_tap_vhost_carried_a(guest, scenario):
    """vhost=on: A's vmm opened /dev/vhost-net (no fallback line) and the
    kernel's worker for it ran (CPU ticks), while the transfer above
    passed with the right sha256."""
    head, a, _ = nic_models.pair_logs(guest.result.stdout)
    assert "@@vhost-net device present" in head, (head[-1500:], guest.describe())
    assert "using vmm's own data path" not in a, guest.describe()
    worker = line(head, "@@vhost-worker ")
    assert worker and "ticks none" not in worker, guest.describe()
    utime, stime = (int(x) for x in worker.split()[-2:])
    assert utime + stime > 0, (worker, guest.describe())
    print(worker)


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_tap_vhost_survives_pauses(guest, scenario):
    """Five QMP stop/cont cycles while A sent: each saw the VM paused, then
    running, and vmm took A's rings back from the kernel at each stop and
    handed them over again at each cont; the transfer test above checks the
    data arrived whole."""
    head, a, _ = nic_models.pair_logs(guest.result.stdout)
    assert "@@pauses done 5" in head, guest.describe()
    # vmm's debug lines: every stop took the rings back, every cont gave
    # them to the kernel again (besides, Linux masks and unmasks the
    # vectors while it sets up, and each takes them back and gives them)
    moves = [ln for ln in a.split("\n") if "vhost-net runs the queues" in ln
             or "takes the queues back from vhost-net" in ln]
    for pair in (0, 1):  # each pair has its own vhost-net, each goes back and forth
        mine = [ln for ln in moves if "pair %d," % pair in ln]
        paused = [i for i, ln in enumerate(mine) if "vhost-net (paused;" in ln]
        assert len(paused) == 5, (pair, mine, guest.describe())
        assert all(i + 1 < len(mine) and "runs the queues" in mine[i + 1] for i in paused), mine
    print("\n".join(ln for ln in head.split("\n") if ln.startswith(("@@pause", "@@progress"))))


def mig_lines(out, tag):
    return [ln[len(tag) + 2:] for ln in out.replace("\r", "").split("\n")
            if ln.startswith(tag + ": ")]


@pytest.mark.parametrize("scenario", [MIGRATION], ids=str)
def test_vhost_guest_migrates_live_and_pings_on(guest, scenario):
    """The pre-copy completes; the destination's guest pings on from where
    the source stopped and gets to 20 pings past it, through its own
    vhost-net (its worker ran); the source's worker ran before; both vmm
    exit 0 (QMP quit); at most 5 pings lost in all (the switch-over)."""
    out = guest.result.stdout.replace("\r", "")
    assert "@@mig status completed" in out, guest.describe()
    at = int(re.search(r"@@migrated at pong (\d+)", out).group(1))
    b = " ".join(mig_lines(out, "B"))
    pongs = [int(x) for x in re.findall(r"pong (\d+)", b)]
    assert pongs and max(pongs) >= at + 20, (at, pongs[-5:], guest.describe())
    lost = re.findall(r"lost (\d+)", " ".join(mig_lines(out, "A")) + " " + b)
    assert len(lost) <= 5, (lost, guest.describe())
    ticks = dict(re.findall(r"@@vhost (A|B) (-?\d+)", out))
    assert int(ticks.get("A", -1)) > 0 and int(ticks.get("B", -1)) > 0, (ticks, guest.describe())
    assert "@@rc A=0 B=0" in out, guest.describe()
    assert "using vmm's own data path" not in out, guest.describe()
    assert "warning: virtio-net" not in out, guest.describe()  # at exit too
    # the hand-overs, in vmm's debug lines: A's kernel path ran, gave the
    # rings back when the dirty log came on; B's kernel path took them after
    # the load
    a = "\n".join(mig_lines(out, "A"))
    assert "vhost-net runs the queues" in a, guest.describe()
    assert "takes the queues back from vhost-net (dirty log on" in a, guest.describe()
    assert "vhost-net runs the queues" in b, guest.describe()
    print(ticks, "migrated at pong", at, "lost", lost)
    print("\n".join(ln for ln in out.split("\n") if "virtio-net:" in ln))


def irqs(text):
    """{queue name such as 'input.1': interrupts} from the guest's lines."""
    out = {}
    for ln in text.split("\n"):
        m = re.search(r"irqs virtio\d+-((?:input|output)\.\d+) (\d+)", ln)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@pytest.mark.parametrize("scenario", [SCENARIO], ids=str)
def test_tap_multiqueue(guest, scenario):
    """mq=on with queues=2: both drivers use two queue pairs (MQ and
    CTRL_VQ negotiated, rx-1 and tx-1 in sysfs, an interrupt per queue);
    B's second receive queue took frames through vmm's path; A's second
    pair ran in the kernel (vmm handed pair 1 to vhost-net) and
    interrupted; the two flows' data is checked in the transfer test."""
    _, a, b = nic_models.pair_logs(guest.result.stdout)
    for text in (a, b):
        f = features(text)
        assert len(f) >= 23 and f[17] == "1" and f[22] == "1", (f, guest.describe())
        q = (line(text, "netqueues ") or "").split()
        assert {"rx-0", "rx-1", "tx-0", "tx-1"} <= set(q), (q, guest.describe())
    ia, ib = irqs(a), irqs(b)
    print("A", ia, "B", ib)
    assert set(ia) >= {"input.0", "input.1", "output.0", "output.1"}, (ia, guest.describe())
    assert ib.get("input.1", 0) > 0, (ib, guest.describe())
    assert ia.get("input.1", 0) + ia.get("output.1", 0) > 0, (ia, guest.describe())
    assert any("vhost-net runs the queues (pair 1," in ln for ln in a.split("\n")), \
        guest.describe()
