// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CL-GD5446 BitBLT engine (include/hw/cirrus_blt.h): raster
 * operations, forward and backward copies, colour expansion with and
 * without transparency, 8x8 patterns, solid fills, and the lines of a
 * system-to-screen BLT. Every address is checked by cirrus_blt_fits
 * before a byte moves.
 */
#include "hw/cirrus_blt.h"

#include <stddef.h>

enum blt_kind { BLT_COPY, BLT_EXPAND, BLT_PATTERN, BLT_PATTERN_EXPAND, BLT_FILL };

/* The first and last byte one side of a BLT touches. Line y starts at
 * addr + y * pitch, so lines 0 and height - 1 are the extremes; a forward
 * line reaches width - 1 bytes above its start, a backward one below. All
 * in 64 bits: |pitch| < 2^32 and height <= 2^13, so nothing overflows. */
static bool blt_region(uint32_t vram_size, uint32_t addr, int64_t pitch, uint32_t width,
		       uint32_t height, bool backward, int64_t *lo_out, int64_t *hi_out)
{
	if (width == 0 || height == 0 || width > CIRRUS_BLT_MAX_WIDTH ||
	    height > CIRRUS_BLT_MAX_HEIGHT || pitch <= -(1ll << 32) || pitch >= (1ll << 32))
		return false;
	int64_t first = addr;
	int64_t last = first + (int64_t)(height - 1) * pitch;
	int64_t lo = first < last ? first : last;
	int64_t hi = first < last ? last : first;
	if (backward)
		lo -= (int64_t)width - 1;
	else
		hi += (int64_t)width - 1;
	if (lo < 0 || hi >= (int64_t)vram_size)
		return false;
	*lo_out = lo;
	*hi_out = hi;
	return true;
}

bool cirrus_blt_fits(uint32_t vram_size, uint32_t addr, int64_t pitch, uint32_t width,
		     uint32_t height, bool backward)
{
	int64_t lo, hi;
	return blt_region(vram_size, addr, pitch, width, height, backward, &lo, &hi);
}

unsigned cirrus_blt_bpp(const struct cirrus_blt *b)
{
	return ((b->mode & CIRRUS_BLT_PIXEL_WIDTH) >> 4) + 1u;
}

static enum blt_kind blt_kind(const struct cirrus_blt *b)
{
	uint8_t both = CIRRUS_BLT_PATTERN | CIRRUS_BLT_EXPAND;

	if ((b->modeext & CIRRUS_BLTX_SOLID_FILL) &&
	    (b->mode & (both | CIRRUS_BLT_TRANSPARENT | CIRRUS_BLT_SYS_DEST)) == both)
		return BLT_FILL;
	if (b->mode & CIRRUS_BLT_PATTERN)
		return (b->mode & CIRRUS_BLT_EXPAND) ? BLT_PATTERN_EXPAND : BLT_PATTERN;
	return (b->mode & CIRRUS_BLT_EXPAND) ? BLT_EXPAND : BLT_COPY;
}

bool cirrus_blt_is_fill(const struct cirrus_blt *b)
{
	return blt_kind(b) == BLT_FILL;
}

uint32_t cirrus_blt_sys_lines(const struct cirrus_blt *b)
{
	enum blt_kind kind = blt_kind(b);
	return kind == BLT_PATTERN || kind == BLT_PATTERN_EXPAND ? 1 : b->height;
}

/* The raster operation on one byte (the operations are bitwise, so a
 * pixel of any depth is its bytes done one by one). An unknown code
 * leaves the destination as it is. */
