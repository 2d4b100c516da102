/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An interrupt output of a device. The device only sets its level; the
 * machine decides where the line goes (a GSI of the in-kernel irqchip for
 * ISA devices, the PIIX3 PIRQ router for PCI INTx, a recorder in tests).
 */
#ifndef VMM_IRQ_H
#define VMM_IRQ_H

struct irq_line {
	void (*set)(void *opaque, unsigned line, int level);
	void *opaque;
	unsigned line;
};

static inline void irq_set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->opaque, l->line, level);
}

static inline void irq_raise(const struct irq_line *l) { irq_set(l, 1); }
static inline void irq_lower(const struct irq_line *l) { irq_set(l, 0); }

#endif
