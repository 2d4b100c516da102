/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The i440FX/PIIX3 chipset functions and the small fixed-port devices of a
 * PC: host bridge (PAM), ISA bridge (PIRQ router, reset control), PIIX4-style
 * ACPI power management, port 0x92, the POST port and the debug ports.
 */
#ifndef VMM_HW_CHIPSET_H
#define VMM_HW_CHIPSET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"
#include "irq.h"
#include "isa_irq.h"
#include "pci.h"

struct memmap;

/* Asks the machine for a system reset or power-off (board wiring). */
struct board_control {
	void (*reset)(void *opaque);
	void (*poweroff)(void *opaque);
	void (*exit)(void *opaque, int status); /* isa-debug-exit */
	void *opaque;
};

/* 00:00.0 i440FX host bridge. */
struct i440fx {
	struct pci_device pci;
	struct memmap *memmap;
};
int i440fx_init(struct i440fx *s, struct pci_bus *bus, struct memmap *mm, uint64_t ram_size);

/* Configuration registers firmware sets (and so a firmware-less boot,
 * src/board/pc_direct_boot.c): the i440FX's PAM0 (F segment in its high
 * nibble), the PIIX3's four PIRQ route registers, the PIIX4 PM's I/O base
 * and its enable bit's register. */
#define I440FX_PAM0 0x59
#define PIIX3_PIRQRC 0x60
#define PIIX4_PMBA 0x40
#define PIIX4_PMREGMISC 0x80

/* The PIRQ (0-3) that a slot's INTx pin (1 = INTA .. 4 = INTD) reaches:
 * the swizzle the i440FX board wires, which the ACPI _PRT repeats. */
static inline unsigned piix3_pirq_of(unsigned slot, unsigned pin)
{
	return (slot + pin - 2) & 3;
}

/* PIRQRC values 3-7, 9-12, 14 and 15 name an ISA IRQ; 0-2, 8 and 13 are
 * reserved (the timer, the cascade, the RTC, the FPU) and route nowhere. */
static inline bool piix3_irq_routable(unsigned irq)
{
	return irq < 16 && irq > 2 && irq != 8 && irq != 13;
}

/* 00:01.0 PIIX3 PCI-to-ISA bridge: PIRQ routing and the 0xCF9 reset register.
 * The bridge holds one input on every ISA line a PIRQ can be routed to and
 * drives it with the OR of the PIRQs routed there, so PCI interrupts share
 * a line with ISA devices (the SCI on IRQ 9, say) without losing levels. */
struct piix3 {
	struct pci_device pci;
	uint64_t pirq_sources[4][16]; /* bit (devfn*4 + pin-1) per asserting source */
	uint8_t isa_level[16];        /* what we last drove on each ISA IRQ input */
	struct irq_line isa_in[16];   /* our input on each routable ISA line */
	pthread_mutex_t lock;         /* INTx arrives from vCPUs and device threads */
	uint8_t rcr;
	struct board_control board;
};
int piix3_init(struct piix3 *s, struct pci_bus *bus, struct isa_irq *isa,
	       struct board_control board);
/* pci_bus INTx router callback. */
void piix3_set_intx(void *opaque, uint8_t devfn, unsigned pin, int level);

/* 00:01.3 PIIX4 power management: ACPI PM1 registers, PM timer, GPE0,
 * APM control port, SCI on GSI 9. */
struct piix_pm {
	struct pci_device pci;
	struct io_bus *pio;
	struct io_region pm_io, gpe_io, apm_io, hotplug_io;
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint8_t gpe_sts[2], gpe_en[2];
	uint8_t apm_cnt, apm_sts;
	int sci_level;
	struct irq_line sci;
	struct board_control board;
	pthread_mutex_t lock;
};
int piix_pm_init(struct piix_pm *s, struct pci_bus *bus, struct io_bus *pio, struct irq_line sci,
		 struct board_control board);
/* The ACPI power button (QMP system_powerdown). */
void piix_pm_power_button(struct piix_pm *s);
uint32_t piix_pm_timer_now(void);

/* Port 0x92: fast A20 and fast reset. */
struct port92 {
	struct io_region io;
	uint8_t value;
	struct board_control board;
};
int port92_init(struct port92 *s, struct io_bus *pio, struct board_control board);
void port92_reset(struct port92 *s);

/* Port 0x80: POST codes, kept for diagnostics. */
struct post_port {
	struct io_region io;
	uint8_t last;
};
int post_port_init(struct post_port *s, struct io_bus *pio);

/* isa-debugcon, as QEMU's: one port; a byte written goes to 'out' (a
 * chardev in vmm), a read returns 'readback' (0xE9 by default: SeaBIOS
 * reads its log port once and logs only if it reads 0xE9). -debugcon is
 * one at port 0xE9; SeaBIOS's log (port 0x402) is a second one. */
#define DEBUGCON_DEFAULT_PORT 0xE9
#define DEBUGCON_DEFAULT_READBACK 0xE9
struct debugcon {
	struct io_region io;
	uint8_t readback;
	void (*out)(void *opaque, const uint8_t *buf, size_t len); /* NULL: dropped */
	void *out_opaque;
};
int debugcon_init(struct debugcon *s, struct io_bus *pio, uint16_t port, uint8_t readback,
		  void (*out)(void *opaque, const uint8_t *buf, size_t len), void *out_opaque);

/* isa-debug-exit: a write of v ends vmm with status (v << 1) | 1. */
struct debug_exit {
	struct io_region io;
	struct board_control board;
};
int debug_exit_init(struct debug_exit *s, struct io_bus *pio, uint16_t base, uint16_t size,
		    struct board_control board);

/* Saved state (include/savestate.h): sections "i440fx", "piix3",
 * "piix_pm", "port92". Each load checks every value (and that the
 * configuration space is this device's) before it replaces the device's;
 * false (reason in r->err) leaves the device as it was. */
struct ss_writer;
struct ss_reader;
void i440fx_save(struct i440fx *s, struct ss_writer *w, uint32_t instance);
bool i440fx_load(struct i440fx *s, struct ss_reader *r, uint32_t instance);
void piix3_save(struct piix3 *s, struct ss_writer *w, uint32_t instance);
bool piix3_load(struct piix3 *s, struct ss_reader *r, uint32_t instance);
void piix_pm_save(struct piix_pm *s, struct ss_writer *w, uint32_t instance);
bool piix_pm_load(struct piix_pm *s, struct ss_reader *r, uint32_t instance);
void port92_save(struct port92 *s, struct ss_writer *w, uint32_t instance);
bool port92_load(struct port92 *s, struct ss_reader *r, uint32_t instance);

#endif
