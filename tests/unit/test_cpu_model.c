// SPDX-License-Identifier: GPL-2.0-or-later
/* -cpu: model and feature-flag parsing, and what each model leaves of
 * KVM's supported CPUID. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "cpu_model.h"

enum { L0, L1, L7, LD1, LE0, LE1, LE2, LE8, LKVM, N };

/* A host-like supported set: every feature bit set in the filtered
 * registers, recognisable values elsewhere. */
static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + N * sizeof(c->entries[0]));
	c->nent = N;
	c->entries[L0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x10, .ebx = 0x68747541 };
	c->entries[L1] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x00A20F12,
						    .ebx = 0x00010800, .ecx = ~0u, .edx = ~0u };
	c->entries[L7] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
						    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						    .eax = 1, .ebx = ~0u, .ecx = ~0u, .edx = ~0u };
	c->entries[LD1] = (struct kvm_cpuid_entry2){ .function = 0xD, .index = 1,
						     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						     .eax = 0xF };
	c->entries[LE0] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000023 };
	c->entries[LE2] = (struct kvm_cpuid_entry2){ .function = 0x80000002, .eax = 0x20444D41 };
	c->entries[LE1] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = ~0u,
						     .edx = ~0u };
	c->entries[LE8] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3030,
						     .ebx = ~0u, .ecx = 0x7 };
	c->entries[LKVM] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x0100FEFF };
	return c;
}

static struct cpu_model parse_ok(const char *arg)
{
	struct cpu_model m;
	char err[160] = "";
	if (cpu_model_parse(arg, &m, err, sizeof(err)) < 0)
		fail_msg("-cpu %s: %s", arg, err);
	return m;
}

static void parse_fails(const char *arg, const char *want)
{
	struct cpu_model m;
	char err[160] = "";
	assert_int_equal(cpu_model_parse(arg, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, want));
}

static void test_parse(void **state)
{
	struct cpu_model m = parse_ok("host");
	assert_false(m.baseline);
	assert_int_equal(m.nflags, 0);
	m = parse_ok("qemu64,+pcid,-x2apic,avx=on,sse4_1=off,kvm-pv-unhalt=on");
	assert_true(m.baseline);
	assert_string_equal(m.name, "qemu64");
	assert_int_equal(m.nflags, 5);
	assert_true(m.flags[0].on);
	assert_false(m.flags[1].on);
	assert_true(m.flags[2].on);
	assert_false(m.flags[3].on);
	parse_fails("", "expected a model");
	parse_fails("pentium9", "unknown model 'pentium9'");
	parse_fails("host,+warp-drive", "unknown feature 'warp-drive'");
	parse_fails("host,pcid", "expected +FEATURE");
	parse_fails("host,pcid=yes", "expected on or off");
}

static void host_cpuid(uint32_t leaf, uint32_t regs[4])
{
	__asm__ volatile("cpuid" : "=a"(regs[0]), "=b"(regs[1]), "=c"(regs[2]), "=d"(regs[3])
			 : "a"(leaf), "c"(0));
}

/* Every feature stays; the brand leaves, which KVM reports as zeros, name
 * the host's CPU as the host's own CPUID does. */
static void test_host_keeps_everything(void **state)
{
	struct kvm_cpuid2 *c = fake_supported(), *ref = fake_supported();
	struct cpu_model m = parse_ok("max");
	char err[160];
	uint32_t regs[4];

	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), 0);
	host_cpuid(0x80000000, regs);
	if (regs[0] >= 0x80000004) {
		host_cpuid(0x80000002, regs);
		assert_memory_equal(&c->entries[LE2].eax, regs, 16);
		memcpy(&ref->entries[LE2].eax, regs, 16);
	}
	assert_memory_equal(c->entries, ref->entries, N * sizeof(c->entries[0]));
	free(c);
	free(ref);
}

