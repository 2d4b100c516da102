// SPDX-License-Identifier: GPL-2.0-or-later
/* Expansion ROM BARs (src/core/pci.c) as read-only memory regions: while
 * the guest decodes a ROM (ROM BAR enable bit and COMMAND memory space) it
 * is one read-only KVM slot at the programmed address, so firmware copying
 * it causes no exit per read; disabled, moved, sized, reset or loaded
 * state follow it; a ROM over RAM or another BAR, or with too few slots
 * left, is no slot (the MMIO bus serves it, or nothing, as before). Checked
 * against a fake KVM that refuses overlapping slots. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "bus.h"
#include "memory.h"
#include "pci.h"

#define PAGE MEM_PAGE_SIZE
#define RAM_SIZE (64ULL << 20)
#define ROM_LEN (40 * 1024)   /* a VGA BIOS's size: a 64 KiB BAR */
#define ROM_SIZE (64 * 1024)
#define ROM_AT 0xFEB00000u
#define DEVFN PCI_DEVFN(3, 0)
#define OTHER_DEVFN PCI_DEVFN(4, 0)
#define OTHER_BAR_AT 0xFE000000u
#define IOAPIC_AT 0xFEC00000u

struct fake_slot {
	bool used;
	uint64_t gpa, size;
	uint8_t *hva;
	unsigned flags;
};

struct fake_kvm {
	struct fake_slot slot[MEM_SLOTS_MAX];
};

static int fake_set(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		    unsigned flags)
{
	struct fake_kvm *k = opaque;
	struct fake_slot *s = &k->slot[slot];

	if (!size) {
		assert_true(s->used);
		memset(s, 0, sizeof(*s));
		return 0;
	}
	assert_false(s->used);
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++) {
		const struct fake_slot *o = &k->slot[i];
		/* KVM: -EEXIST for overlapping slots. */
		assert_false(o->used && gpa < o->gpa + o->size && o->gpa < gpa + size);
	}
	*s = (struct fake_slot){ true, gpa, size, hva, flags };
	return 0;
}

static int fake_get_dirty(void *opaque, unsigned slot, uint64_t npages, uint64_t *bitmap)
{
	(void)opaque, (void)slot;
	memset(bitmap, 0, (npages + 63) / 64 * 8);
	return 0;
}

static const struct mem_slot_ops fake_ops = { fake_set, fake_get_dirty };

static const struct fake_slot *slot_at(const struct fake_kvm *k, uint64_t gpa)
{
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++)
		if (k->slot[i].used && k->slot[i].gpa <= gpa && gpa < k->slot[i].gpa + k->slot[i].size)
			return &k->slot[i];
	return NULL;
}

static unsigned installed(const struct fake_kvm *k)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++)
		n += k->slot[i].used;
	return n;
}

static uint64_t noop_read(void *o, uint64_t off, unsigned size)
{
	(void)o, (void)off, (void)size;
	return 0x1234;
}

static const struct io_ops bar_ops = { .read = noop_read, .max_size = 4 };

struct fixture {
	struct fake_kvm kvm;
	struct io_bus pio, mmio;
	struct mem_space space;
	struct mem_region ram, ioapic;
	uint8_t *ram_mem;
	struct pci_bus bus;
	struct pci_device dev, other;
	uint8_t rom[ROM_LEN];
};

