// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The EDID 1.4 base block of the virtual monitor (include/hw/edid.h),
 * laid out from the VESA E-EDID standard (release A2, EDID 1.4):
 *
 *   0-7     header 00 FF FF FF FF FF FF 00
 *   8-17    vendor and product: PNP id, product code, serial, week, year
 *   18-19   version 1, revision 4
 *   20-24   basic display parameters: digital input, size, gamma, features
 *   25-34   chromaticity (sRGB, which the feature byte announces)
 *   35-37   established timings I and II
 *   38-53   eight standard timings (01 01: unused)
 *   54-125  four 18-byte descriptors: the preferred mode's detailed timing,
 *           the range limits, the monitor name, a dummy
 *   126     extension count (0), 127 checksum (the block sums to 0 mod 256)
 *
 * Timings are CVT reduced blanking (v1), at 60 Hz but for a preferred
 * mode given another rate (refresh_rate): the blanking a digital
 * panel needs and nothing more (a fixed 160-pixel horizontal blank, at
 * least 460 us of vertical blank), so the pixel clock stays low and a large
 * preferred mode still fits the 16-bit clock field of a detailed timing.
 * Nothing here is the guest's: the block is computed once from the card's
 * properties and is read-only afterwards.
 */
#include "hw/edid.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

/* The id is made of three letters A-Z, five bits each. "VMM" is not a
 * registered PNP id: this monitor is no one's product. */
#define EDID_VENDOR "VMM"
#define EDID_PRODUCT 0x0001
#define EDID_NAME "vmm monitor"
#define EDID_YEAR 2026
#define EDID_DPI 100 /* the panel's size: the preferred mode at 100 dots per inch */

/* CVT reduced blanking, version 1 (VESA CVT 1.2, section 3.4). */
#define RB_H_BLANK 160
#define RB_H_SYNC 32
#define RB_H_FRONT 48
#define RB_MIN_V_BLANK_US 460
#define RB_V_FRONT 3
#define RB_MIN_V_BACK 6
#define CVT_CLOCK_STEP_KHZ 250

/* A detailed timing's porch and sync fields: 10 bits horizontal, 6 bits
 * vertical. */
#define DTD_H_FIELD_MAX 1023
#define DTD_V_FIELD_MAX 63

/* CVT's vertical sync width names the aspect ratio (4:3 4 lines, 16:9 5,
 * 16:10 6, 5:4 and 15:9 7, anything else 10). */
static uint16_t cvt_vsync_lines(uint32_t w, uint32_t h)
{
	if (w * 3 == h * 4)
		return 4;
	if (w * 9 == h * 16)
		return 5;
	if (w * 10 == h * 16)
		return 6;
	if (w * 4 == h * 5 || w * 9 == h * 15)
		return 7;
	return 10;
}

bool edid_cvt_rb(uint32_t w, uint32_t h, unsigned hz, struct edid_timing *t)
{
	if (!w || !h || w > EDID_MAX_RES || h > EDID_MAX_RES || hz < 24 || hz > 240)
		return false;
	uint16_t vsync = cvt_vsync_lines(w, h);
	/* The lines that fill the minimum blanking time: the line period
	 * estimate is (frame time - 460 us) / active lines, so the count is
	 * 460 * lines * hz / (1e6 - 460 * hz), rounded down, plus one. */
	uint64_t vbi = (uint64_t)RB_MIN_V_BLANK_US * h * hz /
		       (1000000u - (uint64_t)RB_MIN_V_BLANK_US * hz) + 1;
	uint64_t min_vbi = RB_V_FRONT + vsync + RB_MIN_V_BACK;
	if (vbi < min_vbi)
		vbi = min_vbi;
	uint64_t htotal = w + RB_H_BLANK, vtotal = h + vbi;
	/* rounded down to CVT's 0.25 MHz clock step */
	uint64_t clock_khz = hz * htotal * vtotal / 1000 / CVT_CLOCK_STEP_KHZ * CVT_CLOCK_STEP_KHZ;
	uint64_t vback = vbi - RB_V_FRONT - vsync;
	if (clock_khz > EDID_MAX_PIXEL_CLOCK_KHZ || clock_khz < 10000 || vback > 4095)
		return false;
	*t = (struct edid_timing){
		.pixel_clock_khz = (uint32_t)clock_khz,
		.hactive = (uint16_t)w, .hfront = RB_H_FRONT, .hsync = RB_H_SYNC,
		.hback = RB_H_BLANK - RB_H_FRONT - RB_H_SYNC,
		.vactive = (uint16_t)h, .vfront = RB_V_FRONT, .vsync = vsync, .vback = (uint16_t)vback,
		.hsync_positive = true, .vsync_positive = false, /* CVT-RB's polarities */
	};
	return true;
}

