# SPDX-License-Identifier: GPL-2.0-or-later
# `make bench`: vmm against QEMU side by side on this host's /dev/kvm.
# Included by the top-level Makefile (BUILD, CC come from there).
# See docs/bench.md.
BENCH_BUILD := $(BUILD)/bench
BENCH_PIO_LOOPS ?= 100000
BENCH_PY ?= /usr/bin/python3
BENCH_ARGS ?=

# 64 KiB -bios images: guest-N.bin writes N times to an unclaimed port, then
# exits through isa-debug-exit. guest-0.bin is the empty guest.
$(BENCH_BUILD)/guest-%.o: tools/bench/guest.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DLOOPS=$* -c -o $@ $<

$(BENCH_BUILD)/guest-%.bin: $(BENCH_BUILD)/guest-%.o
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $<

$(BENCH_BUILD)/kvm-loop: tools/bench/kvm-loop.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

# Times a command and reads its ru_maxrss; static so that its own small
# image is the pre-exec RSS floor (see spawn.c).
$(BENCH_BUILD)/spawn: tools/bench/spawn.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

# The static-screen guests (tools/bench/vgaidle.S): a boot sector that
# draws in mode 13h (vgaidle-13h.img) or VBE 640x480x32 (vgaidle-vbe32.img)
# and then idles with HLT, as a 1 MiB disk.
$(BENCH_BUILD)/vgaidle-%.img: tools/bench/vgaidle.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DIDLE_$* -c -o $(BENCH_BUILD)/vgaidle-$*.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $(BENCH_BUILD)/vgaidle-$*.bin \
		$(BENCH_BUILD)/vgaidle-$*.o
	cp $(BENCH_BUILD)/vgaidle-$*.bin $@
	truncate -s 1M $@

# The text-scrolling guest (tools/bench/vgascroll.S): text mode 3, one line
# scrolled in at every BIOS timer tick, as a 1 MiB disk.
$(BENCH_BUILD)/vgascroll.img: tools/bench/vgascroll.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(BENCH_BUILD)/vgascroll.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $(BENCH_BUILD)/vgascroll.bin \
		$(BENCH_BUILD)/vgascroll.o
	cp $(BENCH_BUILD)/vgascroll.bin $@
	truncate -s 1M $@

BENCH_DEPS := $(BENCH_BUILD)/guest-0.bin $(BENCH_BUILD)/guest-$(BENCH_PIO_LOOPS).bin \
	$(BENCH_BUILD)/kvm-loop \
	$(BENCH_BUILD)/spawn \
	$(BUILD)/fw/disk-0.img \
	$(BUILD)/fw/sb16play-forever.img $(BUILD)/fw/es1370play-forever.img \
	$(BUILD)/fw/cs4231aplay-forever.img $(BUILD)/fw/gusplay-forever.img \
	$(BENCH_BUILD)/vgaidle-13h.img $(BENCH_BUILD)/vgaidle-vbe32.img \
	$(BENCH_BUILD)/vgascroll.img

bench-deps: $(BENCH_DEPS)

bench: all $(BENCH_DEPS)
	$(BENCH_PY) tools/bench/bench.py --vmm $(BUILD)/vmm --bench-dir $(BENCH_BUILD) \
		--disk $(BUILD)/fw/disk-0.img --fw-dir $(BUILD)/fw --pio-loops $(BENCH_PIO_LOOPS) \
		$(BENCH_ARGS)

# The quick benchmark run of `make check` (seconds): vmm and the bare KVM
# loop only, 3 runs of each host-level metric; fails when a figure cannot be
# measured or vmm's is far off tools/bench/recorded.json (start-to-exit over
# 2x, peak RSS over 1.5x, port-I/O exits under 0.8x of the bare loop).
bench-smoke: all $(BENCH_DEPS)
	$(BENCH_PY) -m pytest -q tools/bench/test_bench.py
	$(BENCH_PY) tools/bench/bench.py --smoke --vmm $(BUILD)/vmm --bench-dir $(BENCH_BUILD) \
		--disk $(BUILD)/fw/disk-0.img --pio-loops $(BENCH_PIO_LOOPS)

# Direct kernel boot under vmm, QEMU -M pc and -M microvm, in the real-guest
# harness (tools/bench/kernel_boot.py); part of `make bench`. The nested
# benches take --strict (every figure of every VMM measured, or exit 1)
# through KERNEL_BENCH_ARGS, VIRTIO_BENCH_ARGS, NET_BENCH_ARGS and FBCON_BENCH_ARGS.
bench-kernel: all
	$(MAKE) guests
	$(BENCH_PY) tools/bench/kernel_boot.py --vmm $(BUILD)/vmm --kit $(GUEST_CACHE) $(KERNEL_BENCH_ARGS)

# vmm-img vs qemu-img (tools/bench/img_bench.py); part of `make bench`.
bench-img: $(BUILD)/vmm-img
	$(BENCH_PY) tools/bench/img_bench.py --vmm-img $(BUILD)/vmm-img --bench-dir $(BENCH_BUILD)

