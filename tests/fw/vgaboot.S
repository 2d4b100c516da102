/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector for the display tests (tests/fw/test_display.py), loaded
 * by SeaBIOS at 0x7C00 with the VGA BIOS in place. Each VGA_TEST draws a
 * known picture, prints VMM-VGA-READY on COM1 and halts, so the test can
 * take screendumps of a still screen:
 *   VGA_TEST 1: text mode 3, a banner through int 10h AH=0Eh (teletype)
 *               and ten 'X' in yellow on blue through AH=09h.
 *   VGA_TEST 2: mode 13h through int 10h; the DAC programmed with entry
 *               i = (i & 63, (i >> 2) & 63, 63 - (i & 63)); pixel (x, y)
 *               = (x + 2 * y) & 255, written through the 0xA0000 window.
 *   VGA_TEST 3: VBE mode 0x111 (640x480, 16 bpp) with its linear
 *               framebuffer (int 10h AX=4F02h, BX=0x4111); mode info from
 *               AX=4F01h gives the LFB address; pixel i (row-major) =
 *               (i * 37) & 0xFFFF, written in 32-bit protected mode.
 *   VGA_TEST 4: the same in VBE mode 0x142 (640x480, 32 bpp), pixel i =
 *               (i * 0x010203) & 0xFFFFFF.
 *   VGA_TEST 5: mode 12h (640x480, 16 colours, planar) through int 10h;
 *               a 64x48 block at (100, 50) of pixels of colour (x + y) & 15
 *               drawn by the BIOS (AH=0Ch: its planar write path).
 *   VGA_TEST 6: mode 1 (40x25 text, 18-dot-wide cells) and the banner.
 *   VGA_TEST 7: the banner of test 1, VMM-VGA-READY, then a keyboard echo
 *               for the front-end tests (test_vnc.py, test_sdl.py): each
 *               key read with int 16h AH=00h goes to COM1 as "KEY=cc:ss\n"
 *               (ASCII and scan code, hex) and onto the screen (AH=0Eh);
 *               Tab prints the banner 100 times (the screen scrolls), then
 *               VMM-SCROLLED on COM1.
 *   VGA_TEST 8: the Cirrus CL-GD5446 (-vga cirrus): VBE mode 0x111
 *               (640x480, 16 bpp) banked, then BitBLTs programmed through
 *               GR20-GR33: a solid fill of the screen (blue), a red
 *               200x100 fill at (20, 20), its copy XORed onto (300, 40),
 *               that block copied by (10, 10) with a backward overlapping
 *               copy, a 32x8 glyph expanded from the CPU (through the
 *               window) at (400, 300) opaque green on white and at (400,
 *               320) transparent yellow, a 64x64 fill with an 8x8
 *               monochrome pattern at (100, 300); then a 32x32 hardware
 *               cursor at (500, 400) with hidden-palette colours.
 *   VGA_TEST 9: coalesced MMIO (tests/fw/test_vga_coalesced.py): text mode
 *               3, the cursor hidden, then the screen filled 8 times with
 *               byte stores to 0xB8000 (32,000 stores; fill p, cell i:
 *               character 'A' + (i + p) % 26, attribute 0x1E, yellow on
 *               blue), VMM-VGA-READY on COM1; then at the next BIOS tick
 *               one more fill with attribute 0x2F (white on green) and
 *               character 'a' + i % 26, after which the guest halts with
 *               interrupts off: no exit follows the last stores, so only a
 *               drain at the screendump can show them.
 * Tests 3 and 4 print "VMM-VBE bpp=NN pitch=NNNN" first (from the mode
 * info), or VMM-VBE-FAIL if the BIOS refused the mode.
 */
#ifndef VGA_TEST
#define VGA_TEST 1
#endif
#define COM1 0x3F8
#define MODEINFO 0x6000

	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x7C00, %sp
	sti
#if VGA_TEST == 1 || VGA_TEST == 6 || VGA_TEST == 7
#if VGA_TEST == 6
	movw $0x0001, %ax
	int $0x10
#endif
	movw $banner, %si
1:	lodsb
	testb %al, %al
	jz 2f
	movb $0x0E, %ah
	movw $0x0007, %bx
	int $0x10
	jmp 1b
2:	movw $0x0958, %ax          /* AH=09h: write 'X' ... */
	movw $0x001E, %bx          /* ... page 0, yellow on blue */
	movw $10, %cx
	int $0x10
#if VGA_TEST == 7
	movw $ready_msg, %si
	call print16
