// SPDX-License-Identifier: GPL-2.0-or-later
/* ISA interrupt lines shared by several devices (see include/isa_irq.h). */
#include "isa_irq.h"

#include <string.h>

/* An input is named in its irq_line by line * ISA_IRQ_INPUTS + index. */
static void input_set(void *opaque, unsigned id, int level)
{
	struct isa_irq *r = opaque;
	unsigned line = id / ISA_IRQ_INPUTS;
	uint32_t bit = 1u << (id % ISA_IRQ_INPUTS);

	if (line >= ISA_IRQ_LINES)
		return;
	pthread_mutex_lock(&r->lock);
	bool was_asserted = r->asserted[line] & bit;
	if (level)
		r->asserted[line] |= bit;
	else
		r->asserted[line] &= ~bit;
	bool high = r->asserted[line] != 0;
	if (high != r->out[line]) {
		r->out[line] = high;
		r->set_gsi(r->gsi_opaque, line, high);
	} else if (level && !was_asserted && high && r->trigger &&
		   r->trigger(r->trigger_opaque, line) == ISA_IRQ_EDGE) {
		/* Another input holds the line high: this request needs an
		 * edge of its own or an edge-triggered controller misses it. */
		r->edges_made++;
		r->set_gsi(r->gsi_opaque, line, 0);
		r->set_gsi(r->gsi_opaque, line, 1);
	}
	pthread_mutex_unlock(&r->lock);
}

void isa_irq_init(struct isa_irq *r, void (*set_gsi)(void *opaque, unsigned gsi, int level),
		  void *gsi_opaque, enum isa_irq_trigger (*trigger)(void *opaque, unsigned line),
		  void *trigger_opaque)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->set_gsi = set_gsi;
	r->gsi_opaque = gsi_opaque;
	r->trigger = trigger;
	r->trigger_opaque = trigger_opaque;
}

void isa_irq_destroy(struct isa_irq *r)
{
	pthread_mutex_destroy(&r->lock);
}

int isa_irq_claim(struct isa_irq *r, unsigned line, struct irq_line *out)
{
	int ret = -1;

	if (line >= ISA_IRQ_LINES)
		return -1;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < ISA_IRQ_INPUTS; i++) {
		if (!(r->claimed[line] & (1u << i))) {
			r->claimed[line] |= 1u << i;
			*out = (struct irq_line){ input_set, r, line * ISA_IRQ_INPUTS + i };
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int isa_irq_level(struct isa_irq *r, unsigned line)
{
	if (line >= ISA_IRQ_LINES)
		return 0;
	pthread_mutex_lock(&r->lock);
	int level = r->asserted[line] != 0;
	pthread_mutex_unlock(&r->lock);
	return level;
}

void isa_irq_resync(struct isa_irq *r)
{
	pthread_mutex_lock(&r->lock);
	for (unsigned line = 0; line < ISA_IRQ_LINES; line++) {
		r->out[line] = r->asserted[line] != 0;
		if (r->out[line])
			r->set_gsi(r->gsi_opaque, line, 1);
	}
	pthread_mutex_unlock(&r->lock);
}
