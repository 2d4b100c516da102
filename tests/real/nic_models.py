# SPDX-License-Identifier: GPL-2.0-or-later
"""The emulated NIC models as the kit's Linux sees them, shared by the
real-guest NIC tests (test_nics.py, test_nics_tap.py, test_nics_tap_pair.py)
and the per-card network bench (tools/bench/nics.py): each kind's PCI ID
and driver, the vmm model and properties behind a kind, the drivers the
kit carries instead of loading them, and the guest shell functions that
load such a driver and find a card's interface by its address; and the L1
commands that run one VMM with its cards on tap in a network namespace,
or two VMMs whose taps share bridges there (test_virtio_net_tap.py too)."""
import shlex

# kind -> (PCI vendor:device, or "isa", as the guest prints it; Linux driver)
MODELS = {
    "virtio-net-pci": ("1af4:0001", "virtio_net"),  # the virtio device (net), not the PCI function
    "e1000": ("8086:100e", "e1000"),
    "e1000-82544gc": ("8086:100c", "e1000"),
    "e1000-82545em": ("8086:100f", "e1000"),
    "rtl8139": ("10ec:8139", "8139too"),
    "rtl8139-cplus": ("10ec:8139", "8139cp"),
    "ne2k_pci": ("10ec:8029", "ne2k-pci"),
    "ne2k_isa": ("isa", "ne"),
    "pcnet": ("1022:2000", "pcnet32"),
}
# kinds that are not a vmm model name: kind -> (model, its properties)
DEVICE = {
    "rtl8139": ("rtl8139", "cplus=off"),
    "rtl8139-cplus": ("rtl8139", ""),
    "ne2k_isa": ("ne2k_isa", "iobase=0x300,irq=5"),
}
NIC_MODEL = {"virtio-net-pci": "virtio"}  # the -nic/-net model= name where it differs
# drivers the kit carries instead of loading them: kind -> the script's
# `carry NAME ARGS` (8139cp would take other tests' C+ cards, ne probes
# without io=)
CARRIED = {"rtl8139-cplus": "8139cp", "ne2k_isa": "ne io=0x300 irq=5"}
# The PCI cards QEMU has too, as QEMU's default properties make them: the
# RTL8139 is the C+ one (8139cp).
PCI_KINDS = ("virtio-net-pci", "e1000", "e1000-82544gc", "e1000-82545em", "rtl8139-cplus",
             "ne2k_pci", "pcnet")


def model_of(kind):
    return DEVICE.get(kind, (kind, ""))[0]


def props_of(kind):
    return DEVICE.get(kind, (kind, ""))[1]


# Guest shell functions (no '%': the scripts that hold them are %-formatted
# after the functions are put in).
CARRY_SH = r"""carry() {  # carry NAME [ARGS]: insmod a carried module, its dependencies first
	files=$(sed -n "s/^$1://p" /etc/vmmkit/modules.carry-deps)
	[ -n "$files" ] || { echo "carry $1: not in the kit"; return 1; }
	shift
	for f in $files; do
		[ "$f" = "${files##* }" ] && break
		insmod /lib/modules/$f 2>/dev/null
	done
	insmod /lib/modules/${files##* } "$@" || echo "carry ${files##* }: insmod failed"
}
"""
IFACE_SH = r"""iface_of() {  # iface_of MAC: the interface with that address, or nothing
	for n in /sys/class/net/*; do
		[ "$(cat $n/address)" = "$1" ] && { echo ${n##*/}; return; }
	done
}
card_iface() {  # card_iface K MAC: card K's interface in $i, and its line
	i=$(iface_of $2)
	[ -n "$i" ] || { echo "nic $1 no interface with $2"; return 1; }
	n=/sys/class/net/$i
	pci=$(cut -c3- $n/device/vendor 2>/dev/null):$(cut -c3- $n/device/device 2>/dev/null)
	[ "$pci" = : ] && pci=isa
	drv=$(readlink $n/device/driver)
	echo "nic $1 iface=$i pci=$pci driver=${drv##*/}"
}
"""
assert "%" not in CARRY_SH + IFACE_SH


