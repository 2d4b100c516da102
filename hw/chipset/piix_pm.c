// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PIIX4 power management function (00:01.3, 8086:7113), as QEMU's pc
 * machine places it: the ACPI PM1 event/control registers and PM timer in
 * a 64-byte I/O block at the guest-programmed PMBA, GPE0 at 0xAFE0, the APM
 * control port at 0xB2, and the SCI on GSI 9. Writing SLP_TYP=0 with SLP_EN
 * (the DSDT's _S5) powers the machine off.
 */
#include <string.h>
#include <time.h>

#include "hw/chipset.h"
#include "savestate.h"
#include "util.h"

#define PM_DEVACTB 0x58
#define PM_SMBBA 0x90
#define PM_IO_SIZE 64

#define PM1_STS_TMR 0x0001
#define PM1_STS_PWRBTN 0x0100
#define PM1_STS_WAK 0x8000
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define PM_TIMER_HZ 3579545ULL

#define GPE0_BASE 0xAFE0
#define APM_CNT_PORT 0xB2
#define APM_ENABLE_ACPI 0xF1
#define APM_DISABLE_ACPI 0xF0
#define HOTPLUG_BASE 0xAE00

uint32_t piix_pm_timer_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned __int128 ns = (unsigned __int128)ts.tv_sec * 1000000000u + (unsigned)ts.tv_nsec;
	return (uint32_t)(ns * PM_TIMER_HZ / 1000000000u) & 0xFFFFFF;
}

/* Called with the lock held. */
static void update_sci(struct piix_pm *s)
{
	int level = (s->pm1_cnt & PM1_CNT_SCI_EN) &&
		    ((s->pm1_sts & s->pm1_en) || (s->gpe_sts[0] & s->gpe_en[0]) ||
		     (s->gpe_sts[1] & s->gpe_en[1]));
	if (level != s->sci_level) {
		s->sci_level = level;
		irq_set(&s->sci, level);
	}
}

static void sleep_request(struct piix_pm *s, uint16_t cnt)
{
	unsigned slp_typ = (cnt >> 10) & 7;
	if (slp_typ == 0) /* _S5 in the SeaBIOS DSDT */
		s->board.poweroff(s->board.opaque);
	else
		debug("piix_pm: sleep type %u not supported; ignored", slp_typ);
}

static uint64_t pm_io_read(void *opaque, uint64_t off, unsigned size)
{
	struct piix_pm *s = opaque;
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0: v = s->pm1_sts; break;
	case 2: v = s->pm1_en; break;
	case 4: v = s->pm1_cnt; break;
	case 8: v = piix_pm_timer_now(); break;
	default: v = 0; break;
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void pm_io_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct piix_pm *s = opaque;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		s->pm1_sts &= (uint16_t)~v; /* write 1 to clear */
		break;
	case 2:
		s->pm1_en = (uint16_t)v;
		break;
	case 4:
		s->pm1_cnt = (uint16_t)(v & ~PM1_CNT_SLP_EN);
		if (v & PM1_CNT_SLP_EN) {
			pthread_mutex_unlock(&s->lock);
			sleep_request(s, (uint16_t)v);
			return;
		}
		break;
	default:
		break;
	}
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
}

/* PM1 registers are 16-bit, the timer 32-bit: accept 2 and 4 byte accesses
 * and let the core assemble bytes. */
static const struct io_ops pm_io_ops = {
	.read = pm_io_read, .write = pm_io_write, .min_size = 2, .max_size = 4,
};

