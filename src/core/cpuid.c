// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPUID as the guest sees it: KVM's supported set, with the per-CPU and
 * topology fields a PC BIOS and OS rely on filled in from the -smp topology
 * (include/topology.h). Linux derives its sockets/cores/threads from these
 * leaves (Intel: 1, 4, 0xB/0x1F; AMD: 1, 0x80000008, 0x8000001D/1E), and
 * SeaBIOS finds each CPU by the APIC ID in leaf 1; all must agree with the
 * APIC ID KVM gives the vCPU.
 */
#include <stdbool.h>
#include <string.h>
#include <linux/kvm.h>

#include "topology.h"
#include "cpuid.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_EDX_HTT (1u << 28)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)
#define CPUID_80000001_ECX_TOPOEXT (1u << 22)
#define AMD_TOPOLOGY_LEAF 0x8000001Eu

#define LEVEL_TYPE_INVALID 0
#define LEVEL_TYPE_SMT 1
#define LEVEL_TYPE_CORE 2

struct topo_fields {
	unsigned apic_id;
	unsigned smt_bits, core_bits; /* widths of the APIC ID fields */
	unsigned threads, cores;      /* per core, per socket */
	unsigned socket_id, core_id;
};

/* Leaves 4 (Intel) and 0x8000001D (AMD) share the cache-sharing field:
 * EAX[25:14] = addressable IDs sharing this cache - 1. L1 and L2 are
 * private to a core, L3 is shared by the socket. */
static uint32_t cache_sharing(uint32_t eax, const struct topo_fields *f)
{
	unsigned level = (eax >> 5) & 7;

	if (!(eax & 0x1F)) /* cache type 0: the terminating null entry */
		return eax;
	unsigned width = level >= 3 ? f->smt_bits + f->core_bits : f->smt_bits;
	return (eax & ~(0xFFFu << 14)) | (((1u << width) - 1) << 14);
}

static void patch_ext_topology(struct kvm_cpuid_entry2 *e, const struct topo_fields *f)
{
	if (e->index == 0) {
		e->eax = f->smt_bits;
		e->ebx = f->threads;
		e->ecx = LEVEL_TYPE_SMT << 8;
	} else if (e->index == 1) {
		e->eax = f->smt_bits + f->core_bits;
		e->ebx = f->threads * f->cores;
		e->ecx = LEVEL_TYPE_CORE << 8 | 1;
	} else {
		e->eax = e->ebx = 0;
		e->ecx = LEVEL_TYPE_INVALID << 8 | (e->index & 0xFF);
	}
	e->edx = f->apic_id;
}

static void patch_entry(struct kvm_cpuid_entry2 *e, const struct topo_fields *f)
{
	unsigned per_socket = f->threads * f->cores;

	switch (e->function) {
	case 1:
		e->ebx = (e->ebx & 0x0000FFFFu) | f->apic_id << 24 | (per_socket & 0xFF) << 16;
		if (per_socket > 1)
			e->edx |= CPUID_1_EDX_HTT;
		else
			e->edx &= ~CPUID_1_EDX_HTT;
		e->ecx |= CPUID_1_ECX_HYPERVISOR;
		break;
	case 4:
		/* EAX[31:26]: addressable core IDs in the package - 1. */
		e->eax = cache_sharing(e->eax, f) & 0x03FFFFFFu;
		if (e->eax & 0x1F)
			e->eax |= ((1u << f->core_bits) - 1) << 26;
		break;
	case 0xB:
	case 0x1F:
		patch_ext_topology(e, f);
		break;
	case 0x80000001:
		if (per_socket > 1)
			e->ecx |= CPUID_80000001_ECX_CMP_LEGACY;
		else
			e->ecx &= ~CPUID_80000001_ECX_CMP_LEGACY;
		break;
	case 0x80000008:
		/* ECX[15:12] APIC ID bits for the package, [7:0] threads - 1. */
		e->ecx = (e->ecx & ~0xF0FFu) | (f->smt_bits + f->core_bits) << 12 |
			 ((per_socket - 1) & 0xFF);
		break;
	case 0x8000001D:
		e->eax = cache_sharing(e->eax, f);
		break;
	case 0x8000001E:
		e->eax = f->apic_id;
		e->ebx = (f->threads - 1) << 8 | (f->core_id & 0xFF);
		e->ecx = f->socket_id & 0xFF; /* node ID; one node per socket */
		e->edx = 0;
		break;
	default:
		break;
	}
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == function)
			return &c->entries[i];
	return NULL;
}

