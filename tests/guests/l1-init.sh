#!/bin/busybox sh
# /init of the nested-virtualization L1 initramfs (tests/nested/).
#
# The L1 is the stock Debian amd64 kernel under QEMU TCG with an emulated AMD
# CPU. This init loads kvm-amd (so /dev/kvm appears), mounts the host root
# read-only and a writable scratch directory over virtio-9p, and runs the batch
# executor chroot'ed into the host root, so commands see the same absolute
# paths as on the host. Then it powers off.
#
# Kernel command line:
#   vmmnest.scratch=PATH   host path of the scratch directory (9p tag "scratch")
#   vmmnest.exec=PATH      host path of tests/nested/executor.py
#   vmmnest.python=PATH    interpreter inside the host root (/usr/bin/python3)
#   vmmnest.kvm_amd=A,B    extra kvm-amd module parameters (e.g. npt=0)
#   vmmnest.shell=1        interactive shell at the end (debugging)
# Serial lines for the host: "VMMNEST-KVM-READY <uptime>" or
# "VMMNEST-FAIL <reason>", the executor's "@@VMMNEST ..." lines, and
# "VMMNEST-POWEROFF".

/bin/busybox mkdir -p /proc /sys /dev /tmp /host /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

cmdline=$(cat /proc/cmdline)
opt() {
	for w in $cmdline; do
		case "$w" in "vmmnest.$1="*) echo "${w#*=}"; return 0;; esac
	done
	return 1
}
fail() {
	echo "VMMNEST-FAIL $*"
	dmesg | tail -n 30
	echo "VMMNEST-POWEROFF"
	poweroff -f
	sleep 5
}

kvmamd=$(opt kvm_amd | tr , ' ')
while read -r file args; do
	[ -n "$file" ] || continue
	[ "$file" = kvm-amd.ko ] && args="$args $kvmamd"
	# shellcheck disable=SC2086
	insmod "/lib/modules/$file" $args || echo "VMMNEST-WARN insmod $file failed"
done < /etc/vmmkit/modules.load

[ -c /dev/kvm ] || fail "no /dev/kvm in L1"
echo "VMMNEST-KVM-READY $(cut -d' ' -f1 /proc/uptime)"

H=/host
mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=262144 hostroot $H \
	|| fail "cannot mount the host root (9p tag hostroot)"
for d in proc sys dev; do
	mount --bind "/$d" "$H/$d" || fail "bind /$d"
done
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts "$H/dev/pts" 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs "$H/dev/shm" 2>/dev/null
# /run gets a private tmpfs. /tmp and /var/tmp stay the host's (read-only: the
# work tree may live there); commands get TMPDIR in the scratch dir instead.
[ -d "$H/run" ] && mount -t tmpfs -o mode=755 tmpfs "$H/run"

scratch=$(opt scratch) || fail "no vmmnest.scratch on the command line"
mkdir -p "$H$scratch" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=262144 scratch "$H$scratch" \
	|| fail "cannot mount the scratch dir at $scratch"

# Staged files (disk images) are copied to an L1 tmpfs: L2 disk images read
# straight from 9p hung a SYSLINUX boot. TMPDIR is a tmpfs as well.
mount -t tmpfs -o mode=755 tmpfs "$H$scratch/files" || fail "tmpfs for staged files"
cp -a "$H$scratch/stage/." "$H$scratch/files/" || fail "copying the staged files"
mount -t tmpfs -o mode=1777 tmpfs "$H$scratch/tmp" || fail "tmpfs for TMPDIR"
echo "VMMNEST-STAGED $(cut -d' ' -f1 /proc/uptime)"

exe=$(opt exec) || fail "no vmmnest.exec on the command line"
py=$(opt python) || py=/usr/bin/python3
HOME=/root TERM=dumb LANG=C.UTF-8 chroot "$H" "$py" "$exe" "$scratch"
echo "VMMNEST-EXECUTOR-EXIT $?"

if [ "$(opt shell)" = 1 ]; then
	setsid cttyhack sh
fi
sync
echo "VMMNEST-POWEROFF"
poweroff -f
sleep 5
halt -f
