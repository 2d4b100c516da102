// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the PC's CMOS holds for SeaBIOS: memory sizes, CPU count, boot
 * order, the floppy drives and the disks' LBA translation.
 */
#include "pc.h"

#include <time.h>

#include "hw/fdc.h"
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

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* -rtc clock=rt: the host's time at start, then a steady count that host
 * clock changes (NTP steps, date -s) do not move. */
static int64_t rtc_clock_rt(void *opaque)
{
	struct machine *m = opaque;
	return m->rtc_epoch_real + (monotonic_ns() - m->rtc_epoch_clock);
}

/* -rtc clock=vm: the same, counted on the virtual clock, which stops while
 * the guest is paused. */
static int64_t rtc_clock_vm(void *opaque)
{
	struct machine *m = opaque;
	return m->rtc_epoch_real +
	       (event_clock_ns(m->loop, EVENT_CLOCK_VIRTUAL) - m->rtc_epoch_clock);
}

/* -rtc: the clock that drives the RTC, then where it starts. */
static void setup_rtc_clock(struct machine *m)
{
	const struct rtc_config *c = &m->cfg.rtc;
	struct timespec now;
	struct tm local;

	clock_gettime(CLOCK_REALTIME, &now);
	m->rtc_epoch_real = now.tv_sec * 1000000000LL + now.tv_nsec;
	if (c->clock == RTC_CLOCK_RT) {
		m->rtc_epoch_clock = monotonic_ns();
		rtc_set_clock(m->rtc, rtc_clock_rt, m);
	} else if (c->clock == RTC_CLOCK_VM) {
		m->rtc_epoch_clock = event_clock_ns(m->loop, EVENT_CLOCK_VIRTUAL);
		rtc_set_clock(m->rtc, rtc_clock_vm, m);
	}
	if (c->base == RTC_BASE_DATE) {
		rtc_set_time(m->rtc, c->date);
	} else if (c->base == RTC_BASE_LOCALTIME) {
		/* the host's offset from UTC now (TZ honoured), kept from then on
		 * as QEMU does: a later change of daylight saving time is the
		 * guest's to make */
		tzset();
		if (!localtime_r(&now.tv_sec, &local))
			die("-rtc base=localtime: cannot get the local time");
		rtc_set_time(m->rtc, (int64_t)now.tv_sec + local.tm_gmtoff);
	}
}

/* The boot order SeaBIOS reads at its next start ("" is the default, cad). */
void setup_boot_order(struct machine *m, const char *order)
{
	uint8_t b[3] = { 0 };

	if (!order[0])
		order = "cad";
	for (unsigned i = 0; i < 3 && order[i]; i++)
		b[i] = boot_device_code(order[i]);
	rtc_set_cmos(m->rtc, 0x3D, (uint8_t)(b[0] | b[1] << 4));
	/* bit 0: skip the floppy's boot signature check (QEMU checks it
	 * unless -no-fd-bootchk); without the check SeaBIOS jumps into a
	 * data floppy's first sector and the guest never reaches the CD */
	rtc_set_cmos(m->rtc, 0x38, (uint8_t)(b[2] << 4 | (m->cfg.no_fd_bootchk ? 0x01 : 0)));
}

/* Register 0x10 (drive A: high nibble, B: low) and the equipment byte
 * 0x14's floppy bits (bit 0: any; bits 7-6: how many, less one), as SeaBIOS
 * and operating systems read them. */
static void setup_floppy_cmos(struct machine *m)
{
	struct dev_instance *d = dev_find(m->cfg.devs, m->cfg.ndevs, dev_class_find("isa-fdc"));
	unsigned a = d && d->state ? fdc_drive_type(d->state, 0) : 0;
	unsigned b = d && d->state ? fdc_drive_type(d->state, 1) : 0;
	unsigned n = (a != 0) + (b != 0);
	uint8_t equipment = 0x06; /* FPU, PS/2 mouse, VGA */

	rtc_set_cmos(m->rtc, 0x10, (uint8_t)(a << 4 | b));
	if (n)
		equipment |= (uint8_t)(0x01 | (n - 1) << 6);
	rtc_set_cmos(m->rtc, 0x14, equipment);
}

void setup_cmos(struct machine *m)
{
	const struct machine_config *cfg = &m->cfg;
	uint64_t ext_kib = (m->mem.below_4g - 1 * MiB) / KiB;
	uint64_t above_16m = m->mem.below_4g > 16 * MiB ? (m->mem.below_4g - 16 * MiB) / (64 * KiB) : 0;
	uint64_t above_4g = m->mem.above_4g / (64 * KiB);
	uint8_t translation = 0;

	setup_rtc_clock(m);
	ext_kib = MIN(ext_kib, 0xFFFF);
	above_16m = MIN(above_16m, 0xFFFF);
	/* 24 bits of 64 KiB: 1 TiB less 64 KiB; more is in fw_cfg's e820 */
	above_4g = MIN(above_4g, 0xFFFFFF);
	setup_floppy_cmos(m);
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
	setup_boot_order(m, cfg->boot_once[0] ? cfg->boot_once : cfg->boot_order);
	/* LBA translation for disks over 504 MiB, so int13 CHS matches
	 * partitions made under LBA. */
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++) {
		const struct drive_config *d = &cfg->ide[i];
		if (d->present && !d->cdrom && d->path && m->disk_size[i] > 504 * MiB)
			translation |= (uint8_t)(1 << (i * 2));
	}
	rtc_set_cmos(m->rtc, 0x39, translation);
}
