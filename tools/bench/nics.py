#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest-to-host TCP throughput of every emulated network card, vmm vs
QEMU, over user (slirp) and tap networking, and virtio-net over tap with
the host kernel's vhost-net, with a stock Linux guest.

Each VMM boots the guest kit's amd64 CD once under hardware
virtualization (the nested L1 on machines without VT-x, see
docs/testing.md), with a virtio script disk and one card per leg (a card
over a backend), given the same way to both VMMs:
  user: -netdev user,id=nK -device MODEL,netdev=nK,mac=MAC[,romfile=]
  tap:  -netdev tap,id=nK,ifname=btapK,script=IFUP,downscript=no
        -device MODEL,netdev=nK,mac=MAC[,romfile=]
  vhost: tap with vhost=on (virtio-net only: the other cards have no
        kernel data path)
  tap-mq, vhost-mq: tap (with vhost=on) and queues=2, virtio-net with
        mq=on,vectors=6, in a boot of their own with -smp 2 (multiqueue
        needs a CPU per flow): each run is two streams at once, one
        pinned to each guest CPU (so each leaves by its own queue pair),
        to two sink ports; the run's figure is both streams' bytes over
        the time from the first one's first byte to the last one's EOF
  ne2k_isa: the ISA NE2000 in a boot of its own of the kit's 686 CD
        (amd64 kernels have no ISA bus), each card at its own port and IRQ
        (iobase=0x300,irq=5, then 0x320,7), bound by the kit's carried
        `ne io=0x300,0x320 irq=5,7`