static struct fixture *setup_with(unsigned nslots, bool with_space, uint64_t rom_len)
{
	struct fixture *f = calloc(1, sizeof(*f));
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	mem_space_init(&f->space, NULL);
	f->ram_mem = calloc(1, RAM_SIZE);
	mem_region_init_ram(&f->ram, "ram", 0, RAM_SIZE, f->ram_mem, false, 0);
	assert_int_equal(mem_space_add(&f->space, &f->ram), 0);
	/* what KVM serves itself, as memmap.c marks it: trapped, no handler */
	mem_region_init_trap(&f->ioapic, "ioapic", IOAPIC_AT, PAGE, NULL, 0);
	assert_int_equal(mem_space_add(&f->space, &f->ioapic), 0);
	assert_int_equal(mem_space_attach(&f->space, &fake_ops, &f->kvm, nslots), 0);
	pci_bus_init(&f->bus, &f->pio, &f->mmio);
	if (with_space)
		f->bus.space = &f->space;
	for (unsigned i = 0; i < ROM_LEN; i++)
		f->rom[i] = (uint8_t)(i * 7 + 1);
	f->rom[0] = 0x55, f->rom[1] = 0xAA;
	pci_device_init(&f->dev, "card", 0x1234, 0x1111, 0x030000, 0);
	pci_device_set_rom(&f->dev, f->rom, rom_len);
	assert_int_equal(pci_register(&f->bus, &f->dev, DEVFN), 0);
	pci_device_init(&f->other, "other", 0x1234, 0x2222, 0x020000, 0);
	pci_device_set_bar(&f->other, 0, PCI_BAR_MEM32, false, 0x10000, &bar_ops, NULL);
	assert_int_equal(pci_register(&f->bus, &f->other, OTHER_DEVFN), 0);
	return f;
}

static int setup(void **state)
{
	*state = setup_with(32, true, ROM_LEN);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pci_device_release(&f->dev);
	pci_device_release(&f->other);
	mem_space_detach(&f->space);
	mem_space_destroy(&f->space);
	bus_destroy(&f->mmio);
	bus_destroy(&f->pio);
	free(f->ram_mem);
	free(f);
	return 0;
}

static void cfg(struct fixture *f, uint8_t devfn, unsigned off, uint32_t v, unsigned size)
{
	pci_config_write(&f->bus, devfn, off, v, size);
}

static void decode(struct fixture *f, uint32_t rom_bar, bool mem)
{
	cfg(f, DEVFN, PCI_ROM_ADDRESS, rom_bar, 4);
	cfg(f, DEVFN, PCI_COMMAND, mem ? PCI_COMMAND_MEMORY : 0, 2);
}

/* The one read-only slot of the ROM at 'at': the image, then zeros. */
static void expect_rom_slot(struct fixture *f, uint64_t at)
{
	const struct fake_slot *s = slot_at(&f->kvm, at);
	assert_non_null(s);
	assert_int_equal(s->gpa, at);
	assert_int_equal(s->size, ROM_SIZE);
	assert_true(s->flags & MEM_SLOT_READONLY);
	assert_memory_equal(s->hva, f->rom, ROM_LEN);
	for (unsigned i = ROM_LEN; i < ROM_SIZE; i++)
		assert_int_equal(s->hva[i], 0);
	assert_true(pci_rom_is_memory(&f->dev));
	/* The MMIO bus keeps it too: writes exit there and are dropped. */
	assert_non_null(bus_find(&f->mmio, at));
}

static void expect_no_rom_slot(struct fixture *f)
{
	assert_false(pci_rom_is_memory(&f->dev));
	assert_int_equal(installed(&f->kvm), 1); /* RAM only */
}

static void test_enabled_rom_is_a_read_only_slot(void **state)
{
	struct fixture *f = *state;

	expect_no_rom_slot(f);
	decode(f, ROM_AT | 1, true);
	expect_rom_slot(f, ROM_AT);
	assert_int_equal(installed(&f->kvm), 2);
	/* reads through the MMIO path still give the image */
	uint32_t v = 0;
	assert_true(bus_read(&f->mmio, ROM_AT + 4, &v, 4));
	assert_memory_equal(&v, f->rom + 4, 4);
}

static void test_disabled_by_enable_bit_or_command(void **state)
{
	struct fixture *f = *state;

	decode(f, ROM_AT | 1, true);
	expect_rom_slot(f, ROM_AT);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, ROM_AT, 4); /* enable bit off */
	expect_no_rom_slot(f);
	assert_null(bus_find(&f->mmio, ROM_AT));
	cfg(f, DEVFN, PCI_ROM_ADDRESS, ROM_AT | 1, 4);
	expect_rom_slot(f, ROM_AT);
	cfg(f, DEVFN, PCI_COMMAND, 0, 2); /* memory space off */
	expect_no_rom_slot(f);
	cfg(f, DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	expect_rom_slot(f, ROM_AT);
	/* the enable bit alone, without the command bit, from the start */
	decode(f, ROM_AT | 1, false);
	expect_no_rom_slot(f);
}

