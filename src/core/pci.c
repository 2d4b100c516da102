// SPDX-License-Identifier: GPL-2.0-or-later
#include "pci.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "savestate.h"
#include "util.h"

#define CONFIG_ADDRESS_ENABLE 0x80000000u

void pci_bus_init(struct pci_bus *bus, struct io_bus *pio, struct io_bus *mmio)
{
	memset(bus, 0, sizeof(*bus));
	bus->pio = pio;
	bus->mmio = mmio;
	pthread_mutex_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->intx_lock, NULL);
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	pci_set_word(d, PCI_VENDOR_ID, vendor);
	pci_set_word(d, PCI_DEVICE_ID, device);
	d->config[PCI_REVISION_ID] = revision;
	d->config[PCI_CLASS_PROG] = (uint8_t)class_code;
	pci_set_word(d, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	/* QEMU's default subsystem IDs; SeaBIOS uses them to say "Running on QEMU". */
	pci_set_word(d, PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
	pci_set_word(d, PCI_SUBSYSTEM_ID, 0x1100);
	d->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	d->wmask[PCI_COMMAND + 1] = (PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE) >> 8;
	d->w1cmask[PCI_STATUS + 1] = 0xF9; /* parity, aborts, SERR */
	d->wmask[0x0C] = 0xFF; /* cache line size */
	d->wmask[0x0D] = 0xFF; /* latency timer */
	d->wmask[PCI_INTERRUPT_LINE] = 0xFF;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		d->bar[i].addr = PCI_BAR_UNMAPPED;
	d->rom_addr = PCI_BAR_UNMAPPED;
	/* Device-specific registers above the header are writable by default. */
	memset(d->wmask + 0x40, 0xFF, sizeof(d->wmask) - 0x40);
}

static uint64_t round_pow2(uint64_t v)
{
	uint64_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

void pci_device_set_bar(struct pci_device *d, int idx, enum pci_bar_type type, bool prefetchable,
			uint64_t size, const struct io_ops *ops, void *opaque)
{
	struct pci_bar *b = &d->bar[idx];
	unsigned off = PCI_BAR0 + 4 * (unsigned)idx;
	uint64_t mask;

	size = round_pow2(MAX(size, type == PCI_BAR_IO ? 4u : 16u));
	b->type = type;
	b->prefetchable = prefetchable;
	b->size = size;
	io_region_init(&b->region, d->name, ops, opaque, size);
	mask = ~(size - 1);
	if (type == PCI_BAR_IO) {
		pci_set_long(d, off, 0x1);
		/* All 32 bits are writable, as on real devices: firmware derives
		 * the size from the full dword it reads back. */
		put_le32(d->wmask + off, (uint32_t)mask & ~3u);
	} else {
		uint32_t flags = (type == PCI_BAR_MEM64 ? 0x4 : 0) | (prefetchable ? 0x8 : 0);
		pci_set_long(d, off, flags);
		put_le32(d->wmask + off, (uint32_t)mask & ~0xFu);
		if (type == PCI_BAR_MEM64) {
			put_le32(d->wmask + off + 4, (uint32_t)(mask >> 32));
			d->bar[idx + 1].type = PCI_BAR_NONE;
		}
	}
}

void pci_device_set_rom(struct pci_device *d, const uint8_t *image, uint64_t len)
{
	d->rom = image;
	d->rom_len = len;
	d->rom_size = round_pow2(MAX(len, 2048));
	put_le32(d->wmask + PCI_ROM_ADDRESS, (uint32_t)~(d->rom_size - 1) | 1u);
}

/* An iPXE ROM built for several cards (PCI 3.0 device list) names
 * 0000:0000 in its PCI data structure, and SeaBIOS runs a ROM only when
 * those IDs are the function's: they are written in, and the change to
 * the image's byte sum taken back in byte 6 of the header (reserved on
 * x86; iPXE keeps it for this). Only the first image (the x86 one). */
void pci_rom_set_ids(uint8_t *rom, uint64_t len, uint16_t vendor, uint16_t device)
{
	if (len < 0x1A || rom[0] != 0x55 || rom[1] != 0xAA)
		return;
	uint64_t pcir = get_le16(rom + 0x18);
	if (pcir + 8 > len || memcmp(rom + pcir, "PCIR", 4))
		return;
	uint8_t before = 0, after = 0;
	for (int i = 4; i < 8; i++)
		before = (uint8_t)(before + rom[pcir + i]);
	put_le16(rom + pcir + 4, vendor);
	put_le16(rom + pcir + 6, device);
	for (int i = 4; i < 8; i++)
		after = (uint8_t)(after + rom[pcir + i]);
	rom[6] = (uint8_t)(rom[6] - (after - before));
}

void pci_device_set_interrupt_pin(struct pci_device *d, unsigned pin)
{
	d->config[PCI_INTERRUPT_PIN] = (uint8_t)pin;
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_device *d = opaque;
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		/* the BAR is a power of two; past the image it reads as zeros */
		uint8_t byte = 0xFF;
		if (off + i < d->rom_len)
			byte = d->rom[off + i];
		else if (off + i < d->rom_size)
			byte = 0;
		v |= (uint64_t)byte << (8 * i);
	}
	return v;
}

static const struct io_ops rom_ops = { .read = rom_read, .max_size = 8 };

/* The ROM's memory region, added disabled; it is enabled where the guest
 * decodes the ROM. A ROM BAR smaller than a page cannot be a slot of its
 * own, and without a space there is none: such ROMs stay MMIO only. Done
 * at registration, before the sandbox, which allows vCPU threads no mmap. */
static void rom_memory_init(struct pci_device *d)
{
	struct mem_space *space = d->bus->space;

	if (!space || d->rom_size < MEM_PAGE_SIZE)
		return;
	void *p = mmap(NULL, d->rom_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return;
	memcpy(p, d->rom, d->rom_len);
	/* Nothing writes it again: the host keeps it read-only too. */
	mprotect(p, d->rom_size, PROT_READ);
	d->rom_copy = p;
	memcpy(d->rom_mem_name, "pci-rom-", 8);
	format_uint(d->rom_mem_name + 8, sizeof(d->rom_mem_name) - 8, d->devfn, 16, 2);
	mem_region_init_ram(&d->rom_mem, d->rom_mem_name, 0, d->rom_size, d->rom_copy, true, 2);
	d->rom_mem.enabled = false;
	if (mem_space_add(space, &d->rom_mem) == 0) {
		d->rom_mem_added = true;
		return;
	}
	munmap(d->rom_copy, d->rom_size);
	d->rom_copy = NULL;
}

void pci_device_release(struct pci_device *d)
{
	if (d->rom_mem_added && d->bus && d->bus->space)
		mem_space_remove(d->bus->space, &d->rom_mem);
	d->rom_mem_added = false;
	if (d->rom_copy)
		munmap(d->rom_copy, d->rom_size);
	d->rom_copy = NULL;
}

int pci_register(struct pci_bus *bus, struct pci_device *d, uint8_t devfn)
{
	if (bus->dev[devfn])
		return -EEXIST;
	d->bus = bus;
	d->devfn = devfn;
	if (d->rom) {
		io_region_init(&d->rom_region, d->name, &rom_ops, d, d->rom_size);
		rom_memory_init(d);
	}
	memcpy(d->config_at_reset, d->config, sizeof(d->config));
	bus->dev[devfn] = d;
	return 0;
}

/* Where the guest has placed BAR 'idx' now, following the PCI rules for
 * what counts as unmapped (decode off, zero, or a sizing pattern). */
static uint64_t bar_address(const struct pci_device *d, int idx)
{
	const struct pci_bar *b = &d->bar[idx];
	uint16_t cmd = pci_get_word(d, PCI_COMMAND);
	unsigned off = PCI_BAR0 + 4 * (unsigned)idx;
	uint64_t addr, last;

	if (b->type == PCI_BAR_IO) {
		if (!(cmd & PCI_COMMAND_IO))
			return PCI_BAR_UNMAPPED;
		addr = pci_get_long(d, off) & ~(uint64_t)3 & ~(b->size - 1);
		last = addr + b->size - 1;
		if (addr == 0 || last > 0xFFFF)
			return PCI_BAR_UNMAPPED;
		return addr;
	}
	if (!(cmd & PCI_COMMAND_MEMORY))
		return PCI_BAR_UNMAPPED;
	addr = pci_get_long(d, off) & ~(uint64_t)0xF;
	if (b->type == PCI_BAR_MEM64)
		addr |= (uint64_t)pci_get_long(d, off + 4) << 32;
	addr &= ~(b->size - 1);
	last = addr + b->size - 1;
	if (addr == 0 || last < addr)
		return PCI_BAR_UNMAPPED;
	if (b->type == PCI_BAR_MEM32 && last >= 0xFFFFFFFFu)
		return PCI_BAR_UNMAPPED;
	if (b->type == PCI_BAR_MEM64 && last >= (1ULL << 52))
		return PCI_BAR_UNMAPPED;
	return addr;
}

static void update_bar(struct pci_device *d, int idx)
{
	struct pci_bar *b = &d->bar[idx];
	uint64_t addr = bar_address(d, idx);
	struct io_bus *bus = b->type == PCI_BAR_IO ? d->bus->pio : d->bus->mmio;

	if (addr == b->addr)
		return;
	if (b->region.ops) {
		if (addr == PCI_BAR_UNMAPPED) {
			bus_unmap(bus, &b->region);
		} else if (bus_map(bus, &b->region, addr) < 0) {
			/* Real hardware would decode both; we keep the first claimant. */
			warn("%s: BAR%d at %#llx overlaps another device; left unmapped", d->name,
			     idx, (unsigned long long)addr);
			bus_unmap(bus, &b->region);
			addr = PCI_BAR_UNMAPPED;
		}
	}
	b->addr = addr;
	if (d->bar_moved)
		d->bar_moved(d, idx, addr);
}

static void update_rom(struct pci_device *d)
{
	uint32_t reg = pci_get_long(d, PCI_ROM_ADDRESS);
	uint64_t addr = reg & ~(uint64_t)0x7FF & ~(d->rom_size - 1);

	if (!d->rom)
		return;
	if (!(reg & 1) || !(pci_get_word(d, PCI_COMMAND) & PCI_COMMAND_MEMORY) || addr == 0 ||
	    addr + d->rom_size - 1 >= 0xFFFFFFFFu)
		addr = PCI_BAR_UNMAPPED;
	if (addr == d->rom_addr)
		return;
	/* The MMIO bus refuses a ROM over another BAR; the region layer, a
	 * ROM over RAM, the BIOS or any other region (it would hide them). */
	if (addr == PCI_BAR_UNMAPPED || bus_map(d->bus->mmio, &d->rom_region, addr) < 0) {
		if (d->rom_mem_added)
			mem_region_set_enabled(&d->rom_mem, false);
		bus_unmap(d->bus->mmio, &d->rom_region);
		addr = PCI_BAR_UNMAPPED;
	} else if (d->rom_mem_added) {
		/* Refused: the ROM stays on the MMIO bus alone. */
		mem_region_enable_alone(&d->rom_mem, addr, PCI_ROM_SLOTS_KEPT_FREE);
	}
	d->rom_addr = addr;
}

bool pci_rom_is_memory(struct pci_device *d)
{
	return d->rom_mem_added && d->rom_mem.enabled;
}

static void update_mappings(struct pci_device *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++)
		if (d->bar[i].type != PCI_BAR_NONE)
			update_bar(d, i);
	update_rom(d);
}

/* Config bytes a device thread may change without the bus lock (the
 * interrupt status bit, from pci_set_irq under the device's own lock) or
 * read without it (COMMAND, when routing INTx) are loaded and stored
 * atomically everywhere; relaxed is enough, each byte stands alone. */
static uint8_t config_byte(const struct pci_device *d, unsigned off)
{
	return __atomic_load_n(&d->config[off], __ATOMIC_RELAXED);
}

/* The level is read and handed to the router under the bus's intx_lock:
 * read outside it, a COMMAND write on a vCPU could read the old level, let
 * the device thread raise (or lower) the line, then overwrite that with
 * what it had read, and the interrupt would be lost (or stuck). */
static void route_intx(struct pci_device *d)
{
	unsigned pin = d->config[PCI_INTERRUPT_PIN];
	struct pci_bus *bus = d->bus;

	if (pin < 1 || pin > 4 || !bus || !bus->set_intx)
		return;
	pthread_mutex_lock(&bus->intx_lock);
	bool disabled = config_byte(d, PCI_COMMAND + 1) & (PCI_COMMAND_INTX_DISABLE >> 8);
	int level = __atomic_load_n(&d->intx_level, __ATOMIC_RELAXED) && !disabled;
	bus->set_intx(bus->intx_opaque, d->devfn, pin, level);
	pthread_mutex_unlock(&bus->intx_lock);
}

/* Called by device models under their own lock, from any thread (vCPU,
 * I/O thread, completion thread), not under the bus lock. */
void pci_set_irq(struct pci_device *d, int level)
{
	__atomic_store_n(&d->intx_level, level != 0, __ATOMIC_RELAXED);
	if (level)
		__atomic_fetch_or(&d->config[PCI_STATUS], PCI_STATUS_INTERRUPT, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&d->config[PCI_STATUS], (uint8_t)~PCI_STATUS_INTERRUPT,
				   __ATOMIC_RELAXED);
	route_intx(d);
}

uint32_t pci_config_read(struct pci_bus *bus, uint8_t devfn, unsigned off, unsigned size)
{
	struct pci_device *d = bus->dev[devfn];
	uint32_t v = 0;

	if (!d || off + size > 256)
		return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	if (d->config_read)
		d->config_read(d, off, size);
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)config_byte(d, off + i) << (8 * i);
	return v;
}

