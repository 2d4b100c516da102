// SPDX-License-Identifier: GPL-2.0-or-later
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "memory.h"
#include "util.h"
#include "cpuid.h"

/* Where QEMU puts the pages KVM needs for real mode on VMX: just below the
 * BIOS, reserved in e820 by the machine. */
#define KVM_IDENTITY_MAP_ADDR 0xFEFFC000ULL
#define KVM_TSS_ADDR 0xFEFFD000ULL

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

static struct kvm_cpuid2 *get_supported_cpuid(int sys_fd)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = xzalloc(sizeof(*c) + n * sizeof(c->entries[0]));
		c->nent = n;
		if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

unsigned kvm_guest_phys_bits(const struct kvm_vm *kvm)
{
	const struct kvm_cpuid2 *c = kvm->supported_cpuid;

	for (unsigned i = 0; c && i < c->nent; i++)
		if (c->entries[i].function == 0x80000008 && (c->entries[i].eax & 0xFF))
			return c->entries[i].eax & 0xFF;
	return 36; /* no leaf: PAE's width */
}

int kvm_open(struct kvm_vm *kvm, const char *dev_path, char *err, size_t errlen)
{
	memset(kvm, 0, sizeof(*kvm));
	pthread_mutex_init(&kvm->route_lock, NULL);
	coalesced_mmio_init(&kvm->coalesced, (size_t)sysconf(_SC_PAGESIZE));
	kvm->vm_fd = -1;
	kvm->sys_fd = open(dev_path, O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "%s not found: is the kvm module loaded "
				 "(modprobe kvm_intel or kvm_amd)?", dev_path);
		else if (errno == EACCES || errno == EPERM)
			snprintf(err, errlen, "permission denied opening %s: add yourself to "
				 "the 'kvm' group or run as root", dev_path);
		else
			snprintf(err, errlen, "cannot open %s: %s", dev_path, strerror(errno));
		return -1;
	}
	int api = ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		snprintf(err, errlen, "%s: KVM API version %d, need %d", dev_path, api,
			 KVM_API_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "%s lacks required capability %s", dev_path,
				 required_caps[i].name);
			goto fail;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		goto fail;
	}
	/* KVM_CAP_MAX_VCPUS is the recommended-or-hard limit; 0 means old KVM. */
	kvm->max_vcpus = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4;
	kvm->max_vcpu_id = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	if (kvm->max_vcpu_id <= 0)
		kvm->max_vcpu_id = kvm->max_vcpus;
	int slots = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	kvm->nr_memslots = slots > 0 ? (unsigned)slots : 32;
	/* The ring page must lie inside the vCPU mmap area that KVM offers. */
	int page = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	long page_size = sysconf(_SC_PAGESIZE);
	if (page > 0 && (long)(page + 1) * page_size <= kvm->vcpu_mmap_size &&
	    kvm->coalesced.capacity > 0)
		kvm->coalesced_page = page;
	debug("KVM: coalesced MMIO %s", kvm->coalesced_page ? "available" : "absent");
	kvm->dirty_ring_max = MAX(0, ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING));
	debug("KVM: %u memory slots, dirty ring %s (dirty logging uses the bitmap)",
	      kvm->nr_memslots, kvm->dirty_ring_max ? "available" : "absent");
	kvm->supported_cpuid = get_supported_cpuid(kvm->sys_fd);
	if (!kvm->supported_cpuid) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
		goto fail;
	}
	/* So "host" has it, "+tsc-deadline" is accepted and qemu64 masks it. */
	cpuid_add_kvm_emulated(kvm->supported_cpuid,
			       ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
	return 0;
fail:
	close(kvm->sys_fd);
	kvm->sys_fd = -1;
	return -1;
}

/* QEMU's PC routing: ISA IRQs reach both the PIC and the IOAPIC pin of the
 * same number, except that the PIT's IRQ 0 arrives on IOAPIC pin 2; GSIs
 * 16-23 are IOAPIC only. SeaBIOS is told so through etc/irq0-override.
 * Then the MSI routes of the irqfds. Called with route_lock held (or before
 * any device thread exists). */
static int set_gsi_routing(struct kvm_vm *kvm, int vm_fd)
{
	struct kvm_irq_routing *r =
		xzalloc(sizeof(*r) + (64 + KVM_MAX_MSI_ROUTES) * sizeof(r->entries[0]));
	unsigned n = 0;

	for (unsigned gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
							  : KVM_IRQCHIP_PIC_SLAVE,
				       .pin = gsi % 8 },
		};
	}
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi },
		};
	}
	for (unsigned i = 0; i < KVM_MAX_MSI_ROUTES; i++) {
		if (!kvm->msi_route[i].used)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = KVM_MSI_GSI_BASE + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)kvm->msi_route[i].addr,
				   .address_hi = (uint32_t)(kvm->msi_route[i].addr >> 32),
				   .data = kvm->msi_route[i].data },
		};
	}
	r->nr = n;
	int ret = ioctl(vm_fd, KVM_SET_GSI_ROUTING, r);
	free(r);
	return ret;
}

