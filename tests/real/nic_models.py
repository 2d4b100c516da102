# SPDX-License-Identifier: GPL-2.0-or-later
"""The emulated NIC models as the kit's Linux sees them, shared by the
real-guest NIC tests (test_nics.py, test_nics_tap.py) and the per-card
network bench (tools/bench/nics.py): each kind's PCI ID and driver, the
vmm model and properties behind a kind, the drivers the kit carries
instead of loading them, and the guest shell functions that load such a
driver and find a card's interface by its address; and the L1 command
that runs a VMM with its cards on tap in a network namespace."""
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
