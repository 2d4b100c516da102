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
struct vcpu;

/* What a vCPU stops for, told to whoever runs it (the board). */
enum vcpu_request { VCPU_REQ_RESET, VCPU_REQ_POWEROFF, VCPU_REQ_ERROR };

/* Exits counted by kind (struct vcpu's exit_count). */
enum vcpu_exit_kind {
	VCPU_EXIT_IO,
	VCPU_EXIT_MMIO,
	VCPU_EXIT_HLT,
	VCPU_EXIT_INTR, /* KVM_RUN interrupted by a signal (a kick) */
	VCPU_EXIT_KINDS
};

/* A debug exit (KVM_EXIT_DEBUG): #DB (1) or #BP (3), DR6, and the linear
 * address of the instruction. */
struct vcpu_debug_exit {
	uint32_t exception;
	uint64_t dr6;
	uint64_t pc;
	/* Not a KVM_EXIT_DEBUG: KVM's instruction emulator failed on an INT3
	 * (kvm_pvm runs ring-0 code through it, and it cannot run INT3). */
	bool emulated_int3;
};

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
	/* A debug exit (NULL: none expected). True: taken, the vCPU parks
	 * (the callee set 'hold'); false: not the debugger's, an error. */
	bool (*debug_exit)(void *ctx, struct vcpu *v, const struct vcpu_debug_exit *e);
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
	/* Exits by kind since the vCPU was created (start or reset), for
	 * QMP's x-query-exits. Written by the vCPU's thread only. */
	_Atomic uint64_t exit_count[VCPU_EXIT_KINDS];
};

/* One exit counter of the vCPU (another thread may read it). */
uint64_t vcpu_exit_count(const struct vcpu *v, enum vcpu_exit_kind kind);

/* Creates KVM vCPU 'index' of the machine's -smp topology, with its CPUID. */
int vcpu_create(struct vcpu *v, const struct vcpu_host *host, unsigned index, char *err,
		size_t errlen);
void vcpu_destroy(struct vcpu *v);

/* What firmware would leave in a vCPU that a firmware-less boot must set
 * itself (src/board/pc_direct_boot.c). The MSRs (MTRRs) and the LAPIC's
 * LINT0 ExtINT / LINT1 NMI wiring go to every vCPU; an entry only to the
 * one that enters the kernel: flat segments from a GDT whose code selector
 * is code_sel and data selector code_sel + 8, interrupts off; ENTRY_64 in
 * 64-bit mode with paging on (cr3), ENTRY_32 in 32-bit protected mode
 * with paging off. */
#define VCPU_SETUP_MSRS_MAX 32 /* the MTRRs: 12 fixed and def type, 8 variable pairs */
enum vcpu_entry { VCPU_ENTRY_NONE, VCPU_ENTRY_64, VCPU_ENTRY_32 };
struct vcpu_setup {
	uint32_t msr_index[VCPU_SETUP_MSRS_MAX];
	uint64_t msr_value[VCPU_SETUP_MSRS_MAX];
	unsigned nmsrs;
	enum vcpu_entry entry;
	uint64_t rip, rbx, rsi, rsp, cr3, gdt_base;
	uint16_t gdt_limit, code_sel;
};
int vcpu_apply_setup(struct vcpu *v, const struct vcpu_setup *s, char *err, size_t errlen);
int vcpu_start_thread(struct vcpu *v);
/* Makes a running KVM_RUN return, so the thread sees a stop request. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Installs the no-op signal handler vcpu_kick relies on (once, at startup). */
void vcpu_signals_init(void);

#endif
