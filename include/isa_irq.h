/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC's 16 ISA interrupt lines as wires several devices drive at once.
 *
 * Each device (and the PIIX3 for the PCI interrupts it routes) claims its
 * own input on a line and only raises or lowers that input, through an
 * ordinary struct irq_line. A line's level is the OR of its inputs, and the
 * router drives the interrupt controller (a GSI of the in-kernel irqchip)
 * only when that OR changes, so one device lowering its input never takes
 * away another's level.
 *
 * How the controller reads the line is the guest's choice: the ELCR
 * (0x4D0/0x4D1, emulated by KVM's in-kernel PIC) or the IOAPIC redirection
 * entry makes it edge- or level-triggered. On a level-triggered line the OR
 * is all there is: the controller keeps asking while any input is high. On
 * an edge-triggered line a device that raises its input while another one
 * already holds the line high would make no edge and its interrupt would be
 * lost (as on a real ISA bus, where edge lines cannot be shared); the
 * router gives that device an edge of its own (line low, then high again),
 * so sharing an edge line works as it does for level lines.
 */
#ifndef VMM_ISA_IRQ_H
#define VMM_ISA_IRQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "irq.h"

#define ISA_IRQ_LINES 16
#define ISA_IRQ_INPUTS 32 /* per line */

enum isa_irq_trigger { ISA_IRQ_EDGE, ISA_IRQ_LEVEL };

struct isa_irq {
	pthread_mutex_t lock; /* inputs change from vCPUs and device threads */
	uint32_t claimed[ISA_IRQ_LINES];
	uint32_t asserted[ISA_IRQ_LINES]; /* bit per input */
	bool out[ISA_IRQ_LINES];          /* the level last driven on the GSI */
	unsigned edges_made;              /* extra edges for shared edge lines */
	void (*set_gsi)(void *opaque, unsigned gsi, int level);
	void *gsi_opaque;
	/* How the guest configured the line (NULL: level). Asked only when an
	 * input rises on a line that is already high. */
	enum isa_irq_trigger (*trigger)(void *opaque, unsigned line);
	void *trigger_opaque;
};

void isa_irq_init(struct isa_irq *r, void (*set_gsi)(void *opaque, unsigned gsi, int level),
		  void *gsi_opaque, enum isa_irq_trigger (*trigger)(void *opaque, unsigned line),
		  void *trigger_opaque);
void isa_irq_destroy(struct isa_irq *r);

/* Claims a new input on 'line' (0-15) for one device: *out then raises and
 * lowers that input only (irq_raise/irq_lower/irq_set). 0, or -1 when the
 * line does not exist or all its inputs are taken. */
int isa_irq_claim(struct isa_irq *r, unsigned line, struct irq_line *out);

/* The line's level: the OR of its inputs. */
int isa_irq_level(struct isa_irq *r, unsigned line);

/* The interrupt controller was replaced (a machine reset makes a new KVM
 * VM, whose lines are all low): drives every line that is high again. */
void isa_irq_resync(struct isa_irq *r);

#endif
