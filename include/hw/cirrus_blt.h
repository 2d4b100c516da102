/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The BitBLT engine of the Cirrus Logic CL-GD5446 (hw/display/cirrus_vga.c
 * decodes its registers, GR0-GR1, GR10-GR15 and GR20-GR39, or their MMIO
 * copies, into a struct cirrus_blt). It works on video memory only and
 * holds no state of its own, so its unit tests drive it directly.
 *
 * Every operation is refused, untouched, when a byte it would read or write
 * lies outside video memory: cirrus_blt_fits is the one bounds check, used
 * for the destination and for every kind of video-memory source.
 *
 * Facts from the CL-GD5446 technical reference (BitBLT engine): width is
 * in bytes, height in lines (both the register value + 1); pitches are
 * byte distances between lines; "backwards" (GR30 bit 0) starts both
 * addresses at the last byte and walks down; the raster operation (GR32)
 * is one of 16 codes; colour expansion turns source bits into the
 * foreground/background colours; a pattern is 8x8 pixels; the source may
 * come from the CPU (system-to-screen), a line at a time.
 */
#ifndef VMM_HW_CIRRUS_BLT_H
#define VMM_HW_CIRRUS_BLT_H

#include <stdbool.h>
#include <stdint.h>

/* GR30, the BLT mode. */
#define CIRRUS_BLT_BACKWARDS 0x01
#define CIRRUS_BLT_SYS_DEST 0x02     /* video to system memory (not supported) */
#define CIRRUS_BLT_SYS_SRC 0x04      /* the CPU writes the source */
#define CIRRUS_BLT_TRANSPARENT 0x08
#define CIRRUS_BLT_PIXEL_WIDTH 0x30  /* bytes per pixel - 1, << 4 */
#define CIRRUS_BLT_PATTERN 0x40
#define CIRRUS_BLT_EXPAND 0x80       /* colour expansion */

/* GR33, the BLT mode extensions. */
#define CIRRUS_BLTX_DWORD_ALIGN 0x01 /* system source lines start on dwords */
#define CIRRUS_BLTX_INVERT 0x02      /* colour expansion: 0 bits draw (background) */
#define CIRRUS_BLTX_SOLID_FILL 0x04

/* GR32: the 16 raster operations ("d" destination, "s" source). */
enum {
	CIRRUS_ROP_0 = 0x00,
	CIRRUS_ROP_S_AND_D = 0x05,
	CIRRUS_ROP_D = 0x06,           /* no operation */
	CIRRUS_ROP_S_AND_ND = 0x09,
	CIRRUS_ROP_ND = 0x0B,
	CIRRUS_ROP_S = 0x0D,           /* source copy */
	CIRRUS_ROP_1 = 0x0E,
	CIRRUS_ROP_NS_AND_D = 0x50,
	CIRRUS_ROP_S_XOR_D = 0x59,
	CIRRUS_ROP_S_OR_D = 0x6D,
	CIRRUS_ROP_NS_OR_ND = 0x90,
	CIRRUS_ROP_S_XNOR_D = 0x95,
	CIRRUS_ROP_S_OR_ND = 0xAD,
	CIRRUS_ROP_NS = 0xD0,
	CIRRUS_ROP_NS_OR_D = 0xD6,
	CIRRUS_ROP_NS_AND_ND = 0xDA,
};

/* The largest width (bytes) and height (lines) the registers can hold. */
#define CIRRUS_BLT_MAX_WIDTH 8192u
#define CIRRUS_BLT_MAX_HEIGHT 8192u
/* The largest system-source line (or pattern) the device buffers. */
#define CIRRUS_BLT_LINE_MAX CIRRUS_BLT_MAX_WIDTH

struct cirrus_blt {
	uint32_t width;          /* bytes per line, 1..CIRRUS_BLT_MAX_WIDTH */
	uint32_t height;         /* lines, 1..CIRRUS_BLT_MAX_HEIGHT */
	uint32_t dst_pitch, src_pitch; /* bytes between lines (magnitudes) */
	uint32_t dst, src;       /* video memory byte addresses */
	uint8_t mode;            /* GR30 */
	uint8_t modeext;         /* GR33 */
	uint8_t rop;             /* GR32 */
	uint8_t skip;            /* GR2F bits 0-2: pixels (bits) skipped at a line's start */
	uint32_t fg, bg;         /* colours, little-endian bytes of a pixel */
	uint16_t transparent;    /* GR34/GR35: the key colour (8 and 16 bpp) */
};

/* Does a side of a BLT stay inside video memory? 'height' lines of
 * 'width' bytes, line y starting at addr + y * pitch; a backward line ends
 * at its address instead of starting there. A pitch may be negative or 0;
 * a zero or oversized width or height does not fit. */
bool cirrus_blt_fits(uint32_t vram_size, uint32_t addr, int64_t pitch, uint32_t width,
		     uint32_t height, bool backward);

/* Bytes per pixel (1-4) from the mode. */
unsigned cirrus_blt_bpp(const struct cirrus_blt *b);
/* A solid fill (GR33 bit 2 with pattern and colour expansion): it has no
 * source, from the CPU or otherwise. */
bool cirrus_blt_is_fill(const struct cirrus_blt *b);
/* The source lines the CPU sends for a system-to-screen BLT: its height,
 * or 1 for a pattern (sent once). */
uint32_t cirrus_blt_sys_lines(const struct cirrus_blt *b);

/* Runs a BLT whose source is video memory (or that has none: a solid
 * fill). 0, or -1 with 'why' (a static string) when refused, video memory
 * untouched. On success [*lo, *hi] is the range of bytes written to. */
int cirrus_blt_run(uint8_t *vram, uint32_t vram_size, const struct cirrus_blt *b,
		   const char **why, uint32_t *lo, uint32_t *hi);

/* System to screen. cirrus_blt_sys_check validates the destination once
 * for the whole BLT and gives the bytes the CPU sends for each line (for a
 * pattern: the whole pattern, sent once); then cirrus_blt_sys_line draws
 * source line 'y' (its bytes in 'src') at its destination line, or, for a
 * pattern, every line. */
int cirrus_blt_sys_check(uint32_t vram_size, const struct cirrus_blt *b, uint32_t *line_bytes,
			 const char **why);
void cirrus_blt_sys_line(uint8_t *vram, uint32_t vram_size, const struct cirrus_blt *b,
			 uint32_t y, const uint8_t *src);

#endif