int kvm_msi_route_set(struct kvm_vm *kvm, int *gsi, uint64_t addr, uint32_t data)
{
	int ret = 0;

	pthread_mutex_lock(&kvm->route_lock);
	if (*gsi < 0) {
		for (unsigned i = 0; i < KVM_MAX_MSI_ROUTES; i++) {
			if (!kvm->msi_route[i].used) {
				kvm->msi_route[i].used = true;
				*gsi = KVM_MSI_GSI_BASE + (int)i;
				break;
			}
		}
	}
	if (*gsi < KVM_MSI_GSI_BASE || *gsi >= KVM_MSI_GSI_BASE + KVM_MAX_MSI_ROUTES) {
		ret = -ENOSPC;
	} else {
		kvm->msi_route[*gsi - KVM_MSI_GSI_BASE].addr = addr;
		kvm->msi_route[*gsi - KVM_MSI_GSI_BASE].data = data;
		if (set_gsi_routing(kvm, kvm->vm_fd) < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&kvm->route_lock);
	return ret;
}

int kvm_irqfd(struct kvm_vm *kvm, int fd, int gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = (uint32_t)gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	return ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

/* Manual protection without "initially set": logging starts with every
 * page clean, so the first bitmap holds only what the guest wrote. */
static bool enable_manual_dirty_protect(int vm_fd)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
	};
	int have = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

	return have > 0 && (have & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) &&
	       ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

static int register_coalesced_zone(int vm_fd, uint64_t addr, uint64_t size)
{
	struct kvm_coalesced_mmio_zone z = { .addr = addr, .size = (uint32_t)size };

	return ioctl(vm_fd, KVM_REGISTER_COALESCED_MMIO, &z) < 0 ? -errno : 0;
}

/* A zone KVM refuses in a new VM only traps, as without coalescing. */
static void register_coalesced_zones(struct kvm_vm *kvm, int vm_fd)
{
	for (unsigned i = 0; i < kvm->ncoalesced_zones; i++) {
		int ret = register_coalesced_zone(vm_fd, kvm->coalesced_zone[i].addr,
						  kvm->coalesced_zone[i].size);
		if (ret < 0)
			warn("KVM_REGISTER_COALESCED_MMIO at %#llx failed: %s",
			     (unsigned long long)kvm->coalesced_zone[i].addr, strerror(-ret));
	}
}

int kvm_coalesce_mmio(struct kvm_vm *kvm, uint64_t addr, uint64_t size)
{
	if (!kvm->coalesced_page)
		return -EOPNOTSUPP;
	if (!size || size > UINT32_MAX || addr + size < addr)
		return -EINVAL;
	if (kvm->ncoalesced_zones >= KVM_MAX_COALESCED_ZONES)
		return -ENOSPC;
	if (kvm->vm_fd >= 0) {
		int ret = register_coalesced_zone(kvm->vm_fd, addr, size);
		if (ret < 0)
			return ret;
	}
	kvm->coalesced_zone[kvm->ncoalesced_zones].addr = addr;
	kvm->coalesced_zone[kvm->ncoalesced_zones].size = size;
	kvm->ncoalesced_zones++;
	return 0;
}

struct kvm_coalesced_mmio_ring *kvm_coalesced_ring(struct kvm_vm *kvm, void *run)
{
	if (!kvm->coalesced_page || !run)
		return NULL;
	return (struct kvm_coalesced_mmio_ring *)((char *)run +
						  (size_t)kvm->coalesced_page *
							  (size_t)sysconf(_SC_PAGESIZE));
}

int kvm_create_vm(struct kvm_vm *kvm, char *err, size_t errlen)
{
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	struct kvm_pit_config pit = {
		.flags = kvm->speaker_port_in_user ? 0 : KVM_PIT_SPEAKER_DUMMY,
	};
	const char *step;
	int fd;

	step = "KVM_CREATE_VM";
	fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	if (fd < 0)
		goto fail;
	/* Must precede vCPU creation. */
	step = "KVM_SET_IDENTITY_MAP_ADDR";
	if (ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		goto fail;
	step = "KVM_SET_TSS_ADDR";
	if (ioctl(fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		goto fail;
	step = "KVM_CREATE_IRQCHIP";
	if (ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	step = "KVM_SET_GSI_ROUTING";
	pthread_mutex_lock(&kvm->route_lock);
	memset(kvm->msi_route, 0, sizeof(kvm->msi_route));
	int routed = set_gsi_routing(kvm, fd);
	pthread_mutex_unlock(&kvm->route_lock);
	if (routed < 0)
		goto fail;
	/* SPEAKER_DUMMY: the kernel answers port 0x61, which SeaBIOS uses to
	 * calibrate the TSC by gating PIT channel 2. Without it (the PC
	 * speaker on the board) 0x61 exits to user space, where
	 * hw/audio/pcspk.c answers it from KVM_GET_PIT2 the same way. */
	step = "KVM_CREATE_PIT2";
	if (ioctl(fd, KVM_CREATE_PIT2, &pit) < 0)
		goto fail;
	step = "KVM_REINJECT_CONTROL";
	if (kvm->pit_discard_lost_ticks &&
	    ioctl(fd, KVM_REINJECT_CONTROL, &(struct kvm_reinject_control){ .pit_reinject = 0 }) < 0)
		goto fail;
	kvm->clock_held = false; /* a new VM's clock starts afresh */
	kvm->manual_dirty_protect = enable_manual_dirty_protect(fd);
	register_coalesced_zones(kvm, fd);
	if (kvm->vm_fd >= 0) {
		/* A system reset replaces the VM under the same descriptor number,
		 * so a device thread raising an IRQ meanwhile never hits a stale or
		 * reused descriptor. */
		if (dup2(fd, kvm->vm_fd) < 0) {
			step = "dup2";
			goto fail;
		}
		close(fd);
	} else {
		kvm->vm_fd = fd;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s failed: %s", step, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

void kvm_destroy_vm(struct kvm_vm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	kvm->vm_fd = -1;
}

void kvm_close(struct kvm_vm *kvm)
{
	kvm_destroy_vm(kvm);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	kvm->sys_fd = -1;
	free(kvm->supported_cpuid);
	kvm->supported_cpuid = NULL;
	coalesced_mmio_destroy(&kvm->coalesced);
}

static int slot_set(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		    unsigned flags)
{
	struct kvm_vm *kvm = opaque;
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = (flags & MEM_SLOT_READONLY ? KVM_MEM_READONLY : 0) |
			 (flags & MEM_SLOT_LOG_DIRTY ? KVM_MEM_LOG_DIRTY_PAGES : 0),
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

/* Without manual protection KVM_GET_DIRTY_LOG clears and write-protects
 * as it reads; with it, only the pages KVM_CLEAR_DIRTY_LOG names are, so
 * a slot whose pages stay clean costs nothing. */
static int slot_get_dirty(void *opaque, unsigned slot, uint64_t npages, uint64_t *bitmap)
{
	struct kvm_vm *kvm = opaque;
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
	bool any = false;

	if (npages > UINT32_MAX)
		return -EINVAL;
	if (ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	for (uint64_t w = 0; w < (npages + 63) / 64 && !any; w++)
		any = bitmap[w] != 0;
	if (!kvm->manual_dirty_protect || !any)
		return 0;
	struct kvm_clear_dirty_log clear = {
		.slot = slot,
		.num_pages = (uint32_t)npages,
		.first_page = 0,
		.dirty_bitmap = bitmap,
	};
	return ioctl(kvm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0 ? -errno : 0;
}

const struct mem_slot_ops kvm_mem_slot_ops = { slot_set, slot_get_dirty };

void kvm_set_gsi(void *opaque, unsigned gsi, int level)
{
	struct kvm_vm *kvm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	if (ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		warn("KVM_IRQ_LINE(%u, %d) failed: %s", gsi, level, strerror(errno));
}

/* What the guest programmed: the IOAPIC pin's trigger mode if the pin is
 * unmasked (APIC mode), else the PIC's ELCR bit (the in-kernel PIC
 * emulates the ELCR at 0x4D0/0x4D1). */
int kvm_gsi_level_triggered(struct kvm_vm *kvm, unsigned gsi)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	unsigned pin = gsi == 0 ? 2 : gsi;

	if (gsi >= 16)
		return -EINVAL;
	if (ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -errno;
	if (!chip.chip.ioapic.redirtbl[pin].fields.mask)
		return chip.chip.ioapic.redirtbl[pin].fields.trig_mode;
	chip = (struct kvm_irqchip){ .chip_id = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
							: KVM_IRQCHIP_PIC_SLAVE };
	if (ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -errno;
	return (chip.chip.pic.elcr >> (gsi % 8)) & 1;
}

int kvm_get_pit_channel(struct kvm_vm *kvm, unsigned ch, struct kvm_pit_channel_info *out)
{
	struct kvm_pit_state2 ps;

	if (ch > 2)
		return -EINVAL;
	if (ioctl(kvm->vm_fd, KVM_GET_PIT2, &ps) < 0)
		return -errno;
	*out = (struct kvm_pit_channel_info){ .count = ps.channels[ch].count,
					      .mode = ps.channels[ch].mode,
					      .load_ns = ps.channels[ch].count_load_time };
	return 0;
}

int64_t kvm_pit_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool kvm_has_cap(struct kvm_vm *kvm, int cap)
{
	return ioctl(kvm->vm_fd >= 0 ? kvm->vm_fd : kvm->sys_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

int kvm_signal_msi(struct kvm_vm *kvm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	/* Returns >0 delivered, 0 blocked by the guest (e.g. masked LAPIC). */
	return ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

int kvm_ioeventfd(struct kvm_vm *kvm, uint64_t addr, unsigned len, bool pio, int datamatch,
		  int fd, bool assign)
{
	struct kvm_ioeventfd ev = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.datamatch = datamatch >= 0 ? (uint64_t)datamatch : 0,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (datamatch >= 0 ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return ioctl(kvm->vm_fd, KVM_IOEVENTFD, &ev) < 0 ? -errno : 0;
}
