/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory regions: the guest-physical address space as the board and its
 * devices describe it, turned into KVM memory slots.
 *
 * A region is a page-aligned guest-physical range that is either RAM-backed
 * (a host mapping, read-only or read-write, installed as a KVM slot) or
 * trapped (no slot: accesses exit to user space and go to the MMIO bus,
 * where the region's own io_region is mapped if it has one). A region can
 * switch between the two at run time (the i440FX PAM segments today; VGA
 * banking and linear framebuffers later), be disabled, or move (BARs).
 *
 * Regions may overlap: where they do, the one with the higher priority is
 * what the guest sees (equal priorities: the one added last), as on the PC,
 * where a PAM segment or the VGA window lies over RAM and a BAR may be
 * programmed over anything. The space flattens the enabled regions into
 * fragments, each of one region; every RAM-backed fragment is one KVM slot,
 * numbered by an allocator (no fixed slot numbers). A change installs only
 * the slots that differ: a fragment that stays the same keeps its slot.
 *
 * Dirty logging is per region: while it is on, every slot of the region
 * has KVM_MEM_LOG_DIRTY_PAGES, and mem_region_get_dirty() returns, then
 * clears, one bit per 4 KiB page of the region (bits of a slot that goes
 * away, e.g. when the region switches to trapped, are kept). KVM logs only
 * what vCPUs write; a device that writes the region's memory itself, or
 * serves a trapped region, reports its writes with mem_region_mark_dirty().
 *
 * The KVM side is behind struct mem_slot_ops, so unit tests drive a fake.
 * After a system reset (a new KVM VM) mem_space_attach() installs every
 * slot again, with its dirty logging.
 */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MEM_PAGE_SHIFT 12
#define MEM_PAGE_SIZE (1ULL << MEM_PAGE_SHIFT)
#define MEM_REGIONS_MAX 64
/* KVM takes at most 2^31 - 1 pages in one slot (8 TiB less a page): RAM
 * is cut into slots at every multiple of this in the guest's address
 * space, a power of two so that huge pages never straddle a cut. */
#define MEM_SLOT_SPAN (4ULL << 40)
/* Cuts made for the slot limit, at most: enough for 64 TiB of RAM. */
#define MEM_SLOT_CUTS_MAX 16
#define MEM_FRAGMENTS_MAX (2 * MEM_REGIONS_MAX + MEM_SLOT_CUTS_MAX)
#define MEM_SLOTS_MAX 256

/* Slot flags, as KVM spells them in KVM_SET_USER_MEMORY_REGION. */
#define MEM_SLOT_LOG_DIRTY 1u
#define MEM_SLOT_READONLY 2u

struct io_bus;
struct io_region;

/* The slot side of the hypervisor. */
struct mem_slot_ops {
	/* Installs slot 'slot' (size 0: deletes it). 0 or -errno. */
	int (*set)(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		   unsigned flags);
	/* Fetches and clears the dirty bits of a logged slot of 'npages' pages
	 * into 'bitmap' (npages bits, rounded up to 64). 0 or -errno. */
	int (*get_dirty)(void *opaque, unsigned slot, uint64_t npages, uint64_t *bitmap);
};

/* The slot-number allocator: lowest free number below 'limit'. */
struct mem_slot_alloc {
	uint64_t used[MEM_SLOTS_MAX / 64];
	unsigned limit;
	unsigned count;
};

void mem_slot_alloc_init(struct mem_slot_alloc *a, unsigned limit);
/* A free slot number, or -ENOSPC. */
int mem_slot_alloc(struct mem_slot_alloc *a);
void mem_slot_free(struct mem_slot_alloc *a, unsigned slot);

struct mem_space;

struct mem_region {
	const char *name;
	uint64_t gpa, size;
	int priority;
	bool enabled;
	bool ram;              /* RAM-backed (a slot), else trapped */
	bool read_only;        /* RAM-backed: guest writes exit as MMIO */
	uint8_t *hva;          /* RAM-backed: host memory of the region's first byte */
	struct io_region *io;  /* trapped: mapped on the space's MMIO bus, if any */
	bool io_mapped;
	bool log_dirty;
	uint64_t *dirty;       /* while logging: one bit per page, not yet returned */
	unsigned order;        /* when it was added: breaks priority ties */
	struct mem_space *space;
};

/* What the guest sees at one range: one region's (part) and its slot. */
struct mem_fragment {
	uint64_t gpa, size;
	struct mem_region *region;
	uint8_t *hva;  /* NULL: trapped */
	unsigned flags;
	int slot;      /* -1: none (trapped, or no VM attached) */
};

struct mem_space {
	pthread_mutex_t lock;
	const struct mem_slot_ops *ops; /* NULL while no VM is attached */
	void *ops_opaque;
	struct io_bus *mmio;            /* where trapped regions' handlers go (may be NULL) */
	struct mem_slot_alloc slots;
	struct mem_region *regions[MEM_REGIONS_MAX];
	unsigned nregions, next_order;
	struct mem_fragment frags[MEM_FRAGMENTS_MAX];
	unsigned nfrags;
	uint64_t slot_changes;          /* slot installs and deletions (tests, diagnostics) */
	atomic_uint logging;            /* regions with dirty logging on: 0 skips marking */
};

void mem_space_init(struct mem_space *s, struct io_bus *mmio);
/* Frees the dirty bitmaps; the regions belong to their owners. */
void mem_space_destroy(struct mem_space *s);

/* Installs every slot in a new VM (up to 'nslots' of them). 0 or -errno. */
int mem_space_attach(struct mem_space *s, const struct mem_slot_ops *ops, void *opaque,
		     unsigned nslots);
/* Before the VM goes away: keeps the dirty bits of every logged slot and
 * forgets the slots. */
void mem_space_detach(struct mem_space *s);

/* Fill a region (not yet added). gpa and size: multiples of 4 KiB. */
void mem_region_init_ram(struct mem_region *r, const char *name, uint64_t gpa, uint64_t size,
			 void *hva, bool read_only, int priority);
void mem_region_init_trap(struct mem_region *r, const char *name, uint64_t gpa, uint64_t size,
			  struct io_region *io, int priority);

/* Adds an enabled region. -EINVAL: unaligned or empty or wrapping range;
 * -ENOSPC: too many regions; -EEXIST: its name is taken. */
int mem_space_add(struct mem_space *s, struct mem_region *r);
void mem_space_remove(struct mem_space *s, struct mem_region *r);
struct mem_region *mem_space_find(struct mem_space *s, const char *name);
/* Copies the current fragments (lowest address first); returns their count. */
unsigned mem_space_fragments(struct mem_space *s, struct mem_fragment *out, unsigned max);

/* Run-time changes; each installs what changed. 0 or -errno. */
int mem_region_set_ram(struct mem_region *r, void *hva, bool read_only);
int mem_region_set_trap(struct mem_region *r);
int mem_region_set_enabled(struct mem_region *r, bool enabled);
int mem_region_move(struct mem_region *r, uint64_t gpa);
/* Moves the region to 'gpa' and enables it, only if no other enabled
 * region lies anywhere in its new range and, RAM-backed with a VM
 * attached, 'keep_free' slots stay free after its own: for what a guest
 * places (a ROM BAR), which must never cover RAM or another device.
 * Otherwise it ends up disabled: -EBUSY (overlap), -ENOSPC (slots),
 * -EINVAL (range), or the slot error. */
int mem_region_enable_alone(struct mem_region *r, uint64_t gpa, unsigned keep_free);

/* Dirty logging. */
int mem_region_set_log_dirty(struct mem_region *r, bool on);
uint64_t mem_region_pages(const struct mem_region *r);
/* Copies the region's dirty bits (page i of the region: bit i%64 of
 * out[i/64]) into 'out', sized for 'npages' (at least the region's pages),
 * and clears them. -EINVAL: logging is off or 'out' is too small. */
int mem_region_get_dirty(struct mem_region *r, uint64_t *out, uint64_t npages);
/* A write that KVM did not see (device DMA, a trapped region). */
void mem_region_mark_dirty(struct mem_region *r, uint64_t offset, uint64_t len);
/* The same by guest-physical address: every logged region under
 * [gpa, gpa+len) (overlapping ones too: a superset is harmless). Costs one
 * atomic read while no region logs. */
void mem_space_mark_dirty(struct mem_space *s, uint64_t gpa, uint64_t len);

#endif
