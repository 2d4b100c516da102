# tests/nested/nested.mk -- real-guest harness rules, included by the top-level
# Makefile (and usable alone: make -f tests/nested/nested.mk guests).
#
#   make guests            build the guest kit into $(GUEST_CACHE) (cached)
#   make build/kvmprobe    build the /dev/kvm speed probe
#   $(REAL_TESTS)          the pytest directory of real-OS tests
#
# See docs/testing.md.

GUEST_CACHE ?= build/guests
# test_nics_tap.py is run by hand: its nine cards over tap reset the guest
# in five of six L1 runs (2026-12-05), always the L1's fault signature (a
# #PF delivered at the triple fault, once while SeaBIOS ran without
# paging); a run without it passes every card both ways. The harness
# cannot tell that fault from a vmm one (docs/testing.md).
REAL_TESTS = tests/real --ignore=tests/real/test_nics_tap.py

# CI's limit is 90 min, and on an EPYC host under kvm_pvm (2026-12-05) the
# whole `make check` took about 93: the firmware layer 26 min (18.6 on the
# earlier hosts), the nested batch about 55. Two L1s now share the batch
# (70 min in all, 2026-12-06). make check still leaves out the nested
# scenarios whose coverage others repeat: QEMU's own kit boots
# (VMM_REAL_OPTIONAL_PEERS=0: the kit's reference, in every full run), four
# of the six PXE cards (e1000 and the ne2k_pci NBP stay; the 82544GC and
# 82545EM boot iPXE's intel driver as the e1000 does, and SeaBIOS runs
# every card's ROM in the firmware layer) and two of the five SMP boots (2,
# 2 on 686 and 8 as 2 sockets x 2 cores x 2 threads stay). `make
# realcheck-all` runs them all.
REAL_CHECK_SKIP = -k "not pxe-e1000-8254 and not pxe-rtl8139 and not pxe-pcnet and not smp-4-amd64 and not smp-3-sockets3"

KVMPROBE = build/kvmprobe
NESTED_CC ?= cc
NESTED_CFLAGS ?= -std=gnu11 -O2 -Wall -Wextra -Werror

.PHONY: guests
guests:
	VMM_GUEST_CACHE="$(GUEST_CACHE)" tests/guests/build.sh "$(GUEST_CACHE)"

$(KVMPROBE): tests/nested/kvmprobe.c
	@mkdir -p $(dir $@)
	$(NESTED_CC) $(NESTED_CFLAGS) -o $@ $<
