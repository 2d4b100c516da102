// SPDX-License-Identifier: GPL-2.0-or-later
/* Intel 82441FX host bridge (00:00.0): identity and the PAM registers that
 * switch 0xC0000-0xFFFFF between ROM and RAM. */
#include <errno.h>

#include "hw/chipset.h"
#include "memmap.h"
#include "savestate.h"
#include "util.h"

/* I440FX_PAM0 (hw/chipset.h): 0x59 (F segment, high nibble) .. 0x5F */
#define I440FX_SMRAM 0x72

/* Segment s (see memmap.h) is governed by one nibble: PAM1 low nibble for
 * 0xC0000, PAM1 high for 0xC4000, ... PAM6 high for 0xEC000, PAM0 high for
 * the 64 KiB F segment. */
static enum pam_mode segment_mode(const struct pci_device *d, unsigned seg)
{
	uint8_t v;
	if (seg == PAM_SEGMENTS - 1)
		v = d->config[I440FX_PAM0] >> 4;
	else
		v = d->config[I440FX_PAM0 + 1 + seg / 2] >> (seg % 2 ? 4 : 0);
	return (enum pam_mode)(v & 3);
}

static void apply_pam(struct i440fx *s)
{
	for (unsigned seg = 0; seg < PAM_SEGMENTS; seg++)
		if (memmap_set_pam(s->memmap, seg, segment_mode(&s->pci, seg)) < 0)
			warn("i440fx: cannot remap PAM segment %u", seg);
}

static void i440fx_config_write(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
	if (off + size > I440FX_PAM0 && off <= I440FX_PAM0 + 6)
		apply_pam((struct i440fx *)d);
}

static void i440fx_reset(struct pci_device *d)
{
	apply_pam((struct i440fx *)d);
}

int i440fx_init(struct i440fx *s, struct pci_bus *bus, struct memmap *mm, uint64_t ram_size)
{
	struct pci_device *d = &s->pci;

	pci_device_init(d, "i440FX", 0x8086, 0x1237, 0x060000, 0x02);
	s->memmap = mm;
	/* Only the PAM registers and SMRAM are writable above the header. */
	for (unsigned i = 0x40; i < 256; i++)
		d->wmask[i] = 0;
	for (unsigned i = I440FX_PAM0; i <= I440FX_PAM0 + 6; i++)
		d->wmask[i] = 0xFF;
	d->wmask[I440FX_PAM0] = 0x30; /* low nibble reserved */
	d->wmask[I440FX_SMRAM] = 0x78;
	d->config[I440FX_SMRAM] = 0x02;
	/* DRAM row boundary, in 8 MiB units (informational). */
	d->config[0x57] = (uint8_t)MIN(ram_size / (8 * MiB), 255);
	d->config_write = i440fx_config_write;
	d->reset = i440fx_reset;
	return pci_register(bus, d, PCI_DEVFN(0, 0));
}

/* Saved state: the configuration space; the PAM segments follow from it. */
void i440fx_save(struct i440fx *s, struct ss_writer *w, uint32_t instance)
{
	ss_section_begin(w, "i440fx", instance, 1);
	pci_config_put(w, &s->pci);
	ss_section_end(w);
}

bool i440fx_load(struct i440fx *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256];
	if (!ss_section_open(r, "i440fx", instance, 1, 1, NULL))
		return false;
	pci_config_get(r, &s->pci, cfg);
	if (!ss_section_close(r))
		return false;
	pci_config_apply(&s->pci, cfg);
	apply_pam(s);
	return true;
}
