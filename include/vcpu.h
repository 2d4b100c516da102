/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A virtual CPU: its KVM file descriptor, shared run page and thread. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct kvm_run;
struct kvm_vm;
struct io_bus;
struct cpu_model;
struct cpu_topology;

/* What a vCPU stops for, told to whoever runs it (the board). */
enum vcpu_request { VCPU_REQ_RESET, VCPU_REQ_POWEROFF, VCPU_REQ_ERROR };

/* What a vCPU needs from the machine that runs it: the VM, the buses its
 * exits go to, its CPU model, and the board's answers. The board fills
 * one in and keeps it alive as long as its vCPUs; vcpu.c never sees the
 * board itself (each layer only looks down). */
struct vcpu_host {
	struct kvm_vm *kvm;
	struct io_bus *pio, *mmio;
	const struct cpu_model *cpu;
	const struct cpu_topology *smp;
	/* Non-zero when the vCPU must call hold_fn before its next KVM_RUN
	 * (the one word a vCPU thread checks per exit). */
	_Atomic unsigned *hold;
	/* Parks while paused; false when the thread must end. */
	bool (*hold_fn)(void *ctx);
	void (*request)(void *ctx, enum vcpu_request req);
	/* True when vmm exits next (no reset follows). */
	bool (*stopping_for_good)(void *ctx);
	void *ctx;
};

struct vcpu {
	const struct vcpu_host *host;
	unsigned index;   /* 0 .. ncpus-1; 0 is the BSP */
	unsigned apic_id; /* from the topology; also KVM's vCPU id */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	_Atomic int tid; /* for query-cpus-fast / info cpus */
	uint64_t exits;
};

/* Creates KVM vCPU 'index' of the machine's -smp topology, with its CPUID. */
int vcpu_create(struct vcpu *v, const struct vcpu_host *host, unsigned index, char *err,
		size_t errlen);
void vcpu_destroy(struct vcpu *v);
int vcpu_start_thread(struct vcpu *v);
/* Makes a running KVM_RUN return, so the thread sees a stop request. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Installs the no-op signal handler vcpu_kick relies on (once, at startup). */
void vcpu_signals_init(void);

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