static uint64_t bytes_at_32bpp(uint32_t w, uint32_t h)
{
	return (uint64_t)w * h * 4;
}

static bool fits(const struct edid_monitor *m, uint32_t w, uint32_t h)
{
	return w <= m->xmax && h <= m->ymax &&
	       (!m->vram_size || bytes_at_32bpp(w, h) <= m->vram_size);
}

/* With neither xres nor yres given: 1280x800, or with too little video
 * memory for it at 32 bpp (vgamem_mb 1 to 2) the largest of the usual 4:3
 * modes that fits, else 640x480 all the same (the guest then drives it at
 * a lower depth). A size the user gives and the memory cannot hold is
 * refused instead. */
static void default_mode(struct edid_monitor *m)
{
	static const uint16_t modes[][2] = {
		{ EDID_DEFAULT_XRES, EDID_DEFAULT_YRES }, { 1024, 768 }, { 800, 600 }, { 640, 480 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		m->xres = modes[i][0];
		m->yres = modes[i][1];
		if (!m->vram_size || bytes_at_32bpp(m->xres, m->yres) <= m->vram_size)
			return;
	}
}

/* The preferred mode's rate, rounded to whole hertz (CVT's unit). */
static unsigned preferred_hz(const struct edid_monitor *m)
{
	return (m->refresh_mhz + 500) / 1000;
}

/* set_err's line, and false */
#define refuse(err, errlen, ...) (set_err(err, errlen, __VA_ARGS__), false)

bool edid_monitor_resolve(struct edid_monitor *m, char *err, size_t errlen)
{
	struct edid_timing t;

	bool given = m->xres || m->yres;
	if (!given)
		default_mode(m);
	if (!m->xres)
		m->xres = EDID_DEFAULT_XRES;
	if (!m->yres)
		m->yres = EDID_DEFAULT_YRES;
	if (m->xres < EDID_MIN_XRES || m->xres > EDID_MAX_RES)
		return refuse(err, errlen, "xres=%u: the preferred width must be %u to %u",
			       m->xres, EDID_MIN_XRES, EDID_MAX_RES);
	if (m->yres < EDID_MIN_YRES || m->yres > EDID_MAX_RES)
		return refuse(err, errlen, "yres=%u: the preferred height must be %u to %u",
			       m->yres, EDID_MIN_YRES, EDID_MAX_RES);
	if (!m->refresh_mhz)
		m->refresh_mhz = EDID_REFRESH_HZ * 1000;
	if (m->refresh_mhz < EDID_MIN_REFRESH_HZ * 1000 || m->refresh_mhz > EDID_MAX_REFRESH_HZ * 1000)
		return refuse(err, errlen, "refresh_rate=%u: the rate is in millihertz, %u to %u",
			      m->refresh_mhz, EDID_MIN_REFRESH_HZ * 1000, EDID_MAX_REFRESH_HZ * 1000);
	/* a listed mode is one the guest may switch to; the preferred mode
	 * is always one of them */
	if (!m->xmax)
		m->xmax = m->xres > EDID_DEFAULT_MAX_RES ? m->xres : EDID_DEFAULT_MAX_RES;
	if (!m->ymax)
		m->ymax = m->yres > EDID_DEFAULT_MAX_RES ? m->yres : EDID_DEFAULT_MAX_RES;
	if (m->xres > m->xmax)
		return refuse(err, errlen, "xres=%u is larger than xmax=%u", m->xres, m->xmax);
	if (m->yres > m->ymax)
		return refuse(err, errlen, "yres=%u is larger than ymax=%u", m->yres, m->ymax);
	if (given && m->vram_size && bytes_at_32bpp(m->xres, m->yres) > m->vram_size)
		return refuse(err, errlen,
			       "%ux%u at 32 bpp needs %llu KiB of video memory, the card has %llu KiB "
			       "(raise vgamem_mb or lower xres/yres)",
			       m->xres, m->yres,
			       (unsigned long long)(bytes_at_32bpp(m->xres, m->yres) + 1023) / 1024,
			       (unsigned long long)m->vram_size / 1024);
	if (!edid_cvt_rb(m->xres, m->yres, preferred_hz(m), &t))
		return refuse(err, errlen,
			       "%ux%u at %u Hz needs a pixel clock above the %u.%02u MHz an EDID "
			       "detailed timing holds",
			       m->xres, m->yres, preferred_hz(m), EDID_MAX_PIXEL_CLOCK_KHZ / 1000,
			       EDID_MAX_PIXEL_CLOCK_KHZ % 1000 / 10);
	return true;
}

/* ---- the block's parts ------------------------------------------------- */


/* Bytes 8-17. The PNP id is big-endian, bit 15 zero, 'A' = 1. Serial 0 and
 * week 0: neither is given. */
static void put_vendor_product(uint8_t *e)
{
	const char *id = EDID_VENDOR;
	uint16_t pnp = (uint16_t)(((id[0] - 'A' + 1) << 10) | ((id[1] - 'A' + 1) << 5) |
				  (id[2] - 'A' + 1));
	e[8] = (uint8_t)(pnp >> 8);
	e[9] = (uint8_t)pnp;
	put_le16(e + 10, EDID_PRODUCT);
	memset(e + 12, 0, 4);
	e[16] = 0;
	e[17] = EDID_YEAR - 1990;
}

static uint32_t mm_at_dpi(uint32_t pixels)
{
	return pixels * 254 / (EDID_DPI * 10);
}

/* Bytes 20-24. */
static void put_basic_params(uint8_t *e, const struct edid_monitor *m)
{
	e[20] = 0x80 | 0x20; /* digital input, 8 bits per colour, interface not given */
	uint32_t wcm = (mm_at_dpi(m->xres) + 5) / 10, hcm = (mm_at_dpi(m->yres) + 5) / 10;
	e[21] = (uint8_t)(wcm > 255 ? 255 : wcm);
	e[22] = (uint8_t)(hcm > 255 ? 255 : hcm);
	e[23] = 220 - 100; /* gamma 2.20, stored as gamma * 100 - 100 */
	/* no DPMS states; RGB 4:4:4; sRGB is the default colour space; the
	 * preferred timing is the native mode; continuous frequency (so the
	 * range limits descriptor is there and says which timings work) */
	e[24] = 0x04 | 0x02 | 0x01;
}

/* Bytes 25-34: sRGB's primaries and D65 white (IEC 61966-2-1), as 10-bit
 * binary fractions: the top 8 bits in 27-34, the low 2 in 25-26. */
static void put_chromaticity(uint8_t *e)
{
	/* rx ry gx gy bx by wx wy, in 1/10000 */
	static const uint32_t srgb[8] = { 6400, 3300, 3000, 6000, 1500, 600, 3127, 3290 };
	uint32_t v[8];
	for (int i = 0; i < 8; i++) {
		v[i] = (srgb[i] * 1024 + 5000) / 10000;
		e[27 + i] = (uint8_t)(v[i] >> 2);
	}
	e[25] = (uint8_t)((v[0] & 3) << 6 | (v[1] & 3) << 4 | (v[2] & 3) << 2 | (v[3] & 3));
	e[26] = (uint8_t)((v[4] & 3) << 6 | (v[5] & 3) << 4 | (v[6] & 3) << 2 | (v[7] & 3));
}

/* The established timings this monitor lists, VESA DMT timings at 60 Hz
 * (their clock and line rate count in the range limits). */
static const struct established {
	uint16_t w, h;
	uint8_t byte, bit;
	uint32_t clock_khz, hfreq_hz;
} established[] = {
	{ 640, 480, 35, 5, 25175, 31469 },
	{ 800, 600, 35, 0, 40000, 37879 },
	{ 1024, 768, 36, 3, 65000, 48363 },
};

/* Standard timings offered at 60 Hz when they fit, smallest first: the aspect code is
 * EDID 1.3's (0 16:10, 1 4:3, 2 5:4, 3 16:9); the width is stored as
 * w / 8 - 31, so at most 2288. */
static const struct standard {
	uint16_t w, h;
	uint8_t aspect;
} standard[] = {
	{ 1152, 864, 1 }, { 1280, 720, 3 },  { 1280, 960, 1 },  { 1280, 1024, 2 },
	{ 1440, 900, 0 }, { 1600, 900, 3 },  { 1600, 1200, 1 }, { 1680, 1050, 0 },
	{ 1920, 1080, 3 }, { 1920, 1200, 0 }, { 2048, 1152, 3 },
};

#define STD_SLOTS 8

/* The slowest and fastest line rate and the fastest pixel clock of the
 * listed modes, for the range limits. */
struct rates {
	uint32_t clock_khz, hfreq_hz, min_hfreq_hz;
};

static void count_rates(struct rates *r, uint32_t clock_khz, uint32_t hfreq_hz)
{
	if (clock_khz > r->clock_khz)
		r->clock_khz = clock_khz;
	if (hfreq_hz > r->hfreq_hz)
		r->hfreq_hz = hfreq_hz;
	if (hfreq_hz < r->min_hfreq_hz)
		r->min_hfreq_hz = hfreq_hz;
}

static uint32_t cvt_hfreq_hz(const struct edid_timing *t)
{
	uint32_t htotal = t->hactive + t->hfront + t->hsync + t->hback;
	return (uint32_t)((uint64_t)t->pixel_clock_khz * 1000 / htotal);
}

static void put_established(uint8_t *e, const struct edid_monitor *m, struct rates *r)
{
	e[35] = e[36] = e[37] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(established); i++) {
		const struct established *s = &established[i];
		if (!fits(m, s->w, s->h))
			continue;
		e[s->byte] |= (uint8_t)(1u << s->bit);
		count_rates(r, s->clock_khz, s->hfreq_hz);
	}
}

