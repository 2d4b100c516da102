# tests/nested/nested.mk -- real-guest harness rules, included by the top-level
# Makefile (and usable alone: make -f tests/nested/nested.mk guests).
#
#   make guests            build the guest kit into $(GUEST_CACHE) (cached)
#   make build/kvmprobe    build the /dev/kvm speed probe
#   $(REAL_TESTS)          the pytest directory of real-OS tests
#
# See docs/testing.md.

GUEST_CACHE ?= build/guests
REAL_TESTS = tests/real
KVMPROBE = build/kvmprobe
NESTED_CC ?= cc
NESTED_CFLAGS ?= -std=gnu11 -O2 -Wall -Wextra -Werror

.PHONY: guests
guests:
	VMM_GUEST_CACHE="$(GUEST_CACHE)" tests/guests/build.sh "$(GUEST_CACHE)"

$(KVMPROBE): tests/nested/kvmprobe.c
	@mkdir -p $(dir $@)
	$(NESTED_CC) $(NESTED_CFLAGS) -o $@ $<