static void test_qemu64_baseline(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	struct cpu_model m = parse_ok("kvm64");
	char err[160];

	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), 0);
	/* QEMU's kvm64 identity (family 15 model 6) and levels; the host's
	 * vendor and address sizes. */
	assert_int_equal(c->entries[L0].eax, 0xD);
	assert_int_equal(c->entries[L0].ebx, 0x68747541);
	assert_int_equal(c->entries[L1].eax, 0x00000F61);
	assert_int_equal(c->entries[LE0].eax, 0x8000000A);
	assert_memory_equal(&c->entries[LE2].eax, "Comm", 4);
	assert_memory_equal(&c->entries[LE2].ebx, "on K", 4);
	assert_int_equal(c->entries[LE8].eax, 0x3030);
	/* Leaf 1: SSE2 and CMOV stay, PCID, XSAVE and AVX go; SSE3, CX16, x2APIC stay. */
	assert_true(c->entries[L1].edx & (1u << 26 | 1u << 15));
	assert_false(c->entries[L1].edx & (1u << 27 | 1u << 28)); /* ss, ht */
	assert_int_equal(c->entries[L1].ecx, 1u << 0 | 1u << 13 | 1u << 21 | 1u << 31);
	/* No structured extended features, no XSAVE extensions. */
	assert_int_equal(c->entries[L7].eax | c->entries[L7].ebx | c->entries[L7].ecx |
				 c->entries[L7].edx, 0);
	assert_int_equal(c->entries[LD1].eax, 0);
	/* 64-bit mode, NX and SYSCALL; no RDTSCP, no 1G pages, no SVM. */
	assert_true(c->entries[LE1].edx & (1u << 29 | 1u << 20 | 1u << 11));
	assert_false(c->entries[LE1].edx & (1u << 27 | 1u << 26));
	assert_int_equal(c->entries[LE1].ecx, 1);
	assert_int_equal(c->entries[LE8].ebx, 0);
	/* KVM's default paravirtual set: clocks, nopiodelay, async PF, steal
	 * time, PV EOI, stable bit; not PV unhalt, TLB flush or IPIs. */
	assert_int_equal(c->entries[LKVM].eax, 0x0100007B);
	free(c);
}

static void test_flags_on_top(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	struct cpu_model m = parse_ok("qemu64,+pcid,+smap,-x2apic,+kvm-pv-unhalt");
	char err[160];

	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), 0);
	assert_int_equal(c->entries[L1].eax, 0x00060FB1); /* family 15 model 107 */
	assert_int_equal(c->entries[L1].ecx, 1u << 0 | 1u << 13 | 1u << 17 | 1u << 31);
	assert_int_equal(c->entries[L7].ebx, 1u << 20);
	assert_true(c->entries[LKVM].eax & 1u << 7);
	free(c);

	c = fake_supported();
	m = parse_ok("host,-pcid,-invpcid,-kvm-pv-tlb-flush");
	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), 0);
	assert_int_equal(c->entries[L1].ecx, ~(1u << 17));
	assert_int_equal(c->entries[L7].ebx, ~(1u << 10));
	assert_int_equal(c->entries[LKVM].eax, 0x0100FEFF & ~(1u << 9));
	free(c);
}

/* A feature KVM lacks cannot be given: a clear error, as the guest would
 * otherwise believe in it. Turning it off is fine. */
static void test_unsupported_feature(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	char err[160] = "";

	c->entries[L7].ebx &= ~(1u << 20);
	struct cpu_model m = parse_ok("host,+smap");
	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not support 'smap'"));
	m = parse_ok("host,-smap,-la57");
	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), 0);
	/* A leaf KVM does not list at all. */
	c->nent = L7; /* the table ends before leaf 7 */
	m = parse_ok("host,+avx2");
	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), -1);
	m = parse_ok("host,-avx2");
	assert_int_equal(cpu_model_apply(&m, c, err, sizeof(err)), 0);
	free(c);
}

static void test_list(void **state)
{
	char buf[4096];
	cpu_model_list(buf, sizeof(buf));
	assert_non_null(strstr(buf, "pcid"));
	assert_non_null(strstr(buf, "kvm-pv-tlb-flush"));
	char small[8];
	cpu_model_list(small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_host_keeps_everything),
		cmocka_unit_test(test_qemu64_baseline),
		cmocka_unit_test(test_flags_on_top),
		cmocka_unit_test(test_unsupported_feature),
		cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