static void test_moves_with_the_bar(void **state)
{
	struct fixture *f = *state;

	decode(f, ROM_AT | 1, true);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, 0xFD000000u | 1, 4);
	expect_rom_slot(f, 0xFD000000u);
	assert_null(slot_at(&f->kvm, ROM_AT));
	assert_null(bus_find(&f->mmio, ROM_AT));
	assert_int_equal(installed(&f->kvm), 2);
	/* an address not aligned to the BAR's size is taken down to it */
	cfg(f, DEVFN, PCI_ROM_ADDRESS, 0xFD012800u | 1, 4);
	expect_rom_slot(f, 0xFD010000u);
}

static void test_sizing_unmaps(void **state)
{
	struct fixture *f = *state;

	decode(f, ROM_AT | 1, true);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, 0xFFFFFFFFu, 4);
	assert_int_equal(pci_config_read(&f->bus, DEVFN, PCI_ROM_ADDRESS, 4),
			 (uint32_t)~(ROM_SIZE - 1) | 1);
	expect_no_rom_slot(f);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, 0xFFFFF800u, 4);
	expect_no_rom_slot(f);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, 0, 4);
	expect_no_rom_slot(f);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, ROM_AT | 1, 4);
	expect_rom_slot(f, ROM_AT);
}

static void test_reset_unmaps(void **state)
{
	struct fixture *f = *state;

	decode(f, ROM_AT | 1, true);
	pci_bus_reset(&f->bus);
	expect_no_rom_slot(f);
	assert_null(bus_find(&f->mmio, ROM_AT));
	/* and a new VM after the reset gets no ROM slot back */
	mem_space_detach(&f->space);
	memset(&f->kvm, 0, sizeof(f->kvm));
	assert_int_equal(mem_space_attach(&f->space, &fake_ops, &f->kvm, 32), 0);
	expect_no_rom_slot(f);
	decode(f, ROM_AT | 1, true);
	expect_rom_slot(f, ROM_AT);
}

/* Loaded state maps the ROM where it says, and unmaps one it does not. */
static void test_loaded_state(void **state)
{
	struct fixture *f = *state;
	uint8_t c[256];

	memcpy(c, f->dev.config, sizeof(c));
	c[PCI_COMMAND] = PCI_COMMAND_MEMORY;
	c[PCI_ROM_ADDRESS] = 1;
	c[PCI_ROM_ADDRESS + 2] = 0xB0;
	c[PCI_ROM_ADDRESS + 3] = 0xFE;
	pci_config_apply(&f->dev, c);
	expect_rom_slot(f, ROM_AT);
	c[PCI_ROM_ADDRESS] = 0;
	pci_config_apply(&f->dev, c);
	expect_no_rom_slot(f);
}

/* A hostile guest's ROM over RAM: no slot (RAM stays what the guest sees
 * and is never written), nor over what KVM serves (the IOAPIC); over
 * another BAR: neither is taken over. */