# ---- the host side in the L1: tap cards on a bridge in a network namespace ----

TAP_IFUP = "ip link set \"$1\" master br0 && ip link set \"$1\" up"


def shell_argv(argv):
    """A command line for the shell, every word quoted but those that name
    a file in the run's directory ("$d/...", expanded by the shell)."""
    return " ".join(a if "$d/" in a else shlex.quote(a) for a in argv)


def netns_shell(name, vmm_cmd, services, budget, tap_host=None, setup="",
                stream_services=True):
    """A shell command for the real-guest harness that runs the VMM command
    line `vmm_cmd` (shell_argv) with its host side, in $d (a directory of
    its own, `name`).

    tap_host: an address: everything runs in a fresh network namespace
    with a bridge br0 holding tap_host/24 and $d/ifup putting a tap on it
    (-netdev tap,script=$d/ifup), and its own loopback for user networking
    (slirp's 10.0.2.2); None: in the L1's own namespace. setup: shell lines
    run first, in $d (not in the namespace). services: [(shell command,
    text its log shows once it is ready)], started in order before the
    VMM, each waited for up to 10 s. The guest console streams out as it
    comes (a silent guest is a hung one to the harness); the VMM gets
    `budget` seconds to reach VMMKIT-DONE. The VMM's log, and with
    stream_services the services' too, stream out as they grow (tail -f: a
    silent run is a hung one to the harness, and a slow stream's progress
    lines keep it from looking so), interleaved and broken by tail's
    headers when there are several; whole, after the run, in
    sections that log() reads: "@@vmm rc=N", "@@log vmm" and the VMM's
    log, "@@log serviceK" and service K's, with a tap_host "@@log ifup"
    and a line "ifup NAME" for each tap the ifup script put on the bridge,
    then "@@nic-run-end"."""
    wrap = "ip netns exec $ns " if tap_host else ""
    lines = ['set -u', 'd="${TMPDIR:-/tmp}/%s"; mkdir -p "$d"; ns=vmmnic$$; cd "$d"' % name,
             'ip link set lo up 2>/dev/null']
    if tap_host:
        lines += [
            # the ifup script logs each tap it put on the bridge
            "printf '#!/bin/sh\\n%s && echo \"ifup $1\" >> \"%%s\"\\n' \"$d/ifup.log\" "
            "> \"$d/ifup\"; "
            "chmod +x \"$d/ifup\"; : > \"$d/ifup.log\"" % TAP_IFUP,
            'ip netns add $ns && ip netns exec $ns sh -c "ip link set lo up && '
            'ip link add br0 type bridge && ip link set br0 up && ip addr add %s/24 dev br0"'
            ' || echo "@@fail netns"' % tap_host]
    if setup:
        lines.append(setup.rstrip("\n"))
    pids = []
    for k, (cmd, ready) in enumerate(services):
        lines += ['%s%s > "$d/service%d.log" 2>&1 < /dev/null & sp%d=$!' % (wrap, cmd, k, k),
                  'i=0; while [ $i -lt 100 ] && ! grep -q %s "$d/service%d.log"; do '
                  'sleep 0.1; i=$((i+1)); done' % (shlex.quote(ready), k)]
        pids.append("$sp%d" % k)
    lines += [
        '%s%s > "$d/vmm.log" 2>&1 < /dev/null & vp=$!' % (wrap, vmm_cmd),
        'tail -n +1 -f "$d/vmm.log" %s & tp=$!' % " ".join(
            '"$d/service%d.log"' % k for k in range(len(services)) if stream_services),
        # bounded by the clock: each turn of the loop is slow in the L1
        'end=$(( $(date +%%s) + %d ))' % budget,
        'while [ $(date +%s) -lt $end ] && kill -0 $vp 2>/dev/null && '
        '! grep -q VMMKIT-DONE "$d/vmm.log"; do sleep 1; done',
        'i=0; while [ $i -lt 10 ] && kill -0 $vp 2>/dev/null; do sleep 1; i=$((i+1)); done',
        'kill $vp 2>/dev/null; wait $vp; echo "@@vmm rc=$?"',
        'sleep 1; kill $tp %s 2>/dev/null; wait %s 2>/dev/null' % (" ".join(pids), " ".join(pids)),
    ]
    if tap_host:
        lines.append("ip netns del $ns")
    for log in ["vmm"] + ["service%d" % k for k in range(len(services))] + (
            ["ifup"] if tap_host else []):
        lines.append('echo; echo "@@log %s"; cat "$d/%s.log"' % (log, log))
    lines.append('echo "@@nic-run-end"')
    return "\n".join(lines) + "\n"


