// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPU models: which of KVM's supported CPUID features the guest sees.
 * "host" passes them all (kvmtool and Firecracker do the same); "qemu64"
 * and "kvm64" keep the baseline x86-64 set QEMU gives those models, for
 * guests that must not depend on the host, and for hosts where some newer
 * feature misbehaves (docs/testing.md: the nested-TCG test machine).
 * Feature names and bit positions are those of the Intel SDM and AMD APM
 * CPUID tables, named as QEMU names them.
 */
#include "cpu_model.h"

#include <stdio.h>
#include <string.h>
#include <linux/kvm.h>

#include "util.h"

enum { EAX, EBX, ECX, EDX };

struct feature {
	const char *name;
	uint32_t function, index;
	uint8_t reg, bit;
};

#define L1C(n, b) { n, 1, 0, ECX, b }
#define L1D(n, b) { n, 1, 0, EDX, b }
#define L7B(n, b) { n, 7, 0, EBX, b }
#define L7C(n, b) { n, 7, 0, ECX, b }
#define L7D(n, b) { n, 7, 0, EDX, b }
#define XD1(n, b) { n, 0xD, 1, EAX, b }
#define E1C(n, b) { n, 0x80000001, 0, ECX, b }
#define E1D(n, b) { n, 0x80000001, 0, EDX, b }
#define E8B(n, b) { n, 0x80000008, 0, EBX, b }
#define KVM(n, b) { n, 0x40000001, 0, EAX, b }

static const struct feature features[] = {
	L1D("fpu", 0), L1D("vme", 1), L1D("de", 2), L1D("pse", 3), L1D("tsc", 4),
	L1D("msr", 5), L1D("pae", 6), L1D("mce", 7), L1D("cx8", 8), L1D("apic", 9),
	L1D("sep", 11), L1D("mtrr", 12), L1D("pge", 13), L1D("mca", 14), L1D("cmov", 15),
	L1D("pat", 16), L1D("pse36", 17), L1D("clflush", 19), L1D("mmx", 23), L1D("fxsr", 24),
	L1D("sse", 25), L1D("sse2", 26), L1D("ss", 27), L1D("ht", 28),
	L1C("pni", 0), L1C("pclmulqdq", 1), L1C("monitor", 3), L1C("ssse3", 9), L1C("fma", 12),
	L1C("cx16", 13), L1C("pdcm", 15), L1C("pcid", 17), L1C("sse4.1", 19), L1C("sse4.2", 20),
	L1C("x2apic", 21), L1C("movbe", 22), L1C("popcnt", 23), L1C("tsc-deadline", 24),
	L1C("aes", 25), L1C("xsave", 26), L1C("avx", 28), L1C("f16c", 29), L1C("rdrand", 30),
	L7B("fsgsbase", 0), L7B("tsc-adjust", 1), L7B("bmi1", 3), L7B("hle", 4), L7B("avx2", 5),
	L7B("smep", 7), L7B("bmi2", 8), L7B("erms", 9), L7B("invpcid", 10), L7B("rtm", 11),
	L7B("avx512f", 16), L7B("rdseed", 18), L7B("adx", 19), L7B("smap", 20),
	L7B("clflushopt", 23), L7B("clwb", 24), L7B("sha-ni", 29),
	L7C("umip", 2), L7C("pku", 3), L7C("vaes", 9), L7C("vpclmulqdq", 10), L7C("la57", 16),
	L7C("rdpid", 22),
	L7D("fsrm", 4), L7D("md-clear", 10), L7D("spec-ctrl", 26), L7D("stibp", 27),
	L7D("arch-capabilities", 29), L7D("ssbd", 31),
	XD1("xsaveopt", 0), XD1("xsavec", 1), XD1("xgetbv1", 2), XD1("xsaves", 3),
	E1D("syscall", 11), E1D("nx", 20), E1D("mmxext", 22), E1D("fxsr-opt", 25),
	E1D("pdpe1gb", 26), E1D("rdtscp", 27), E1D("lm", 29),
	E1C("lahf-lm", 0), E1C("svm", 2), E1C("extapic", 3), E1C("cr8legacy", 4), E1C("abm", 5),
	E1C("sse4a", 6), E1C("misalignsse", 7), E1C("3dnowprefetch", 8), E1C("osvw", 9),
	E1C("topoext", 22), E1C("perfctr-core", 23),
	E8B("ibpb", 12), E8B("amd-ssbd", 24), E8B("virt-ssbd", 25),
	KVM("kvmclock", 0), KVM("kvm-nopiodelay", 1), KVM("kvm-mmu", 2), KVM("kvmclock2", 3),
	KVM("kvm-asyncpf", 4), KVM("kvm-steal-time", 5), KVM("kvm-pv-eoi", 6),
	KVM("kvm-pv-unhalt", 7), KVM("kvm-pv-tlb-flush", 9), KVM("kvm-asyncpf-vmexit", 10),
	KVM("kvm-pv-ipi", 11), KVM("kvm-poll-control", 12), KVM("kvm-pv-sched-yield", 13),
	KVM("kvm-asyncpf-int", 14), KVM("kvm-msi-ext-dest-id", 15),
	KVM("kvmclock-stable-bit", 24),
};