key_loop:
	xorb %ah, %ah              /* AH=00h: wait for a key */
	int $0x16
	pushw %ax
	movw $key_msg, %si
	call print16
	popw %ax
	pushw %ax
	call printhex16            /* ASCII */
	movb $':', %al
	movw $COM1, %dx
	outb %al, %dx
	popw %ax
	pushw %ax
	movb %ah, %al
	call printhex16            /* scan code */
	movw $nl, %si
	call print16
	popw %ax
	cmpb $0x09, %al            /* Tab: scroll the screen (the VNC figures) */
	je scroll
	cmpb $0x20, %al            /* printable: onto the screen too */
	jb key_loop
	movb $0x0E, %ah
	movw $0x0007, %bx
	int $0x10
	jmp key_loop
scroll:                            /* the banner 100 times, then a note */
	movw $100, %cx
1:	pushw %cx
	movw $banner, %si
2:	lodsb
	testb %al, %al
	jz 3f
	movb $0x0E, %ah
	movw $0x0007, %bx
	int $0x10
	jmp 2b
3:	popw %cx
	loop 1b
	movw $scrolled_msg, %si
	call print16
	jmp key_loop
#endif
	jmp ready16
#elif VGA_TEST == 9
	movw $0x0003, %ax
	int $0x10
	movw $0x0100, %ax          /* cursor shape: hidden (CH bit 5) */
	movw $0x2000, %cx
	int $0x10
	movw $0xB800, %ax
	movw %ax, %es
	xorw %bp, %bp              /* the fill */
1:	xorw %di, %di
	xorw %si, %si              /* the cell */
2:	movw %si, %ax
	addw %bp, %ax
	xorw %dx, %dx
	movw $26, %bx
	divw %bx
	addb $'A', %dl
	movb %dl, %es:(%di)
	movb $0x1E, %es:1(%di)
	addw $2, %di
	incw %si
	cmpw $2000, %si
	jne 2b
	incw %bp
	cmpw $8, %bp
	jne 1b
	movw $ready_msg, %si
	call print16
	xorw %ax, %ax
	movw %ax, %ds
	movw 0x046C, %cx           /* the BIOS tick count */
3:	sti
	hlt
	cmpw 0x046C, %cx
	je 3b
	cli
	xorw %di, %di
	xorw %si, %si
4:	movw %si, %ax
	xorw %dx, %dx
	movw $26, %bx
	divw %bx
	addb $'a', %dl
	movb %dl, %es:(%di)
	movb $0x2F, %es:1(%di)
	addw $2, %di
	incw %si
	cmpw $2000, %si
	jne 4b
	jmp halt16
#elif VGA_TEST == 2
	movw $0x0013, %ax
	int $0x10
	/* the DAC: entry i = (i & 63, (i >> 2) & 63, 63 - (i & 63)) */
	movw $0x3C8, %dx
	xorb %al, %al
	outb %al, %dx
	incw %dx
	xorw %cx, %cx
3:	movb %cl, %al
	andb $63, %al
	outb %al, %dx
	movb %cl, %al
	shrb $2, %al
	andb $63, %al
	outb %al, %dx
	movb %cl, %al
	andb $63, %al
	notb %al
	andb $63, %al
	outb %al, %dx
	incw %cx
	cmpw $256, %cx
	jne 3b
	/* pixel (x, y) = (x + 2y) & 255 */
	movw $0xA000, %ax
	movw %ax, %es
	xorw %di, %di
	xorw %bx, %bx              /* y */
4:	xorw %cx, %cx              /* x */
5:	movw %bx, %ax
	shlw $1, %ax
	addw %cx, %ax
	stosb
	incw %cx
	cmpw $320, %cx
	jne 5b
	incw %bx
	cmpw $200, %bx
	jne 4b
	jmp ready16
#elif VGA_TEST == 5
	movw $0x0012, %ax
	int $0x10
	movw $50, %dx              /* y */
6:	movw $100, %cx             /* x */
7:	movw %cx, %ax
	addw %dx, %ax
	andb $15, %al
	movb $0x0C, %ah
	xorb %bh, %bh
	pushw %cx
	pushw %dx
	int $0x10
	popw %dx
	popw %cx
	incw %cx
	cmpw $164, %cx
	jne 7b
	incw %dx
	cmpw $98, %dx
	jne 6b
	jmp ready16
#elif VGA_TEST == 8
	cld
	movw $0x4F02, %ax
	movw $0x0111, %bx          /* banked: 16 KiB bank granularity */
	int $0x10
	movw $0xA000, %ax
	movw %ax, %es
	movw $0x3CE, %dx
	/* the monochrome pattern at 0x200000 (bank 128) */
	movw $0x8009, %ax
	outw %ax, %dx
	movw $pattern, %si
	xorw %di, %di
	movw $8, %cx
	rep movsb
	/* the cursor's rows 0-7 at 0x3FC000 (bank 255): plane 0 FF FF 00 00,
	 * plane 1 (128 bytes on) FF 00 FF 00 */
	movw $0xFF09, %ax
	outw %ax, %dx
	xorw %di, %di
	movw $8, %cx