bench: bench-img bench-kernel bench-virtio

# Guest RAM preallocation (-mem-prealloc, prealloc-threads, a memfd) at
# 4 GiB, vmm vs QEMU: start to QMP ready and RSS (tools/bench/prealloc.py;
# 7 configurations x 5 runs, about a minute). Part of `make bench`.
bench-prealloc: all $(BUILD)/fw/migcount.bin
	@mkdir -p $(BENCH_BUILD)
	$(BENCH_PY) tools/bench/prealloc.py --vmm $(BUILD)/vmm --bios $(BUILD)/fw/migcount.bin \
		--runs 5 --json $(BENCH_BUILD)/prealloc.json

bench: bench-prealloc

.PHONY: bench bench-deps bench-smoke bench-img bench-kernel bench-prealloc
.SECONDARY: $(BENCH_BUILD)/guest-0.o $(BENCH_BUILD)/guest-$(BENCH_PIO_LOOPS).o

# virtio-blk sequential MB/s and 4 KiB random IOPS (raw, qcow2, the L1
# host's own file), vmm (io_uring and worker pool) vs QEMU, with the kit's
# Linux under hardware virtualization (a nested L1 here: both CPUs for
# ~8 minutes). Part of `make bench`. See
# docs/bench.md.
bench-virtio: all
	$(MAKE) guests
	@mkdir -p $(BENCH_BUILD)
	VMM=$(abspath $(BUILD)/vmm) VMM_GUEST_CACHE=$(abspath $(GUEST_CACHE)) \
		$(BENCH_PY) tools/bench/virtio_blk.py \
		--bench-dir $(abspath $(BENCH_BUILD)) --vmm-img $(abspath $(BUILD)/vmm-img) \
		--json $(BENCH_BUILD)/virtio-blk.json $(VIRTIO_BENCH_ARGS)

# The same figures with the disks on the PIIX3 IDE controller (the guest's
# ata_piix with bus-master DMA), vmm vs QEMU: `make bench-ide`. Part of
# `make bench`.
bench-ide: all
	$(MAKE) guests
	@mkdir -p $(BENCH_BUILD)
	VMM=$(abspath $(BUILD)/vmm) VMM_GUEST_CACHE=$(abspath $(GUEST_CACHE)) \
		$(BENCH_PY) tools/bench/virtio_blk.py --bus ide --vmms vmm,qemu \
		--bench-dir $(abspath $(BENCH_BUILD)) --vmm-img $(abspath $(BUILD)/vmm-img) \
		--json $(BENCH_BUILD)/ide.json $(IDE_BENCH_ARGS)

bench: bench-ide

.PHONY: bench-virtio bench-ide

# Guest-to-host TCP MB/s of every NIC model (virtio-net, the three e1000s,
# RTL8139 C+, NE2000 PCI, PCnet, ISA NE2000) over user (slirp) and tap, virtio-net also
# over tap with vhost-net and multiqueue (queues=2, mq=on, -smp 2), vmm vs QEMU,
# in the real-guest harness (tools/bench/nics.py): one boot per VMM carries
# every single-queue PCI leg and streams through each in turn, a second boot per
# VMM the multiqueue legs, a third (the 686 kit: amd64 has no ISA bus) the ISA
# NE2000's; the VMMs take turns in one L1 (~30-80 minutes). Needs root for the tap half (a
# network namespace with a bridge). NET_BENCH_ARGS: --cards, --backends,
# --runs, --size-mb, --cpu, --strict, --print (virtio-net over tap streams
# 100-200 MB/s in the L1: give those legs --size-mb 256 for runs of a second
# or more). See docs/bench.md.
bench-net: all
	$(MAKE) guests
	@mkdir -p $(BENCH_BUILD)
	VMM=$(abspath $(BUILD)/vmm) VMM_GUEST_CACHE=$(abspath $(GUEST_CACHE)) \
		$(BENCH_PY) tools/bench/nics.py --json $(BENCH_BUILD)/nics.json $(NET_BENCH_ARGS)

bench: bench-net

.PHONY: bench-net

# The time for the guest to write 10,000 lines to fbcon (vesafb on -vga std,
# --card cirrus for the Cirrus), vmm vs QEMU, in the real-guest harness (the
# nested L1 here); part of `make bench`. FBCON_BENCH_ARGS: --cpu qemu64,
# --card cirrus, --runs N, --passes N, --strict. See docs/bench.md.
bench-fbcon: all
	$(MAKE) guests
	@mkdir -p $(BENCH_BUILD)
	VMM=$(abspath $(BUILD)/vmm) VMM_GUEST_CACHE=$(abspath $(GUEST_CACHE)) \
		$(BENCH_PY) tools/bench/fbcon_scroll.py --json $(BENCH_BUILD)/fbcon-scroll.json \
		$(FBCON_BENCH_ARGS)

bench: bench-fbcon

.PHONY: bench-fbcon
