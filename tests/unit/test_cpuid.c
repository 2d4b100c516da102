// SPDX-License-Identifier: GPL-2.0-or-later
/* -smp topology resolution, APIC IDs, and the per-vCPU CPUID built from them. */
#include "unit.h"

#include <stdlib.h>
#include <linux/kvm.h>

#include "topology.h"
#include "cpuid.h"

enum { L1, L4_L1D, L4_L3, L4_NULL, LB0, LB1, LB2, L80000001, L80000008, L8000001E, L40000000, N };

static const struct {
	uint32_t function, index;
} leaf_of[N] = {
	[L1] = { 1, 0 }, [L4_L1D] = { 4, 0 }, [L4_L3] = { 4, 3 }, [L4_NULL] = { 4, 4 },
	[LB0] = { 0xB, 0 }, [LB1] = { 0xB, 1 }, [LB2] = { 0xB, 2 },
	[L80000001] = { 0x80000001, 0 }, [L80000008] = { 0x80000008, 0 },
	[L8000001E] = { 0x8000001E, 0 }, [L40000000] = { 0x40000000, 0 },
};

/* The entry for (function, index) wherever cpuid_patch left it. */
static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && c->entries[i].index == index)
			return &c->entries[i];
	fail_msg("leaf %#x.%u missing", function, index);
	return NULL;
}

#define E(k) (*find(c, leaf_of[k].function, leaf_of[k].index))

static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (N + CPUID_EXTRA_ENTRIES) * sizeof(c->entries[0]));
	c->nent = N;
	/* Host-like values: APIC ID 7, 2 logical CPUs, HTT set, no hypervisor bit. */
	c->entries[L1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0x07020800,
						    .ecx = 0x1, .edx = 1u << 28 | 1 };
	/* Leaf 4: L1d (level 1, type 1) and L3 (level 3, type 3), then the end. */
	c->entries[L4_L1D] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0,
							.eax = 0xFC004121 };
	c->entries[L4_L3] = (struct kvm_cpuid_entry2){ .function = 4, .index = 3,
						       .eax = 0xFC07C163 };
	c->entries[L4_NULL] = (struct kvm_cpuid_entry2){ .function = 4, .index = 4 };
	c->entries[LB0] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 0, .eax = 1,
						     .ebx = 2, .ecx = 0x100, .edx = 7 };
	c->entries[LB1] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 1, .eax = 4,
						     .ebx = 8, .ecx = 0x201, .edx = 7 };
	c->entries[LB2] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 2, .eax = 4,
						     .ebx = 8, .ecx = 0x302, .edx = 7 };
	c->entries[L80000001] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 0x2 };
	c->entries[L80000008] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .ecx = 0x7007 };
	c->entries[L8000001E] = (struct kvm_cpuid_entry2){ .function = 0x8000001E, .eax = 9 };
	c->entries[L40000000] = (struct kvm_cpuid_entry2){ .function = 0x40000000,
							   .eax = 0x40000001 };
	return c;
}

static struct cpu_topology resolve(unsigned cpus, unsigned sockets, unsigned cores,
				   unsigned threads, unsigned maxcpus, int want)
{
	struct cpu_topology t = { cpus, sockets, cores, threads, maxcpus };
	char err[256] = "";
	assert_int_equal(topology_resolve(&t, err, sizeof(err)), want);
	if (want < 0)
		assert_true(err[0] && !strchr(err, '\n'));
	return t;
}

static void test_resolve_like_qemu(void **state)
{
	/* A bare -smp N is one socket of N cores (QEMU 6.2+ "prefer cores"). */
	struct cpu_topology t = resolve(4, 0, 0, 0, 0, 0);
	assert_int_equal(t.sockets, 1);
	assert_int_equal(t.cores, 4);
	assert_int_equal(t.threads, 1);
	assert_int_equal(t.maxcpus, 4);
	t = resolve(0, 2, 2, 2, 0, 0);
	assert_int_equal(t.cpus, 8);
	assert_int_equal(t.maxcpus, 8);
	t = resolve(8, 2, 0, 2, 0, 0);
	assert_int_equal(t.cores, 2);
	t = resolve(8, 0, 2, 2, 0, 0);
	assert_int_equal(t.sockets, 2);
	t = resolve(2, 0, 0, 0, 4, 0);
	assert_int_equal(t.cpus, 2);
	assert_int_equal(t.cores, 4);
	/* Mismatches and impossible requests. */
	resolve(4, 3, 1, 1, 0, -1);     /* 3 != 4 */
	resolve(8, 1, 1, 1, 4, -1);     /* cpus > maxcpus */
	resolve(4, 2, 2, 2, 4, -1);     /* 8 != maxcpus 4 */
	resolve(255, 0, 0, 0, 0, 0);    /* APIC IDs 0..254 */
	resolve(256, 0, 0, 0, 0, -1);   /* would need x2APIC */
	resolve(0, 2, 3, 1, 0, 0);      /* 2 sockets of 3: IDs up to 6 */
	resolve(0, 100, 3, 1, 0, -1);   /* IDs beyond 254 */
	resolve(0, 4096, 4096, 1, 0, -1); /* absurd product */
}

