#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed corpora, one directory per fuzz target under OUT:
#   image/     small images of every kind qemu-img (test-only peer) makes,
#              with a little data in them so tables are filled
#   control/   QMP and monitor sessions and JSON documents (below)
#   <device>/  programs written by the device harness itself
#              (FUZZ_WRITE_SEEDS, tests/fuzz/fuzz_devices.c), which knows
#              its own input encoding
#   seeds.sh OUT [FUZZ_DEVICES_BINARY]
set -eu
top=$1
devices=${2:-$(dirname "$0")/../../build/fuzz/fuzz_devices}
rm -rf "$top"
mkdir -p "$top/image" "$top/control" "$top/savestate" "$top/migstream" "$top/gdbstub"
FUZZ_WRITE_SEEDS="$top" "$devices"
# savestate/: each device's saved state, as is and in the checksum fix-up mode
FUZZ_WRITE_SEEDS="$top/savestate" "$(dirname "$devices")/fuzz_savestate"
# migstream/: a migration stream (RAM, a dirty round, state), both modes
FUZZ_WRITE_SEEDS="$top/migstream" "$(dirname "$devices")/fuzz_migstream"

# control: the first byte picks the mode (byte % 3: 0 JSON, 1 QMP,
# 2 monitor) and the read size ((byte >> 2) % 5); 0x80 gives the fake
# machine a balloon, 0x40 injects events.
c=$top/control
printf '\000{"a": [1, -2.5e10, true, null, "x\\u00e9\\n"], "b": {}}' >"$c/json-object"
printf '\000[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' >"$c/json-deep"
printf '\000"\\ud83d\\ude00 \\ud800"' >"$c/json-surrogates"
q='{"execute": "qmp_capabilities"}
{"execute": "query-status", "id": 1}
{"execute": "query-version"}
{"execute": "query-commands"}
{"execute": "query-cpus-fast"}
{"execute": "query-name"}
{"execute": "stop"}
{"execute": "cont"}
{"execute": "balloon", "arguments": {"value": 67108864}}
{"execute": "query-balloon"}
{"execute": "x-dirty-log", "arguments": {"region": "ram", "enable": true}}
{"execute": "x-query-dirty-pages", "arguments": {"region": "ram"}}
{"execute": "system_reset"}
{"execute": "system_powerdown"}
{"execute": "watchdog-set-action", "arguments": {"action": "pause"}}
{"execute": "set_link", "arguments": {"name": "n0", "up": false}}
{"execute": "set_link", "arguments": {"name": "e1000.0", "up": true}}
{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}
{"execute": "query-block"}
{"execute": "query-blockstats"}
{"execute": "eject", "arguments": {"device": "ide1-cd0"}}
{"execute": "blockdev-change-medium", "arguments": {"id": "cd", "filename": "b.iso", "format": "raw", "read-only-mode": "retain", "force": true}}
{"execute": "blockdev-open-tray", "arguments": {"device": "ide1-cd0", "force": true}}
{"execute": "blockdev-remove-medium", "arguments": {"id": "cd"}}
{"execute": "blockdev-close-tray", "arguments": {"device": "ide1-cd0"}}
{"execute": "query-pci"}
{"execute": "query-chardev"}
{"execute": "query-kvm"}
{"execute": "query-target"}
{"execute": "query-machines"}
{"execute": "query-cpu-definitions"}
{"execute": "query-hotpluggable-cpus"}
{"execute": "human-monitor-command", "arguments": {"command-line": "xp /16xg 0xff0", "cpu-index": 1}}
{"execute": "query-qmp-schema"}
{"execute": "qom-list-types", "arguments": {"implements": "a", "abstract": true}}
{"execute": "qom-list-types", "arguments": {"implements": "pci-device"}}
{"execute": "device-list-properties", "arguments": {"typename": "e1000"}}
{"execute": "device-list-properties", "arguments": {"typename": "device"}}
{"execute": "quit"}
'
printf '\301%s' "$q" >"$c/qmp-session"
printf '\311%s' "$q" >"$c/qmp-session-pieces"
printf '\001{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n{"execute": 1}\n[1]\n"x"\n{"execute": "query-status", "id": {"a": [1]}}\n}}}\n' >"$c/qmp-errors"
printf '\202x /4xw 0\nxp /3dh 0xffe\nx/2c 16\nxp /100000xg 0\np/x ($eax + 3) * -2\np ((((1))))\np 1/0\ncpu 1\ninfo registers -a\ninfo pci\ninfo chardev\ninfo mtree\ninfo qtree\ninfo block\ninfo blockstats\neject -f ide1-cd0\nchange ide1-cd0 b.iso raw read-only\neject x y\n' >"$c/monitor-inspect"
printf '\202info status\ninfo cpus\ninfo version\ninfo balloon\nballoon 64\nset_link e1000.0 off\ninfo network\nset_link n0 on\nstop\ncont\nsystem_reset\nsystem_powerdown\nhelp\nhelp s\nhelp info\ninfo\nbogus\nquit\n' >"$c/monitor-session"
# gdbstub: byte 0 bit 0 no-ack mode (no checksums), bits 1-3 the feed
# size - 1; 0xFF B is a debug exit (tests/fuzz/fuzz_gdbstub.c)
g=$top/gdbstub
printf '\001$qSupported:swbreak+#00$qXfer:features:read:target.xml:0,400#00$?#00$g#00$p10#00$P10=0010000000000000#00$m1000,10#00$M1000,2:abcd#00$X1004,2:}]a#00$Hg2#00$qfThreadInfo#00$qsThreadInfo#00$qC#00$T2#00$qThreadExtraInfo,1#00$D#00' >"$g/session"
printf '\007$Z0,1010,1#00$Z1,1020,1#00$Z2,1040,4#00$Z3,1048,8#00$Z4,1050,2#00$vCont;s:1;c#00\377\102$c#00\377\004$s#00\003$z0,1010,1#00$z2,1040,4#00$k#00' >"$g/breakpoints"
printf '\000$qC#b4$g#00$m1000,4#fa+-\003' >"$g/acks"
out=$top/image
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
# persistent dirty bitmaps (the bitmaps extension, with bits set by qemu-io)
qemu-img create -q -f qcow2 -o cluster_size=512 "$out/bitmaps.qcow2" 1M
qemu-img bitmap --add -g 4k "$out/bitmaps.qcow2" b1
qemu-img bitmap --add --disable "$out/bitmaps.qcow2" b2
qemu-io -f qcow2 -c "write 4k 8k" "$out/bitmaps.qcow2" >/dev/null
# an image with a VM snapshot (savevm of tests/fw/diskcount.S, -m 2, 512-byte
# clusters: the VM state lies past the virtual end), kept in the tree since
# making it needs KVM
cp "$(dirname "$0")/image-seeds/savevm.qcow2" "$out/savevm.qcow2"
qemu-img convert -q -O vmdk "$tmp/data.raw" "$out/sparse.vmdk"
qemu-img convert -q -O vmdk -o subformat=monolithicFlat "$tmp/data.raw" "$tmp/flat.vmdk"
cp "$tmp/flat.vmdk" "$out/flat-descriptor.vmdk"
# the formats beside qcow2 and vmdk: qcow (a compressed cluster from
# qemu-io, as qemu-img 10's convert -c -O qcow fails), VDI dynamic and
# static, VHD dynamic and fixed, and the refused VHDX and QED headers
qemu-img convert -q -O qcow "$tmp/data.raw" "$out/plain.qcow"
qemu-img create -q -f qcow "$out/compressed.qcow" 1M
qemu-io -f qcow -c "write -c -P 0x11 0 4k" -c "write -P 0x22 64k 4k" "$out/compressed.qcow" >/dev/null
(cd "$out" && qemu-img create -q -f qcow -b plain.qcow -F qcow overlay.qcow)
# (run.sh gives the image target 256 KiB inputs: the VDI/VHD ones with data
# are cut there, their tables intact; the empty ones are whole)
head -c 98304 "$tmp/data.raw" >"$tmp/small.raw"
qemu-img create -q -f vdi "$out/empty.vdi" 4M
qemu-img convert -q -O vdi "$tmp/small.raw" "$out/dynamic.vdi"
qemu-img create -q -f vpc "$out/empty.vpc" 4M
qemu-img convert -q -O vpc "$tmp/small.raw" "$out/dynamic.vpc"
qemu-img convert -q -O vpc -o subformat=fixed "$tmp/small.raw" "$out/fixed.vpc"
qemu-img create -q -f vhdx "$tmp/t.vhdx" 1M && head -c 65536 "$tmp/t.vhdx" >"$out/head.vhdx"
qemu-img create -q -f qed "$out/t.qed" 1M
