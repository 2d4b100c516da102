#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Stands in for the VMM and the kit's Linux in tests/real/test_nics_tap.py's
# and tools/bench/nics.py's L1 command (tests/fw/test_nics_scenarios.py):
# run in the command's network namespace in the VMM's place, it makes a
# "guest" namespace with one veth per card (the card's MAC; its peer on
# the bridge br0) and runs the guest script there with the host's busybox
# (nc, wget and timeout as the kit has them; dmesg and insmod do nothing),
# then prints the kit's final marker. The cards have no driver and no PCI
# ID here: the guest sees "driver=" and "pci=isa".
#
# usage: nics_tap_fake_guest.sh SCRIPT MAC...
set -u
script=$1; shift
g=vmmfakeg$$
dir=$(mktemp -d)
for a in nc wget timeout; do ln -s "$(command -v busybox)" "$dir/$a"; done
{ echo 'dmesg() { :; }; insmod() { :; }'; cat "$script"; } > "$dir/script.sh"
ip netns add $g || { echo "fake guest: no namespace"; exit 1; }
k=0
for mac in "$@"; do
	ip link add fh$k type veth peer name fg$k
	ip link set fh$k master br0
	ip link set fh$k up
	ip link set fg$k netns $g
	ip -n $g link set fg$k address "$mac"
	k=$((k + 1))
done
ip -n $g link set lo up
ip netns exec $g env PATH="$dir:$PATH" busybox sh "$dir/script.sh"
echo "VMMKIT-DONE rc=$?"
ip netns del $g
rm -rf "$dir"
