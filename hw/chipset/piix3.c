// SPDX-License-Identifier: GPL-2.0-or-later
/* Intel 82371SB PIIX3 function 0 (00:01.0): the PCI-to-ISA bridge. It
 * routes PCI INTA-D through the PIRQ registers to ISA IRQs, and owns the
 * reset control register at 0xCF9. */
#include <string.h>

#include "hw/chipset.h"
#include "savestate.h"
#include "util.h"

#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04

static void update_isa_irqs(struct piix3 *s)
{
	uint8_t level[16] = { 0 };

	for (unsigned p = 0; p < 4; p++) {
		uint8_t route = s->pci.config[PIIX3_PIRQRC + p];
		if (route & 0x80 || !piix3_irq_routable(route))
			continue;
		for (unsigned w = 0; w < 16; w++)
			if (s->pirq_sources[p][w])
				level[route] = 1;
	}
	/* Our own input on each line: lowering it on the old line and raising
	 * it on the new one is how a re-routed PIRQ moves its level. */
	for (unsigned irq = 0; irq < 16; irq++) {
		if (level[irq] != s->isa_level[irq]) {
			s->isa_level[irq] = level[irq];
			irq_set(&s->isa_in[irq], level[irq]);
		}
	}
}

void piix3_set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	struct piix3 *s = opaque;
	unsigned p = piix3_pirq_of(devfn >> 3, pin);
	unsigned bit = devfn * 4u + (pin - 1);
	uint64_t mask = 1ULL << (bit % 64);

	pthread_mutex_lock(&s->lock);
	if (level)
		s->pirq_sources[p][bit / 64] |= mask;
	else
		s->pirq_sources[p][bit / 64] &= ~mask;
	update_isa_irqs(s);
	pthread_mutex_unlock(&s->lock);
}

static void piix3_config_write(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
	struct piix3 *s = (struct piix3 *)d;

	if (off < PIIX3_PIRQRC + 4 && off + size > PIIX3_PIRQRC) {
		pthread_mutex_lock(&s->lock);
		update_isa_irqs(s);
		pthread_mutex_unlock(&s->lock);
	}
}

static uint8_t rcr_read(void *opaque)
{
	return ((struct piix3 *)opaque)->rcr;
}

static void rcr_write(void *opaque, uint8_t val)
{
	struct piix3 *s = opaque;
	if (val & RCR_RST_CPU) {
		debug("piix3: reset through port 0xcf9 (%#x)", val);
		s->board.reset(s->board.opaque);
		return;
	}
	s->rcr = val & RCR_SYS_RST;
}

static void piix3_reset(struct pci_device *d)
{
	struct piix3 *s = (struct piix3 *)d;

	pthread_mutex_lock(&s->lock);
	memset(s->pirq_sources, 0, sizeof(s->pirq_sources));
	for (unsigned irq = 0; irq < 16; irq++) {
		if (s->isa_level[irq])
			irq_lower(&s->isa_in[irq]);
		s->isa_level[irq] = 0;
	}
	s->rcr = 0;
	pthread_mutex_unlock(&s->lock);
}

int piix3_init(struct piix3 *s, struct pci_bus *bus, struct isa_irq *isa,
	       struct board_control board)
{
	struct pci_device *d = &s->pci;

	pci_device_init(d, "PIIX3", 0x8086, 0x7000, 0x060100, 0x00);
	pthread_mutex_init(&s->lock, NULL);
	memset(s->isa_in, 0, sizeof(s->isa_in));
	memset(s->isa_level, 0, sizeof(s->isa_level));
	memset(s->pirq_sources, 0, sizeof(s->pirq_sources));
	for (unsigned irq = 0; irq < 16; irq++)
		if (piix3_irq_routable(irq) && isa_irq_claim(isa, irq, &s->isa_in[irq]) < 0)
			return -1;
	s->board = board;
	/* Functions 1-7 are only scanned when function 0 says multifunction. */
	d->config[PCI_HEADER_TYPE] = PCI_HEADER_MULTIFUNCTION;
	pci_set_word(d, PCI_COMMAND, 0x0007);
	memset(d->config + PIIX3_PIRQRC, 0x80, 4);
	d->config[0x69] = 0x02;
	d->config[0x70] = 0x80;
	d->config[0x76] = 0x0C;
	d->config[0x77] = 0x0C;
	d->config[0x78] = 0x02;
	d->config[0xA0] = 0x08;
	d->config[0xA8] = 0x0F;
	for (unsigned i = PIIX3_PIRQRC; i < PIIX3_PIRQRC + 4; i++)
		d->wmask[i] = 0x8F;
	d->config_write = piix3_config_write;
	d->reset = piix3_reset;
	bus->set_intx = piix3_set_intx;
	bus->intx_opaque = s;
	bus->rcr_read = rcr_read;
	bus->rcr_write = rcr_write;
	bus->rcr_opaque = s;
	return pci_register(bus, d, PCI_DEVFN(1, 0));
}

/* Saved state: the configuration space (PIRQ routes), the reset control
 * register, and which PCI functions assert which PIRQ. The ISA lines are
 * driven again from that after a load (KVM's irqchip state, ELCR included,
 * is kvm_state's); what this router last drove is not saved. */
void piix3_save(struct piix3 *s, struct ss_writer *w, uint32_t instance)
{
	uint8_t sources[sizeof(s->pirq_sources)];

	pthread_mutex_lock(&s->lock);
	for (unsigned p = 0; p < 4; p++)
		for (unsigned i = 0; i < 16; i++)
			put_le64(sources + (p * 16 + i) * 8, s->pirq_sources[p][i]);
	ss_section_begin(w, "piix3", instance, 1);
	pci_config_put(w, &s->pci);
	ss_put_u8(w, "rcr", s->rcr);
	ss_put_bytes(w, "pirq_sources", sources, sizeof(sources));
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

bool piix3_load(struct piix3 *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], sources[sizeof(s->pirq_sources)], rcr = 0;

	if (!ss_section_open(r, "piix3", instance, 1, 1, NULL))
		return false;
	pci_config_get(r, &s->pci, cfg);
	ss_get_u8(r, "rcr", &rcr);
	ss_get_bytes(r, "pirq_sources", sources, sizeof(sources));
	if (!ss_section_close(r))
		return false;
	if (rcr & ~RCR_SYS_RST)
		return ss_fail(r, "saved state: piix3: reset control 0x%02x", rcr);
	pci_config_apply(&s->pci, cfg);
	pthread_mutex_lock(&s->lock);
	s->rcr = rcr;
	for (unsigned p = 0; p < 4; p++)
		for (unsigned i = 0; i < 16; i++)
			s->pirq_sources[p][i] = get_le64(sources + (p * 16 + i) * 8);
	update_isa_irqs(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}