static void test_apic_ids(void **state)
{
	struct cpu_topology t = resolve(0, 2, 3, 2, 0, 0);
	/* thread: 1 bit, core: 2 bits, socket above. */
	unsigned want[12] = { 0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13 };
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(topology_apic_id(&t, i), want[i]);
	assert_int_equal(topology_apic_id_limit(&t), 14);
	t = resolve(8, 0, 0, 0, 0, 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(topology_apic_id(&t, i), i);
}

static void test_single_core_sockets(void **state)
{
	/* -smp 4,sockets=4: four packages of one core, one thread. */
	struct cpu_topology t = resolve(4, 4, 0, 0, 0, 0);
	for (unsigned id = 0; id < 4; id++) {
		struct kvm_cpuid2 *c = fake_supported();
		cpuid_patch(c, N + CPUID_EXTRA_ENTRIES, &t, id);
		assert_int_equal(E(L1).ebx >> 24, id);
		assert_int_equal((E(L1).ebx >> 16) & 0xFF, 1);
		assert_int_equal(E(L1).ebx & 0xFFFF, 0x0800); /* CLFLUSH size kept */
		assert_int_equal(E(L1).edx & (1u << 28), 0);
		assert_int_equal(E(L1).ecx >> 31, 1);
		/* Leaf 4: cores per package - 1 = 0, sharing = 1 thread. */
		assert_int_equal(E(L4_L1D).eax >> 14, 0);
		assert_int_equal(E(L4_L1D).eax & 0x3FFF, 0x0121);
		assert_int_equal(E(L4_L3).eax >> 14, 0);
		/* Leaf 0xB: x2APIC ID in EDX, one thread, one core. */
		assert_int_equal(E(LB0).edx, id);
		assert_int_equal(E(LB0).ebx, 1);
		assert_int_equal(E(LB0).ecx, 0x100);
		assert_int_equal(E(LB1).edx, id);
		assert_int_equal(E(LB1).ecx & 0xFF00, 0x200);
		assert_int_equal(E(L80000001).ecx & 2, 0);
		assert_int_equal(E(L80000008).ecx & 0xF0FF, 0);
		/* Untouched leaves stay. */
		assert_int_equal(E(L40000000).eax, 0x40000001);
		free(c);
	}
}

static void test_sockets_cores_threads(void **state)
{
	/* 2 sockets x 3 cores x 2 threads: APIC ID = socket<<3 | core<<1 | thread. */
	struct cpu_topology t = resolve(0, 2, 3, 2, 0, 0);
	struct kvm_cpuid2 *c = fake_supported();
	unsigned index = 9; /* socket 1, core 1, thread 1 */
	cpuid_patch(c, N + CPUID_EXTRA_ENTRIES, &t, index);
	assert_int_equal(E(L1).ebx >> 24, 11);
	assert_int_equal((E(L1).ebx >> 16) & 0xFF, 6);
	assert_true(E(L1).edx & (1u << 28));
	/* L1d shared by the 2 threads (1 bit), L3 by the socket (3 bits);
	 * EAX[31:26] = 2^2 - 1 core IDs; the null entry stays null. */
	assert_int_equal((E(L4_L1D).eax >> 14) & 0xFFF, 1);
	assert_int_equal(E(L4_L1D).eax >> 26, 3);
	assert_int_equal((E(L4_L3).eax >> 14) & 0xFFF, 7);
	assert_int_equal(E(L4_NULL).eax, 0);
	assert_int_equal(E(LB0).eax, 1);
	assert_int_equal(E(LB0).ebx, 2);
	assert_int_equal(E(LB1).eax, 3);
	assert_int_equal(E(LB1).ebx, 6);
	assert_int_equal(E(LB1).edx, 11);
	assert_int_equal(E(LB2).ecx, 2); /* invalid level, index kept */
	assert_int_equal(E(LB2).ebx, 0);
	assert_int_equal(E(L80000001).ecx & 2, 2);
	assert_int_equal(E(L80000008).ecx & 0xF0FF, 3 << 12 | 5);
	assert_int_equal(E(L8000001E).eax, 11);
	assert_int_equal(E(L8000001E).ebx, 1 << 8 | 1);
	assert_int_equal(E(L8000001E).ecx, 1);
	free(c);
}

/* An AMD host whose KVM has no leaf 0x8000001E: vmm adds it, with TOPOEXT,
 * so the guest sees SMT siblings; without SMT nothing is added. */
static void test_amd_without_topoext(void **state)
{
	struct cpu_topology smt = resolve(4, 1, 2, 2, 0, 0), nosmt = resolve(4, 0, 0, 0, 0, 0);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 4 * sizeof(c->entries[0]));

	for (int pass = 0; pass < 2; pass++) {
		c->nent = 3;
		c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xD,
							   .ebx = 0x68747541, .edx = 0x69746E65,
							   .ecx = 0x444D4163 };
		c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0x80000000,
							   .eax = 0x8000001A };
		c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0x80000001 };
		cpuid_patch(c, 3 + CPUID_EXTRA_ENTRIES, pass ? &nosmt : &smt, 3);
		if (pass) {
			assert_int_equal(c->nent, 3);
			assert_int_equal(c->entries[2].ecx & (1u << 22), 0);
			continue;
		}
		assert_int_equal(c->nent, 4);
		assert_int_equal(c->entries[1].eax, 0x8000001E);
		assert_true(c->entries[2].ecx & (1u << 22));
		assert_int_equal(c->entries[3].function, 0x8000001E);
		assert_int_equal(c->entries[3].eax, 3);               /* APIC ID */
		assert_int_equal(c->entries[3].ebx, 1 << 8 | 1);      /* 2 threads, core 1 */
	}
	/* No room: nothing is written past the table. */
	c->nent = 3;
	c->entries[3] = (struct kvm_cpuid_entry2){ 0 };
	cpuid_patch(c, 3, &smt, 0);
	assert_int_equal(c->nent, 3);
	free(c);
}

