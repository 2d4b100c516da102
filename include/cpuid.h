/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CPUID a vCPU gets (src/core/cpuid.c): KVM's supported set, patched
 * for the topology and for what KVM emulates. kvm.c patches the VM's
 * supported set, vcpu.c each vCPU's copy.
 */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <stdbool.h>
#include <stdint.h>

/* Patches KVM's supported CPUID for vCPU 'index' (exposed for unit tests).
 * 'capacity' entries fit in c; up to CPUID_EXTRA_ENTRIES may be added. */
#define CPUID_EXTRA_ENTRIES 5 /* 0xB and 0x1F: up to 2 more each; 0x8000001E */
struct kvm_cpuid2;
struct cpu_topology;
void cpuid_patch(struct kvm_cpuid2 *c, unsigned capacity, const struct cpu_topology *t,
		 unsigned index);
/* Adds to KVM's supported CPUID what KVM emulates but reports only as a
 * capability: the TSC-deadline timer (KVM_CAP_TSC_DEADLINE_TIMER, with the
 * in-kernel irqchip vmm always has). QEMU's "host" has it too. */
void cpuid_add_kvm_emulated(struct kvm_cpuid2 *c, bool tsc_deadline);

#endif
