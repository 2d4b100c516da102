#!/bin/busybox sh
# /init of the vmm guest-kit initramfs (busybox-static).
#
# Boots, loads the driver modules listed in /etc/vmmkit/modules.load, prints a
# machine-readable report on the console (ttyS0), runs an optional test script,
# prints the final marker and powers off through ACPI.
#
# Kernel command-line options read here:
#   vmmkit.script=BASE64   shell script to run after the report
#   vmmkit.shell=1         start an interactive shell instead of powering off
#   vmmkit.nomods=1        load no modules
#
# Output format (docs/testing.md, "Guest report"): lines between
# VMMKIT-REPORT-BEGIN and VMMKIT-REPORT-END, then VMMKIT-READY, then the
# optional script framed by VMMKIT-SCRIPT-BEGIN / VMMKIT-SCRIPT-END rc=N, then
# VMMKIT-DONE rc=N. Keep the output small: in the nested setup every serial byte
# is a slow VM exit.

/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

cmdline=$(cat /proc/cmdline)
opt() {  # opt NAME -> value of vmmkit.NAME= on the command line
	for w in $cmdline; do
		case "$w" in "vmmkit.$1="*) echo "${w#*=}"; return 0;; esac
	done
	return 1
}

# ---- modules -------------------------------------------------------------
modfail=""
nmods=0
if [ "$(opt nomods)" != 1 ] && [ -f /etc/vmmkit/modules.load ]; then
	while read -r file args; do
		[ -n "$file" ] || continue
		# shellcheck disable=SC2086
		if insmod "/lib/modules/$file" $args 2>/dev/null; then
			nmods=$((nmods + 1))
		else
			modfail="$modfail ${file%.ko}"
		fi
	done < /etc/vmmkit/modules.load
fi

# Let late block/net devices settle: stop when /sys/block is unchanged for
# three polls (0.6 s), at most about 5 s.
prev="" same=0 i=0
while [ $i -lt 25 ] && [ $same -lt 3 ]; do
	cur=$(ls /sys/block /sys/class/net 2>/dev/null | tr '\n' ' ')
	if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
	prev=$cur
	i=$((i + 1))
	sleep 0.2
done

# ---- report ---------------------------------------------------------------
rd() { cat "$1" 2>/dev/null; }
drv() { l=$(readlink "$1/driver" 2>/dev/null) && echo "${l##*/}" || echo -; }

# The kernel writes its messages to the same console at any moment, even in
# the middle of a line of ours (a slow nested guest warns about its clocksource
# there): quiet it while the report is printed, so that every report line is
# whole, and give it its level back after.
printk_level=$(cut -f1 /proc/sys/kernel/printk)
dmesg -n 1
echo "VMMKIT-REPORT-BEGIN v1"
echo "kernel $(uname -r) $(uname -m)"
echo "cpus $(grep -c ^processor /proc/cpuinfo)"
echo "mem_kb $(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "mods loaded=$nmods failed=$(echo $modfail | tr ' ' ,)"
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	v=$(rd "$d/vendor"); p=$(rd "$d/device"); c=$(rd "$d/class")
	echo "pci ${d##*/} ${v#0x}:${p#0x} ${c#0x} $(drv "$d")"
done
expect=$(cat /etc/vmmkit/data.sha256 2>/dev/null)
for b in /sys/block/*; do
	[ -e "$b" ] || continue # no block devices: the glob stays unexpanded
	n=${b##*/}
	case "$n" in loop*|ram*|zram*) continue;; esac
	echo "blk $n $(( $(rd "$b/size") * 512 )) ro=$(rd "$b/ro")"
	magic=$(dd if="/dev/$n" bs=512 count=1 2>/dev/null | head -c 14)
	if [ "$magic" = VMMKIT-DATA-V1 ]; then
		sum=$(sha256sum "/dev/$n" | cut -d' ' -f1)
		[ "$sum" = "$expect" ] && st=ok || st=BAD
		echo "data $n $st $sum"
	fi
done
for n in /sys/class/net/*; do
	[ "${n##*/}" = lo ] && continue
	[ -e "$n" ] || continue
	echo "net ${n##*/} $(rd "$n/address") $(drv "$n/device")"
done
for c in /proc/asound/card[0-9]*; do
	[ -e "$c/id" ] && echo "snd ${c##*/} $(rd "$c/id")"
done
echo "uptime $(cut -d' ' -f1 /proc/uptime)"
echo "VMMKIT-REPORT-END"
dmesg -n "$printk_level"
echo "VMMKIT-READY"

# ---- optional test script ---------------------------------------------------
script=""
if b64=$(opt script); then
	echo "$b64" | base64 -d > /tmp/script.sh 2>/dev/null && script=/tmp/script.sh
fi
if [ -z "$script" ]; then
	# A script disk: a raw image starting with the line "#VMMKIT-SCRIPT".
	for b in /sys/block/*; do
		n=${b##*/}
		case "$n" in loop*|ram*|zram*) continue;; esac
		if [ "$(dd if="/dev/$n" bs=14 count=1 2>/dev/null)" = "#VMMKIT-SCRIPT" ]; then
			dd if="/dev/$n" bs=512 count=256 2>/dev/null | tr -d '\000' > /tmp/script.sh
			script=/tmp/script.sh
			break
		fi
	done
fi
rc=0
if [ -n "$script" ]; then
	echo "VMMKIT-SCRIPT-BEGIN"
	sh "$script"
	rc=$?
	echo "VMMKIT-SCRIPT-END rc=$rc"
fi

if [ "$(opt shell)" = 1 ]; then
	echo "VMMKIT-SHELL"
	setsid cttyhack sh
fi
echo "VMMKIT-DONE rc=$rc"
sync
poweroff -f
# poweroff -f does not return; if ACPI power-off is missing, halt instead.
sleep 5
halt -f
