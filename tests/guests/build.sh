#!/bin/bash
# Build the real-guest test kit from Debian packages only.
#
#   tests/guests/build.sh [CACHE_DIR]        (default: $VMM_GUEST_CACHE or build/guests)
#
# Nothing is installed on the host: packages are fetched with `apt-get download`
# through a private apt state under CACHE_DIR/apt/<arch> (its own lists, cache,
# empty dpkg status and APT::Architecture), so the host's apt configuration and
# dpkg architectures stay untouched, and unpacked with `dpkg -x`.
# The artefacts are listed in docs/testing.md ("Guest kit"); CACHE_DIR/MANIFEST
# lists what was built. A second run with unchanged inputs returns at once (stamp
# file); downloaded .deb files are kept and reused.
#
# Environment:
#   VMM_GUEST_KABI=6.1.0-NN   the Debian kernel ABI (default: DEFAULT_KABI below
#                             if the archive still has it, else the current
#                             linux-image-686 from bookworm, the same for amd64)
#   VMM_GUEST_FORCE=1         rebuild even when the stamp matches
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-${VMM_GUEST_CACHE:-$repo/build/guests}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
PY=/usr/bin/python3
t_start=$(date +%s)

log() { printf 'guests: %s\n' "$*" >&2; }
die() { printf 'guests: error: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg dpkg-deb busybox cpio xz xorriso mformat mcopy \
	syslinux sfdisk flock od; do
	command -v "$tool" >/dev/null || die "missing tool '$tool' (run tools/deps.sh)"
done
[ -f /usr/lib/ISOLINUX/isolinux.bin ] || die "missing isolinux (run tools/deps.sh)"
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || die "missing syslinux-common (run tools/deps.sh)"
[ -x "$PY" ] || die "missing $PY"

# One build at a time per cache directory.
exec 9>"$cache/.lock"
flock 9

inputs_hash() {
	(cd "$here" && cat build.sh kit-init.sh l1-init.sh modules-kit.list modules-l1.list mkdata.py
	 echo "kabi=${VMM_GUEST_KABI:-}") | sha256sum | cut -d' ' -f1
}
OUTPUTS="vmlinuz-amd64 vmlinux-amd64 initrd-amd64.xz vmlinuz-686 initrd-686.xz
	kit-amd64.iso kit-amd64.img kit-686.iso kit-686.img data.img data.sha256
	l1/vmlinux l1/initrd.xz MANIFEST"
hash=$(inputs_hash)
if [ "${VMM_GUEST_FORCE:-0}" != 1 ] && [ -f "$cache/.stamp" ] \
	&& [ "$(cat "$cache/.stamp")" = "$hash" ]; then
	ok=1
	for f in $OUTPUTS; do [ -s "$cache/$f" ] || ok=0; done
	if [ $ok = 1 ]; then
		log "up to date in $cache"
		exit 0
	fi
fi
rm -f "$cache/.stamp"

# ---- private apt ------------------------------------------------------------
apt_opts() {  # apt_opts DEBARCH
	local d="$cache/apt/$1"
	echo "-q -o APT::Architecture=$1 -o APT::Architectures=$1" \
		"-o Dir::State::Lists=$d/lists -o Dir::State::status=$d/status" \
		"-o Dir::Cache=$d/cache -o APT::Sandbox::User=root"
}
apt_update() {  # apt_update DEBARCH
	local d="$cache/apt/$1"
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	: > "$d/status"
	log "apt-get update (private state, $1)"
	# shellcheck disable=SC2046
	apt-get $(apt_opts "$1") update >"$d/update.log" 2>&1 || true
	ls "$d/lists/"*_Packages* >/dev/null 2>&1 || die "apt-get update for $1 failed, see $d/update.log"
}
apt_ready() { ls "$cache/apt/$1/lists/"*_Packages* >/dev/null 2>&1; }
apt_has() {  # apt_has DEBARCH PACKAGE
	# shellcheck disable=SC2046
	apt-cache $(apt_opts "$1") show "$2" >/dev/null 2>&1
}
deb_path() {  # deb_path PACKAGE DEBARCH -> first matching .deb in the cache
	ls "$cache/debs/${1}_"*"_${2}.deb" 2>/dev/null | head -n 1
}
fetch() {  # fetch PACKAGE DEBARCH
	[ -n "$(deb_path "$1" "$2")" ] && return 0
	apt_ready "$2" || apt_update "$2"
	log "apt-get download $1 ($2)"
	mkdir -p "$cache/debs"
	# shellcheck disable=SC2046
	(cd "$cache/debs" && apt-get $(apt_opts "$2") download "$1" >/dev/null) \
		|| die "apt-get download $1 ($2) failed"
	[ -n "$(deb_path "$1" "$2")" ] || die "download of $1 ($2) left no .deb"
}

# ---- kernel ABI -------------------------------------------------------------
# Pinned: with 6.1.0-57 (6.1.192-3) as L1 and guest kernel, two fresh-clone
# runs on 2026-12-01 froze the nested L1 in the same -smp 3 (sockets=3) vmm
# boot and wedged QEMU-peer boots (docs/testing.md, Known issues); every run
# that day and stop 8's CI used 6.1.0-50 (6.1.176-1) without that.
DEFAULT_KABI=6.1.0-50
kabi=${VMM_GUEST_KABI:-}
if [ -z "$kabi" ] && [ -f "$cache/kabi" ]; then
	k=$(cat "$cache/kabi")
	if [ -n "$(deb_path "linux-image-$k-amd64" amd64)" ] \
		&& [ -n "$(deb_path "linux-image-$k-686" i386)" ]; then
		kabi=$k
	fi
fi
if [ -z "$kabi" ]; then
	apt_ready i386 || apt_update i386
	apt_ready amd64 || apt_update amd64
	if apt_has amd64 "linux-image-$DEFAULT_KABI-amd64" \
		&& apt_has i386 "linux-image-$DEFAULT_KABI-686"; then
		kabi=$DEFAULT_KABI
	else
		log "kernel ABI $DEFAULT_KABI is gone from the archive: taking the current one"
	fi
fi
if [ -z "$kabi" ]; then
	# shellcheck disable=SC2046
	dep=$(apt-cache $(apt_opts i386) depends linux-image-686 2>/dev/null \
		| sed -n 's/^ *Depends: linux-image-\(.*\)-686$/\1/p' | head -n 1)
	[ -n "$dep" ] || die "cannot resolve linux-image-686"
	apt_has amd64 "linux-image-$dep-amd64" || die "no linux-image-$dep-amd64 to match linux-image-$dep-686"
	kabi=$dep
fi
echo "$kabi" > "$cache/kabi"
log "kernel ABI $kabi"

fetch "linux-image-$kabi-amd64" amd64
fetch "linux-image-$kabi-686" i386
fetch busybox-static amd64
fetch busybox-static i386

# ---- helpers ------------------------------------------------------------------
work="$cache/work"
rm -rf "$work"
mkdir -p "$work" "$cache/l1"

unpack() {  # unpack DEB DIR
	mkdir -p "$2"
	dpkg -x "$1" "$2"
}

# resolve_modules TREE KVER LIST OUT_LOAD OUT_STATUS OUT_FILES OUT_CARRY
# Writes the load order ("file.ko args", dependencies first), a status table
# ("module|dep|carry|builtin|absent NAME") and the list of .ko paths to copy.
# A list line "NAME @carry" copies the module (and its dependencies) without
# loading it at boot: its "file.ko" lines, dependencies first, go to OUT_CARRY
# for the test scripts that insmod it themselves, and OUT_CARRY_DEPS gets one
# line per carried module, "NAME: dep.ko ... name.ko": the files a script
# insmods in that order to load it (its dependencies not loaded at boot,
# whether or not an earlier carried module shares them).
resolve_modules() {
	local tree=$1 kver=$2 list=$3
	local mdir="$tree/lib/modules/$kver"
	[ -f "$mdir/modules.dep" ] || busybox depmod -b "$tree" "$kver"
	awk -v depf="$mdir/modules.dep" -v bif="$mdir/modules.builtin" \
		-v loadf="$4" -v statf="$5" -v filesf="$6" -v carryf="$7" -v carrydepsf="$8" '
	function norm(s) { sub(/.*\//, "", s); sub(/\.ko(\.[a-z]+)?$/, "", s); gsub(/-/, "_", s); return s }
	function base(s) { sub(/.*\//, "", s); return s }
	function visit(n, why, outf,   k, m, arr) {
		if (n in done) return
		done[n] = 1
		if (!(n in P)) {
			print ((n in B) ? "builtin" : "absent") " " n > statf
			return
		}
		m = split(D[n], arr, " ")
		for (k = 1; k <= m; k++) visit(norm(arr[k]), "dep", outf)
		print base(P[n]) (A[n] != "" ? " " A[n] : "") > outf
		print P[n] > filesf
		print why " " n > statf
	}
	function closure(n,   k, m, arr) {
		if ((n in seen) || (n in atboot) || !(n in P)) return
		seen[n] = 1
		m = split(D[n], arr, " ")
		for (k = 1; k <= m; k++) closure(norm(arr[k]))
		cfiles = cfiles " " base(P[n])
	}
	BEGIN {
		while ((getline line < depf) > 0) {
			i = index(line, ":"); p = substr(line, 1, i - 1)
			P[norm(p)] = p; D[norm(p)] = substr(line, i + 1)
		}
		while ((getline line < bif) > 0) B[norm(line)] = 1
	}
	/^[ \t]*(#|$)/ { next }
	{
		n = norm($1); a = $0; sub(/^[ \t]*[^ \t]+[ \t]*/, "", a)
		A[n] = a; order[++cnt] = n
	}
	END {
		for (i = 1; i <= cnt; i++) if (A[order[i]] != "@carry") visit(order[i], "module", loadf)
		for (n in done) atboot[n] = 1
		printf "" > carryf
		printf "" > carrydepsf
		for (i = 1; i <= cnt; i++) {
			t = order[i]
			if (A[t] != "@carry") continue
			A[t] = ""
			visit(t, "carry", carryf)
			split("", seen); cfiles = ""
			closure(t)
			if (cfiles != "") print t ":" cfiles > carrydepsf
		}
	}
	' "$list"
}

# mkinitrd TREE KVER BUSYBOX_DEB INIT LIST OUT STATUS
mkinitrd() {
	local tree=$1 kver=$2 bbdeb=$3 init=$4 list=$5 out=$6 status=$7
	local st="$work/initrd.$$" bb="$work/bb.$$"
	rm -rf "$st" "$bb"
	mkdir -p "$st/bin" "$st/lib/modules" "$st/etc/vmmkit" "$st/dev" "$st/proc" "$st/sys" "$st/tmp"
	unpack "$bbdeb" "$bb"
	cp "$bb/bin/busybox" "$st/bin/busybox"
	cp "$init" "$st/init"
	chmod 755 "$st/init" "$st/bin/busybox"
	resolve_modules "$tree" "$kver" "$list" "$st/etc/vmmkit/modules.load" "$status" "$work/files.$$" \
		"$st/etc/vmmkit/modules.carry" "$st/etc/vmmkit/modules.carry-deps"
	local f
	while read -r f; do
		cp "$tree/lib/modules/$kver/$f" "$st/lib/modules/"
	done < "$work/files.$$"
	cp "$cache/data.sha256" "$st/etc/vmmkit/data.sha256"
	echo "$kver" > "$st/etc/vmmkit/kernel"
	[ "$(id -u)" = 0 ] && mknod "$st/dev/console" c 5 1
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) \
		| xz -6 --check=crc32 > "$out"
	rm -rf "$st" "$bb" "$work/files.$$"
}

payload() {  # payload FILE OFFSET LENGTH -> those bytes on stdout
	dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=64K status=none
}

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF kernel inside a bzImage.
extract_vmlinux() {
	local in=$1 out=$2 ss poff plen off magic
	ss=$(od -An -tu1 -j $((0x1f1)) -N1 "$in" | tr -d ' ')
	[ "$ss" = 0 ] && ss=4
	poff=$(od -An -tu4 -j $((0x248)) -N4 "$in" | tr -d ' ')
	plen=$(od -An -tu4 -j $((0x24c)) -N4 "$in" | tr -d ' ')
	off=$(( (ss + 1) * 512 + poff ))
	magic=$(od -An -tx1 -j "$off" -N6 "$in" | tr -d ' \n')
	case "$magic" in
	fd377a585a00) payload "$in" "$off" "$plen" | xz -dc --single-stream > "$out" ;;
	1f8b*)        payload "$in" "$off" "$plen" | gzip -dc > "$out" ;;
	28b52ffd*)    payload "$in" "$off" "$plen" | zstd -dc > "$out" ;;
	*) die "unknown kernel payload compression (magic $magic) in $in" ;;
	esac
	[ "$(od -An -tx1 -N4 "$out" | tr -d ' \n')" = 7f454c46 ] || die "extracted vmlinux is not ELF"
}

syslinux_cfg() {  # syslinux_cfg LABEL
	cat <<EOF
DEFAULT $1
PROMPT 0
TIMEOUT 0
LABEL $1
  KERNEL /vmlinuz
  APPEND initrd=/initrd.xz console=tty0 console=ttyS0 quiet panic=-1
EOF
}

mkiso() {  # mkiso ARCH
	local a=$1 st="$work/iso-$1"
	mkdir -p "$st/isolinux"
	cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$st/isolinux/"
	syslinux_cfg "$a" > "$st/isolinux/isolinux.cfg"
	cp "$cache/vmlinuz-$a" "$st/vmlinuz"
	cp "$cache/initrd-$a.xz" "$st/initrd.xz"
	xorriso -as mkisofs -quiet -o "$cache/kit-$a.iso" -V "VMMKIT_$a" -J -R \
		-b isolinux/isolinux.bin -c isolinux/boot.cat \
		-no-emul-boot -boot-load-size 4 -boot-info-table "$st" 2>"$work/xorriso-$a.log" \
		|| { cat "$work/xorriso-$a.log" >&2; die "xorriso failed"; }
}

mkimg() {  # mkimg ARCH: MBR disk, one active FAT16 partition at 1 MiB, syslinux
	local a=$1 img="$cache/kit-$a.img" payload mib psec
	payload=$(( $(stat -c %s "$cache/vmlinuz-$a") + $(stat -c %s "$cache/initrd-$a.xz") ))
	mib=$(( payload / 1048576 + 6 ))
	[ $mib -lt 24 ] && mib=24
	rm -f "$img"
	truncate -s "${mib}M" "$img"
	psec=$(( (mib - 1) * 2048 ))
	printf 'label: dos\nlabel-id: 0x564d4d4b\nstart=2048, size=%d, type=e, bootable\n' "$psec" | sfdisk -q "$img" >/dev/null
	local p="$img@@1048576"
	MTOOLS_SKIP_CHECK=1 mformat -i "$p" -T "$psec" -h 64 -s 32 -H 2048 -v VMMKIT ::
	syslinux_cfg "$a" > "$work/syslinux-$a.cfg"
	MTOOLS_SKIP_CHECK=1 mcopy -i "$p" "$cache/vmlinuz-$a" ::vmlinuz
	MTOOLS_SKIP_CHECK=1 mcopy -i "$p" "$cache/initrd-$a.xz" ::initrd.xz
	MTOOLS_SKIP_CHECK=1 mcopy -i "$p" "$work/syslinux-$a.cfg" ::syslinux.cfg
	syslinux --offset 1048576 --install "$img"
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$img" bs=440 count=1 conv=notrunc status=none
}

# ---- build ---------------------------------------------------------------------
log "data disk"
"$PY" "$here/mkdata.py" write "$cache/data.img" > "$cache/data.sha256"

for a in amd64 686; do
	case $a in amd64) da=amd64 ;; 686) da=i386 ;; esac
	log "kernel + initramfs ($a)"
	unpack "$(deb_path "linux-image-$kabi-$a" "$da")" "$work/k-$a"
	kver="$kabi-$a"
	cp "$work/k-$a/boot/vmlinuz-$kver" "$cache/vmlinuz-$a"
	cp "$work/k-$a/boot/config-$kver" "$cache/config-$a"
	mkinitrd "$work/k-$a" "$kver" "$(deb_path busybox-static "$da")" "$here/kit-init.sh" \
		"$here/modules-kit.list" "$cache/initrd-$a.xz" "$cache/modules-$a.txt"
	if [ $a = amd64 ]; then
		log "L1 initramfs + vmlinux"
		mkinitrd "$work/k-$a" "$kver" "$(deb_path busybox-static "$da")" "$here/l1-init.sh" \
			"$here/modules-l1.list" "$cache/l1/initrd.xz" "$cache/l1/modules.txt"
		extract_vmlinux "$cache/vmlinuz-$a" "$cache/vmlinux-$a"
		ln -f "$cache/vmlinux-$a" "$cache/l1/vmlinux" 2>/dev/null || cp "$cache/vmlinux-$a" "$cache/l1/vmlinux"
	fi
	rm -rf "$work/k-$a"
	log "ISO + disk image ($a)"
	mkiso $a
	mkimg $a