void pci_config_write(struct pci_bus *bus, uint8_t devfn, unsigned off, uint32_t val,
		      unsigned size)
{
	struct pci_device *d = bus->dev[devfn];
	bool touches_bars = false, touches_cmd = false;

	if (!d || off + size > 256)
		return;
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		/* A byte with nothing writable is not stored back: a device
		 * thread may be changing its read-only bits meanwhile. */
		if (d->wmask[o] | d->w1cmask[o]) {
			uint8_t c = config_byte(d, o);
			c = (uint8_t)((c & ~d->wmask[o]) | (b & d->wmask[o]));
			c &= (uint8_t)~(b & d->w1cmask[o]);
			__atomic_store_n(&d->config[o], c, __ATOMIC_RELAXED);
		}
		if (o >= PCI_BAR0 && o < PCI_BAR0 + 24)
			touches_bars = true;
		if (o >= PCI_ROM_ADDRESS && o < PCI_ROM_ADDRESS + 4)
			touches_bars = true;
		if (o == PCI_COMMAND || o == PCI_COMMAND + 1)
			touches_cmd = true;
	}
	if (touches_bars || touches_cmd)
		update_mappings(d);
	if (touches_cmd)
		route_intx(d);
	if (d->config_write)
		d->config_write(d, off, val, size);
}

