/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A virtual CPU: its KVM file descriptor, shared run page and thread. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct machine;
struct kvm_run;

struct vcpu {
	struct machine *machine;
	unsigned index; /* also the initial APIC ID */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	_Atomic int tid; /* for query-cpus-fast / info cpus */
	uint64_t exits;
};

/* Creates the KVM vCPU with the PC CPUID for 'ncpus' single-core sockets. */
int vcpu_create(struct vcpu *v, struct machine *m, unsigned index, unsigned ncpus, char *err,
		size_t errlen);
void vcpu_destroy(struct vcpu *v);
int vcpu_start_thread(struct vcpu *v);
/* Makes a running KVM_RUN return, so the thread sees a stop request. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Installs the no-op signal handler vcpu_kick relies on (once, at startup). */
void vcpu_signals_init(void);

/* Patches KVM's supported CPUID for one vCPU (exposed for unit tests). */
struct kvm_cpuid2;
void cpuid_patch(struct kvm_cpuid2 *c, unsigned apic_id, unsigned ncpus);

#endif