# Where a netns_shell command's output prints the VMM's log whole: the
# flake signs are looked for after it (Batch.add signs_after), as the
# console streamed before it is the same text again.
WHOLE_VMM_LOG = "\n@@log vmm\n"


def log(stdout, name):
    """The log `name` ("vmm", "service0", ...) of a netns_shell command's
    output, whole ("" if none)."""
    out = stdout.replace("\r", "")
    head = "\n@@log %s\n" % name
    if head not in out:
        return ""
    text = out.split(head, 1)[1]
    for mark in ("\n@@log ", "\n@@nic-run-end"):
        text = text.split(mark, 1)[0]
    return text


# ---- two VMMs on taps of bridges in a network namespace ----

PAIR_DONE = "@@pair-done"


def pair_shell(name, a_cmd, b_cmd, budget, bridges, tap_bridge, marks=(), setup="",
               watch="", after=""):
    """A shell command for the real-guest harness that runs two VMM command
    lines (shell_argv) in one fresh network namespace, in $d (a directory
    of its own, `name`): B first, A once B's kit is up.

    bridges: [(bridge, "ADDR/LEN" or None)], made up in the namespace.
    tap_bridge: a shell word that names the bridge of the tap "$1" (the
    VMMs' -netdev tap,script=$d/ifup,downscript=$d/ifdown); the scripts
    log "ifup TAP" and "ifdown TAP". marks: text whose first appearance in
    a VM's console prints a "@@progress" line (the harness sees how far
    each got). setup: shell lines run in $d before B starts (not in the
    namespace). watch: shell lines run once a second while the VMs run
    ($pa, $pb their PIDs). after: shell lines run after both ended.
    budget: seconds from B's start until both VMs are stopped.

    Prints "@@still running PID: SIGTERM" for a VMM that had not ended
    by itself 30 s after the loop (vmm exits 0 on SIGTERM too), "@@rc a=N",
    "@@rc b=N", "@@slaves_left N" (taps still on a bridge after the VMMs
    exited), "@@script ifup TAP" per script run, the `after` output, then
    "@@VM-A" and A's console and log, "@@VM-B" and B's, and last PAIR_DONE
    when both consoles reached VMMKIT-DONE (the harness's marker: without
    it, an L1 trace of the L1's own fault makes the attempt the
    environment's)."""
    made = " && ".join(
        "ip link add %s type bridge && ip link set %s up%s"
        % (br, br, " && ip addr add %s dev %s" % (addr, br) if addr else "")
        for br, addr in bridges)
    checks = " ".join(shlex.quote(m) for m in tuple(marks) + ("VMMKIT-DONE",))
    return r"""set -u
d="${TMPDIR:-/tmp}/%(name)s"; mkdir -p "$d"; ns=vmmpair$$
printf '#!/bin/sh\nip link set "$1" master %(tap_bridge)s && ip link set "$1" up && echo "ifup $1" >> "%%s"\n' "$d/scripts.log" > "$d/ifup"
printf '#!/bin/sh\necho "ifdown $1" >> "%%s"\n' "$d/scripts.log" > "$d/ifdown"
chmod +x "$d/ifup" "$d/ifdown"; : > "$d/scripts.log"
%(setup)s
ip netns add $ns || { echo "@@fail netns add"; exit 1; }
ip netns exec $ns sh -c "ip link set lo up && %(made)s" || echo "@@fail bridge"
# One boot at a time: B first, A once B's kit is up. Three times in 2026-12
# (runs of the whole layer) the second of two VMs booting together in the
# L1 got stuck in ISOLINUX's kernel load or stopped there with a KVM
# emulation failure at a garbage address, while the first ran on; no VM
# booting alone has shown that. Two L2 guests at once in an L1 that is TCG
# emulating SVM is the suspect (docs/testing.md); the tests are about the
# tap path, which still carries both VMs' traffic at once.
# vmm's own lines go to a file of their own: written into the console's
# file they once split a guest line in two (vmm may log at moments the
# guest cannot predict), and a test lost that line.
# Bounded by the clock, not by a count of loop turns: in a slow L1 each
# turn costs far more than its sleep. B's boot counts too, so that the
# consoles are printed before the harness's own time limit.
end=$(( $(date +%%s) + %(budget)d )); seen=""
ip netns exec $ns %(b)s > "$d/b.log" 2> "$d/b.err" < /dev/null & pb=$!
i=0; while [ $i -lt 150 ] && kill -0 $pb 2>/dev/null && ! grep -q VMMKIT-READY "$d/b.log"; do sleep 1; i=$((i+1)); done
echo "@@b ready after ${i}s"
ip netns exec $ns %(a)s > "$d/a.log" 2> "$d/a.err" < /dev/null & pa=$!
echo "@@started a=$pa b=$pb"
while [ $(date +%%s) -lt $end ]; do
  now=""
  for v in a b; do
    for m in %(checks)s; do grep -q "$m" "$d/$v.log" && now="$now $v:$m"; done
  done
  [ "$now" != "$seen" ] && { echo "@@progress $(( $(date +%%s) - end + %(budget)d ))s$now"; seen="$now"; }
%(watch)s
  grep -q VMMKIT-DONE "$d/a.log" && grep -q VMMKIT-DONE "$d/b.log" && break
  # A VM that ended without its final marker (a reset under -no-reboot, a
  # crash) leaves its peer waiting for the budget's end: stop now instead.
  early=""
  kill -0 $pa 2>/dev/null || grep -q VMMKIT-DONE "$d/a.log" || early=a
  kill -0 $pb 2>/dev/null || grep -q VMMKIT-DONE "$d/b.log" || early="$early b"
  [ -n "$early" ] && { echo "@@ended without its marker:$early"; break; }
  sleep 1; done
# a kit that printed its marker powers off: its vmm ends by itself
i=0; while [ $i -lt 30 ] && { kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null; }; do sleep 1; i=$((i+1)); done
for p in $pa $pb; do kill -0 $p 2>/dev/null && echo "@@still running $p: SIGTERM"; done
kill $pa $pb 2>/dev/null
i=0; while [ $i -lt 10 ] && { kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null; }; do sleep 1; i=$((i+1)); done
for p in $pa $pb; do kill -0 $p 2>/dev/null && { echo "@@ignored SIGTERM $p: SIGKILL"; kill -9 $p; }; done
wait $pa; echo "@@rc a=$?"; wait $pb; echo "@@rc b=$?"
ip netns exec $ns ip link show type bridge_slave 2>/dev/null | grep -c master | sed 's/^/@@slaves_left /'
ip netns del $ns
sed 's/^/@@script /' "$d/scripts.log"
%(after)s
echo "@@VM-A"; cat "$d/a.log" "$d/a.err"; echo "@@VM-B"; cat "$d/b.log" "$d/b.err"
grep -q VMMKIT-DONE "$d/a.log" && grep -q VMMKIT-DONE "$d/b.log" && echo "%(done)s"
""" % {"name": name, "tap_bridge": tap_bridge, "setup": setup.rstrip("\n"), "made": made,
       "a": a_cmd, "b": b_cmd, "budget": budget, "checks": checks,
       "watch": watch.rstrip("\n"), "after": after.rstrip("\n"), "done": PAIR_DONE}


def pair_logs(stdout):
    """(the shell's own lines, A's console and log, B's) of a pair_shell
    command's output."""
    out = stdout.replace("\r", "")
    head, _, rest = out.partition("@@VM-A\n")
    a, _, b = rest.partition("@@VM-B\n")
    return head, a, b.split("\n" + PAIR_DONE, 1)[0]
