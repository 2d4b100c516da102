#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Fails when a device model in hw/ is driven by no fuzz target: every
# hw/*/*.c (and any hw/*.c) must be named by some target of fuzz_devices (its
# FUZZ_LIST_TARGETS=1 listing: "target file..."), or be in the exception
# list below with the reason it is not a device.
#   check_targets.sh path/to/fuzz_devices
set -eu
bin=$1
# Files in hw/ that are not guest-facing device models (none today: the
# IDE parts and the virtio transport are driven through their devices'
# targets, which name them). Add "hw/x.c  # why" lines here.
exceptions="
"
listed=$(FUZZ_LIST_TARGETS=1 "$bin" | cut -d' ' -f2- | tr ' ' '\n' | sort -u)
missing=
for f in hw/*.c hw/*/*.c; do
	[ -f "$f" ] || continue # an unmatched pattern stays as it is
	echo "$exceptions" | grep -q "^$f\b" && continue
	echo "$listed" | grep -qx "$f" || missing="$missing $f"
done
for f in $listed; do
	[ -f "$f" ] || { echo "fuzz: a target names $f, which does not exist"; exit 1; }
done
if [ -n "$missing" ]; then
	echo "fuzz: no fuzz target drives:$missing"
	echo "  add a target to tests/fuzz/fuzz_devices.c (or an exception to $0)"
	exit 1
fi
echo "fuzz: every hw/ device has a fuzz target ($(echo "$listed" | wc -l) files)"
