// SPDX-License-Identifier: GPL-2.0-or-later
/* The PC's ACPI tables (RSDP, RSDT, XSDT, FADT, FACS, DSDT, MADT) for a
 * boot without firmware, where nobody else builds them. Pure: the board
 * describes the machine, acpi_build() lays the tables out in a buffer as
 * they will sit in guest memory. */
#ifndef VMM_ACPI_TABLES_H
#define VMM_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acpi_pc_desc {
	unsigned ncpus;		    /* 1..255 */
	const uint32_t *apic_ids;   /* ncpus entries, all enabled; IDs < 255 */
	uint32_t ioapic_addr;	    /* 0xFEC00000 */
	uint8_t ioapic_id;
	/* The PIIX4 PM I/O block: PM1a_EVT_BLK at base (4 bytes), PM1a_CNT_BLK
	 * at base+4 (2 bytes), PM_TMR_BLK at base+8 (4 bytes, 24-bit timer). */
	uint16_t pm_base;
	uint8_t sci_irq;	    /* 9 */
	uint16_t smi_cmd;	    /* 0xB2 */
	uint8_t acpi_enable, acpi_disable; /* 0xF1, 0xF0: written to smi_cmd */
	/* The ISA IRQ each of PIRQA..D is routed to (e.g. 10, 10, 11, 11): one
	 * the PIIX3 can route to (3-7, 9-12, 14, 15). So is sci_irq. */
	uint8_t pirq_irq[4];
	uint32_t pci_mem32_start, pci_mem32_end; /* inclusive end */
	/* inclusive end; none when both are 0 */
	uint64_t pci_mem64_start, pci_mem64_end;
	/* I/O window for BARs, e.g. 0xC000-0xFFFF; must not hold 0xCF8-0xCFF */
	uint16_t pci_io_start, pci_io_end;
	bool ps2;    /* i8042: PNP0303 at 0x60/0x64 IRQ 1, PNP0F13 IRQ 12 */
	bool com[4]; /* 16550 at 0x3F8/IRQ4, 0x2F8/IRQ3, 0x3E8/IRQ4, 0x2E8/IRQ3 */
	bool rtc;    /* PNP0B00 at 0x70-0x71, IRQ 8 */
	bool fdc;    /* PNP0700 at 0x3F0-0x3F5 and 0x3F7, IRQ 6, DMA 2 */
};

/* Builds RSDP, RSDT, XSDT, FADT, FACS, DSDT and MADT into buf as they will
 * sit at guest-physical address 'base' (every pointer between tables is
 * absolute: base + offset; all of them below 4 GiB, for the RSDT's 32-bit
 * pointers). Returns the bytes used and sets *rsdp_off to the RSDP's offset
 * in buf (its address 16-byte aligned; the FACS's 64-byte aligned). Returns
 * 0, writing nothing past cap, when cap is too small or the description is
 * one the tables cannot say (see struct acpi_pc_desc). */
size_t acpi_build(const struct acpi_pc_desc *d, uint64_t base, uint8_t *buf, size_t cap,
		  size_t *rsdp_off);

#endif
