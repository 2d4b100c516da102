// SPDX-License-Identifier: GPL-2.0-or-later
/* Per-vCPU CPUID: APIC ID, hypervisor bit, topology leaves. */
#include "unit.h"

#include <stdlib.h>
#include <linux/kvm.h>

#include "vcpu.h"

static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));
	c->nent = 6;
	/* Host-like values: APIC ID 7, 2 logical CPUs, HTT set, no hypervisor bit. */
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0x07020800,
						   .ecx = 0x1, .edx = 1u << 28 | 1 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 4, .eax = 0xFC004121 };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 0, .eax = 1,
						   .ebx = 2, .ecx = 0x100, .edx = 7 };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 1, .eax = 4,
						   .ebx = 8, .ecx = 0x201, .edx = 7 };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .ecx = 0x7007 };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001 };
	return c;
}

static void test_apic_id_and_flags(void **state)
{
	for (unsigned id = 0; id < 4; id++) {
		struct kvm_cpuid2 *c = fake_supported();
		cpuid_patch(c, id, 4);
		assert_int_equal(c->entries[0].ebx >> 24, id);
		assert_int_equal((c->entries[0].ebx >> 16) & 0xFF, 1);
		assert_int_equal(c->entries[0].ebx & 0xFFFF, 0x0800); /* CLFLUSH size kept */
		assert_int_equal(c->entries[0].edx & (1u << 28), 0);
		assert_int_equal(c->entries[0].ecx >> 31, 1);
		/* Leaf 4: cores per package - 1 = 0, threads sharing = 1. */
		assert_int_equal(c->entries[1].eax >> 14, 0);
		assert_int_equal(c->entries[1].eax & 0x3FFF, 0x0121);
		/* Leaf 0xB: x2APIC ID in EDX, one thread, one core. */
		assert_int_equal(c->entries[2].edx, id);
		assert_int_equal(c->entries[2].ebx, 1);
		assert_int_equal(c->entries[2].ecx, 0x100);
		assert_int_equal(c->entries[3].edx, id);
		assert_int_equal(c->entries[3].ecx & 0xFF00, 0x200);
		assert_int_equal(c->entries[4].ecx & 0xFF, 0);
		/* Untouched leaves stay. */
		assert_int_equal(c->entries[5].eax, 0x40000001);
		free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apic_id_and_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