#define B(x) (1u << (x))

/* QEMU's qemu64/kvm64 under KVM: the Pentium Pro set with SSE2, SSE3 and
 * CX16, 64-bit mode, and KVM's default paravirtual features. */
static const uint32_t base_1_edx = B(0) | B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8) |
				   B(9) | B(11) | B(12) | B(13) | B(14) | B(15) | B(16) |
				   B(17) | B(19) | B(23) | B(24) | B(25) | B(26);
static const uint32_t base_1_ecx = B(0) | B(13) | B(21) | B(31); /* pni cx16 x2apic hypervisor */
/* AMD mirrors leaf 1's EDX bits 0-17, 23 and 24 here. */
static const uint32_t base_e1_edx = (base_1_edx & 0x0183FFFFu) | B(11) | B(20) | B(29);
static const uint32_t base_e1_ecx = B(0);
static const uint32_t base_kvm = B(0) | B(1) | B(3) | B(4) | B(5) | B(6) | B(24);

/* Which bits of a register the baseline keeps (all, for leaves that only
 * describe the machine: vendor, caches, topology, address sizes). */
static uint32_t baseline_mask(uint32_t function, uint32_t index, unsigned reg)
{
	switch (function) {
	case 1:
		return reg == EDX ? base_1_edx : reg == ECX ? base_1_ecx : ~0u;
	case 7:
		return 0; /* no structured extended features, and no subleaves */
	case 0xD:
		return index == 1 && reg == EAX ? 0 : ~0u;
	case 0x80000001:
		return reg == EDX ? base_e1_edx : reg == ECX ? base_e1_ecx : ~0u;
	case 0x80000008:
		return reg == EBX ? 0 : ~0u;
	case 0x40000001:
		return reg == EAX ? base_kvm : ~0u;
	default:
		return ~0u;
	}
}

/* What QEMU's models report under KVM: the host's vendor, but the
 * model's own signature and brand string, and its CPUID levels. A guest
 * then takes the same paths as under QEMU: for Linux on an AMD host,
 * family 15 (K8) instead of the host's Zen, with none of the Zen-only
 * mitigation sequences. */
struct identity {
	const char *name;
	uint32_t signature; /* leaf 1 EAX: stepping, model, family, extended model */
	const char *brand;
};

static const struct identity identities[] = {
	{ "qemu64", 0x00060FB1, "QEMU Virtual CPU version 2.5+" }, /* family 15 model 107 */
	{ "kvm64", 0x00000F61, "Common KVM processor" },            /* family 15 model 6 */
};

#define BASELINE_LEVEL 0xD
#define BASELINE_XLEVEL 0x8000000A

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, unsigned reg)
{
	switch (reg) {
	case EAX: return &e->eax;
	case EBX: return &e->ebx;
	case ECX: return &e->ecx;
	default: return &e->edx;
	}
}

/* Leaves 0x80000002-4, the 48-byte brand string /proc/cpuinfo shows as
 * "model name". */
static void write_brand(struct kvm_cpuid2 *c, const char brand[48])
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function >= 0x80000002 && e->function <= 0x80000004)
			for (unsigned r = EAX; r <= EDX; r++)
				memcpy(reg_of(e, r), brand + 16 * (e->function - 0x80000002) + 4 * r, 4);
	}
}

static void set_identity(const struct cpu_model *m, struct kvm_cpuid2 *c)
{
	const struct identity *id = NULL;
	char brand[48] = { 0 };

	for (unsigned i = 0; i < ARRAY_SIZE(identities); i++)
		if (!strcmp(identities[i].name, m->name))
			id = &identities[i];
	if (!id)
		return;
	strncpy(brand, id->brand, sizeof(brand) - 1);
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 0 && e->eax > BASELINE_LEVEL)
			e->eax = BASELINE_LEVEL;
		else if (e->function == 1)
			e->eax = id->signature;
		else if (e->function == 0x80000000 && e->eax > BASELINE_XLEVEL)
			e->eax = BASELINE_XLEVEL;
	}
	write_brand(c, brand);
}

static void host_cpuid(uint32_t leaf, uint32_t regs[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(regs[EAX]), "=b"(regs[EBX]), "=c"(regs[ECX]), "=d"(regs[EDX])
			 : "a"(leaf), "c"(0));
}

/* KVM reports the brand leaves as zeros (it leaves naming the CPU to the
 * VMM), and a guest then shows "model name: 17/01"; -cpu host and max
 * name the host's CPU, as QEMU's do, from the host's own CPUID. */
static void set_host_brand(struct kvm_cpuid2 *c)
{
	char brand[48] = { 0 };
	uint32_t regs[4];

	host_cpuid(0x80000000, regs);
	if (regs[EAX] < 0x80000004)
		return;
	for (unsigned leaf = 0; leaf < 3; leaf++) {
		host_cpuid(0x80000002 + leaf, regs);
		memcpy(brand + 16 * leaf, regs, 16);
	}
	write_brand(c, brand);
}

