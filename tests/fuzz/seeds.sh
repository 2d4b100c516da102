#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed corpus for the image fuzzer: small images of every kind qemu-img
# (test-only peer) makes, with a little data in them so tables are filled.
set -eu
out=$1
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'VMM-FUZZ-SEED\n%.0s' $(seq 1 200) > "$tmp/data.raw"
truncate -s 1M "$tmp/data.raw"
for opts in "compat=0.10,cluster_size=4096" "compat=1.1,cluster_size=512" \
	"compat=1.1,cluster_size=65536,refcount_bits=1" "compat=1.1,refcount_bits=64"; do
	n=$(echo "$opts" | tr ',=' '__')
	qemu-img convert -q -O qcow2 -o "$opts" "$tmp/data.raw" "$out/q-$n.qcow2"
done
qemu-img convert -q -c -O qcow2 -o cluster_size=4096 "$tmp/data.raw" "$out/compressed.qcow2"
(cd "$out" && qemu-img create -q -f qcow2 -b q-compat_1.1_cluster_size_512.qcow2 -F qcow2 overlay.qcow2)
cp "$out/q-compat_0.10_cluster_size_4096.qcow2" "$out/snap.qcow2"
qemu-img snapshot -c s1 "$out/snap.qcow2"
qemu-img convert -q -O vmdk "$tmp/data.raw" "$out/sparse.vmdk"
qemu-img convert -q -O vmdk -o subformat=monolithicFlat "$tmp/data.raw" "$tmp/flat.vmdk"
cp "$tmp/flat.vmdk" "$out/flat-descriptor.vmdk"
