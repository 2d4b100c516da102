/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI bus 0: configuration mechanism #1 (0xCF8/0xCFC), type-0 config space,
 * BARs that the firmware sizes and places, and INTx.
 *
 * The core owns the standard header: it keeps the write masks, maps and
 * moves BAR regions on the I/O and memory buses when the guest writes a BAR
 * or the command register, and forwards INTx to the board's router. A device
 * model fills its IDs and BARs and may hook config writes for its own
 * registers (after the core has stored them).
 */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "memory.h"

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0A
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID 0x2E
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN 0x3D

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_SERR 0x100
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x8
#define PCI_HEADER_MULTIFUNCTION 0x80

#define PCI_NUM_BARS 6
#define PCI_BAR_UNMAPPED UINT64_MAX

#define PCI_DEVFN(slot, fn) ((uint8_t)(((slot) << 3) | (fn)))

enum pci_bar_type {
	PCI_BAR_NONE,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64, /* takes this slot and the next */
};

struct pci_device;

struct pci_bar {
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t size; /* a power of two */
	struct io_region region;
	uint64_t addr; /* where it is decoded now, or PCI_BAR_UNMAPPED */
};

struct pci_device {
	const char *name;
	struct pci_bus *bus;
	uint8_t devfn;
	uint8_t config[256];
	uint8_t wmask[256];   /* bits the guest may write */
	uint8_t w1cmask[256]; /* bits the guest clears by writing 1 */
	uint8_t config_at_reset[256];
	struct pci_bar bar[PCI_NUM_BARS];
	const uint8_t *rom;   /* expansion ROM image, or NULL */
	uint64_t rom_len;     /* the image's length (past it: 0 up to rom_size) */
	uint64_t rom_size;    /* power of two >= the image: the BAR's size */
	struct io_region rom_region; /* on the MMIO bus while decoded (writes, fallback) */
	uint64_t rom_addr;
	/* While decoded, the ROM is also a read-only memory region of the
	 * bus's space (a KVM slot: reads without exits), where it overlaps
	 * nothing else; rom_copy is its page-aligned backing (the image, zeros
	 * to rom_size), made at registration. */
	struct mem_region rom_mem;
	uint8_t *rom_copy;
	bool rom_mem_added;
	char rom_mem_name[24];
	int intx_level;
	void *opaque;
	/* Optional hooks. */
	void (*config_write)(struct pci_device *d, unsigned off, uint32_t val, unsigned size);
	/* Called before config bytes [off, off+size) are read, so a device can
	 * refresh registers whose value is computed at read time. */
	void (*config_read)(struct pci_device *d, unsigned off, unsigned size);
	/* Called when a BAR appears, moves or disappears (addr = PCI_BAR_UNMAPPED),
	 * for BARs backed by guest-visible memory rather than callbacks. */
	void (*bar_moved)(struct pci_device *d, int bar, uint64_t addr);
	void (*reset)(struct pci_device *d);
};

struct pci_bus {
	struct pci_device *dev[256];
	struct io_bus *pio, *mmio;
	/* Where decoded expansion ROMs become read-only memory (NULL: they
	 * are served on the MMIO bus only, an exit per read). */
	struct mem_space *space;
	uint32_t config_address;
	pthread_mutex_t lock;
	struct io_region host_region; /* 0xCF8-0xCFF */
	/* INTx router (PIIX3): devfn, pin 1-4, level. Called under intx_lock,
	 * which makes "read the device's level, tell the router" one step:
	 * a device thread's pci_set_irq and a vCPU's COMMAND write cannot
	 * pass each other and leave the router with a stale level. */
	pthread_mutex_t intx_lock;
	void (*set_intx)(void *opaque, uint8_t devfn, unsigned pin, int level);
	void *intx_opaque;
	/* The byte at 0xCF9 belongs to the PIIX3 reset control register. */
	uint8_t (*rcr_read)(void *opaque);
	void (*rcr_write)(void *opaque, uint8_t val);
	void *rcr_opaque;
};

