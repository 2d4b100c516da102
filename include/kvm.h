/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KVM virtual machine: /dev/kvm probing, the VM file descriptor, the
 * in-kernel interrupt controllers and PIT, GSI routing and memory slots.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MSI routes (for irqfds) take GSIs from 24, after the IOAPIC's pins. */
#define KVM_MSI_GSI_BASE 24
#define KVM_MAX_MSI_ROUTES 128

struct kvm_cpuid2;

struct kvm_vm {
	int sys_fd;             /* /dev/kvm */
	int vm_fd;
	int vcpu_mmap_size;
	int max_vcpus;          /* KVM_CAP_MAX_VCPUS */
	int max_vcpu_id;        /* KVM_CAP_MAX_VCPU_ID: vCPU ids (APIC IDs) below this */
	struct kvm_cpuid2 *supported_cpuid;
	unsigned nr_memslots;   /* KVM_CAP_NR_MEMSLOTS */
	/* Dirty logging: KVM_CAP_DIRTY_LOG_RING's largest ring in bytes (0: none;
	 * probed and reported, vmm uses the bitmap), and whether the VM runs
	 * with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (fetching the bitmap then does
	 * not write-protect the whole slot again, only the pages cleared). */
	int dirty_ring_max;
	bool manual_dirty_protect;
	/* The GSI routing table is replaced as a whole: the PC's entries plus
	 * every MSI route, kept here. A new VM (reset) starts with none. */
	pthread_mutex_t route_lock;
	struct {
		uint64_t addr;
		uint32_t data;
		bool used;
	} msi_route[KVM_MAX_MSI_ROUTES];
};

/* Opens /dev/kvm and checks the API and the capabilities vmm relies on.
 * On failure, writes a one-line reason into err and returns -1. */
int kvm_open(struct kvm_vm *kvm, const char *dev_path, char *err, size_t errlen);
/* Creates the VM with the PC's in-kernel irqchip, PIT and GSI routing. */
int kvm_create_vm(struct kvm_vm *kvm, char *err, size_t errlen);
void kvm_destroy_vm(struct kvm_vm *kvm);
void kvm_close(struct kvm_vm *kvm);

/* Memory slots for src/core/memory.c (opaque: the struct kvm_vm): set or
 * delete a slot, fetch-and-clear its dirty bitmap. */
extern const struct mem_slot_ops kvm_mem_slot_ops;

/* irq_line callback: drives GSI 'gsi' of the in-kernel irqchip. */
void kvm_set_gsi(void *kvm_vm, unsigned gsi, int level);

/* How the guest set ISA line 'gsi' (0-15) to trigger: 1 level, 0 edge,
 * or -errno. */
int kvm_gsi_level_triggered(struct kvm_vm *kvm, unsigned gsi);

bool kvm_has_cap(struct kvm_vm *kvm, int cap);
/* Injects one MSI (KVM_SIGNAL_MSI). 0 or -errno. */
int kvm_signal_msi(struct kvm_vm *kvm, uint64_t addr, uint32_t data);
/* (De)assigns an ioeventfd: guest writes of 'len' bytes at 'addr' (a port
 * if 'pio'), matching 'datamatch' unless it is negative, signal 'fd'
 * inside KVM without an exit to user space. 0 or -errno. */
int kvm_ioeventfd(struct kvm_vm *kvm, uint64_t addr, unsigned len, bool pio, int datamatch,
		  int fd, bool assign);

/* Sets the MSI message of route *gsi, allocating one when *gsi < 0, and
 * installs the routing table. 0 or -errno (-ENOSPC: no free route). */
int kvm_msi_route_set(struct kvm_vm *kvm, int *gsi, uint64_t addr, uint32_t data);
/* Binds (or unbinds) an eventfd to a GSI: a write to it raises the GSI
 * inside KVM (KVM_IRQFD). 0 or -errno. */
int kvm_irqfd(struct kvm_vm *kvm, int fd, int gsi, bool assign);

#endif