6:	movl $0x0000FFFF, %es:(%di)
	movl $0x00FF00FF, %es:128(%di)
	addw $4, %di
	loop 6b
	movw $0x0009, %ax
	outw %ax, %dx
	movw $blts, %si
	call gr_list               /* screen fill */
	call gr_list               /* red block */
	call gr_list               /* XOR copy */
	call gr_list               /* backward move */
	call gr_list               /* opaque expansion from the CPU */
	call feed
	call gr_list               /* transparent expansion */
	call feed
	call gr_list               /* pattern */
	/* the cursor: hidden palette 0 magenta, 15 cyan; at (500, 400) */
	movw $0x3C4, %dx
	movw $0x0212, %ax
	outw %ax, %dx
	movw $0x3C8, %dx
	xorb %al, %al
	outb %al, %dx
	incw %dx
	movb $63, %al
	outb %al, %dx
	xorb %al, %al
	outb %al, %dx
	movb $63, %al
	outb %al, %dx
	decw %dx
	movb $15, %al
	outb %al, %dx
	incw %dx
	xorb %al, %al
	outb %al, %dx
	movb $63, %al
	outb %al, %dx
	outb %al, %dx
	movw $0x3C4, %dx
	movw $0x3E90, %ax          /* SR10 at index 0x90: x = 62 * 8 + 4 */
	outw %ax, %dx
	movw $0x3211, %ax          /* SR11: y = 50 * 8 */
	outw %ax, %dx
	movw $0x0013, %ax
	outw %ax, %dx
	movw $0x0112, %ax          /* shown, 32x32 */
	outw %ax, %dx
	jmp ready16

/* (index, value) words from SI to the graphics controller up to 0xFFFF,
 * then GR31 = 2: the BLT starts. */
gr_list:
	movw $0x3CE, %dx
1:	lodsw
	cmpb $0xFF, %al
	je 2f
	outw %ax, %dx
	jmp 1b
2:	movw $0x0231, %ax
	outw %ax, %dx
	ret

/* The glyph's 32 bytes to the window: a system-source BLT's source. */
feed:
	pushw %si
	movw $glyph, %si
	xorw %di, %di
	movw $32, %cx
	rep movsb
	popw %si
	ret

blts:
	/* 640x480 (1280 bytes x 480) solid fill, blue; pitches 1280, bg white */
	.word 0xFF20, 0x0421, 0xDF22, 0x0123, 0x0024, 0x0525, 0x0026, 0x0527
	.word 0x0028, 0x0029, 0x002A, 0x002C, 0x002D, 0x002E, 0x002F
	.word 0xD030, 0x0D32, 0x0433, 0x1F01, 0x0011, 0xFF00, 0xFF10, 0xFFFF
	/* 200x100 red at (20, 20): 0x6428 */
	.word 0x8F20, 0x0121, 0x6322, 0x0023, 0x2828, 0x6429, 0x0001, 0xF811, 0xFFFF
	/* copied with S xor D to (300, 40): 0xCA58 */
	.word 0x0033, 0x1030, 0x5932, 0x282C, 0x642D, 0x5828, 0xCA29, 0xFFFF
	/* moved to (310, 50), backward: last bytes 0x2BAE7 -> 0x2ECFB */
	.word 0x1130, 0x0D32, 0xE72C, 0xBA2D, 0x022E, 0xFB28, 0xEC29, 0x022A, 0xFFFF
	/* 32x8 expansion from the CPU, green on white, at (400, 300): 0x5DF20 */
	.word 0x9430, 0x3F20, 0x0021, 0x0722, 0x2028, 0xDF29, 0x052A, 0xE001, 0x0711, 0xFFFF
	/* the same, transparent, yellow, at (400, 320): 0x64320 */
	.word 0x9C30, 0x2028, 0x4329, 0x062A, 0xE001, 0xFF11, 0xFFFF
	/* 64x64 of the pattern at 0x200000, yellow on black, at (100, 300): 0x5DCC8 */
	.word 0xD030, 0x7F20, 0x0021, 0x3F22, 0xC828, 0xDC29, 0x052A, 0x002C, 0x002D
	.word 0x202E, 0x0000, 0x0010, 0xFFFF
