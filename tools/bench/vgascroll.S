/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The text-scrolling guest of `make bench` (tools/bench/bench.py,
 * docs/bench.md): a boot sector, loaded by SeaBIOS at 0x7C00 with the VGA
 * BIOS in place, that sets text mode 3 (80x25) through int 10h, hides the
 * cursor, prints VMM-VGA-READY on COM1 and then scrolls text at the pace
 * of the BIOS's timer tick (18.2 Hz, the in-kernel PIT under both VMMs):
 * at every tick one new line at the bottom, the rest moved up one row.
 * The screen is built in a RAM copy (0x10000, 4000 bytes: memmove up one
 * row, the new line into the last row) and then copied to the text window
 * at 0xB8000 with 1000 32-bit stores, as a console driver with a shadow
 * buffer does; the guest never reads video memory. Each scrolled line is
 * also one '.' on COM1, so the bench can count the lines per second and
 * check that both VMMs' guests did the same work.
 * Line n (from 1): the number in five digits, a space, then
 * 20 + (n * 37) % 55 characters 0x21 + (n + i) % 94, grey on black: lines
 * of varying length and content, like a log, so a scroll changes most of
 * the screen's cells.
 * If the guest falls behind (a scroll that takes longer than a tick) it
 * scrolls once for the ticks it missed: the '.'s then count fewer lines.
 */
#define COM1 0x3F8
#define SHADOW_SEG 0x1000
#define TEXT_SEG 0xB800
#define BDA_TICKS 0x046C       /* the BIOS's tick count (0040:006C) */
#define COLS 80
#define ROWS 25
#define ATTR 0x07

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
	cld
	movw $0x0003, %ax          /* text mode 3: 80x25, 16 colours */
	int $0x10
	movw $0x0100, %ax          /* cursor shape: hidden (CH bit 5) */
	movw $0x2000, %cx
	int $0x10
	/* blank shadow: 2000 cells of space on grey */
	movw $SHADOW_SEG, %ax
	movw %ax, %es
	xorw %di, %di
	movw $(ATTR << 8 | ' '), %ax
	movw $(COLS * ROWS), %cx
	rep stosw
	xorw %ax, %ax
	movw %ax, %es
	movw $ready_msg, %si
	call print16
	xorl %ebp, %ebp            /* line number */
	movw BDA_TICKS, %bx        /* the last tick seen */

wait_tick:
	sti
	hlt
	cmpw BDA_TICKS, %bx
	je wait_tick
	movw BDA_TICKS, %bx
	incl %ebp
	call scroll
	movw $COM1, %dx
	movb $'.', %al
	outb %al, %dx
	jmp wait_tick

/* One line: the shadow up one row, line EBP into its last row, the whole
 * shadow into the text window. DS and ES come back as 0. */
scroll:
	pushw %bx
	movw $SHADOW_SEG, %ax
	movw %ax, %ds
	movw %ax, %es
	movw $(COLS * 2), %si
	xorw %di, %di
	movw $(COLS * (ROWS - 1)), %cx
	rep movsw                  /* DI: the last row */
	call make_line
	xorw %si, %si
	xorw %di, %di
	movw $TEXT_SEG, %ax
	movw %ax, %es
	movw $(COLS * ROWS / 2), %cx
	rep movsl
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	popw %bx
	ret

/* Writes line EBP's 80 cells at ES:DI (the shadow's last row). */
make_line:
	/* five decimal digits, the last first */
	movl %ebp, %eax
	addw $8, %di
	movw $5, %cx
1:	xorl %edx, %edx
	movl $10, %esi
	divl %esi
	pushw %ax
	movb $(ATTR), %ah
	movb %dl, %al
	addb $'0', %al
	movw %ax, %es:(%di)
	popw %ax
	subw $2, %di
	loop 1b
	addw $12, %di              /* past the digits */
	movw $(ATTR << 8 | ' '), %ax
	stosw
	/* the length: 20 + (n * 37) % 55 */
	movl %ebp, %eax
	movl $37, %ecx
	mull %ecx
	xorl %edx, %edx
	movl $55, %ecx
	divl %ecx
	movw %dx, %cx
	addw $20, %cx              /* 20..74 characters after 6 cells */
	/* character i: 0x21 + (n + i) % 94 */
	movl %ebp, %eax
	xorl %edx, %edx
	movl $94, %esi
	divl %esi                  /* DX = n % 94 */
	movw %dx, %bx
	movw %cx, %si              /* characters to write */
2:	movb %bl, %al
	addb $0x21, %al
	movb $(ATTR), %ah
	stosw
	incw %bx
	cmpw $94, %bx
	jne 3f
	xorw %bx, %bx
3:	decw %si
	jnz 2b
	/* the rest of the row blank: 80 - 6 - CX cells */
	movw $(COLS - 6), %ax
	subw %cx, %ax
	movw %ax, %cx
	movw $(ATTR << 8 | ' '), %ax
	rep stosw
	ret

/* COM1 output of the NUL-terminated string at SI. */
print16:
	lodsb
	testb %al, %al
	jz 2f
	movw $COM1, %dx
	outb %al, %dx
	jmp print16
2:	ret

ready_msg:
	.asciz "VMM-VGA-READY\n"

	.org 510
	.word 0xAA55
