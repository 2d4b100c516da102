#!/bin/sh
# Install the Debian packages vmm's build and tests need, if any are missing.
# Idempotent: a warm run only asks dpkg-query and returns at once; `apt-get
# update` runs only when something must be installed. Needs root (or sudo).
set -eu

PKGS="
gcc make libc6-dev pkg-config zlib1g-dev libcmocka-dev libslirp-dev liburing-dev libseccomp-dev
clang libclang-rt-14-dev
seabios
python3 python3-pytest
qemu-system-x86 qemu-utils ipxe-qemu
busybox-static cpio xz-utils
isolinux syslinux syslinux-common xorriso mtools fdisk
util-linux iproute2
libtsan2
"

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
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: not root and no sudo" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