static void put_standard(uint8_t *e, const struct edid_monitor *m, struct rates *r)
{
	unsigned n = 0;
	/* largest first: when more fit than there are slots, the small ones
	 * (which guests have in their own tables anyway) are left out */
	for (size_t i = ARRAY_SIZE(standard); i-- > 0 && n < STD_SLOTS;) {
		const struct standard *s = &standard[i];
		struct edid_timing t;
		if (!fits(m, s->w, s->h) || (s->w == m->xres && s->h == m->yres) ||
		    !edid_cvt_rb(s->w, s->h, EDID_REFRESH_HZ, &t))
			continue;
		e[38 + 2 * n] = (uint8_t)(s->w / 8 - 31);
		e[39 + 2 * n] = (uint8_t)(s->aspect << 6 | (EDID_REFRESH_HZ - 60));
		count_rates(r, t.pixel_clock_khz, cvt_hfreq_hz(&t));
		n++;
	}
	for (; n < STD_SLOTS; n++)
		e[38 + 2 * n] = e[39 + 2 * n] = 0x01;
}

/* An 18-byte detailed timing descriptor; image size in millimetres. */
static void put_detailed_timing(uint8_t *d, const struct edid_timing *t, uint32_t wmm,
				uint32_t hmm)
{
	uint32_t hblank = t->hfront + t->hsync + t->hback;
	uint32_t vblank = t->vfront + t->vsync + t->vback;
	put_le16(d, (uint16_t)(t->pixel_clock_khz / 10));
	d[2] = (uint8_t)t->hactive;
	d[3] = (uint8_t)hblank;
	d[4] = (uint8_t)((t->hactive >> 8) << 4 | (hblank >> 8 & 0xF));
	d[5] = (uint8_t)t->vactive;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)((t->vactive >> 8) << 4 | (vblank >> 8 & 0xF));
	d[8] = (uint8_t)t->hfront;
	d[9] = (uint8_t)t->hsync;
	d[10] = (uint8_t)((t->vfront & 0xF) << 4 | (t->vsync & 0xF));
	d[11] = (uint8_t)((t->hfront >> 8 & 3) << 6 | (t->hsync >> 8 & 3) << 4 |
			  (t->vfront >> 4 & 3) << 2 | (t->vsync >> 4 & 3));
	if (wmm > 4095)
		wmm = 4095;
	if (hmm > 4095)
		hmm = 4095;
	d[12] = (uint8_t)wmm;
	d[13] = (uint8_t)hmm;
	d[14] = (uint8_t)((wmm >> 8) << 4 | (hmm >> 8));
	d[15] = d[16] = 0; /* no border */
	/* not interlaced, no stereo, digital separate sync with its polarities */
	d[17] = (uint8_t)(0x18 | (t->vsync_positive ? 0x04 : 0) | (t->hsync_positive ? 0x02 : 0));
}

