# SPDX-License-Identifier: GPL-2.0-or-later
# libFuzzer target for the image parsers (tests/fuzz/fuzz_image.c), built
# with clang, ASan and UBSan. `make check` runs it for FUZZ_SECONDS (20);
# `make fuzz FUZZ_SECONDS=3600` runs it longer. The seed corpus is made
# from images qemu-img writes (tests/fuzz/seeds.sh); new finds go to
# $(BUILD)/fuzz/corpus, crashes to $(BUILD)/fuzz/crash-*; tests/fuzz/regress
# keeps inputs that once failed.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 20
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_SRCS := src/block.c src/lazylib.c src/qcow2.c src/vmdk.c src/util.c
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Werror -Wno-unused-parameter $(CPPFLAGS)

$(FUZZ_BUILD)/fuzz_image: tests/fuzz/fuzz_image.c $(FUZZ_SRCS) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_image.c $(FUZZ_SRCS) -pthread

$(FUZZ_BUILD)/seeds.stamp: tests/fuzz/seeds.sh
	tests/fuzz/seeds.sh $(FUZZ_BUILD)/seeds
	@touch $@

fuzz: $(FUZZ_BUILD)/fuzz_image $(FUZZ_BUILD)/seeds.stamp
	@mkdir -p $(FUZZ_BUILD)/corpus
	cd $(FUZZ_BUILD) && ./fuzz_image -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
		-artifact_prefix=$(abspath $(FUZZ_BUILD))/ corpus seeds $(abspath tests/fuzz/regress) </dev/null

.PHONY: fuzz