static uint64_t host_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_bus *bus = opaque;
	uint64_t v = ~0ULL;

	pthread_mutex_lock(&bus->lock);
	/* CONFIG_ADDRESS is another vCPU's to write too: read under the lock */
	uint32_t addr = bus->config_address;
	if (off == 0 && size == 4) {
		v = addr;
	} else if (off == 1 && size == 1) {
		v = bus->rcr_read ? bus->rcr_read(bus->rcr_opaque) : 0xFF;
	} else if (off >= 4 && (addr & CONFIG_ADDRESS_ENABLE) && ((addr >> 16) & 0xFF) == 0) {
		unsigned reg = (addr & 0xFC) + (unsigned)(off - 4);
		v = pci_config_read(bus, (uint8_t)(addr >> 8), reg, size);
	}
	pthread_mutex_unlock(&bus->lock);
	return v;
}

static void host_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct pci_bus *bus = opaque;

	pthread_mutex_lock(&bus->lock);
	uint32_t addr = bus->config_address;
	if (off == 0 && size == 4) {
		bus->config_address = (uint32_t)v & 0x80FFFFFCu;
	} else if (off == 1 && size == 1) {
		if (bus->rcr_write) {
			pthread_mutex_unlock(&bus->lock);
			bus->rcr_write(bus->rcr_opaque, (uint8_t)v);
			return;
		}
	} else if (off >= 4 && (addr & CONFIG_ADDRESS_ENABLE) && ((addr >> 16) & 0xFF) == 0) {
		unsigned reg = (addr & 0xFC) + (unsigned)(off - 4);
		pci_config_write(bus, (uint8_t)(addr >> 8), reg, (uint32_t)v, size);
	}
	pthread_mutex_unlock(&bus->lock);
}