/* A host listing only the SMT level of leaf 0xB gets all of ours. */
static void test_leaf_b_rebuilt(void **state)
{
	struct cpu_topology t = resolve(0, 2, 2, 2, 0, 0);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (2 + CPUID_EXTRA_ENTRIES) *
				      sizeof(c->entries[0]));
	c->nent = 2;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0xB, .index = 0, .ebx = 1,
						   .ecx = 0x100 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 1 };
	cpuid_patch(c, 2 + CPUID_EXTRA_ENTRIES, &t, 5);
	assert_int_equal(c->nent, 4);
	assert_int_equal(find(c, 0xB, 0)->ebx, 2);
	assert_int_equal(find(c, 0xB, 1)->eax, 2);
	assert_int_equal(find(c, 0xB, 1)->ebx, 4);
	assert_int_equal(find(c, 0xB, 1)->edx, 5);
	assert_int_equal(find(c, 0xB, 2)->ecx, 2);
	assert_true(find(c, 0xB, 1)->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	assert_int_equal(find(c, 1, 0)->ebx >> 24, 5);
	free(c);
}

/* KVM emulates the TSC-deadline timer but reports it only as a capability:
 * with it the supported set (and so -cpu host) gets leaf 1 ECX bit 24, as
 * QEMU's -cpu host has; nothing else changes. */
static void test_tsc_deadline_from_capability(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = fake_supported();
	uint32_t ecx = E(L1).ecx;

	cpuid_add_kvm_emulated(c, false);
	assert_int_equal(E(L1).ecx, ecx);
	cpuid_add_kvm_emulated(c, true);
	assert_int_equal(E(L1).ecx, ecx | 1u << 24);
	assert_int_equal(E(L80000001).ecx, 0x2);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_like_qemu),
		cmocka_unit_test(test_apic_ids),
		cmocka_unit_test(test_single_core_sockets),
		cmocka_unit_test(test_sockets_cores_threads),
		cmocka_unit_test(test_amd_without_topoext),
		cmocka_unit_test(test_leaf_b_rebuilt),
		cmocka_unit_test(test_tsc_deadline_from_capability),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