static uint8_t rop_byte(uint8_t rop, uint8_t d, uint8_t s)
{
	switch (rop) {
	case CIRRUS_ROP_0:         return 0;
	case CIRRUS_ROP_S_AND_D:   return s & d;
	case CIRRUS_ROP_S_AND_ND:  return s & (uint8_t)~d;
	case CIRRUS_ROP_ND:        return (uint8_t)~d;
	case CIRRUS_ROP_S:         return s;
	case CIRRUS_ROP_1:         return 0xFF;
	case CIRRUS_ROP_NS_AND_D:  return (uint8_t)~s & d;
	case CIRRUS_ROP_S_XOR_D:   return s ^ d;
	case CIRRUS_ROP_S_OR_D:    return s | d;
	case CIRRUS_ROP_NS_OR_ND:  return (uint8_t)(~s | ~d);
	case CIRRUS_ROP_S_XNOR_D:  return (uint8_t)~(s ^ d);
	case CIRRUS_ROP_S_OR_ND:   return s | (uint8_t)~d;
	case CIRRUS_ROP_NS:        return (uint8_t)~s;
	case CIRRUS_ROP_NS_OR_D:   return (uint8_t)~s | d;
	case CIRRUS_ROP_NS_AND_ND: return (uint8_t)(~s & ~d);
	default:                   return d; /* CIRRUS_ROP_D and the rest */
	}
}

/* A pixel of colour 'c' (its low bytes) through the ROP onto 'd'. */
static void put_colour(uint8_t *d, unsigned bpp, uint8_t rop, uint32_t c)
{
	for (unsigned k = 0; k < bpp; k++)
		d[k] = rop_byte(rop, d[k], (uint8_t)(c >> (8 * k)));
}

/* Pixels after the skipped ones in a line of 'width' bytes. */
static uint32_t blt_pixels(const struct cirrus_blt *b)
{
	unsigned bpp = cirrus_blt_bpp(b);
	uint32_t skipped = (uint32_t)(b->skip & 7) * bpp;
	return b->width > skipped ? (b->width - skipped) / bpp : 0;
}

/* One line of a copy. Forward, 'd' and 's' are the first bytes and the
 * line goes up; backward they are the last and it goes down. With
 * transparency (8 or 16 bpp) a pixel whose result is the key colour is
 * not written (as QEMU's model compares it). */
static void copy_line(const struct cirrus_blt *b, uint8_t *d, const uint8_t *s, bool backward)
{
	unsigned bpp = cirrus_blt_bpp(b);

	if (!(b->mode & CIRRUS_BLT_TRANSPARENT)) {
		if (backward)
			for (uint32_t i = 0; i < b->width; i++)
				*(d - i) = rop_byte(b->rop, *(d - i), *(s - i));
		else
			for (uint32_t i = 0; i < b->width; i++)
				d[i] = rop_byte(b->rop, d[i], s[i]);
		return;
	}
	uint16_t key = bpp == 1 ? (uint8_t)b->transparent : b->transparent;
	for (uint32_t x = 0; x + bpp <= b->width; x += bpp) {
		/* the pixel's lowest byte: above the start going up, below it going down */
		uint8_t *dp = backward ? d - (x + bpp - 1) : d + x;
		const uint8_t *sp = backward ? s - (x + bpp - 1) : s + x;
		uint8_t px[2];
		for (unsigned k = 0; k < bpp; k++)
			px[k] = rop_byte(b->rop, dp[k], sp[k]);
		uint16_t val = bpp == 1 ? px[0] : (uint16_t)(px[0] | px[1] << 8);
		if (val == key)
			continue;
		for (unsigned k = 0; k < bpp; k++)
			dp[k] = px[k];
	}
}

/* The colour a source bit gives, or false where it is transparent. */
static bool expand_colour(const struct cirrus_blt *b, bool bit, uint32_t *c)
{
	if (b->mode & CIRRUS_BLT_TRANSPARENT) {
		bool invert = b->modeext & CIRRUS_BLTX_INVERT;
		if (bit == invert)
			return false;
		*c = invert ? b->bg : b->fg;
		return true;
	}
	*c = bit ? b->fg : b->bg;
	return true;
}

/* One line of colour expansion: source bits from bit 'skip' of 'bits'
 * (most significant first), pixels from 'd' on. */
static void expand_line(const struct cirrus_blt *b, uint8_t *d, const uint8_t *bits)
{
	unsigned bpp = cirrus_blt_bpp(b), skip = b->skip & 7;
	uint32_t n = blt_pixels(b), c;

	for (uint32_t p = 0; p < n; p++) {
		uint32_t pos = skip + p;
		bool bit = (bits[pos >> 3] >> (7 - (pos & 7))) & 1;
		if (expand_colour(b, bit, &c))
			put_colour(d + p * bpp, bpp, b->rop, c);
	}
}

