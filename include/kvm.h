/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KVM virtual machine: /dev/kvm probing, the VM file descriptor, the
 * in-kernel interrupt controllers and PIT, GSI routing and memory slots.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVM_SLOTS_MAX 32

struct kvm_cpuid2;

struct kvm_vm {
	int sys_fd;             /* /dev/kvm */
	int vm_fd;
	int vcpu_mmap_size;
	int max_vcpus;          /* KVM_CAP_MAX_VCPUS */
	int max_vcpu_id;        /* KVM_CAP_MAX_VCPU_ID: vCPU ids (APIC IDs) below this */
	struct kvm_cpuid2 *supported_cpuid;
};

/* Opens /dev/kvm and checks the API and the capabilities vmm relies on.
 * On failure, writes a one-line reason into err and returns -1. */
int kvm_open(struct kvm_vm *kvm, const char *dev_path, char *err, size_t errlen);
/* Creates the VM with the PC's in-kernel irqchip, PIT and GSI routing. */
int kvm_create_vm(struct kvm_vm *kvm, char *err, size_t errlen);
void kvm_destroy_vm(struct kvm_vm *kvm);
void kvm_close(struct kvm_vm *kvm);

/* Sets or (size 0) deletes memory slot 'slot'. */
int kvm_set_slot(struct kvm_vm *kvm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		 bool read_only);

/* irq_line callback: drives GSI 'gsi' of the in-kernel irqchip. */
void kvm_set_gsi(void *kvm_vm, unsigned gsi, int level);

bool kvm_has_cap(struct kvm_vm *kvm, int cap);
/* Injects one MSI (KVM_SIGNAL_MSI). 0 or -errno. */
int kvm_signal_msi(struct kvm_vm *kvm, uint64_t addr, uint32_t data);
/* (De)assigns an ioeventfd: guest writes of 'len' bytes at 'addr' (a port
 * if 'pio'), matching 'datamatch' unless it is negative, signal 'fd'
 * inside KVM without an exit to user space. 0 or -errno. */
int kvm_ioeventfd(struct kvm_vm *kvm, uint64_t addr, unsigned len, bool pio, int datamatch,
		  int fd, bool assign);

#endif
