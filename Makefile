# SPDX-License-Identifier: GPL-2.0-or-later
# vmm: one non-recursive Makefile. `make` builds build/vmm; `make check` runs
# every test layer; `make demo` boots a small real guest.

CC       ?= gcc
PREFIX   ?= /usr/local
BUILD    := build
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wpointer-arith
CPPFLAGS += -Iinclude -D_GNU_SOURCE
# Headers only: the libraries vmm uses for optional features (libvncserver,
# libxkbcommon for -k, ...) are loaded with dlopen when a machine needs them
# (include/lazylib.h), so they are compiled against, not linked.
XKB_CFLAGS := $(shell pkg-config --cflags xkbcommon 2>/dev/null)
CPPFLAGS += $(XKB_CFLAGS)
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -MMD -MP -pthread
LDLIBS   := -pthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# src/ is by layer (core, block, net, chardev, control, loader, board; main.c
# and cli.c on top), hw/ by kind (chipset, storage, virtio, misc): see
# docs/architecture.md.
CORE_SRCS := $(filter-out src/main.c,$(wildcard src/*.c src/*/*.c)) $(wildcard hw/*.c hw/*/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/bios/linuxboot_rom.o
ASAN_OBJS := $(CORE_SRCS:%.c=$(BUILD)/asan/%.o) $(BUILD)/asan/bios/linuxboot_rom.o
# vmm's link order: the objects every machine runs first, then those that
# only a machine configured for them runs (LATE_SRCS: virtio, watchdogs, display cards, NICs, front-ends,
# image formats, QMP/monitor, user networking, loaders, saved state, ATAPI).
# The kernel maps a program's code 64 KiB at a time, so one function run in
# a window makes the whole window resident: with the optional code kept
# together at the end, a small machine leaves those windows out (~0.1 MiB
# of peak RSS, docs/bench.md). The order is only about RSS: any order links.
LATE_SRCS := $(filter $(wildcard hw/virtio/*.c hw/watchdog/*.c hw/display/*.c hw/net/*.c hw/audio/*.c src/audio/*.c src/ui/*.c src/loader/*.c) \
	src/net/net.c src/net/net_rx_fifo.c src/net/net_slirp.c src/net/vhost_net.c src/block/qcow2.c src/block/qcow.c src/block/vmdk.c src/block/vdi.c src/block/vpc.c \
	src/block/vhdx.c src/block/refused_formats.c src/block/block_formats.c src/block/image_lock.c src/control/json.c \
	src/control/qmp.c src/control/qmp_lacking.c src/control/memsave.c src/control/monitor.c src/control/gdbstub.c src/board/pc_gdb.c src/board/pc_media.c src/board/pc_inspect.c src/chardev/chan.c src/core/savestate.c \
	src/board/acpi_tables.c src/board/pc_direct_boot.c src/core/kvm_state.c src/core/virtqueue.c src/core/lazylib.c src/core/ordered_pool.c src/core/launcher.c hw/storage/atapi.c,$(CORE_SRCS))
LATE_OBJS := $(LATE_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/bios/linuxboot_rom.o
VMM_OBJS := $(BUILD)/obj/src/main.o $(filter-out $(LATE_OBJS),$(CORE_OBJS)) $(LATE_OBJS)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)

all: $(BUILD)/vmm $(BUILD)/vmm-img

# No .eh_frame in the release objects: vmm is C without pthread_cancel,
# pthread_exit or backtrace(), so nothing unwinds its frames at run time,
# and the tables (70 KiB) shared the 64 KiB windows of .rodata that every
# run maps. gdb and perf unwind from .debug_frame, which -g still emits;
# the sanitizer builds keep their unwind tables.
NO_UNWIND := -fno-asynchronous-unwind-tables -fno-unwind-tables
# Each function in a section of its own, so that vmm's link can put the
# ones every run calls together (STARTUP_LD below).
FUNCTION_SECTIONS := -ffunction-sections

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(NO_UNWIND) $(FUNCTION_SECTIONS) -c -o $@ $<

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

# The direct kernel boot option ROM (bios/linuxboot.S): 16-bit code linked
# at 0, signed (size, PnP and ROM checksums), embedded as a C array.
$(BUILD)/tools/romsign: tools/romsign.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/bios/linuxboot.o: bios/linuxboot.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $@ $<

$(BUILD)/bios/linuxboot.raw: $(BUILD)/bios/linuxboot.o
	ld -m elf_i386 -Ttext 0 -e 0 --oformat binary -o $@ $<

$(BUILD)/bios/linuxboot.bin: $(BUILD)/bios/linuxboot.raw $(BUILD)/tools/romsign
	$(BUILD)/tools/romsign sign $< $@

$(BUILD)/bios/linuxboot_rom.c: $(BUILD)/bios/linuxboot.bin $(BUILD)/tools/romsign
	$(BUILD)/tools/romsign c $< $@ vmm_linuxboot_rom

$(BUILD)/obj/bios/%.o: $(BUILD)/bios/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/asan/bios/%.o: $(BUILD)/bios/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

$(BUILD)/libvmm.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libvmm-asan.a: $(ASAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Relative relocations packed (DT_RELR, glibc 2.36+): .rela.dyn was 25 KiB
# of the first segment, which the loader reads in every process.
VMM_LDFLAGS := -Wl,-z,pack-relative-relocs

# The functions an empty machine runs (start-up, tear-down: the list is
# tools/link/startup-functions.txt, written by startup_profile.py) go
# first, together: they fit in two 64 KiB windows of code instead of
# touching one in every object (~0.1 MiB of peak RSS, docs/bench.md).
STARTUP_LD := $(BUILD)/startup.ld
$(STARTUP_LD): tools/link/startup-functions.txt tools/link/startup.ld.sh
	@mkdir -p $(dir $@)
	tools/link/startup.ld.sh $< > $@

$(BUILD)/vmm: $(VMM_OBJS) $(STARTUP_LD)
	$(CC) $(ALL_CFLAGS) $(VMM_LDFLAGS) -Wl,-T,$(STARTUP_LD) -o $@ $(VMM_OBJS) $(LDLIBS)

# vmm under ASan+UBSan with LeakSanitizer: the firmware-level leak test
# (tests/fw/test_lifecycle.py) runs a full machine with it and quits.
$(BUILD)/vmm-asan: $(BUILD)/asan/src/main.o $(BUILD)/libvmm-asan.a
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -o $@ $^ $(LDLIBS)

# vmm-img: the image tool (qemu-img's syntax), on the same block layer.
$(BUILD)/vmm-img: $(BUILD)/obj/tools/vmm-img.o $(BUILD)/libvmm.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests: device models without KVM, under ASan and UBSan, with cmocka.
$(BUILD)/unit/%: tests/unit/%.c tests/unit/unit.h tests/unit/virtio_fixture.h tests/unit/memdisk.h \
                  tests/unit/bus_access.h tests/unit/nic_fixture.h \
                  $(BUILD)/libvmm-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -O1 $(SAN) -o $@ $< $(BUILD)/libvmm-asan.a $(LDLIBS) -lcmocka

# the one user of libseccomp: the reference the sandbox's own BPF is checked against
$(BUILD)/unit/test_seccomp_bpf: LDLIBS += -lseccomp
# builds a compressed qcow cluster itself (the driver loads zlib lazily)
$(BUILD)/unit/test_formats: LDLIBS += -lz

# Each layer includes only its own and lower layers' headers, and no two
# files include each other's (docs/architecture.md, "Layers"): well under
# a second, so the cheapest test layer runs it first.
layercheck:
	@/usr/bin/python3 tools/check_layers.py

unit: layercheck $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

deps:
	@tools/deps.sh

-include tests/nested/nested.mk
-include tests/fw/fw.mk
-include tests/fuzz/fuzz.mk
-include tests/img/img.mk
-include tests/unit/tsan.mk
-include tools/bench/bench.mk

# Every test layer: unit (no KVM), firmware-level (any /dev/kvm; the guest
# kit first, as one firmware-level test loads its Debian kernel), the
# benchmark smoke run (seconds; tools/bench/bench.py --smoke), real OS
# (hardware virtualization, nested when the host has none). The real-OS
# layer boots the guest kit under QEMU (the peer) and vmm in one batch that
# two L1s share (tests/nested/nested.py, Batch.l1s).
check: deps
	$(MAKE) -j2 all $(UNIT_BINS) $(KVMPROBE)
	$(MAKE) unit
	$(MAKE) -j2 tsan
	$(MAKE) imgcheck
	$(MAKE) fuzz
	$(MAKE) guests
	VMM_REQUIRE_REAL=1 $(MAKE) fwcheck
	$(MAKE) bench-smoke
	VMM_REQUIRE_REAL=1 VMM_REAL_VMMS=qemu,vmm VMM_REAL_OPTIONAL_PEERS=0 \
		VMM_GUEST_CACHE=$(abspath $(GUEST_CACHE)) \
		VMM=$(abspath $(BUILD)/vmm) /usr/bin/python3 -m pytest -rs -v $(REAL_TESTS) $(REAL_CHECK_SKIP)

# Every real-guest scenario, QEMU's kit boots included (an hour and a half
# of nested TCG on two CPUs).
realcheck-all: all guests
	VMM_REQUIRE_REAL=1 VMM_REAL_VMMS=qemu,vmm \
		VMM_GUEST_CACHE=$(abspath $(GUEST_CACHE)) \
		VMM=$(abspath $(BUILD)/vmm) /usr/bin/python3 -m pytest -rs -v $(REAL_TESTS)

# Installs what is missing, builds vmm and the guest kit, and boots the kit's
# CD (stock Debian kernel + busybox) under vmm, printing its console.
demo: deps
	$(MAKE) -j2 all $(KVMPROBE)
	$(MAKE) guests
	tools/demo.sh

install: $(BUILD)/vmm $(BUILD)/vmm-img
	install -D -m 755 $(BUILD)/vmm $(DESTDIR)$(PREFIX)/bin/vmm
	install -D -m 755 $(BUILD)/vmm-img $(DESTDIR)$(PREFIX)/bin/vmm-img
	install -D -m 644 docs/man/vmm.1 $(DESTDIR)$(PREFIX)/share/man/man1/vmm.1
	install -D -m 644 docs/man/vmm-img.1 $(DESTDIR)$(PREFIX)/share/man/man1/vmm-img.1

clean:
	rm -rf $(BUILD)

.PHONY: all unit layercheck deps check realcheck-all demo install clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