/* Bytes between pattern rows: 8 pixels, 32 bytes for 24 bpp. */
static unsigned pattern_row_bytes(unsigned bpp)
{
	return bpp == 3 ? 32 : 8 * bpp;
}

/* Line y of a pattern fill; the pattern's first row is the source
 * address's low three bits. */
static void pattern_line(const struct cirrus_blt *b, uint8_t *d, const uint8_t *pat, uint32_t y,
			 bool expand)
{
	unsigned bpp = cirrus_blt_bpp(b), skip = b->skip & 7;
	unsigned row = (y + (b->src & 7)) & 7;
	uint32_t n = blt_pixels(b), c;

	for (uint32_t p = 0; p < n; p++) {
		unsigned col = (p + skip) & 7;
		if (expand) {
			if (expand_colour(b, (pat[row] >> (7 - col)) & 1, &c))
				put_colour(d + p * bpp, bpp, b->rop, c);
		} else {
			const uint8_t *sp = pat + row * pattern_row_bytes(bpp) + col * bpp;
			for (unsigned k = 0; k < bpp; k++)
				d[p * bpp + k] = rop_byte(b->rop, d[p * bpp + k], sp[k]);
		}
	}
}

static void fill_line(const struct cirrus_blt *b, uint8_t *d)
{
	unsigned bpp = cirrus_blt_bpp(b);
	for (uint32_t x = 0; x + bpp <= b->width; x += bpp)
		put_colour(d + x, bpp, b->rop, b->fg);
}

static int refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

/* The bytes of an 8x8 pattern in video memory: 8 bytes of bits, or 8
 * rows of pixels. */
static uint32_t pattern_bytes(const struct cirrus_blt *b, bool expand)
{
	return expand ? 8 : 8 * pattern_row_bytes(cirrus_blt_bpp(b));
}

int cirrus_blt_run(uint8_t *vram, uint32_t vram_size, const struct cirrus_blt *b,
		   const char **why, uint32_t *lo, uint32_t *hi)
{
	enum blt_kind kind = blt_kind(b);
	bool back = kind == BLT_COPY && (b->mode & CIRRUS_BLT_BACKWARDS);
	int64_t dpitch = back ? -(int64_t)b->dst_pitch : (int64_t)b->dst_pitch;
	int64_t spitch = back ? -(int64_t)b->src_pitch : (int64_t)b->src_pitch;
	int64_t dlo, dhi, slo, shi;
	const uint8_t *pat = NULL;

	if (kind != BLT_FILL && (b->mode & (CIRRUS_BLT_SYS_SRC | CIRRUS_BLT_SYS_DEST)))
		return refuse(why, "not a video-to-video BLT");
	if (!blt_region(vram_size, b->dst, dpitch, b->width, b->height, back, &dlo, &dhi))
		return refuse(why, "destination outside video memory");
	switch (kind) {
	case BLT_COPY:
		if ((b->mode & CIRRUS_BLT_TRANSPARENT) && cirrus_blt_bpp(b) > 2)
			return refuse(why, "transparency needs 8 or 16 bits per pixel");
		if (!blt_region(vram_size, b->src, spitch, b->width, b->height, back, &slo, &shi))
			return refuse(why, "source outside video memory");
		break;
	case BLT_EXPAND: {
		/* the source bits are packed, each line from a new byte */
		uint32_t line = ((b->skip & 7) + blt_pixels(b) + 7) / 8;
		if (line && !blt_region(vram_size, b->src, line, line, b->height, false, &slo, &shi))
			return refuse(why, "source outside video memory");
		break;
	}
	case BLT_PATTERN:
	case BLT_PATTERN_EXPAND: {
		uint32_t size = pattern_bytes(b, kind == BLT_PATTERN_EXPAND);
		uint32_t at = b->src & ~(size - 1);
		if (!blt_region(vram_size, at, 0, size, 1, false, &slo, &shi))
			return refuse(why, "pattern outside video memory");
		pat = vram + at;
		break;
	}
	case BLT_FILL:
		break;
	}
	for (uint32_t y = 0; y < b->height; y++) {
		uint8_t *d = vram + (b->dst + y * dpitch);
		switch (kind) {
		case BLT_COPY:
			copy_line(b, d, vram + (b->src + y * spitch), back);
			break;
		case BLT_EXPAND: {
			uint32_t line = ((b->skip & 7) + blt_pixels(b) + 7) / 8;
			expand_line(b, d + (b->skip & 7) * cirrus_blt_bpp(b),
				    vram + b->src + (uint64_t)y * line);
			break;
		}
		case BLT_PATTERN:
		case BLT_PATTERN_EXPAND:
			pattern_line(b, d + (b->skip & 7) * cirrus_blt_bpp(b), pat, y,
				     kind == BLT_PATTERN_EXPAND);
			break;
		case BLT_FILL:
			fill_line(b, d);
			break;
		}
	}
	*lo = (uint32_t)dlo;
	*hi = (uint32_t)dhi;
	return 0;
}