/* A display descriptor: 00 00 00 tag 00, then 13 bytes. */
static void put_display_descriptor(uint8_t *d, uint8_t tag)
{
	memset(d, 0, 18);
	d[3] = tag;
}

/* Text descriptors end with a line feed and are padded with spaces. */
static void put_text(uint8_t *d, uint8_t tag, const char *text)
{
	put_display_descriptor(d, tag);
	size_t n = strlen(text);
	if (n > 13)
		n = 13;
	memcpy(d + 5, text, n);
	if (n < 13) {
		d[5 + n] = 0x0A;
		memset(d + 6 + n, 0x20, 13 - n - 1);
	}
}

static uint32_t div_round_up(uint32_t a, uint32_t b)
{
	return (a + b - 1) / b;
}

/* Range limits: 50 to 75 Hz vertical (or to the preferred rate), 30 kHz (or the slowest listed
 * mode's line rate, a small preferred mode's CVT-RB one is lower) up to
 * every listed mode's line rate, and their clock, with headroom, because a guest may time a standard or
 * established timing from its own table (DMT, CVT with full blanking)
 * rather than as CVT-RB: a third more clock, an eighth more line rate. */
static void put_range_limits(uint8_t *d, const struct rates *r, unsigned pref_hz)
{
	put_display_descriptor(d, 0xFD);
	uint32_t hmax_khz = div_round_up(r->hfreq_hz + r->hfreq_hz / 8, 1000);
	uint32_t clock_10mhz = div_round_up(r->clock_khz + r->clock_khz / 3, 10000);
	d[4] = 0;  /* no +255 offsets */
	d[5] = (uint8_t)(pref_hz < 50 ? pref_hz : 50); /* Hz */
	d[6] = (uint8_t)(pref_hz > 75 ? pref_hz : 75);
	uint32_t hmin_khz = r->min_hfreq_hz / 1000;
	d[7] = (uint8_t)(hmin_khz < 30 ? (hmin_khz ? hmin_khz : 1) : 30);
	d[8] = (uint8_t)(hmax_khz > 255 ? 255 : hmax_khz);
	d[9] = (uint8_t)(clock_10mhz > 255 ? 255 : clock_10mhz);
	d[10] = 0x01; /* range limits only: no timing formula */
	d[11] = 0x0A;
	memset(d + 12, 0x20, 6);
}

