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

#include "coalesced_mmio.h"

/* MSI routes (for irqfds) take GSIs from 24, after the IOAPIC's pins. */
#define KVM_MSI_GSI_BASE 24
#define KVM_MAX_MSI_ROUTES 128
/* Coalesced MMIO zones vmm registers (the VGA window is the one today). */
#define KVM_MAX_COALESCED_ZONES 4

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
	/* Port 0x61 goes to user space (the PC speaker's model) instead of
	 * KVM's dummy speaker port: set before kvm_create_vm, kept across
	 * resets. */
	bool speaker_port_in_user;
	/* kvm-pit's lost_tick_policy=discard: timer ticks the vCPU could not
	 * take while it was not running are dropped instead of delivered
	 * back to back later (KVM's reinjection, QEMU's "delay" default).
	 * Set before kvm_create_vm, kept across resets. */
	bool pit_discard_lost_ticks;
	/* The guest's clock (kvmclock) as it was when the vCPUs stopped, set
	 * back when they run again: a pause, a save or the tail of a
	 * migration takes no time in the guest's eyes, as in QEMU. A new VM
	 * (reset) holds none. */
	bool clock_held;
	uint64_t held_clock;
	/* The GSI routing table is replaced as a whole: the PC's entries plus
	 * every MSI route, kept here. A new VM (reset) starts with none. */
	pthread_mutex_t route_lock;
	struct {
		uint64_t addr;
		uint32_t data;
		bool used;
	} msi_route[KVM_MAX_MSI_ROUTES];
	/* KVM_CAP_COALESCED_MMIO: the ring's page number in a vCPU's mmap
	 * area (0: the capability is absent). The zones are the VM's, so a
	 * new VM (reset) gets them registered again. */
	int coalesced_page;
	struct coalesced_mmio coalesced;
	struct {
		uint64_t addr, size;
	} coalesced_zone[KVM_MAX_COALESCED_ZONES];
	unsigned ncoalesced_zones;
};

/* The guest's physical address width that KVM offers (CPUID 0x80000008
 * EAX[7:0]), in bits. */
unsigned kvm_guest_phys_bits(const struct kvm_vm *kvm);
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

/* A channel of the in-kernel PIT as the guest programmed it. */
struct kvm_pit_channel_info {
	uint32_t count;  /* 1-65536 (KVM stores a written 0 as 65536) */
	uint8_t mode;    /* 0-5, or 0xFF before the guest programs it */
	int64_t load_ns; /* when counting started, on kvm_pit_clock_ns()'s clock */
};
/* KVM_GET_PIT2's channel 'ch' (0-2). 0 or -errno. */
int kvm_get_pit_channel(struct kvm_vm *kvm, unsigned ch, struct kvm_pit_channel_info *out);
/* The in-kernel PIT's clock (its load times are ktime_get(): CLOCK_MONOTONIC). */
int64_t kvm_pit_clock_ns(void);
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

/* Has KVM queue the guest's writes to [addr, addr + size) in the coalesced
 * MMIO ring instead of exiting (reads still exit), in this VM and every
 * VM a reset creates. 0, or -errno (-EOPNOTSUPP: KVM lacks the capability
 * or the ring page; the range then traps as before). */
int kvm_coalesce_mmio(struct kvm_vm *kvm, uint64_t addr, uint64_t size);
/* The ring as seen through a vCPU's mmap area 'run' (NULL without one). */
struct kvm_coalesced_mmio_ring *kvm_coalesced_ring(struct kvm_vm *kvm, void *run);

#endif
