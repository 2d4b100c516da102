// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPUID as the guest sees it: KVM's supported set, with the per-CPU and
 * topology fields a PC BIOS and OS rely on filled in. Each vCPU is one
 * single-core, single-thread package (QEMU's "-smp N" sockets layout).
 */
#include <string.h>
#include <linux/kvm.h>

#include "vcpu.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

void cpuid_patch(struct kvm_cpuid2 *c, unsigned apic_id, unsigned ncpus)
{
	(void)ncpus;
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			/* SeaBIOS and Linux find each CPU by this APIC ID. */
			e->ebx = (e->ebx & 0x0000FFFFu) | (apic_id << 24) | (1u << 16);
			e->edx &= ~CPUID_1_EDX_HTT;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case 4:
			/* One core per package, caches private to one thread. */
			e->eax &= 0x00003FFFu;
			break;
		case 0xB:
		case 0x1F:
			if (e->index == 0) {       /* SMT level: 1 thread */
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 0x100;
			} else if (e->index == 1) { /* core level: 1 core */
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 0x201;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			e->edx = apic_id;
			break;
		case 0x80000008:
			e->ecx &= ~0xF0FFu; /* NC = 0: one core; APIC ID size derived */
			break;
		default:
			break;
		}
	}
}