void pci_bus_init(struct pci_bus *bus, struct io_bus *pio, struct io_bus *mmio);
/* Maps the 0xCF8-0xCFF configuration ports on the bus's I/O space. */
int pci_bus_map_host_ports(struct pci_bus *bus);
void pci_bus_reset(struct pci_bus *bus);
/* One function's reset: its header as at registration, BARs and INTx
 * re-applied, then its own reset hook. */
void pci_device_reset(struct pci_device *d);

/* Sets IDs and class; header type 0. class_code is 24 bits: class, sub, prog-if. */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision);
/* Declares a BAR handled by 'ops' (size is rounded up to a power of two). */
void pci_device_set_bar(struct pci_device *d, int idx, enum pci_bar_type type, bool prefetchable,
			uint64_t size, const struct io_ops *ops, void *opaque);
void pci_device_set_rom(struct pci_device *d, const uint8_t *image, uint64_t len);
/* Writes vendor:device into the ROM image's PCI data structure (a ROM
 * built for several cards), its checksum kept. */
void pci_rom_set_ids(uint8_t *rom, uint64_t len, uint16_t vendor, uint16_t device);
/* INTx pin 1-4 (A-D); 0 = none. */
void pci_device_set_interrupt_pin(struct pci_device *d, unsigned pin);
int pci_register(struct pci_bus *bus, struct pci_device *d, uint8_t devfn);
/* Gives back what registration took besides the device's own memory (its
 * ROM's memory region and copy); a device's destroy calls it. */
void pci_device_release(struct pci_device *d);
/* Whether the ROM is decoded as read-only memory now (tests). */
bool pci_rom_is_memory(struct pci_device *d);
/* A ROM takes a KVM slot only while this many stay free for the board's
 * own regions (VGA windows, framebuffers) on a host with few slots. */
#define PCI_ROM_SLOTS_KEPT_FREE 8

/* Asserts or deasserts the device's INTx (honours COMMAND.INTX_DISABLE). */
void pci_set_irq(struct pci_device *d, int level);

/* Config space access by (devfn, offset), as the 0xCFC data port does it. */
uint32_t pci_config_read(struct pci_bus *bus, uint8_t devfn, unsigned off, unsigned size);
void pci_config_write(struct pci_bus *bus, uint8_t devfn, unsigned off, uint32_t val,
		      unsigned size);

static inline uint16_t pci_get_word(const struct pci_device *d, unsigned off)
{
	return (uint16_t)(d->config[off] | d->config[off + 1] << 8);
}
static inline uint32_t pci_get_long(const struct pci_device *d, unsigned off)
{
	return pci_get_word(d, off) | (uint32_t)pci_get_word(d, off + 2) << 16;
}
static inline void pci_set_word(struct pci_device *d, unsigned off, uint16_t v)
{
	d->config[off] = (uint8_t)v;
	d->config[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_set_long(struct pci_device *d, unsigned off, uint32_t v)
{
	pci_set_word(d, off, (uint16_t)v);
	pci_set_word(d, off + 2, (uint16_t)(v >> 16));
}

/* Saved state of a function's configuration space (field "pci.config"
 * in the device's section). pci_config_get reads it and checks that every
 * byte the guest cannot write equals this function's own (the stream is of
 * this device, not another); pci_config_apply then installs it and maps
 * the BARs and ROM where it says, and routes INTx, as the guest's own
 * writes would have; device-specific side effects (PAM, PIRQ routes, an
 * I/O block at a programmed base) are the device's load function's. */
struct ss_writer;
struct ss_reader;
void pci_config_put(struct ss_writer *w, struct pci_device *d);
bool pci_config_get(struct ss_reader *r, const struct pci_device *d, uint8_t cfg[256]);
void pci_config_apply(struct pci_device *d, const uint8_t cfg[256]);

#endif