static void test_over_ram_or_another_bar_is_no_slot(void **state)
{
	struct fixture *f = *state;

	decode(f, 0x100000u | 1, true);
	expect_no_rom_slot(f);
	assert_null(slot_at(&f->kvm, RAM_SIZE)); /* nothing grew */
	assert_ptr_equal(slot_at(&f->kvm, 0x100000)->hva, f->ram_mem);
	/* the last 64 KiB of RAM */
	cfg(f, DEVFN, PCI_ROM_ADDRESS, (uint32_t)(RAM_SIZE - ROM_SIZE) | 1, 4);
	expect_no_rom_slot(f);
	/* over the in-kernel IOAPIC: no slot to hide it */
	cfg(f, DEVFN, PCI_ROM_ADDRESS, IOAPIC_AT | 1, 4);
	expect_no_rom_slot(f);
	/* leaving RAM for a free address maps it */
	cfg(f, DEVFN, PCI_ROM_ADDRESS, ROM_AT | 1, 4);
	expect_rom_slot(f, ROM_AT);
	/* another device's BAR there first: the ROM stays unmapped */
	cfg(f, OTHER_DEVFN, PCI_BAR0, OTHER_BAR_AT, 4);
	cfg(f, OTHER_DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->other.bar[0].addr, OTHER_BAR_AT);
	cfg(f, DEVFN, PCI_ROM_ADDRESS, OTHER_BAR_AT | 1, 4);
	expect_no_rom_slot(f);
	uint32_t v = 0;
	assert_true(bus_read(&f->mmio, OTHER_BAR_AT, &v, 4));
	assert_int_equal(v, 0x1234); /* still the other device's */
	/* the ROM first: the BAR moved over it stays unmapped */
	cfg(f, DEVFN, PCI_ROM_ADDRESS, ROM_AT | 1, 4);
	expect_rom_slot(f, ROM_AT);
	cfg(f, OTHER_DEVFN, PCI_BAR0, ROM_AT, 4);
	assert_int_equal(f->other.bar[0].addr, PCI_BAR_UNMAPPED);
	expect_rom_slot(f, ROM_AT);
}

/* A host with few KVM slots: the ROM leaves PCI_ROM_SLOTS_KEPT_FREE of
 * them to the board and is read through exits instead. */
static void test_slot_limit(void **state)
{
	(void)state;
	struct fixture *f = setup_with(1 + 1 + PCI_ROM_SLOTS_KEPT_FREE - 1, true, ROM_LEN);

	decode(f, ROM_AT | 1, true);
	expect_no_rom_slot(f);
	assert_non_null(bus_find(&f->mmio, ROM_AT));
	uint32_t v = 0;
	assert_true(bus_read(&f->mmio, ROM_AT, &v, 4));
	assert_memory_equal(&v, f->rom, 4);
	teardown((void **)&f);

	f = setup_with(1 + 1 + PCI_ROM_SLOTS_KEPT_FREE, true, ROM_LEN);
	decode(f, ROM_AT | 1, true);
	expect_rom_slot(f, ROM_AT);
	/* moving it needs no slot more than it has */
	cfg(f, DEVFN, PCI_ROM_ADDRESS, 0xFD000000u | 1, 4);
	expect_rom_slot(f, 0xFD000000u);
	teardown((void **)&f);
}

/* Without a memory space (or a ROM BAR under a page) the ROM is what it
 * was: served on the MMIO bus, an exit per read. */
static void test_fallbacks_are_mmio(void **state)
{
	(void)state;
	struct fixture *f = setup_with(32, false, ROM_LEN);
	decode(f, ROM_AT | 1, true);
	expect_no_rom_slot(f);
	assert_non_null(bus_find(&f->mmio, ROM_AT));
	teardown((void **)&f);

	f = setup_with(32, true, 1024); /* a 2 KiB ROM BAR */
	decode(f, ROM_AT | 1, true);
	expect_no_rom_slot(f);
	assert_non_null(bus_find(&f->mmio, ROM_AT));
	teardown((void **)&f);
}

/* Released (the device destroyed), the region leaves the space. */
static void test_release(void **state)
{
	struct fixture *f = *state;

	decode(f, ROM_AT | 1, true);
	expect_rom_slot(f, ROM_AT);
	bus_unmap(&f->mmio, &f->dev.rom_region);
	pci_device_release(&f->dev);
	assert_null(slot_at(&f->kvm, ROM_AT));
	assert_null(mem_space_find(&f->space, "pci-rom-18"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enabled_rom_is_a_read_only_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_by_enable_bit_or_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moves_with_the_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing_unmaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_unmaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_over_ram_or_another_bar_is_no_slot, setup, teardown),
		cmocka_unit_test(test_slot_limit),
		cmocka_unit_test(test_fallbacks_are_mmio),
		cmocka_unit_test_setup_teardown(test_release, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
