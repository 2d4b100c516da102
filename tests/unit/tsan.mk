# SPDX-License-Identifier: GPL-2.0-or-later
# Race tests under ThreadSanitizer: libvmm built a second time with
# -fsanitize=thread (build/tsan, apart from the ASan build), and the unit
# tests that run vCPU threads against device threads (RACE_TESTS) linked
# to it. Any report fails the run (halt_on_error). The same tests also run
# under ASan/UBSan in `make unit`.
#
# ASLR is turned off for the run (setarch -R): gcc 12's TSan runtime may
# not find its shadow layout under the kernel's 28 bits of mmap entropy.

# -Wno-tsan: TSan does not model the standalone fences in virtqueue.c
# (ordering against the guest across the shared rings); they are still
# emitted, TSan only cannot reason about them.
TSAN       := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
TSAN_OBJS  := $(CORE_SRCS:%.c=$(BUILD)/tsan/%.o) $(BUILD)/tsan/bios/linuxboot_rom.o
RACE_TESTS := test_virtio_race test_legacy_race test_i8237 test_irq test_event test_rtc test_nic_race test_input \
              test_sb16 test_cs4231a test_gus test_pcspk test_ordered_pool test_qcow2_race
TSAN_BINS  := $(RACE_TESTS:%=$(BUILD)/tsan/unit/%)

$(BUILD)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 $(TSAN) -c -o $@ $<

$(BUILD)/tsan/bios/%.o: $(BUILD)/bios/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O1 $(TSAN) -c -o $@ $<

$(BUILD)/libvmm-tsan.a: $(TSAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tsan/unit/%: tests/unit/%.c tests/unit/unit.h tests/unit/virtio_fixture.h \
                      tests/unit/memdisk.h tests/unit/bus_access.h $(BUILD)/libvmm-tsan.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -O1 $(TSAN) -o $@ $< $(BUILD)/libvmm-tsan.a \
		$(LDLIBS) -lcmocka

tsan: $(TSAN_BINS)
	@set -e; for t in $(TSAN_BINS); do echo "== $$t (TSan)"; \
		TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" setarch -R $$t; done

.PHONY: tsan