static bool is_amd(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find_leaf(c, 0);
	/* "AuthenticAMD" in EBX, EDX, ECX */
	return e && e->ebx == 0x68747541 && e->edx == 0x69746E65 && e->ecx == 0x444D4163;
}

/* AMD guests learn of SMT siblings only from leaf 0x8000001E (TOPOEXT);
 * without it Linux sees every thread as a core. A host whose KVM lacks
 * TOPOEXT (older or emulated AMD CPUs) gets the leaf from us: it only
 * describes topology, which KVM passes through from our table. */
static void add_amd_topology_leaf(struct kvm_cpuid2 *c, unsigned capacity,
				  const struct cpu_topology *t)
{
	struct kvm_cpuid_entry2 *max_ext = find_leaf(c, 0x80000000);
	struct kvm_cpuid_entry2 *ext = find_leaf(c, 0x80000001);

	if (t->threads < 2 || !is_amd(c) || !max_ext || !ext)
		return;
	if (!find_leaf(c, AMD_TOPOLOGY_LEAF)) {
		if (c->nent >= capacity)
			return;
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){ .function = AMD_TOPOLOGY_LEAF };
	}
	if (max_ext->eax < AMD_TOPOLOGY_LEAF)
		max_ext->eax = AMD_TOPOLOGY_LEAF;
	ext->ecx |= CPUID_80000001_ECX_TOPOEXT;
}

/* Leaves 0xB and 0x1F list one subleaf per topology level, ending with an
 * invalid one. KVM copies the host's levels, which need not be ours (an
 * emulated host may list only the SMT level, and Linux then takes every
 * core for a package): when the leaf exists, it gets exactly our SMT and
 * core levels and the terminator; patch_ext_topology fills them in. */
static void rebuild_ext_topology_leaf(struct kvm_cpuid2 *c, unsigned capacity, uint32_t function)
{
	unsigned kept = 0, removed = 0;

	for (unsigned i = 0; i < c->nent; i++) {
		if (c->entries[i].function == function)
			removed++;
		else
			c->entries[kept++] = c->entries[i];
	}
	if (!removed)
		return;
	c->nent = kept;
	for (uint32_t sub = 0; sub < 3 && c->nent < capacity; sub++)
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
			.function = function,
			.index = sub,
			.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		};
}

void cpuid_add_kvm_emulated(struct kvm_cpuid2 *c, bool tsc_deadline)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1 && tsc_deadline)
			c->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

void cpuid_patch(struct kvm_cpuid2 *c, unsigned capacity, const struct cpu_topology *t,
		 unsigned index)
{
	struct topo_fields f = {
		.apic_id = topology_apic_id(t, index),
		.smt_bits = topology_smt_bits(t),
		.core_bits = topology_core_bits(t),
		.threads = t->threads,
		.cores = t->cores,
		.socket_id = index / (t->threads * t->cores),
		.core_id = index / t->threads % t->cores,
	};

	rebuild_ext_topology_leaf(c, capacity, 0xB);
	rebuild_ext_topology_leaf(c, capacity, 0x1F);
	add_amd_topology_leaf(c, capacity, t);
	for (unsigned i = 0; i < c->nent; i++)
		patch_entry(&c->entries[i], &f);
}
