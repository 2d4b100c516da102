// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the PC's CMOS holds for SeaBIOS: memory sizes, CPU count, boot
 * order and the disks' LBA translation.
 */
#include "pc.h"

#include "hw/rtc.h"
#include "util.h"

static uint8_t boot_device_code(char c)
{
	switch (c) {
	case 'a': return 1;
	case 'c': return 2;
	case 'd': return 3;
	case 'n': return 4;
	default: return 0;
	}
}

void setup_cmos(struct machine *m)
{
	const struct machine_config *cfg = &m->cfg;
	uint64_t ext_kib = (m->mem.below_4g - 1 * MiB) / KiB;
	uint64_t above_16m = m->mem.below_4g > 16 * MiB ? (m->mem.below_4g - 16 * MiB) / (64 * KiB) : 0;
	uint64_t above_4g = m->mem.above_4g / (64 * KiB);
	const char *order = cfg->boot_order[0] ? cfg->boot_order : "cad";
	uint8_t b[3] = { 0 };
	uint8_t translation = 0;

	ext_kib = MIN(ext_kib, 0xFFFF);
	above_16m = MIN(above_16m, 0xFFFF);
	rtc_set_cmos(m->rtc, 0x10, 0x00); /* no floppy drives */
	rtc_set_cmos(m->rtc, 0x14, 0x06); /* FPU, PS/2 mouse, VGA */
	rtc_set_cmos(m->rtc, 0x15, 640 & 0xFF);
	rtc_set_cmos(m->rtc, 0x16, 640 >> 8);
	rtc_set_cmos(m->rtc, 0x17, (uint8_t)ext_kib);
	rtc_set_cmos(m->rtc, 0x18, (uint8_t)(ext_kib >> 8));
	rtc_set_cmos(m->rtc, 0x30, (uint8_t)ext_kib);
	rtc_set_cmos(m->rtc, 0x31, (uint8_t)(ext_kib >> 8));
	rtc_set_cmos(m->rtc, 0x34, (uint8_t)above_16m);
	rtc_set_cmos(m->rtc, 0x35, (uint8_t)(above_16m >> 8));
	rtc_set_cmos(m->rtc, 0x5B, (uint8_t)above_4g);
	rtc_set_cmos(m->rtc, 0x5C, (uint8_t)(above_4g >> 8));
	rtc_set_cmos(m->rtc, 0x5D, (uint8_t)(above_4g >> 16));
	/* SeaBIOS waits for max(this + 1, fw_cfg NB_CPUS) CPUs to check in. */
	rtc_set_cmos(m->rtc, 0x5F, (uint8_t)MIN(m->ncpus - 1, 0xFF));
	for (unsigned i = 0; i < 3 && order[i]; i++)
		b[i] = boot_device_code(order[i]);
	rtc_set_cmos(m->rtc, 0x3D, (uint8_t)(b[0] | b[1] << 4));
	rtc_set_cmos(m->rtc, 0x38, (uint8_t)(b[2] << 4 | 0x01)); /* no floppy sig check */
	/* LBA translation for disks over 504 MiB, so int13 CHS matches
	 * partitions made under LBA. */
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++) {
		const struct drive_config *d = &cfg->ide[i];
		if (d->present && !d->cdrom && d->path && m->disk_size[i] > 504 * MiB)
			translation |= (uint8_t)(1 << (i * 2));
	}
	rtc_set_cmos(m->rtc, 0x39, translation);
}