static int find_feature(const char *name)
{
	for (unsigned i = 0; i < ARRAY_SIZE(features); i++)
		if (!strcmp(features[i].name, name))
			return (int)i;
	/* QEMU accepts '_' for '-' (and the old sse4_1 spelling). */
	char alt[32];
	if (strlen(name) >= sizeof(alt))
		return -1;
	for (unsigned i = 0; name[i]; i++)
		alt[i] = name[i] == '_' ? '-' : name[i];
	alt[strlen(name)] = 0;
	if (!strcmp(alt, "sse4-1") || !strcmp(alt, "sse4-2"))
		alt[4] = '.';
	for (unsigned i = 0; i < ARRAY_SIZE(features); i++)
		if (!strcmp(features[i].name, alt))
			return (int)i;
	return -1;
}

static int parse_flag(const char *tok, struct cpu_model *m, char *err, size_t errlen)
{
	char name[32];
	bool on;
	const char *eq = strchr(tok, '=');

	if (tok[0] == '+' || tok[0] == '-') {
		on = tok[0] == '+';
		snprintf(name, sizeof(name), "%s", tok + 1);
	} else if (eq) {
		if (!strcmp(eq + 1, "on"))
			on = true;
		else if (!strcmp(eq + 1, "off"))
			on = false;
		else
			return set_err(err, errlen, "-cpu: %s: expected on or off", tok);
		snprintf(name, sizeof(name), "%.*s", (int)(eq - tok), tok);
	} else {
		return set_err(err, errlen, "-cpu: '%s': expected +FEATURE, -FEATURE or FEATURE=on|off",
			       tok);
	}
	int f = find_feature(name);
	if (f < 0)
		return set_err(err, errlen, "-cpu: unknown feature '%s' (-cpu help lists them)", name);
	if (m->nflags == CPU_MODEL_MAX_FLAGS)
		return set_err(err, errlen, "-cpu: at most %u feature flags", CPU_MODEL_MAX_FLAGS);
	m->flags[m->nflags].feature = (uint16_t)f;
	m->flags[m->nflags].on = on;
	m->nflags++;
	return 0;
}

int cpu_model_parse(const char *arg, struct cpu_model *m, char *err, size_t errlen)
{
	char buf[1024];
	char *save = NULL, *tok;

	memset(m, 0, sizeof(*m));
	if (strlen(arg) >= sizeof(buf))
		return set_err(err, errlen, "-cpu: argument too long");
	strcpy(buf, arg);
	tok = strtok_r(buf, ",", &save);
	if (!tok)
		return set_err(err, errlen, "-cpu: expected a model (host, max, qemu64, kvm64)");
	if (!strcmp(tok, "host") || !strcmp(tok, "max")) {
		m->baseline = false;
	} else if (!strcmp(tok, "qemu64") || !strcmp(tok, "kvm64")) {
		m->baseline = true;
	} else {
		return set_err(err, errlen, "-cpu: unknown model '%s' (host, max, qemu64, kvm64)",
			       tok);
	}
	snprintf(m->name, sizeof(m->name), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save)))
		if (parse_flag(tok, m, err, errlen) < 0)
			return -1;
	return 0;
}

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c, uint32_t function,
					   uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

static bool supported(struct kvm_cpuid2 *c, const struct feature *f)
{
	struct kvm_cpuid_entry2 *e = find_entry(c, f->function, f->index);
	return e && (*reg_of(e, f->reg) >> f->bit & 1);
}

int cpu_model_apply(const struct cpu_model *m, struct kvm_cpuid2 *c, char *err, size_t errlen)
{
	/* Asked-for features are checked against KVM's set before masking. */
	for (unsigned i = 0; i < m->nflags; i++) {
		const struct feature *f = &features[m->flags[i].feature];
		if (m->flags[i].on && !supported(c, f))
			return set_err(err, errlen, "-cpu: this host's KVM does not support '%s'",
				       f->name);
	}
	if (!m->baseline) {
		set_host_brand(c);
	} else {
		set_identity(m, c);
		for (unsigned i = 0; i < c->nent; i++)
			for (unsigned r = EAX; r <= EDX; r++)
				*reg_of(&c->entries[i], r) &=
					baseline_mask(c->entries[i].function, c->entries[i].index, r);
	}
	for (unsigned i = 0; i < m->nflags; i++) {
		const struct feature *f = &features[m->flags[i].feature];
		struct kvm_cpuid_entry2 *e = find_entry(c, f->function, f->index);
		if (!e)
			continue; /* only an "off" gets here: nothing to clear */
		if (m->flags[i].on)
			*reg_of(e, f->reg) |= 1u << f->bit;
		else
			*reg_of(e, f->reg) &= ~(1u << f->bit);
	}
	return 0;
}

void cpu_model_list(char *out, size_t outlen)
{
	size_t used = 0;

	if (outlen)
		out[0] = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(features) && used < outlen; i++) {
		int n = snprintf(out + used, outlen - used, "%s%s", i ? " " : "", features[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
