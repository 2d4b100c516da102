/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An EDID 1.4 base block (VESA E-EDID) describing the virtual monitor of a
 * display card (hw/display/edid.c): a digital flat panel whose preferred
 * (native) mode is the detailed timing in the first descriptor, with CVT
 * reduced-blanking timings at 60 Hz, its name, and its range limits.
 * Guests (Linux bochs-drm, Windows) read it to pick their first mode.
 */
#ifndef VMM_HW_EDID_H
#define VMM_HW_EDID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDID_BLOCK_SIZE 128
#define EDID_DEFAULT_XRES 1280 /* the preferred mode when none is given */
#define EDID_DEFAULT_YRES 800
#define EDID_REFRESH_HZ 60     /* the preferred mode's rate when none is given */
#define EDID_MIN_REFRESH_HZ 24
#define EDID_MAX_REFRESH_HZ 240
#define EDID_DEFAULT_MAX_RES 2048 /* the largest listed mode by default (if it fits) */
#define EDID_MIN_XRES 640      /* the smallest VESA mode (a smaller CVT-RB mode
				  * has a clock below a timing's 10 MHz minimum) */
#define EDID_MIN_YRES 480
#define EDID_MAX_RES 4095      /* a detailed timing's 12-bit fields */
#define EDID_MAX_PIXEL_CLOCK_KHZ 655350 /* 16 bits of 10 kHz */

/* One mode's timing, as a detailed timing descriptor holds it. */
struct edid_timing {
	uint32_t pixel_clock_khz;
	uint16_t hactive, hfront, hsync, hback;
	uint16_t vactive, vfront, vsync, vback;
	bool hsync_positive, vsync_positive;
};

/* What the monitor is: 0 in a field means its default (the preferred mode
 * 1280x800 at 60 Hz; the largest listed mode 2048 or the preferred one,
 * whichever is larger, each way). */
struct edid_monitor {
	uint32_t xres, yres;   /* the preferred mode */
	uint32_t refresh_mhz;  /* its refresh rate in millihertz (QEMU's unit) */
	uint32_t xmax, ymax;   /* no mode larger is listed */
	uint64_t vram_size;    /* 0: no limit; else a given preferred mode must fit at 32
				* bpp (the default one shrinks to fit), and only modes
				* that fit are listed besides it */
};

/* CVT reduced blanking (v1) for w x h at 'hz'. False if the pixel clock
 * would not fit in a detailed timing descriptor. */
bool edid_cvt_rb(uint32_t w, uint32_t h, unsigned hz, struct edid_timing *t);

/* Fills in the defaults of 'm' and checks it: false with one line in 'err'
 * (no trailing newline) when the values cannot make a monitor. */
bool edid_monitor_resolve(struct edid_monitor *m, char *err, size_t errlen);

/* The 128 bytes of a resolved monitor (edid_monitor_resolve returned true). */
void edid_generate(const struct edid_monitor *m, uint8_t out[EDID_BLOCK_SIZE]);

#endif