(romfile= empty on the emulated cards, so neither VMM runs their iPXE at
boot; vmm's virtio-net has no ROM, QEMU keeps efi-virtio.rom as before.)
With a tap leg everything runs in a network namespace whose bridge
192.168.78.1/24 the ifup script joins (needs root); user legs reach the
namespace's own loopback as 10.0.2.2. The guest takes its legs one at a
time (the others' interfaces down, no address): finds the card by its
MAC, gives it the leg's address, pings the host side and sends
`nc HOST PORT -e dd if=/dev/zero bs=64k count=N` (dd writing the socket
in 64 KiB writes: --size-mb per stream, --ne2000-size-mb for the NE2000s,
which move 12-50 KB/s in the nested L1) RUNS times to
tools/bench/net_sink.py, which times each stream from its first byte to
EOF (a port per leg, two for a multiqueue leg). The RTL8139 is QEMU's default C+ card,
bound by the kit's carried 8139cp.

Prints a row per card and backend: MB/s (best of runs) per VMM and the
ratio vmm/qemu; then the request/response latency: after its streams the
guest sends PINGS (200) ICMP echo requests to the host side, each as soon
as the last answer came back (busybox ping -A), and the table gives the
mean round trip per VMM and qemu/vmm (above 1: vmm answers sooner). Where
the round trip's time goes: the L1's KVM counts, per VM, its exits and
the interrupts it injected (debugfs); a watcher in the L1 reads them as
the guest announces an idle pause, its pings and their end, and the last
table gives each VMM's exits, injected interrupts, halts and emulated
instructions per round trip, the idle pause's rate taken off. --json
writes every figure. Both VMMs get the same -cpu
(--cpu, default host), -nodefaults and -no-reboot. A leg counts only when
every VMM's guest streamed it RUNS times in full; otherwise it is
discarded for every VMM and run again, with the other incomplete legs, in
a fresh L1 (--max-passes boots per VMM in all).

    tools/bench/nics.py [--cards e1000,rtl8139,...] [--backends user,tap,vhost,tap-mq,vhost-mq]
        [--runs N]
        [--size-mb M] [--ne2000-size-mb M] [--json FILE] [--cpu MODEL] [--max-passes N] [--strict] [--print]
"""
import argparse
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "real"))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))

import guestkit  # noqa: E402
import nic_models  # noqa: E402

PORT = 15001
BACKENDS = {  # guest address, host (sink) address as the guest reaches it
    "user": ("10.0.2.15", "10.0.2.2"),
    "tap": ("192.168.78.10", "192.168.78.1"),
    "vhost": ("192.168.78.10", "192.168.78.1"),  # tap,vhost=on: virtio-net's legs only
    "tap-mq": ("192.168.78.10", "192.168.78.1"),  # queues=2 and mq=on: virtio-net only
    "vhost-mq": ("192.168.78.10", "192.168.78.1"),
}
TAP_BACKENDS = ("tap", "vhost", "tap-mq", "vhost-mq")
MQ_BACKENDS = ("tap-mq", "vhost-mq")
KERNEL_BACKENDS = ("vhost", "vhost-mq")
VIRTIO_ONLY = ("vhost",) + MQ_BACKENDS
MQ_PAIRS = 2               # queue pairs, guest CPUs and streams per run of a multiqueue leg
# the bench's cards by QEMU's model names -> nic_models kinds (QEMU's
# default properties: the RTL8139 is the C+ one)
CARDS = {"virtio-net-pci": "virtio-net-pci", "e1000": "e1000", "e1000-82544gc": "e1000-82544gc",
         "e1000-82545em": "e1000-82545em", "rtl8139": "rtl8139-cplus", "ne2k_pci": "ne2k_pci",
         "pcnet": "pcnet", "ne2k_isa": "ne2k_isa"}
assert set(CARDS.values()) == set(nic_models.PCI_KINDS) | {"ne2k_isa"}
ISA_KINDS = ("ne2k_isa",)  # amd64 kernels have no ISA bus: a 686 guest boots for these
# each ISA card of a boot its own resources, free with -nodefaults in both
# VMMs (no parallel port on IRQ 7); `ne` is given them in this order
ISA_SLOTS = (("0x300", 5), ("0x320", 7))
# The NE2000s move 12-50 KB/s in the nested L1 (every frame by port I/O
# through the data port): their legs stream --ne2000-size-mb, not --size-mb.
NE2000_KINDS = ("ne2k_pci", "ne2k_isa")
PINGS = 200                # round trips per leg (ping -A)
# The L1 KVM's per-VM counters (debugfs) read around each leg's pings
KVM_COUNTERS = ("exits", "irq_injections", "halt_exits", "halt_wakeup", "irq_window_exits",
                "irq_exits", "insn_emulation", "io_exits", "mmio_exits")
STREAM_S_PER_MB = 60       # a stream slower than ~17 KB/s is a stuck card: the leg stops
BOOT_S = 300               # the boot, within a command's budget


class Leg:
    """One card over one backend: the guest's K-th, streaming to sink port
    `port` (and the ones after it, one per stream of a multiqueue run)."""

    def __init__(self, k, card, backend, port=None, isa_slot=0, size_mb=None):
        self.k, self.card, self.backend = k, card, backend
        self.isa_slot = isa_slot
        self.size_mb = size_mb  # None: the run's --size-mb
        self.kind = CARDS[card]
        self.port = PORT + k if port is None else port
        self.mac = "52:54:00:be:00:%02x" % k
        self.ip, self.host = BACKENDS[backend]

    @property
    def mq(self):
        return self.backend in MQ_BACKENDS

    @property
    def isa(self):
        return self.kind in ISA_KINDS

    def mb(self, size_mb):
        """MiB per stream of this leg, of a run whose --size-mb is size_mb."""
        return size_mb if self.size_mb is None else self.size_mb

    @property
    def streams(self):
        """Concurrent streams in each run."""
        return MQ_PAIRS if self.mq else 1

    @property
    def ports(self):
        return list(range(self.port, self.port + self.streams))

    @property
    def driver(self):
        return nic_models.MODELS[self.kind][1]

    @property
    def key(self):
        return "%s/%s" % (self.card, self.backend)

    def args(self):
        if self.backend == "user":
            net = "user,id=n%d" % self.k
        else:
            net = "tap,id=n%d,ifname=btap%d,script=$d/ifup,downscript=no" % (self.k, self.k)
            if self.backend in KERNEL_BACKENDS:
                net += ",vhost=on"
            if self.mq:
                net += ",queues=%d" % MQ_PAIRS
        props = nic_models.props_of(self.kind)
        if self.isa:
            props = "iobase=%s,irq=%d" % ISA_SLOTS[self.isa_slot]
        dev = "%s,netdev=n%d,mac=%s%s%s" % (
            nic_models.model_of(self.kind), self.k, self.mac,
            "" if self.kind == "virtio-net-pci" or self.isa else ",romfile=",
            "," + props if props else "")
        if self.mq:  # a vector per queue, the control queue's and the configuration's
            dev += ",mq=on,vectors=%d" % (2 * MQ_PAIRS + 2)
        return ["-netdev", net, "-device", dev]


def legs_of(keys, ne2000_mb=None):
    """[Leg] numbered in order from [(card, backend)], each with its own
    sink ports after the previous leg's; the NE2000s' streaming ne2000_mb
    MiB when given."""
    legs, port, isa = [], PORT, 0
    for k, (card, backend) in enumerate(keys):
        legs.append(Leg(k, card, backend, port, isa,
                        ne2000_mb if CARDS[card] in NE2000_KINDS else None))
        port += legs[-1].streams
        if legs[-1].isa:
            if isa == len(ISA_SLOTS):
                raise ValueError("at most %d ISA cards in a boot" % len(ISA_SLOTS))
            isa += 1
    return legs


def plan(cards, backends):
    """Every (card, backend), backend by backend; vhost and the multiqueue
    backends for virtio-net only."""
    return [(card, backend) for backend in backends for card in cards
            if backend not in VIRTIO_ONLY or card == "virtio-net-pci"]


def boots(legs):
    """The legs in boots of their own: the single-queue PCI legs in one,
    the multiqueue legs (which need -smp 2) in another, so that the others
    keep the one-CPU guest their figures have always had, and the ISA legs
    in a 686 guest's."""
    return [g for g in ([leg for leg in legs if not leg.mq and not leg.isa],
                        [leg for leg in legs if leg.mq],
                        [leg for leg in legs if leg.isa]) if g]


GUEST = r"""#VMMKIT-SCRIPT
dmesg -n 1
%(carry_fn)s%(iface_fn)sstream() {  # stream HOST PORT [CPUS]: one run's $blocks to the sink, on CPUS (a taskset mask)
	# dd writes the socket itself (nc -e), 64 KiB a write as a bulk sender
	# does: busybox nc copies a pipe in 1 KiB writes (docs/bench.md)
	if [ -n "$3" ]; then
		taskset $3 timeout $tmo nc $1 $2 -e dd if=/dev/zero bs=64k count=$blocks 2>/dev/null
	else
		timeout $tmo nc $1 $2 -e dd if=/dev/zero bs=64k count=$blocks 2>/dev/null
	fi
}
qirqs() {  # qirqs K IFACE WHEN: the interrupts of each queue of IFACE's virtio device
	d=$(readlink /sys/class/net/$2/device); d=${d##*/}
	grep -E "$d-(input|output)\.[0-9]+\$" /proc/interrupts | while read -r n rest; do
		s=0; for x in $rest; do case $x in *[!0-9]*) ;; *) s=$((s + x));; esac; done
		echo "bench leg $1 irqs $3 ${rest##*-} $s"
	done
}
leg() {  # leg K MAC ADDRESS HOST PORT [PORT2]: with PORT2, two streams pinned to CPU 0 and 1
	i=$(iface_of $2)
	[ -n "$i" ] || { echo "bench leg $1 no interface with $2"; return; }
	drv=$(readlink /sys/class/net/$i/device/driver)
	echo "bench leg $1 iface=$i driver=${drv##*/}"
	[ -z "$6" ] || echo "bench leg $1 queues $(ls /sys/class/net/$i/queues | tr '\n' ' ')"
	[ -z "$6" ] || qirqs $1 $i before
	ip addr add $3/24 dev $i
	ip link set $i up
	k=0; until ping -c 1 -W 1 $4 >/dev/null 2>&1; do k=$((k+1)); [ $k -ge 30 ] && break; sleep 1; done
	r=0
	# a line every 30 s: a slow or stuck stream is not a silent (hung) guest
	( while sleep 30; do echo "bench leg $1 still streaming"; done ) & beat=$!
	while [ $r -lt %(runs)d ]; do
		if [ -n "$6" ]; then
			stream $4 $5 1 & s0=$!
			stream $4 $6 2 & s1=$!
			ok=1; wait $s0 || ok=0; wait $s1 || ok=0
			[ $ok = 1 ] || { echo "bench leg $1 run $r failed"; break; }
		else
			stream $4 $5 || { echo "bench leg $1 run $r failed"; break; }
		fi
		r=$((r + 1))
	done
	kill $beat
	echo "bench leg $1 streamed $r"
	[ -z "$6" ] || qirqs $1 $i after
	# request/response: echo round trips, each sent when the last came
	# back; the L1's watcher reads its KVM counters at each "kvm" line
	# (an idle pause first, for the rate to take off)
	echo "bench leg $1 kvm idle"; sleep 3
	echo "bench leg $1 kvm ping"; sleep 1
	p=$(ping -c %(pings)d -A -w 60 $4 2>/dev/null)
	echo "bench leg $1 kvm done"; sleep 2  # the VM (and its counters) outlive the reading
	rt=$(echo "$p" | grep round-trip); n=$(echo "$p" | grep -o '[0-9]* packets received')
	echo "bench leg $1 rtt ${rt#*= } received ${n%%%% *}"
	ip addr flush dev $i
	ip link set $i down
}
%(carry)s%(legs)secho "bench net done"
"""


def guest_script(legs, runs, size_mb):
    carry = sorted({nic_models.CARRIED[leg.kind] for leg in legs
                    if leg.kind in nic_models.CARRIED and not leg.isa})
    isa = [ISA_SLOTS[leg.isa_slot] for leg in legs if leg.isa]
    if isa:  # one `ne` for every ISA card, each at its own port and IRQ
        carry.append("ne io=%s irq=%s" % (",".join(io for io, _ in isa),
                                          ",".join(str(irq) for _, irq in isa)))
    return GUEST % {
        "carry_fn": nic_models.CARRY_SH, "iface_fn": nic_models.IFACE_SH,
        "runs": runs, "pings": PINGS,
        "carry": "".join("carry %s\n" % c for c in carry),
        # each leg's stream size (64 KiB blocks) and timeout, then the leg
        "legs": "".join("blocks=%d tmo=%d\nleg %d %s %s %s %s\n" % (
            round(leg.mb(size_mb) * 16), round(60 + leg.mb(size_mb) * STREAM_S_PER_MB),
            leg.k, leg.mac, leg.ip, leg.host, " ".join(map(str, leg.ports))) for leg in legs)}


def budget(legs, runs, size_mb):
    """Seconds for one boot and every leg at 1/4 of the stuck-card rate."""
    return BOOT_S + sum(40 + runs * round(60 + leg.streams * leg.mb(size_mb) * STREAM_S_PER_MB)
                        // 4 for leg in legs)


def vmm_argv(vmm, legs, script, cpu):
    # The same -cpu and the same explicit devices for both VMMs
    # (-nodefaults); -no-reboot: a guest reset ends the run instead of
    # running the script a second time.
    extra = ["-no-reboot", "-drive", "file=%s,if=virtio" % script]
    if any(leg.mq for leg in legs):
        extra += ["-smp", str(MQ_PAIRS)]
    for leg in legs:
        extra += leg.args()
    kit = "kit-686.iso" if any(leg.isa for leg in legs) else "kit-amd64.iso"
    return guestkit.vmm_argv(vmm, 256, cdrom=guestkit.kit(kit), cpu=cpu,
                             nodefaults=True, extra=extra)


def kvm_watch_script():
    """Shell lines writing $d/kvmwatch, the L1's watcher: for every "bench
    leg K kvm MARK" line of the guest's console (in $d/vmm.log, read as it
    grows, so a leg that printed none holds up no other), one line "kvm K
    MARK UPTIME NAME:VALUE..." of the running VM's KVM_COUNTERS (debugfs:
    one VM runs at a time). The log is emptied first: a retried command's
    directory holds the failed attempt's."""
    return "\n".join([
        ': > "$d/vmm.log"',
        "cat > \"$d/kvmwatch\" <<'KVMWATCH'",
        'd=$1; cr=$(printf "\\r")',
        'mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug',
        'echo watching',
        'tail -n +1 --pid=$$ -f "$d/vmm.log" | while IFS= read -r l; do',
        '  l=${l%"$cr"}',
        '  case "$l" in *"bench leg "*" kvm "*) ;; *) continue;; esac',
        '  set -- ${l#*bench leg }',
        '  read -r up rest < /proc/uptime',
        '  vm=$(ls -d /sys/kernel/debug/kvm/*-* 2>/dev/null | head -n 1)',
        '  c=$( [ -n "$vm" ] && cd "$vm" && grep -H . %s | tr "\\n" " ")' % " ".join(KVM_COUNTERS),
        '  echo "kvm $1 $3 $up $c"',
        'done',
        'KVMWATCH']) + "\n"


def run_shell(name, vmm_cmd, legs, runs, seconds):
    """The L1 command that runs the VMM command line vmm_cmd with the sink
    (a port per stream of a run), in a network namespace with the bridge when a leg
    is on tap (nic_models.netns_shell)."""
    tap = any(leg.backend in TAP_BACKENDS for leg in legs)
    sink = "/usr/bin/python3 %s --times 0.0.0.0 %s %d" % (
        os.path.join(HERE, "net_sink.py"),
        ",".join(str(p) for leg in legs for p in leg.ports), runs)
    return nic_models.netns_shell(name, vmm_cmd, [(sink, "listening"),
                                                  ('sh "$d/kvmwatch" "$d"', "watching")],
                                  seconds, tap_host=BACKENDS["tap"][1] if tap else None,
                                  setup=kvm_watch_script())


def command(batch, vmm, legs, runs, size_mb, cpu="host", attempt=1):
    """Queues vmm's boot with the legs; returns its name."""
    name = "%s-nics" % vmm + ("-mq" if any(leg.mq for leg in legs) else "") + (
        "-isa" if any(leg.isa for leg in legs) else "") + (
        "" if attempt == 1 else "-%d" % attempt)
    script = batch.stage_bytes("%s-script.img" % name,
                               guestkit.script_image(guest_script(legs, runs, size_mb)))
    seconds = budget(legs, runs, size_mb)
    shell = run_shell(name, nic_models.shell_argv(vmm_argv(vmm, legs, script, cpu)), legs,
                      runs, seconds)
    # The console streams out, so the harness sees a hung guest (idle) or a
    # spurious reset (flake signs) and retries.
    batch.add(name, shell, timeout=seconds + 60, marker="@@nic-run-end", grace=5,
              idle=guestkit.BOOT_IDLE, retries=1, flake_signs=guestkit.BOOT_FLAKE_SIGNS,
              signs_after=nic_models.WHOLE_VMM_LOG)
    return name


RUN = re.compile(r"^@@run (\d+) ([\d.]+) (\d+)(?:.* at=([\d.]+))?", re.M)
RTT = re.compile(r"bench leg (\d+) rtt ([\d.]+)/([\d.]+)/([\d.]+) ms")
LEG = re.compile(r"bench leg (\d+) iface=\S+ driver=(\S*)")
QUEUES = re.compile(r"bench leg (\d+) queues ([^\n]*)")
QIRQS = re.compile(r"bench leg (\d+) irqs (before|after) ((?:input|output)\.\d+) (\d+)")


def parse(stdout, legs):
    """{leg number: [{"bytes", "seconds", "mb_s"}]} from the sink's log and
    {leg number: driver} from the guest's, of one command's output. A
    multiqueue leg's run is its streams taken together: the n-th stream
    of each of its ports, their bytes over the time from the first one's
    first byte to the last one's end; a multiqueue leg whose guest
    listed fewer than two queue pairs has no runs."""
    queues = parse_queues(stdout)
    by_port = {p: leg for leg in legs for p in leg.ports}
    streams = {p: [] for p in by_port}
    for m in RUN.finditer(nic_models.log(stdout, "service0")):
        nbytes, seconds, port = int(m.group(1)), float(m.group(2)), int(m.group(3))
        if port in by_port and seconds > 0:
            at = float(m.group(4)) if m.group(4) else 0.0
            streams[port].append((nbytes, at, at + seconds, seconds))
    runs = {}
    for leg in legs:
        runs[leg.k] = []
        if leg.mq and len(queues.get(leg.k, [])) < 2 * MQ_PAIRS:
            continue  # not a multiqueue figure
        for together in zip(*(streams[p] for p in leg.ports)):
            if leg.mq and not all(x[1] for x in together):
                continue  # a sink without --times: no common time line
            nbytes = sum(x[0] for x in together)
            seconds = (max(x[2] for x in together) - min(x[1] for x in together)
                       if leg.mq else together[0][3])
            run = {"bytes": nbytes, "seconds": seconds, "mb_s": nbytes / seconds / 1e6}
            if leg.mq:
                run["streams"] = [{"bytes": x[0], "seconds": x[3]} for x in together]
            runs[leg.k].append(run)
    drivers = {int(m.group(1)): m.group(2)
               for m in LEG.finditer(nic_models.log(stdout, "vmm").replace("\r", ""))}
    return runs, drivers


def parse_queues(stdout):
    """{leg number: [the queues of its interface in sysfs]} of the
    multiqueue legs, as the guest listed them (rx-0 rx-1 tx-0 tx-1)."""
    return {int(m.group(1)): m.group(2).split()
            for m in QUEUES.finditer(nic_models.log(stdout, "vmm").replace("\r", ""))}


def parse_queue_irqs(stdout):
    """{leg number: {queue such as "output.1": interrupts during the
    leg's streams}} of the multiqueue legs: which queues carried them."""
    seen = {}
    for m in QIRQS.finditer(nic_models.log(stdout, "vmm").replace("\r", "")):
        seen.setdefault(int(m.group(1)), {}).setdefault(m.group(3), {})[m.group(2)] = \
            int(m.group(4))
    return {k: {q: w["after"] - w["before"] for q, w in sorted(by_q.items())
                if set(w) == {"before", "after"}}
            for k, by_q in seen.items()}


KVM_SNAP = re.compile(r"^kvm (\d+) (idle|ping|done) ([\d.]+) ?(.*)$", re.M)
RECEIVED = re.compile(r"bench leg (\d+) rtt .* received (\d+)")


def parse_kvm(stdout):
    """{leg number: {counter: per round trip}} from the watcher's log: the
    counters' growth over the pings, less the idle pause's rate over the
    same time, over the replies the guest's ping received; a leg missing a
    reading, a counter or its replies has none."""
    received = {int(m.group(1)): int(m.group(2))
                for m in RECEIVED.finditer(nic_models.log(stdout, "vmm").replace("\r", ""))}
    snaps = {}
    for m in KVM_SNAP.finditer(nic_models.log(stdout, "service1")):
        values = dict((kv.split(":", 1)[0], int(kv.split(":", 1)[1]))
                      for kv in m.group(4).split() if re.match(r"^\w+:\d+$", kv))
        snaps.setdefault(int(m.group(1)), {})[m.group(2)] = (float(m.group(3)), values)
    out = {}
    for k, at in snaps.items():
        if set(at) != {"idle", "ping", "done"} or at["ping"][0] <= at["idle"][0] or \
                not received.get(k):
            continue
        (t0, idle), (t1, ping), (t2, done) = at["idle"], at["ping"], at["done"]
        if not all(c in v for v in (idle, ping, done) for c in KVM_COUNTERS):
            continue
        out[k] = {c: ((done[c] - ping[c]) - (ping[c] - idle[c]) / (t1 - t0) * (t2 - t1))
                  / received[k] for c in KVM_COUNTERS}
    return out


def parse_rtt(stdout):
    """{leg number: {"min", "avg", "max"}} in ms, from the guest's ping -A
    lines (PINGS ICMP echo round trips after the leg's streams)."""
    return {int(m.group(1)): dict(zip(("min", "avg", "max"), map(float, m.group(2, 3, 4))))
            for m in RTT.finditer(nic_models.log(stdout, "vmm").replace("\r", ""))}


def settle(legs, got, runs, size_mb):
    """Which legs of one pass count. got: {vmm: {leg number: [runs]}}.
    Returns ({leg number: {vmm: runs}} of the legs every VMM streamed RUNS
    times in full, [legs to run again], [why each was discarded])."""
    done, again, why = {}, [], []
    for leg in legs:
        bad = []
        for vmm, by_leg in got.items():
            full = [r for r in by_leg.get(leg.k, [])
                    if r["bytes"] == leg.streams * round(leg.mb(size_mb) * (1 << 20))]
            if len(full) != runs or len(by_leg.get(leg.k, [])) != runs:
                bad.append("%s: %d complete runs of %d" % (vmm, len(full), runs))
        if bad:
            again.append(leg)
            why.append("%s: %s" % (leg.key, "; ".join(bad)))
        else:
            done[leg.k] = {vmm: by_leg[leg.k] for vmm, by_leg in got.items()}
    return done, again, why


def again_of(legs, runs, a):
    """The legs of one VMM's boot that it did not stream in full."""
    return settle(legs, {"one": runs}, a.runs, a.size_mb)[1]


def _mb_s(figures, vmm, key):
    return [x["mb_s"] for x in figures.get(key, {}).get("runs", {}).get(vmm, [])]


def best(figures, vmm, key):
    v = _mb_s(figures, vmm, key)
    return max(v) if v else None


def median(figures, vmm, key):
    v = _mb_s(figures, vmm, key)
    return statistics.median(v) if v else None


def rows(keys, figures, pick=best):
    """[(card, backend, vmm MB/s or None, qemu MB/s or None, ratio or None)],
    each VMM's figure its runs' best (or pick's)."""
    out = []
    for card, backend in keys:
        key = "%s/%s" % (card, backend)
        v, q = pick(figures, "vmm", key), pick(figures, "qemu", key)
        out.append((card, backend, v, q, v / q if v and q else None))
    return out


def rtt_rows(keys, figures):
    """[(card, backend, vmm avg ms or None, qemu avg ms or None, qemu/vmm or None)]:
    the ratio is QEMU's time over vmm's, so above 1 is vmm ahead."""
    out = []
    for card, backend in keys:
        r = figures.get("%s/%s" % (card, backend), {}).get("rtt_ms", {})
        v, q = ((r.get(x) or {}).get("avg") for x in ("vmm", "qemu"))
        out.append((card, backend, v, q, q / v if v and q else None))
    return out


def rtt_table(keys, figures):
    def num(x, f="%.3f"):
        return f % x if x else "n/a"
    lines = ["%-16s %-8s %10s %10s %8s   (ms, mean of %d ping -A round trips; ratio qemu/vmm)"
             % ("card", "backend", "vmm", "qemu", "ratio", PINGS)]
    for card, backend, v, q, ratio in rtt_rows(keys, figures):
        lines.append("%-16s %-8s %10s %10s %8s" % (card, backend, num(v), num(q),
                                                  num(ratio, "%.2f")))
    return "\n".join(lines)


KVM_COLUMNS = (("exits", "exits"), ("irq_injections", "irqs"), ("halt_exits", "halts"),
               ("insn_emulation", "emulated"))


def kvm_table(keys, figures):
    """The L1 KVM's counts per round trip, vmm / QEMU, of each leg."""
    def num(x):
        return "%.2f" % x if x is not None else "n/a"
    lines = ["%-16s %-8s " % ("card", "backend") + " ".join("%15s" % h for _, h in KVM_COLUMNS)
             + "   (the L1 KVM's counts per round trip, vmm / qemu)"]
    for card, backend in keys:
        per = figures.get("%s/%s" % (card, backend), {}).get("kvm_per_rtt", {})
        cells = ["%15s" % ("%s / %s" % (num((per.get("vmm") or {}).get(c)),
                                        num((per.get("qemu") or {}).get(c))))
                 for c, _ in KVM_COLUMNS]
        lines.append("%-16s %-8s " % (card, backend) + " ".join(cells))
    return "\n".join(lines)


def table(keys, figures, runs, size_mb, ne2000_mb, pick=best):
    """The MB/s table; pick=median for the runs' medians, which a single
    lucky or unlucky run moves less than the best (the nested L1's
    streams vary by up to 2x from run to run)."""
    def num(x, f="%.2f"):
        return f % x if x else "n/a"
    lines = ["%-16s %-8s %10s %10s %8s   (MB/s, %s of %d x %g MiB, the NE2000s' %g MiB; "
             "multiqueue: %d streams at once)"
             % ("card", "backend", "vmm", "qemu", "ratio", pick.__name__, runs, size_mb,
                ne2000_mb, MQ_PAIRS)]
    for card, backend, v, q, ratio in rows(keys, figures, pick):
        lines.append("%-16s %-8s %10s %10s %8s" % (card, backend, num(v), num(q), num(ratio)))
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", default=",".join(CARDS),
                    help="QEMU model names, comma-separated (default: %(default)s)")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--runs", type=int, default=3)
    # a fraction of a MiB in 64 KiB steps (0.25: the NE2000 legs, which
    # QEMU streams at ~6 KB/s in the nested L1)
    ap.add_argument("--size-mb", type=float, default=8)
    ap.add_argument("--ne2000-size-mb", type=float, default=0.25,
                    help="MiB per stream of the NE2000 legs (default %(default)s)")
    ap.add_argument("--vmms", default="vmm,qemu")
    ap.add_argument("--cpu", default="host", help="-cpu for both VMMs (default host)")
    ap.add_argument("--max-passes", type=int, default=3,
                    help="L1 boots at most per VMM for every leg to be complete (default 3)")
    ap.add_argument("--json")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless every VMM gave a figure for every card and backend")
    ap.add_argument("--print", action="store_true",
                    help="print vmm's command line and the guest script, run nothing")
    a = ap.parse_args(argv)
    a.cards = [c for c in a.cards.split(",") if c]
    a.backends = [b for b in a.backends.split(",") if b]
    a.vmms = [v for v in a.vmms.split(",") if v]
    for what, given, known in (("card", a.cards, CARDS), ("backend", a.backends, BACKENDS),
                               ("vmm", a.vmms, ("vmm", "qemu"))):
        bad = [x for x in given if x not in known]
        if bad or not given or len(set(given)) != len(given):
            ap.error("--%ss: %s (one or more of %s, each once)"
                     % (what, ",".join(bad) or "none given twice", ",".join(known)))
    for what in ("runs", "max_passes"):
        if getattr(a, what) < 1:
            ap.error("--%s must be at least 1" % what.replace("_", "-"))
    for what in ("size_mb", "ne2000_size_mb"):
        mb = getattr(a, what)
        if mb < 1 / 16 or mb * 16 != int(mb * 16):
            ap.error("--%s must be a multiple of 1/16 (64 KiB blocks)" % what.replace("_", "-"))
        if mb == int(mb):
            setattr(a, what, int(mb))
    return a


class _PrintBatch:
    def stage_bytes(self, name, data=b""):
        return "STAGED/" + name

    def add(self, name, cmd, **kw):
        print("%s (timeout %d s):\n%s" % (name, kw["timeout"], cmd))


def main(argv=None):
    a = parse_args(argv)
    keys = plan(a.cards, a.backends)
    if a.print:
        for group in boots(legs_of(keys, a.ne2000_size_mb)):
            command(_PrintBatch(), "vmm", group, a.runs, a.size_mb, a.cpu)
            print(guest_script(group, a.runs, a.size_mb))
        return 0
    import nested
    missing = guestkit.kit_missing() or next(
        (guestkit.vmm_missing(v) for v in a.vmms if guestkit.vmm_missing(v)), None)
    if missing:
        print("nics bench: %s" % missing, file=sys.stderr)
        return 2
    figures, discarded = {}, []
    todo = list(keys)
    for attempt in range(1, a.max_passes + 1):
        if not todo:
            break
        legs = legs_of(todo, a.ne2000_size_mb)
        # one L1: the VMMs take turns, so one's streams never share the
        # host's CPUs with the other's (two L1s ran them side by side)
        batch = nested.Batch(l1s=1)
        groups = boots(legs)
        names = {(vmm, g): command(batch, vmm, group, a.runs, a.size_mb, a.cpu, attempt)
                 for g, group in enumerate(groups) for vmm in a.vmms}
        results = batch.run()
        got = {vmm: {} for vmm in a.vmms}
        drivers, rtts, queues, qirqs, kvm = ({vmm: {} for vmm in a.vmms} for _ in range(5))
        for (vmm, g), name in names.items():
            group = groups[g]
            runs, bound = parse(results[name].stdout, group)
            got[vmm].update(runs)
            drivers[vmm].update(bound)
            rtts[vmm].update(parse_rtt(results[name].stdout))
            kvm[vmm].update(parse_kvm(results[name].stdout))
            queues[vmm].update(parse_queues(results[name].stdout))
            qirqs[vmm].update(parse_queue_irqs(results[name].stdout))
            if any(leg in again_of(group, runs, a) for leg in group):
                print(results[name].describe(), file=sys.stderr)
        done, again, why = settle(legs, got, a.runs, a.size_mb)
        for w in why:
            print("nics bench: pass %d discarded for every VMM: %s" % (attempt, w),
                  file=sys.stderr)
            discarded.append("pass %d: %s" % (attempt, w))
        for leg in legs:
            if leg.k in done:
                figures[leg.key] = {"runs": done[leg.k],
                                    "driver": {v: drivers[v].get(leg.k) for v in a.vmms},
                                    "rtt_ms": {v: rtts[v].get(leg.k) for v in a.vmms},
                                    "kvm_per_rtt": {v: kvm[v].get(leg.k) for v in a.vmms}}
                if leg.mq:
                    figures[leg.key]["guest_queues"] = {v: queues[v].get(leg.k) for v in a.vmms}
                    figures[leg.key]["queue_irqs"] = {v: qirqs[v].get(leg.k) for v in a.vmms}
                    # each pair's transmit queue interrupts when its completions
                    # are reaped: one that did not carried no stream
                    idle = {v: [q for q in ("output.%d" % p for p in range(MQ_PAIRS))
                                if not (qirqs[v].get(leg.k) or {}).get(q)] for v in a.vmms}
                    for v, qs in idle.items():
                        if qs:
                            print("nics bench: %s: %s's guest had no interrupts on %s during "
                                  "the streams" % (leg.key, v, ", ".join(qs)), file=sys.stderr)
                wrong = [v for v in a.vmms if drivers[v].get(leg.k) != leg.driver]
                if wrong:
                    print("nics bench: %s: the guest bound %s, not %s"
                          % (leg.key, {v: drivers[v].get(leg.k) for v in wrong}, leg.driver),
                          file=sys.stderr)
        todo = [(leg.card, leg.backend) for leg in again]

    print(table(keys, figures, a.runs, a.size_mb, a.ne2000_size_mb))
    print(table(keys, figures, a.runs, a.size_mb, a.ne2000_size_mb, pick=median))
    print(rtt_table(keys, figures))
    print(kvm_table(keys, figures))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump({"size_mb": a.size_mb, "ne2000_size_mb": a.ne2000_size_mb,
                       "runs": a.runs, "cpu": a.cpu,
                       "discarded_passes": discarded, "figures": figures}, fh, indent=1)
    unmeasured = ["%s over %s" % (card, backend) for card, backend, v, q, _ in rows(keys, figures)
                  if not v or ("qemu" in a.vmms and not q)]
    if a.strict and unmeasured:
        print("NOT MEASURED (--strict): " + ", ".join(unmeasured))
        return 1
    # only vmm's own failure fails the bench without --strict
    return 1 if "vmm" in a.vmms and any(v is None for _, _, v, _, _ in rows(keys, figures)) else 0


if __name__ == "__main__":
    sys.exit(main())
