// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -kernel without firmware: the path Firecracker and QEMU's microvm take,
 * on the same PC. vmm does what SeaBIOS and the linuxboot ROM would have
 * done before the kernel's first instruction, and nothing more:
 *
 *   - the chipset: PCI BARs and command registers, the PIIX3 PIRQ routes
 *     and each function's interrupt line, the IDE decode bits, the PIIX4
 *     PM I/O block, the F segment as RAM (PAM) for the tables' anchors;
 *   - the tables: ACPI (pc_acpi.c: FADT, DSDT with the PCI root and _S5,
 *     MADT), SMBIOS (pc_smbios.c), and the e820 map in the zero page;
 *   - the CPUs: MTRRs and LAPIC virtual wire on each, and on the BSP the
 *     entry state. A bzImage: the boot protocol's 64-bit entry
 *     (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"):
 *     identity-mapped paging over the first 4 GiB, a GDT with __BOOT_CS
 *     0x10 and __BOOT_DS 0x18, %rsi the zero page. A PVH ELF (vmlinux):
 *     Xen's HVM direct boot ABI, 32-bit protected mode without paging,
 *     %ebx the hvm_start_info (magic, command line, initrd as module 0,
 *     RSDP, memory map), and no decompressor to run.
 *
 * The kernel then finds the machine as if a BIOS had set it up; at every
 * reset all of it is done again (the VM is new, RAM keeps what the guest
 * wrote over the kernel).
 */
#include "pc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acpi_tables.h"
#include "display.h"
#include "hw/ide.h"
#include "loader.h"
#include "util.h"

/* Low memory of the entry, below the command line at LINUX_CMDLINE_ADDR. */
#define BOOT_GDT_ADDR     0x500u
#define BOOT_ZERO_PAGE    0x7000u
#define BOOT_STACK_TOP    0x8FF0u
#define BOOT_PML4         0x9000u
#define BOOT_PDPT         0xA000u
#define BOOT_PD           0xB000u   /* four tables, 0xB000-0xEFFF */
#define BOOT_CS           0x10u
/* PVH's hvm_start_info (version 1) and what it points to, in the zero
 * page's place. */
#define PVH_START_INFO    0x7000u
#define PVH_MODLIST       0x7040u
#define PVH_MEMMAP        0x7080u    /* 24-byte entries, at most ZP_E820_MAX */
#define PVH_MAGIC         0x336EC578u
#define IDENTITY_MAP_GIB  4u

/* The ACPI and SMBIOS tables: the top of RAM below 4 GiB, inside the
 * LOADER_TOP_RESERVE that the loader keeps free of the initrd. */
#define TABLES_SIZE       (128u * 1024u)
#define SMBIOS_AREA_SIZE  (16u * 1024u)
/* Anchors in the F segment, where the kernel also scans for them. */
#define F_SEGMENT         0xF0000u
#define RSDP_ANCHOR       0xF0000u
#define SMBIOS_ANCHOR     0xF0040u
#define EBDA_START        0x9FC00u

#define ACPI_RSDP_LEN     36u
#define ALIGN_UP(v, a)    (((v) + (a) - 1) & ~((uint64_t)(a) - 1))


/* PCI as SeaBIOS leaves it: PIRQA-D on IRQ 10, 10, 11, 11; I/O BARs from
 * 0xC000; memory BARs in the hole below the IOAPIC. */
static const uint8_t pirq_irq[4] = { 10, 10, 11, 11 };
#define PCI_IO_START      0xC000u
#define PCI_IO_END        0xFFFFu
#define PCI_MEM32_FLOOR   0xC0000000ULL
#define PCI_MEM32_END     0xFEBFFFFFULL
#define PCI_MEM64_SIZE    (32ULL * GiB)
#define PM_BASE           0x600u
#define SCI_IRQ           9u

#define PAM_RAM_RW        0x3u

/* ---- when -kernel can skip the firmware ---------------------------------- */

/* Whether a word of the kernel command line is word (prefix: starts with
 * it). */
static bool append_has(const char *append, const char *word, bool prefix)
{
	size_t n = strlen(word);
	for (const char *p = append; p && (p = strstr(p, word)); p += n)
		if ((p == append || p[-1] == ' ') && (prefix || p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

/* 0, or -1 with the reason the firmware must boot this kernel. */
static int firmware_needed(const struct machine *m, const struct boot_image *img, char *why,
			   size_t len)
{
	const struct machine_config *cfg = &m->cfg;

	if (!img->pvh && linux_direct_check(img, why, len) < 0)
		return -1;
	if (cfg->bios_path)
		return set_err(why, len, "-bios names a firmware to run");
	if (cfg->no_acpi)
		return set_err(why, len, "-no-acpi: without ACPI tables Linux needs the BIOS's MP "
			       "table");
	if (cfg->boot_menu)
		return set_err(why, len, "-boot menu=on is the BIOS's menu");
	if (append_has(cfg->append, "vga=", true))
		return set_err(why, len, "vga= in -append sets a mode through the VGA BIOS");
	/* Without ACPI's MADT and _PRT, Linux reads the BIOS's MP and $PIR
	 * tables, which only SeaBIOS builds. */
	static const char *const bios_tables[] = { "acpi=off", "acpi=noirq", "pci=noacpi" };
	for (size_t i = 0; i < ARRAY_SIZE(bios_tables); i++)
		if (append_has(cfg->append, bios_tables[i], false))
			return set_err(why, len, "%s in -append: Linux then reads the BIOS's MP "
				       "and PIRQ tables", bios_tables[i]);
	if (display_console(0) && (cfg->sdl.enabled || cfg->vnc.enabled))
		return set_err(why, len, "a display shows the VGA card, whose text mode the VGA "
			       "BIOS sets up");
	for (unsigned i = 0; i < m->ncpus; i++)
		if (m->vcpus[i].apic_id >= 255)
			return set_err(why, len, "APIC IDs past 254 need x2APIC tables");
	return 0;
}

/* ---- the chipset ------------------------------------------------------- */

struct pci_bar_req {
	uint8_t devfn, bar;
	bool io, is64;
	uint64_t size;
};

struct pci_alloc {
	struct pci_bar_req req[256 * 6];
	unsigned n;
	uint64_t io_next, mem32_next, mem64_next;
	uint64_t mem32_end, mem64_end;
};

static uint32_t cfg_read(struct machine *m, uint8_t devfn, unsigned off, unsigned size)
{
	return pci_config_read(&m->pci, devfn, off, size);
}

static void cfg_write(struct machine *m, uint8_t devfn, unsigned off, uint32_t v, unsigned size)
{
	pci_config_write(&m->pci, devfn, off, v, size);
}

static bool function_present(struct machine *m, uint8_t devfn)
{
	uint16_t vendor = (uint16_t)cfg_read(m, devfn, PCI_VENDOR_ID, 2);
	return vendor != 0xFFFF && vendor != 0;
}

/* Sizes BAR i the way firmware does (all ones, read back, restore);
 * returns the number of BAR slots it takes (2 for a 64-bit one). */
static unsigned probe_bar(struct machine *m, uint8_t devfn, unsigned i, struct pci_alloc *a)
{
	unsigned off = PCI_BAR0 + 4 * i;
	uint32_t old = cfg_read(m, devfn, off, 4);
	cfg_write(m, devfn, off, 0xFFFFFFFF, 4);
	uint32_t v = cfg_read(m, devfn, off, 4);
	cfg_write(m, devfn, off, old, 4);
	if (!v)
		return 1;
	struct pci_bar_req r = { .devfn = devfn, .bar = (uint8_t)i, .io = v & 1 };
	if (r.io) {
		r.size = (~(v & ~3u) + 1) & 0xFFFF;
	} else {
		uint64_t mask = v & ~0xFu;
		r.is64 = ((v >> 1) & 3) == 2 && i < 5;
		if (r.is64) {
			uint32_t old_hi = cfg_read(m, devfn, off + 4, 4);
			cfg_write(m, devfn, off + 4, 0xFFFFFFFF, 4);
			mask |= (uint64_t)cfg_read(m, devfn, off + 4, 4) << 32;
			cfg_write(m, devfn, off + 4, old_hi, 4);
		} else {
			mask |= 0xFFFFFFFF00000000ULL;
		}
		r.size = ~mask + 1;
	}
	if (r.size && a->n < ARRAY_SIZE(a->req))
		a->req[a->n++] = r;
	return r.is64 ? 2 : 1;
}

static int larger_first(const void *x, const void *y)
{
	const struct pci_bar_req *a = x, *b = y;
	return a->size < b->size ? 1 : a->size > b->size ? -1 : 0;
}

static bool take(uint64_t *next, uint64_t end, uint64_t size, uint64_t *addr)
{
	uint64_t at = ALIGN_UP(*next, size);
	if (at < *next || at > end || size - 1 > end - at)
		return false;
	*addr = at;
	*next = at + size;
	return true;
}

static void assign_bar(struct machine *m, struct pci_alloc *a, const struct pci_bar_req *r)
{
	unsigned off = PCI_BAR0 + 4 * r->bar;
	uint64_t addr;
	bool ok;

	if (r->io)
		ok = take(&a->io_next, PCI_IO_END, r->size, &addr);
	else
		ok = take(&a->mem32_next, a->mem32_end, r->size, &addr) ||
		     (r->is64 && take(&a->mem64_next, a->mem64_end, r->size, &addr));
	if (!ok) {
		warn("direct kernel boot: no room for BAR %u of PCI %02x.%x (%llu bytes); "
		     "left for the kernel to place", r->bar, r->devfn >> 3, r->devfn & 7,
		     (unsigned long long)r->size);
		return;
	}
	cfg_write(m, r->devfn, off, (uint32_t)addr, 4);
	if (r->is64)
		cfg_write(m, r->devfn, off + 4, (uint32_t)(addr >> 32), 4);
	uint16_t cmd = (uint16_t)cfg_read(m, r->devfn, PCI_COMMAND, 2);
	cmd |= r->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	cfg_write(m, r->devfn, PCI_COMMAND, cmd, 2);
}

static void route_interrupt(struct machine *m, uint8_t devfn)
{
	unsigned pin = cfg_read(m, devfn, PCI_INTERRUPT_PIN, 1);
	if (pin < 1 || pin > 4)
		return;
	cfg_write(m, devfn, PCI_INTERRUPT_LINE, pirq_irq[piix3_pirq_of(devfn >> 3, pin)], 1);
}

/* The few chipset registers Linux expects a BIOS to have set. */
static void setup_chipset_function(struct machine *m, uint8_t devfn, uint32_t id)
{
	switch (id) {
	case 0x70008086: /* PIIX3 ISA bridge */
		for (unsigned i = 0; i < 4; i++)
			cfg_write(m, devfn, PIIX3_PIRQRC + i, pirq_irq[i], 1);
		break;
	case 0x70108086: /* PIIX3 IDE: ata_piix reads the decode bits */
		cfg_write(m, devfn, PIIX_IDETIM_PRI, PIIX_IDETIM_DECODE, 2);
		cfg_write(m, devfn, PIIX_IDETIM_SEC, PIIX_IDETIM_DECODE, 2);
		break;
	case 0x71138086: /* PIIX4 PM */
		cfg_write(m, devfn, PIIX4_PMBA, PM_BASE | 1, 4);
		cfg_write(m, devfn, PIIX4_PMREGMISC, 1, 1);
		break;
	case 0x12378086: /* i440FX: the F segment becomes RAM for the anchors */
		cfg_write(m, devfn, I440FX_PAM0, PAM_RAM_RW << 4, 1);
		break;
	}
}

static void setup_pci(struct machine *m, struct acpi_pc_desc *d)
{
	struct pci_alloc *a = xzalloc(sizeof(*a));
	unsigned phys_bits = kvm_guest_phys_bits(&m->kvm);

	d->pci_io_start = PCI_IO_START;
	d->pci_io_end = PCI_IO_END;
	d->pci_mem32_start = (uint32_t)MAX(PCI_MEM32_FLOOR, ALIGN_UP(m->mem.below_4g, 256 * MiB));
	d->pci_mem32_end = (uint32_t)PCI_MEM32_END;
	uint64_t mem64 = ALIGN_UP(4 * GiB + m->mem.above_4g, GiB);
	if (phys_bits < 64 && mem64 + PCI_MEM64_SIZE <= 1ULL << phys_bits) {
		d->pci_mem64_start = mem64;
		d->pci_mem64_end = mem64 + PCI_MEM64_SIZE - 1;
	}
	a->io_next = PCI_IO_START;
	a->mem32_next = d->pci_mem32_start;
	a->mem32_end = d->pci_mem32_end;
	a->mem64_next = d->pci_mem64_start;
	a->mem64_end = d->pci_mem64_end;

	for (unsigned devfn = 0; devfn < 256; devfn++) {
		if (!function_present(m, (uint8_t)devfn))
			continue;
		setup_chipset_function(m, (uint8_t)devfn, cfg_read(m, (uint8_t)devfn, 0, 4));
		route_interrupt(m, (uint8_t)devfn);
		for (unsigned i = 0; i < 6;)
			i += probe_bar(m, (uint8_t)devfn, i, a);
	}
	qsort(a->req, a->n, sizeof(a->req[0]), larger_first);
	for (unsigned i = 0; i < a->n; i++)
		assign_bar(m, a, &a->req[i]);
	free(a);
}

/* ---- tables ------------------------------------------------------------ */

static uint64_t tables_base(const struct machine *m)
{
	return m->mem.below_4g - TABLES_SIZE;
}

static bool has_device(const struct machine *m, const char *driver)
{
	const struct dev_class *c = dev_class_find(driver);
	return c && dev_find(m->cfg.devs, m->cfg.ndevs, c);
}

static void fill_acpi_desc(struct machine *m, struct acpi_pc_desc *d, uint32_t *apic_ids)
{
	for (unsigned i = 0; i < m->ncpus; i++)
		apic_ids[i] = m->vcpus[i].apic_id;
	d->ncpus = m->ncpus;
	d->apic_ids = apic_ids;
	d->ioapic_addr = 0xFEC00000u;
	d->ioapic_id = 0; /* KVM's IOAPIC resets its ID register to 0 */
	d->pm_base = PM_BASE;
	d->sci_irq = SCI_IRQ;
	d->smi_cmd = 0xB2;
	d->acpi_enable = 0xF1;
	d->acpi_disable = 0xF0;
	memcpy(d->pirq_irq, pirq_irq, sizeof(d->pirq_irq));
	d->ps2 = true;
	for (unsigned i = 0; i < 4; i++)
		d->com[i] = m->cfg.serial_ports & (1u << i);
	d->rtc = true;
	d->fdc = has_device(m, "isa-fdc");
}

static void write_guest(struct machine *m, uint64_t gpa, const void *buf, size_t len)
{
	if (!guest_write(&m->mem, gpa, buf, len))
		die("direct kernel boot: cannot write %zu bytes at guest address 0x%llx", len,
		    (unsigned long long)gpa);
}

/* Returns the RSDP's guest address. */
static uint64_t install_acpi(struct machine *m, const struct acpi_pc_desc *d)
{
	size_t cap = TABLES_SIZE - SMBIOS_AREA_SIZE, rsdp_off = 0;
	uint8_t *buf = xzalloc(cap);
	size_t len = acpi_build(d, tables_base(m), buf, cap, &rsdp_off);

	if (!len)
		die("direct kernel boot: the ACPI tables do not fit in %zu bytes", cap);
	write_guest(m, tables_base(m), buf, len);
	/* the F segment is RAM (setup_chipset_function set its PAM), as after
	 * SeaBIOS's shadowing: the guest reads the anchors written there */
	write_guest(m, RSDP_ANCHOR, buf + rsdp_off, ACPI_RSDP_LEN);
	uint64_t rsdp = tables_base(m) + rsdp_off;
	free(buf);
	return rsdp;
}

/* SMBIOS 2.x: the structures after the ACPI tables, the entry point in
 * the F segment (where dmi_scan looks), its address field filled in. */
static void install_smbios(struct machine *m)
{
	uint8_t ep[SMBIOS_ENTRY_POINT_LEN];
	uint8_t *tables;
	size_t len;

	if (!smbios_build(m, ep, &tables, &len))
		return;
	if (len > SMBIOS_AREA_SIZE) {
		warn("direct kernel boot: %zu bytes of SMBIOS tables do not fit; the guest gets "
		     "none", len);
		free(tables);
		return;
	}
	uint64_t at = tables_base(m) + TABLES_SIZE - SMBIOS_AREA_SIZE;
	write_guest(m, at, tables, len);
	smbios_set_table_address(ep, (uint32_t)at);
	write_guest(m, SMBIOS_ANCHOR, ep, sizeof(ep));
	free(tables);
}

struct memory_map {
	struct { uint64_t start, len; uint32_t type; } e[ZP_E820_MAX];
	unsigned n;
};

static void map_add(struct memory_map *map, uint64_t start, uint64_t len, uint32_t type)
{
	if (len && map->n < ZP_E820_MAX) {
		map->e[map->n].start = start;
		map->e[map->n].len = len;
		map->e[map->n++].type = type;
	}
}

static void build_memory_map(const struct machine *m, struct memory_map *map)
{
	map->n = 0;
	map_add(map, 0, EBDA_START, E820_RAM);
	map_add(map, EBDA_START, 0xA0000 - EBDA_START, E820_RESERVED);
	map_add(map, F_SEGMENT, 0x100000 - F_SEGMENT, E820_RESERVED);
	map_add(map, 0x100000, tables_base(m) - 0x100000, E820_RAM);
	map_add(map, tables_base(m), TABLES_SIZE, E820_ACPI);
	map_add(map, KVM_RESERVED_START, KVM_RESERVED_SIZE, E820_RESERVED);
	map_add(map, 4 * GiB, m->mem.above_4g, E820_RAM);
}

/* ---- the CPUs ---------------------------------------------------------- */

static void write_paging_and_gdt(struct machine *m, bool flat32)
{
	const uint64_t gdt[4] = {
		0, 0,
		flat32 ? 0x00CF9B000000FFFFULL   /* 0x10: flat 4 GiB 32-bit code */
		       : 0x00AF9B000000FFFFULL,  /* 0x10: 64-bit code, present, ring 0 */
		0x00CF93000000FFFFULL,           /* 0x18: flat 4 GiB data */
	};
	uint8_t page[4096];

	write_guest(m, BOOT_GDT_ADDR, gdt, sizeof(gdt));
	if (flat32)
		return; /* PVH starts with paging off */
	memset(page, 0, sizeof(page));
	put_le64(page, BOOT_PDPT | 3);
	write_guest(m, BOOT_PML4, page, sizeof(page));
	memset(page, 0, sizeof(page));
	for (unsigned i = 0; i < IDENTITY_MAP_GIB; i++)
		put_le64(page + 8 * i, (BOOT_PD + 4096ULL * i) | 3);
	write_guest(m, BOOT_PDPT, page, sizeof(page));
	for (unsigned t = 0; t < IDENTITY_MAP_GIB; t++) {
		for (unsigned i = 0; i < 512; i++) /* present, writable, 2 MiB */
			put_le64(page + 8 * i, ((uint64_t)t * GiB + (uint64_t)i * 2 * MiB) | 0x83);
		write_guest(m, BOOT_PD + 4096ULL * t, page, sizeof(page));
	}
}

#define MSR_MTRR_PHYSBASE0 0x200u
#define MSR_MTRR_FIX64K    0x250u
#define MSR_MTRR_FIX16K_80 0x258u
#define MSR_MTRR_FIX16K_A0 0x259u
#define MSR_MTRR_FIX4K_C0  0x268u
#define MSR_MTRR_DEF_TYPE  0x2FFu
#define MTRR_UC            0x00u
#define MTRR_WB            0x06u
#define MTRR_ENABLE        0x800u
#define MTRR_FIXED_ENABLE  0x400u
#define MTRR_VAR_MAX       8u
#define BYTES_OF(t)        ((uint64_t)(t) * 0x0101010101010101ULL)

static void add_msr(struct vcpu_setup *s, uint32_t index, uint64_t value)
{
	if (s->nmsrs == VCPU_SETUP_MSRS_MAX)
		die("direct kernel boot: more than %u MSRs to set", VCPU_SETUP_MSRS_MAX);
	s->msr_index[s->nmsrs] = index;
	s->msr_value[s->nmsrs++] = value;
}

/* As firmware leaves them: RAM write-back, the VGA window and the PCI
 * hole below 4 GiB uncached (variable ranges: aligned powers of two). */
static void add_mtrrs(struct machine *m, struct vcpu_setup *s, uint64_t hole)
{
	unsigned bits = MIN(kvm_guest_phys_bits(&m->kvm), 52u);
	uint64_t phys_mask = (1ULL << bits) - 1;
	unsigned var = 0;

	add_msr(s, MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_FIXED_ENABLE | MTRR_WB);
	add_msr(s, MSR_MTRR_FIX64K, BYTES_OF(MTRR_WB));
	add_msr(s, MSR_MTRR_FIX16K_80, BYTES_OF(MTRR_WB));
	add_msr(s, MSR_MTRR_FIX16K_A0, BYTES_OF(MTRR_UC));
	for (unsigned i = 0; i < 8; i++)
		add_msr(s, MSR_MTRR_FIX4K_C0 + i, BYTES_OF(MTRR_WB));
	for (uint64_t at = hole; at < 4 * GiB && var < MTRR_VAR_MAX; var++) {
		uint64_t size = at ? at & -at : 4 * GiB;
		while (at + size > 4 * GiB)
			size >>= 1;
		add_msr(s, MSR_MTRR_PHYSBASE0 + 2 * var, at | MTRR_UC);
		add_msr(s, MSR_MTRR_PHYSBASE0 + 2 * var + 1, (~(size - 1) & phys_mask) | MTRR_ENABLE);
		at += size;
	}
}

static void setup_cpus(struct machine *m, const struct boot_image *img, uint64_t hole)
{
	struct vcpu_setup ap = { .nmsrs = 0 };
	char err[256];

	add_mtrrs(m, &ap, hole);
	struct vcpu_setup bsp = ap;
	bsp.entry = img->pvh ? VCPU_ENTRY_32 : VCPU_ENTRY_64;
	/* bzImage: startup_64, 0x200 into the protected-mode part */
	bsp.rip = img->pvh ? img->entry : LINUX_KERNEL_ADDR + 0x200;
	bsp.rbx = PVH_START_INFO;
	bsp.rsi = BOOT_ZERO_PAGE;
	bsp.rsp = BOOT_STACK_TOP;
	bsp.cr3 = BOOT_PML4;
	bsp.gdt_base = BOOT_GDT_ADDR;
	bsp.gdt_limit = 4 * 8 - 1;
	bsp.code_sel = BOOT_CS;
	for (unsigned i = 0; i < m->ncpus; i++)
		if (vcpu_apply_setup(&m->vcpus[i], i ? &ap : &bsp, err, sizeof(err)) < 0)
			die("direct kernel boot: %s", err);
}

/* ---- the boot ---------------------------------------------------------- */

/* A PVH ELF's segments read from the file straight into guest RAM, bss
 * zeroed (RAM keeps what the guest wrote there before a reset). A file
 * rewritten since vmm read its headers would give the guest a kernel
 * mixed from two builds: that reset stops vmm with a line instead. */
static void write_segments(struct machine *m, const struct boot_image *img)
{
	if (!elf_source_unchanged(&img->elf))
		die("-kernel '%s' changed since vmm started; restart vmm to boot it",
		    m->cfg.kernel_path);
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct boot_segment *s = &img->seg[i];
		uint8_t *at = guest_ptr_write(&m->mem, s->paddr, s->memsz);
		if (!at)
			die("direct kernel boot: segment %u is not in guest RAM", i);
		if (!elf_source_read(&img->elf, s->offset, at, s->filesz))
			die("-kernel '%s': segment %u cannot be read: %s", m->cfg.kernel_path, i,
			    errno ? strerror(errno) : "the file is shorter than when vmm opened it");
		memset(at + s->filesz, 0, s->memsz - s->filesz);
		guest_mark_dirty(&m->mem, s->paddr, s->memsz);
	}
}

static void write_images(struct machine *m, const struct boot_image *img)
{
	if (img->pvh)
		write_segments(m, img);
	else
		write_guest(m, img->kernel.addr, img->kernel.data, img->kernel.size);
	if (img->initrd.size)
		write_guest(m, img->initrd.addr, img->initrd.data, img->initrd.size);
	write_guest(m, img->cmdline.addr, img->cmdline.data, img->cmdline.size);
}

/* bzImage: the zero page (struct boot_params) with its e820 table. */
static void write_zero_page(struct machine *m, const struct boot_image *img,
			    const struct memory_map *map, uint64_t rsdp)
{
	uint8_t *zp = xzalloc(LINUX_ZERO_PAGE_SIZE);

	linux_zero_page(img, zp);
	put_le64(zp + ZP_ACPI_RSDP_ADDR, rsdp);
	for (unsigned i = 0; i < map->n; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + 20 * i;
		put_le64(e, map->e[i].start);
		put_le64(e + 8, map->e[i].len);
		put_le32(e + 16, map->e[i].type);
	}
	zp[ZP_E820_ENTRIES] = (uint8_t)map->n;
	write_guest(m, BOOT_ZERO_PAGE, zp, LINUX_ZERO_PAGE_SIZE);
	free(zp);
}

/* PVH: struct hvm_start_info version 1 (Xen's public/arch-x86/hvm/
 * start_info.h), the initrd as the one module, the memory map. */
static void write_pvh_start_info(struct machine *m, const struct boot_image *img,
				 const struct memory_map *map, uint64_t rsdp)
{
	uint8_t info[56] = { 0 }, mod[32] = { 0 };
	uint8_t *mm = xzalloc(24 * ZP_E820_MAX);

	put_le32(info, PVH_MAGIC);
	put_le32(info + 4, 1);
	if (img->initrd.size) {
		put_le64(mod, img->initrd.addr);
		put_le64(mod + 8, img->initrd.size);
		put_le32(info + 12, 1);
		put_le64(info + 16, PVH_MODLIST);
		write_guest(m, PVH_MODLIST, mod, sizeof(mod));
	}
	put_le64(info + 24, img->cmdline.addr);
	put_le64(info + 32, rsdp);
	for (unsigned i = 0; i < map->n; i++) {
		put_le64(mm + 24 * i, map->e[i].start);
		put_le64(mm + 24 * i + 8, map->e[i].len);
		put_le32(mm + 24 * i + 16, map->e[i].type);
	}
	put_le64(info + 40, PVH_MEMMAP);
	put_le32(info + 48, map->n);
	write_guest(m, PVH_MEMMAP, mm, 24 * (size_t)map->n);
	write_guest(m, PVH_START_INFO, info, sizeof(info));
	free(mm);
}

void direct_boot_setup(struct machine *m)
{
	struct acpi_pc_desc d = { .ncpus = 0 };

	if (!m->direct_boot)
		return;
	uint32_t *apic_ids = xzalloc(m->ncpus * sizeof(*apic_ids));
	fill_acpi_desc(m, &d, apic_ids);
	setup_pci(m, &d);
	uint64_t rsdp = install_acpi(m, &d);
	install_smbios(m);
	struct memory_map map;
	build_memory_map(m, &map);
	const struct boot_image *img = m->direct_boot;
	write_images(m, img);
	if (img->pvh)
		write_pvh_start_info(m, img, &map, rsdp);
	else
		write_zero_page(m, img, &map, rsdp);
	write_paging_and_gdt(m, img->pvh);
	setup_cpus(m, img, d.pci_mem32_start);
	free(apic_ids);
}

bool direct_boot_choose(struct machine *m, struct boot_image *img)
{
	char why[256];

	if (img->pvh) {
		if (m->cfg.kernel_boot == KERNEL_BOOT_FIRMWARE)
			die("-machine kernel-boot=firmware: '%s' is a PVH ELF kernel, which vmm "
			    "enters only without firmware (give its bzImage to boot through SeaBIOS)",
			    m->cfg.kernel_path);
		if (firmware_needed(m, img, why, sizeof(why)) < 0)
			die("-kernel '%s': a PVH ELF kernel is entered without firmware, but %s",
			    m->cfg.kernel_path, why);
	} else if (m->cfg.kernel_boot == KERNEL_BOOT_FIRMWARE) {
		return false;
	} else if (firmware_needed(m, img, why, sizeof(why)) < 0) {
		if (m->cfg.kernel_boot == KERNEL_BOOT_DIRECT)
			die("-machine kernel-boot=direct: %s", why);
		debug("-kernel boots through the firmware: %s", why);
		return false;
	}
	m->direct_boot = xzalloc(sizeof(*m->direct_boot));
	*m->direct_boot = *img;
	debug("-kernel is entered without firmware, at its %s entry",
	      img->pvh ? "32-bit PVH" : "64-bit");
	return true;
}