static const struct io_ops host_ops = { .read = host_read, .write = host_write, .max_size = 4 };

int pci_bus_map_host_ports(struct pci_bus *bus)
{
	io_region_init(&bus->host_region, "pci-host", &host_ops, bus, 8);
	return bus_map(bus->pio, &bus->host_region, 0xCF8);
}

void pci_device_reset(struct pci_device *d)
{
	memcpy(d->config, d->config_at_reset, sizeof(d->config));
	__atomic_store_n(&d->intx_level, 0, __ATOMIC_RELAXED);
	update_mappings(d);
	route_intx(d);
	if (d->reset)
		d->reset(d);
}

void pci_bus_reset(struct pci_bus *bus)
{
	bus->config_address = 0;
	for (int i = 0; i < 256; i++)
		if (bus->dev[i])
			pci_device_reset(bus->dev[i]);
}

void pci_config_put(struct ss_writer *w, struct pci_device *d)
{
	uint8_t cfg[256];
	for (unsigned i = 0; i < sizeof(cfg); i++)
		cfg[i] = config_byte(d, i);
	ss_put_bytes(w, "pci.config", cfg, sizeof(cfg));
}

bool pci_config_get(struct ss_reader *r, const struct pci_device *d, uint8_t cfg[256])
{
	ss_get_bytes(r, "pci.config", cfg, 256);
	if (!ss_ok(r))
		return false;
	for (unsigned i = 0; i < 256; i++) {
		uint8_t may_differ = d->wmask[i] | d->w1cmask[i];
		if (i == PCI_STATUS)
			may_differ |= PCI_STATUS_INTERRUPT; /* the device's INTx level */
		if ((cfg[i] ^ config_byte(d, i)) & ~may_differ)
			return ss_fail(r, "saved state: %s: read-only configuration byte 0x%02x is "
				       "0x%02x, this device has 0x%02x", d->name, i, cfg[i],
				       config_byte(d, i));
	}
	return true;
}

void pci_config_apply(struct pci_device *d, const uint8_t cfg[256])
{
	if (d->bus)
		pthread_mutex_lock(&d->bus->lock);
	for (unsigned i = 0; i < 256; i++)
		__atomic_store_n(&d->config[i], cfg[i], __ATOMIC_RELAXED);
	/* The interrupt status bit shows this function's INTx level, which its
	 * own load function drives again (pci_set_irq). */
	if (__atomic_load_n(&d->intx_level, __ATOMIC_RELAXED))
		__atomic_fetch_or(&d->config[PCI_STATUS], PCI_STATUS_INTERRUPT, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&d->config[PCI_STATUS], (uint8_t)~PCI_STATUS_INTERRUPT,
				   __ATOMIC_RELAXED);
	if (d->bus) {
		update_mappings(d);
		route_intx(d);
		pthread_mutex_unlock(&d->bus->lock);
	}
}
