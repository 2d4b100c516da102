#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Boots the guest kit's CD under vmm and shows the guest's console. Runs
# directly on a host with hardware virtualization; otherwise inside the
# nested L1 of tests/nested (see docs/testing.md), which prints the console
# when the guest has powered off.
set -e
cd "$(dirname "$0")/.."
kit=$(cd "${VMM_GUEST_CACHE:-build/guests}" && pwd)
echo "== vmm demo: booting $kit/kit-amd64.iso (stock Debian 12 kernel + busybox) =="
echo "== vmm -m 256 -cdrom kit-amd64.iso -hda data.img -nographic"
exec /usr/bin/python3 tests/nested/run.py --timeout 300 --marker VMMKIT-DONE \
	--stage "$kit/data.img" -- \
	"$PWD/build/vmm" -m 256 -cdrom "$kit/kit-amd64.iso" -hda "@$kit/data.img@" -nographic
