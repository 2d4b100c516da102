#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Stands in for the VMM and the kit's Linux in tests/real/test_nics_tap.py's
# and tools/bench/nics.py's L1 command (tests/fw/test_nics_scenarios.py):
# run in the command's network namespace in the VMM's place, it makes a
# "guest" namespace with one veth per card (the card's MAC; its peer on
# the bridge br0, or with -p PREFIX card K's on bridge PREFIX<K>, as
# tests/real/test_nics_tap_pair.py's taps) and runs the guest script there
# with the host's busybox (nc, wget and timeout as the kit has them; dmesg
# and insmod do nothing) between the kit's ready and final markers. The
# cards have no driver and no PCI ID here: the guest sees "driver=" and
# "pci=isa". Two of it can run side by side in one namespace.
#
# usage: nics_tap_fake_guest.sh [-p BRIDGE-PREFIX] SCRIPT MAC...
set -u
prefix=
[ "$1" = -p ] && { prefix=$2; shift 2; }
script=$1; shift
g=vmmfakeg$$
dir=$(mktemp -d)
for a in nc wget timeout; do ln -s "$(command -v busybox)" "$dir/$a"; done
{ echo 'dmesg() { :; }; insmod() { :; }'; cat "$script"; } > "$dir/script.sh"
ip netns add $g || { echo "fake guest: no namespace"; exit 1; }
k=0
for mac in "$@"; do
	# named after this process here, fg$k only in its own namespace
	ip link add h$$.$k type veth peer name g$$.$k
	br=br0; [ -n "$prefix" ] && br=$prefix$k
	ip link set h$$.$k master $br
	ip link set h$$.$k up
	ip link set g$$.$k netns $g
	ip -n $g link set g$$.$k name fg$k
	ip -n $g link set fg$k address "$mac"
	k=$((k + 1))
done
ip -n $g link set lo up
echo VMMKIT-READY
ip netns exec $g env PATH="$dir:$PATH" busybox sh "$dir/script.sh"
echo "VMMKIT-DONE rc=$?"
ip netns del $g
rm -rf "$dir"