done
grep -q '^absent kvm_amd' "$cache/l1/modules.txt" && die "kvm_amd missing from the L1 kernel"

{
	echo "# vmm guest kit, built $(date -u +%Y-%m-%dT%H:%M:%SZ) by tests/guests/build.sh"
	echo "kernel_abi $kabi"
	for f in "$cache"/debs/*.deb; do echo "deb ${f##*/}"; done
	for f in $OUTPUTS; do
		[ "$f" = MANIFEST ] && continue
		echo "file $f $(stat -c %s "$cache/$f") $(sha256sum "$cache/$f" | cut -d' ' -f1)"
	done
	for a in amd64 686; do
		echo "modules_$a $(awk '$1=="module"{printf "%s ", $2}' "$cache/modules-$a.txt")"
		echo "carry_$a $(awk '$1=="carry"{printf "%s ", $2}' "$cache/modules-$a.txt")"
		echo "builtin_$a $(awk '$1=="builtin"{printf "%s ", $2}' "$cache/modules-$a.txt")"
		echo "absent_$a $(awk '$1=="absent"{printf "%s ", $2}' "$cache/modules-$a.txt")"
	done
} > "$cache/MANIFEST"
rm -rf "$work"
echo "$hash" > "$cache/.stamp"
log "done in $(( $(date +%s) - t_start )) s: $cache"