static uint64_t gpe_read(void *opaque, uint64_t off, unsigned size)
{
	struct piix_pm *s = opaque;
	pthread_mutex_lock(&s->lock);
	uint8_t v = off < 2 ? s->gpe_sts[off] : s->gpe_en[off - 2];
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void gpe_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct piix_pm *s = opaque;
	pthread_mutex_lock(&s->lock);
	if (off < 2)
		s->gpe_sts[off] &= (uint8_t)~v;
	else
		s->gpe_en[off - 2] = (uint8_t)v;
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops gpe_ops = { .read = gpe_read, .write = gpe_write, .max_size = 1 };

static uint64_t apm_read(void *opaque, uint64_t off, unsigned size)
{
	struct piix_pm *s = opaque;
	return off == 0 ? s->apm_cnt : s->apm_sts;
}

static void apm_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct piix_pm *s = opaque;

	if (off == 1) {
		s->apm_sts = (uint8_t)v;
		return;
	}
	s->apm_cnt = (uint8_t)v;
	/* There is no SMM handler: do what the firmware's would, at once. */
	pthread_mutex_lock(&s->lock);
	if (v == APM_ENABLE_ACPI)
		s->pm1_cnt |= PM1_CNT_SCI_EN;
	else if (v == APM_DISABLE_ACPI)
		s->pm1_cnt &= (uint16_t)~PM1_CNT_SCI_EN;
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops apm_ops = { .read = apm_read, .write = apm_write, .max_size = 1 };

/* PCI hotplug status registers the DSDT reads: no slots are hot-pluggable. */
static uint64_t hotplug_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static const struct io_ops hotplug_ops = { .read = hotplug_read, .max_size = 4 };

static void update_pm_io(struct piix_pm *s)
{
	uint16_t base = pci_get_word(&s->pci, PIIX4_PMBA) & 0xFFC0;
	bool enabled = s->pci.config[PIIX4_PMREGMISC] & 1;

	if (!enabled || base == 0) {
		bus_unmap(s->pio, &s->pm_io);
		return;
	}
	if (!s->pm_io.mapped || s->pm_io.base != base)
		if (bus_map(s->pio, &s->pm_io, base) < 0) {
			warn("piix_pm: PM I/O block at %#x overlaps another device", base);
			bus_unmap(s->pio, &s->pm_io);
		}
}

static void pm_config_write(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
	struct piix_pm *s = (struct piix_pm *)d;
	if ((off < PIIX4_PMBA + 4 && off + size > PIIX4_PMBA) || off == PIIX4_PMREGMISC)
		update_pm_io(s);
}

static void pm_reset(struct pci_device *d)
{
	struct piix_pm *s = (struct piix_pm *)d;

	pthread_mutex_lock(&s->lock);
	s->pm1_sts = s->pm1_en = s->pm1_cnt = 0;
	memset(s->gpe_sts, 0, sizeof(s->gpe_sts));
	memset(s->gpe_en, 0, sizeof(s->gpe_en));
	s->apm_cnt = s->apm_sts = 0;
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
	update_pm_io(s);
}

void piix_pm_power_button(struct piix_pm *s)
{
	pthread_mutex_lock(&s->lock);
	s->pm1_sts |= PM1_STS_PWRBTN;
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
}

int piix_pm_init(struct piix_pm *s, struct pci_bus *bus, struct io_bus *pio, struct irq_line sci,
		 struct board_control board)
{
	struct pci_device *d = &s->pci;
	int ret;

	pci_device_init(d, "PIIX4-PM", 0x8086, 0x7113, 0x068000, 0x03);
	pthread_mutex_init(&s->lock, NULL);
	s->pio = pio;
	s->sci = sci;
	s->board = board;
	pci_device_set_interrupt_pin(d, 1);
	d->config[PIIX4_PMBA] = 0x01; /* I/O space indicator */
	d->wmask[PIIX4_PMBA] = 0xC0;
	d->wmask[PIIX4_PMBA + 1] = 0xFF;
	d->wmask[PIIX4_PMBA + 2] = d->wmask[PIIX4_PMBA + 3] = 0;
	/* "SMM already set up": SeaBIOS must not try to initialise SMM, which
	 * it would do by raising an SMI we do not emulate, then spin. */
	d->config[PM_DEVACTB + 3] = 0x02;
	d->config[PIIX4_PMREGMISC] = 0;
	d->config[PM_SMBBA] = 0x01;
	d->config[0xD2] = 0x09;
	/* Device-enable bits the DSDT reads for the COM/LPT _STA methods: COM1. */
	d->config[0x67] = 0x08;
	d->config_write = pm_config_write;
	d->reset = pm_reset;

	io_region_init(&s->pm_io, "acpi-pm", &pm_io_ops, s, PM_IO_SIZE);
	io_region_init(&s->gpe_io, "acpi-gpe0", &gpe_ops, s, 4);
	io_region_init(&s->apm_io, "apm", &apm_ops, s, 2);
	io_region_init(&s->hotplug_io, "acpi-pci-hotplug", &hotplug_ops, s, 0x10);
	if ((ret = bus_map(pio, &s->gpe_io, GPE0_BASE)) < 0 ||
	    (ret = bus_map(pio, &s->apm_io, APM_CNT_PORT)) < 0 ||
	    (ret = bus_map(pio, &s->hotplug_io, HOTPLUG_BASE)) < 0)
		return ret;
	return pci_register(bus, d, PCI_DEVFN(1, 3));
}

/* Saved state: configuration space (PMBA), PM1, GPE0 and APM registers.
 * The PM timer is the host's monotonic clock: it is not state. The SCI
 * level is driven again after a load. */
void piix_pm_save(struct piix_pm *s, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "piix_pm", instance, 1);
	pci_config_put(w, &s->pci);
	ss_put_u16(w, "pm1_sts", s->pm1_sts);
	ss_put_u16(w, "pm1_en", s->pm1_en);
	ss_put_u16(w, "pm1_cnt", s->pm1_cnt);
	ss_put_bytes(w, "gpe_sts", s->gpe_sts, sizeof(s->gpe_sts));
	ss_put_bytes(w, "gpe_en", s->gpe_en, sizeof(s->gpe_en));
	ss_put_u8(w, "apm_cnt", s->apm_cnt);
	ss_put_u8(w, "apm_sts", s->apm_sts);
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

bool piix_pm_load(struct piix_pm *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], gpe_sts[2], gpe_en[2], apm_cnt = 0, apm_sts = 0;
	uint16_t sts = 0, en = 0, cnt = 0;

	if (!ss_section_open(r, "piix_pm", instance, 1, 1, NULL))
		return false;
	pci_config_get(r, &s->pci, cfg);
	ss_get_u16(r, "pm1_sts", &sts);
	ss_get_u16(r, "pm1_en", &en);
	ss_get_u16(r, "pm1_cnt", &cnt);
	ss_get_bytes(r, "gpe_sts", gpe_sts, sizeof(gpe_sts));
	ss_get_bytes(r, "gpe_en", gpe_en, sizeof(gpe_en));
	ss_get_u8(r, "apm_cnt", &apm_cnt);
	ss_get_u8(r, "apm_sts", &apm_sts);
	if (!ss_section_close(r))
		return false;
	if (cnt & PM1_CNT_SLP_EN) /* write-only: never stored */
		return ss_fail(r, "saved state: piix_pm: PM1_CNT 0x%04x has SLP_EN", cnt);
	pci_config_apply(&s->pci, cfg);
	update_pm_io(s);
	pthread_mutex_lock(&s->lock);
	s->pm1_sts = sts, s->pm1_en = en, s->pm1_cnt = cnt;
	memcpy(s->gpe_sts, gpe_sts, sizeof(gpe_sts));
	memcpy(s->gpe_en, gpe_en, sizeof(gpe_en));
	s->apm_cnt = apm_cnt, s->apm_sts = apm_sts;
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}
