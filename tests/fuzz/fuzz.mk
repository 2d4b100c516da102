# SPDX-License-Identifier: GPL-2.0-or-later
# libFuzzer targets, built with clang, ASan and UBSan:
#   fuzz_image            the image parsers (tests/fuzz/fuzz_image.c)
#   fuzz_dev_<device>     every guest-facing device model in hw/, one binary
#                         (tests/fuzz/fuzz_devices.c) run under one name per
#                         target; FUZZ_LIST_TARGETS=1 lists them
#   fuzz_control          QMP, the human monitor and the JSON parser
#                         (tests/fuzz/fuzz_control.c)
#   fuzz_savestate        the saved-state stream loader and the device
#                         load functions (tests/fuzz/fuzz_savestate.c)
#   fuzz_gdbstub          the gdb stub's packet layer (tests/fuzz/fuzz_gdbstub.c)
#   fuzz_coalesced        the coalesced MMIO ring drain (tests/fuzz/fuzz_coalesced.c)
#   fuzz_migstream        the incoming migration stream (RAM and named-block sections into
#                         guest memory, the state section) (tests/fuzz/fuzz_migstream.c)
# `make fuzz` (part of `make check`) first checks that every hw/ device
# has a target (tests/fuzz/check_targets.sh), then runs each target for
# FUZZ_SECONDS (default 8: 15 targets take about two minutes);
# `make fuzz FUZZ_SECONDS=600` runs them longer, `make fuzz
# FUZZ_TARGETS="virtio_blk ide"` only some (image, control and device
# names). Seed corpora come from tests/fuzz/seeds.sh; new finds go to
# $(BUILD)/fuzz/corpus/<target>, crashes to $(BUILD)/fuzz/<target>-crash-*;
# tests/fuzz/regress/<target>/ keeps inputs that once failed (every run
# replays them first).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 8
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_SRCS := src/block/block.c src/block/block_formats.c src/core/lazylib.c src/block/qcow2.c src/block/qcow.c src/block/vmdk.c src/block/vdi.c src/block/vpc.c src/block/vhdx.c src/block/refused_formats.c src/block/image_lock.c src/core/util.c
FUZZ_WARN := -Wall -Wextra -Werror -Wno-unused-parameter
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(FUZZ_WARN) $(CPPFLAGS)
# The library the device and control targets link: every core and device
# source, instrumented for coverage but without libFuzzer's main.
FUZZ_LIB_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined -pthread $(FUZZ_WARN) $(CPPFLAGS)
FUZZ_LIB_SRCS := $(filter-out src/board/machine_pc.c src/board/pc_firmware.c src/board/pc_cmos.c \
	src/board/pc_fw_cfg.c src/board/pc_control.c src/board/pc_run.c src/board/pc_migrate.c \
	src/board/pc_snapshot.c src/board/pc_gdb.c src/board/pc_media.c src/board/pc_inspect.c,$(CORE_SRCS))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
# Empty: image, control and every device target (read from the binary
# once it is built).
FUZZ_TARGETS ?=

$(FUZZ_BUILD)/fuzz_image: tests/fuzz/fuzz_image.c $(FUZZ_SRCS) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_image.c $(FUZZ_SRCS) -pthread

FUZZ_COALESCED_SRCS := src/core/coalesced_mmio.c src/core/bus.c src/core/util.c
$(FUZZ_BUILD)/fuzz_coalesced: tests/fuzz/fuzz_coalesced.c $(FUZZ_COALESCED_SRCS) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_coalesced.c $(FUZZ_COALESCED_SRCS) -pthread

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_LIB_FLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libvmm-fuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_devices: tests/fuzz/fuzz_devices.c $(FUZZ_BUILD)/libvmm-fuzz.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -pthread -o $@ $< $(FUZZ_BUILD)/libvmm-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/fuzz_control: tests/fuzz/fuzz_control.c $(FUZZ_BUILD)/libvmm-fuzz.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -pthread -o $@ $< $(FUZZ_BUILD)/libvmm-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/fuzz_savestate: tests/fuzz/fuzz_savestate.c $(FUZZ_BUILD)/libvmm-fuzz.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -pthread -o $@ $< $(FUZZ_BUILD)/libvmm-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/fuzz_migstream: tests/fuzz/fuzz_migstream.c $(FUZZ_BUILD)/libvmm-fuzz.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -pthread -o $@ $< $(FUZZ_BUILD)/libvmm-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/fuzz_gdbstub: tests/fuzz/fuzz_gdbstub.c $(FUZZ_BUILD)/libvmm-fuzz.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -pthread -o $@ $< $(FUZZ_BUILD)/libvmm-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/seeds.stamp: tests/fuzz/seeds.sh $(FUZZ_BUILD)/fuzz_devices $(FUZZ_BUILD)/fuzz_savestate \
		$(FUZZ_BUILD)/fuzz_migstream
	tests/fuzz/seeds.sh $(FUZZ_BUILD)/seeds $(FUZZ_BUILD)/fuzz_devices
	@touch $@

fuzz-build: $(FUZZ_BUILD)/fuzz_image $(FUZZ_BUILD)/fuzz_devices $(FUZZ_BUILD)/fuzz_control \
	$(FUZZ_BUILD)/fuzz_savestate $(FUZZ_BUILD)/fuzz_migstream $(FUZZ_BUILD)/fuzz_gdbstub \
	$(FUZZ_BUILD)/fuzz_coalesced

# Every device model in hw/ must be driven by a fuzz target.
fuzz-targets-check: $(FUZZ_BUILD)/fuzz_devices
	tests/fuzz/check_targets.sh $(FUZZ_BUILD)/fuzz_devices

# Every target runs even when an earlier one failed; the failures are
# listed at the end, each with the end of its log (FUZZ_BUILD/TARGET.run.log).
# FUZZ_JOBS targets at a time (each is one process on its own corpus).
FUZZ_JOBS ?= 2
fuzz: fuzz-build fuzz-targets-check $(FUZZ_BUILD)/seeds.stamp
	@targets="$(FUZZ_TARGETS)"; rm -f $(FUZZ_BUILD)/failed.list; \
	[ -n "$$targets" ] || targets="image control savestate migstream gdbstub coalesced $$(FUZZ_LIST_TARGETS=1 $(FUZZ_BUILD)/fuzz_devices | cut -d' ' -f1)"; \
	printf '%s\n' $$targets | xargs -P $(FUZZ_JOBS) -I{} sh -c \
		'if tests/fuzz/run.sh $(abspath $(FUZZ_BUILD)) {} $(FUZZ_SECONDS) $(abspath tests/fuzz/regress) \
			> $(FUZZ_BUILD)/{}.run.log 2>&1; then \
			echo "== fuzz {} ($(FUZZ_SECONDS) s): $$(grep -o "stat::number_of_executed_units: *[0-9]*" $(FUZZ_BUILD)/{}.run.log | grep -o "[0-9]*$$") runs"; \
		else echo "== fuzz {} ($(FUZZ_SECONDS) s): FAILED"; tail -n 40 $(FUZZ_BUILD)/{}.run.log; \
			echo {} >> $(FUZZ_BUILD)/failed.list; fi'; \
	if [ -s $(FUZZ_BUILD)/failed.list ]; then \
		echo "fuzz: FAILED: $$(tr '\n' ' ' < $(FUZZ_BUILD)/failed.list)(inputs in $(FUZZ_BUILD)/<target>-crash-*)"; exit 1; fi

.PHONY: fuzz fuzz-build fuzz-targets-check
-include $(FUZZ_LIB_OBJS:.o=.d)