glyph:
	.byte 0xFF, 0x00, 0xFF, 0x00, 0x81, 0x42, 0x24, 0x18, 0xF0, 0xF0, 0x0F, 0x0F
	.byte 0xAA, 0x55, 0xAA, 0x55, 0x00, 0xFF, 0x00, 0xFF, 0x18, 0x24, 0x42, 0x81
	.byte 0x0F, 0x0F, 0xF0, 0xF0, 0x55, 0xAA, 0x55, 0xAA
pattern:
	.byte 0x81, 0x42, 0x24, 0x18, 0x18, 0x24, 0x42, 0x81
#else
#if VGA_TEST == 3
#define VBE_MODE 0x111
#else
#define VBE_MODE 0x142
#endif
	movw $0x4F01, %ax
	movw $VBE_MODE, %cx
	movw $MODEINFO, %di
	int $0x10
	cmpw $0x004F, %ax
	jne vbe_fail
	movw $0x4F02, %ax
	movw $(0x4000 | VBE_MODE), %bx
	int $0x10
	cmpw $0x004F, %ax
	jne vbe_fail
	movw $vbe_msg, %si
	call print16
	movzbw MODEINFO + 0x19, %ax   /* BitsPerPixel */
	call printdec16
	movw $pitch_msg, %si
	call print16
	movw MODEINFO + 0x10, %ax     /* BytesPerScanLine */
	call printdec16
	movw $nl, %si
	call print16
	/* flat 32-bit protected mode for the LFB above 1 MiB */
	cli
	lgdt gdt_desc
	movl %cr0, %eax
	orb $1, %al
	movl %eax, %cr0
	ljmpl $0x08, $pm32
vbe_fail:
	movw $fail_msg, %si
	call print16
	jmp halt16
#endif

ready16:
	movw $ready_msg, %si
	call print16
halt16:
	cli
	hlt
	jmp halt16

/* COM1 output of the NUL-terminated string at SI. */
print16:
	lodsb
	testb %al, %al
	jz 2f
	movw $COM1, %dx
	outb %al, %dx
	jmp print16
2:	ret

#if VGA_TEST == 3 || VGA_TEST == 4
/* AX in decimal on COM1. */
printdec16:
	movw $10, %bx
	xorw %cx, %cx
1:	xorw %dx, %dx
	divw %bx
	pushw %dx
	incw %cx
	testw %ax, %ax
	jnz 1b
2:	popw %ax
	addb $'0', %al
	movw $COM1, %dx
	outb %al, %dx
	loop 2b
	ret
#endif

#if VGA_TEST == 7
/* AL as two hex digits on COM1. */
printhex16:
	pushw %ax
	shrb $4, %al
	call 1f
	popw %ax
	andb $0x0F, %al
1:	addb $'0', %al
	cmpb $'9', %al
	jbe 2f
	addb $7, %al
2:	movw $COM1, %dx
	outb %al, %dx
	ret
#endif

#if VGA_TEST == 3 || VGA_TEST == 4
	.code32
pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl MODEINFO + 0x28, %edi    /* PhysBasePtr */
	movl $(640 * 480), %ecx
	xorl %ebx, %ebx               /* the pixel value */
1:
#if VGA_TEST == 3
	movw %bx, (%edi)
	addl $2, %edi
	addl $37, %ebx
#else
	movl %ebx, %eax
	andl $0xFFFFFF, %eax
	movl %eax, (%edi)
	addl $4, %edi
	addl $0x010203, %ebx
#endif
	loop 1b
	movl $ready_msg, %esi
	movw $COM1, %dx
2:	lodsb
	testb %al, %al
	jz 3f
	outb %al, %dx
	jmp 2b
3:	cli
	hlt
	jmp 3b

	.p2align 3
gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF      /* 0x08: flat code, 32-bit */
	.quad 0x00CF92000000FFFF      /* 0x10: flat data */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt
#endif

#if VGA_TEST == 1 || VGA_TEST == 6 || VGA_TEST == 7
banner:
	.asciz "VMM-VGA banner: Hello from the boot sector 0123456789\r\n"
#endif
ready_msg:
	.asciz "VMM-VGA-READY\n"
#if VGA_TEST == 3 || VGA_TEST == 4
vbe_msg:
	.asciz "VMM-VBE bpp="
pitch_msg:
	.asciz " pitch="
fail_msg:
	.asciz "VMM-VBE-FAIL\n"
#endif
#if VGA_TEST == 3 || VGA_TEST == 4 || VGA_TEST == 7
nl:
	.asciz "\n"
#endif
#if VGA_TEST == 7
key_msg:
	.asciz "KEY="
scrolled_msg:
	.asciz "VMM-SCROLLED\n"
#endif

	.org 510
	.word 0xAA55