void edid_generate(const struct edid_monitor *m, uint8_t out[EDID_BLOCK_SIZE])
{
	static const uint8_t header[8] = { 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00 };
	struct edid_timing pref;
	struct rates r = { 0, 0, UINT32_MAX };

	memset(out, 0, EDID_BLOCK_SIZE);
	memcpy(out, header, sizeof(header));
	put_vendor_product(out);
	out[18] = 1;
	out[19] = 4;
	put_basic_params(out, m);
	put_chromaticity(out);
	put_established(out, m, &r);
	put_standard(out, m, &r);
	if (!edid_cvt_rb(m->xres, m->yres, preferred_hz(m), &pref))
		return; /* not resolved: no valid block (the header is there, the sum is not) */
	count_rates(&r, pref.pixel_clock_khz, cvt_hfreq_hz(&pref));
	put_detailed_timing(out + 54, &pref, mm_at_dpi(m->xres), mm_at_dpi(m->yres));
	put_range_limits(out + 72, &r, preferred_hz(m));
	put_text(out + 90, 0xFC, EDID_NAME);
	put_display_descriptor(out + 108, 0x10); /* dummy */
	out[126] = 0;
	uint8_t sum = 0;
	for (int i = 0; i < EDID_BLOCK_SIZE - 1; i++)
		sum = (uint8_t)(sum + out[i]);
	out[127] = (uint8_t)(0x100 - sum);
}