int cirrus_blt_sys_check(uint32_t vram_size, const struct cirrus_blt *b, uint32_t *line_bytes,
			 const char **why)
{
	enum blt_kind kind = blt_kind(b);
	unsigned bpp = cirrus_blt_bpp(b);
	uint32_t n = 0;

	if (kind == BLT_FILL || !(b->mode & CIRRUS_BLT_SYS_SRC) || (b->mode & CIRRUS_BLT_SYS_DEST))
		return refuse(why, "not a system-to-video BLT");
	if (kind == BLT_COPY && (b->mode & CIRRUS_BLT_BACKWARDS))
		return refuse(why, "backward system-to-video BLT");
	if (kind == BLT_COPY && (b->mode & CIRRUS_BLT_TRANSPARENT) && bpp > 2)
		return refuse(why, "transparency needs 8 or 16 bits per pixel");
	if (!cirrus_blt_fits(vram_size, b->dst, b->dst_pitch, b->width, b->height, false))
		return refuse(why, "destination outside video memory");
	switch (kind) {
	case BLT_COPY:
		n = (b->width + 3) & ~3u; /* whole dwords */
		break;
	case BLT_EXPAND: {
		uint32_t bits = b->width / bpp;
		n = (b->modeext & CIRRUS_BLTX_DWORD_ALIGN) ? (bits + 31) / 32 * 4 : (bits + 7) / 8;
		break;
	}
	case BLT_PATTERN:
	case BLT_PATTERN_EXPAND:
		n = pattern_bytes(b, kind == BLT_PATTERN_EXPAND);
		break;
	case BLT_FILL:
		break;
	}
	if (n == 0 || n > CIRRUS_BLT_LINE_MAX)
		return refuse(why, "source line empty or longer than the buffer");
	*line_bytes = n;
	return 0;
}

void cirrus_blt_sys_line(uint8_t *vram, uint32_t vram_size, const struct cirrus_blt *b,
			 uint32_t y, const uint8_t *src)
{
	enum blt_kind kind = blt_kind(b);
	unsigned skip_bytes = (b->skip & 7) * cirrus_blt_bpp(b);

	/* the caller checked the whole destination with cirrus_blt_sys_check;
	 * a line past the height is a caller's bug, not a guest's */
	if (y >= b->height || !cirrus_blt_fits(vram_size, b->dst, b->dst_pitch, b->width,
						b->height, false))
		return;
	switch (kind) {
	case BLT_COPY:
		copy_line(b, vram + b->dst + (uint64_t)y * b->dst_pitch, src, false);
		break;
	case BLT_EXPAND:
		expand_line(b, vram + b->dst + (uint64_t)y * b->dst_pitch + skip_bytes, src);
		break;
	case BLT_PATTERN:
	case BLT_PATTERN_EXPAND:
		for (uint32_t line = 0; line < b->height; line++)
			pattern_line(b, vram + b->dst + (uint64_t)line * b->dst_pitch + skip_bytes,
				     src, line, kind == BLT_PATTERN_EXPAND);
		break;
	case BLT_FILL:
		break;
	}
}
