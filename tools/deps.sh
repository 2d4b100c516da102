#!/bin/sh
# Install the Debian packages vmm's build and tests need, if any are missing.
# Idempotent: a warm run only asks dpkg-query and returns at once; `apt-get
# update` runs only when something must be installed. Needs root (or sudo).
set -eu

PKGS="
gcc make libc6-dev pkg-config zlib1g-dev libcmocka-dev libslirp-dev liburing-dev libseccomp-dev
libpng-dev
libvncserver-dev vncsnapshot python3-cryptography
libxkbcommon-dev xkb-data
libsdl2-dev xvfb xdotool imagemagick openbox x11-utils
clang libclang-rt-14-dev
seabios
python3 python3-pytest
qemu-system-x86 qemu-utils ipxe-qemu
busybox-static cpio xz-utils
isolinux syslinux syslinux-common xorriso mtools fdisk
util-linux iproute2 strace
samba smbclient socat
gdb
libtsan2
acpica-tools
"

# QEMU (the nested L1's CPU and the reference VMM) must be 10.x: 7.2's TCG
# SVM reset and hung L2 guests in the real-guest layer (docs/testing.md,
# "Known issues"). Debian 12 has it in bookworm-backports.
QEMU_MIN="1:10.0"
# qemu-system-gui: QEMU's SDL display, the peer of vmm's window in the
# front-end figures (docs/testing.md, "Front-ends")
QEMU_PKGS="qemu-system-x86 qemu-utils qemu-system-gui"

qemu_is_new() {
	for p in $QEMU_PKGS; do
		v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || return 1
		dpkg --compare-versions "$v" ge "$QEMU_MIN" || return 1
	done
}

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else echo "deps: not root and no sudo" >&2; exit 1
	fi
}

apt_updated=""
apt_update() {
	[ -n "$apt_updated" ] && return
	as_root apt-get update -q
	apt_updated=1
}

install_new_qemu() {
	. /etc/os-release
	export DEBIAN_FRONTEND=noninteractive
	target=""
	if [ "${VERSION_CODENAME:-}" = bookworm ]; then
		src=/etc/apt/sources.list.d/bookworm-backports.sources
		if [ ! -e "$src" ]; then
			printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
				as_root tee "$src" >/dev/null
		fi
		target="-t bookworm-backports"
	fi
	echo "deps: installing QEMU >= $QEMU_MIN${target:+ from bookworm-backports}"
	apt_update
	# shellcheck disable=SC2086
	as_root apt-get install -y -q --no-install-recommends $target $QEMU_PKGS
	qemu_is_new || { echo "deps: QEMU >= $QEMU_MIN not installable" >&2; exit 1; }
}

qemu_is_new || install_new_qemu

# One dpkg-query for all: "name status" per installed-or-known package.
# shellcheck disable=SC2086
have=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null || true)
nl='
'
have="$nl$have"
missing=""
for p in $PKGS; do
	case "$have" in
	*"$nl$p ii"*) ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	echo "deps: all present"
	exit 0
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt_update
# QEMU from bookworm-backports brings newer runtime libraries (libwayland*
# 1.23) than the -dev packages bookworm pins to its own versions (libsdl2-dev
# needs libwayland-dev 1.21, which wants libwayland-client0 = 1.21). Take just
# the -dev packages apt names in such a conflict from backports as well,
# rather than all of them (-t would pull systemd and mesa along).
# shellcheck disable=SC2086
bpo_fixes=$(apt-get install -s -q --no-install-recommends $missing 2>&1 |
	sed -n 's/^ *\([a-z0-9.+-]*\) : Depends: .* but .*~bpo.* is to be installed$/\1\/bookworm-backports/p' |
	sort -u | tr '\n' ' ')
[ -n "$bpo_fixes" ] && echo "deps: from bookworm-backports to match QEMU's libraries: $bpo_fixes"
# shellcheck disable=SC2086
as_root apt-get install -y -q --no-install-recommends $missing $bpo_fixes
