/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the migration tests (tests/fw/test_migration.py):
 * from the reset vector it prints "START" to COM1, then counts for ever.
 * The counter lives in RAM (0x1000), not in a register: each round it is
 * read from RAM, incremented, written back, and also stored in one of 64
 * slots 1 KiB apart from 0x20000 (slot = counter mod 64), so RAM pages
 * change all the time. Before that, the round checks that the slot of the
 * previous count holds it and prints "BAD" if not. Then it prints the
 * counter as 8 hex digits and a newline, and waits a while (a delay loop).
 * At the start it also fills 256 KiB from 0x30000 with a pattern (data
 * pages: the stream is larger than a pipe's buffer), and each round checks
 * one dword of it (also "BAD" if it changed).
 *
 * So a machine migrated mid-count goes on printing the next number on
 * the destination, without "START" (no restart) and without "BAD" (RAM
 * arrived whole).
 */
#define COM1 0x3F8
#define COUNTER 0x1000
#define SLOT_SEG 0x2000
#define DELAY 20000
#define FILL_SEG 0x3000
#define PATTERN 0x5AA5C33C

	.code16
	.text
	.globl _start
_start:
start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $0x7000, %sp
	movw $SLOT_SEG, %ax
	movw %ax, %es
	movw $msg_start, %si
	call puts
	/* the pattern: 4 x 64 KiB from 0x30000 */
	cld
	movw $FILL_SEG, %dx
fill:
	movw %dx, %es
	xorw %di, %di
	movl $PATTERN, %eax
	movw $0x4000, %cx
	rep stosl
	addw $0x1000, %dx
	cmpw $FILL_SEG + 0x4000, %dx
	jne fill
	movw $SLOT_SEG, %ax
	movw %ax, %es
	movl $0, COUNTER
	movl $0, %es:0

round:
	/* the previous count must still be in its slot */
	movl COUNTER, %eax
	call slot_offset
	cmpl %es:(%di), %eax
	je 1f
	movw $msg_bad, %si
	call puts
1:	/* one dword of the pattern, chosen by the count */
	pushw %es
	movw $FILL_SEG, %ax
	movw %ax, %es
	movl COUNTER, %eax
	call slot_offset
	cmpl $PATTERN, %es:(%di)
	popw %es
	je 7f
	movw $msg_bad, %si
	call puts
7:	movl COUNTER, %eax
	incl %eax
	movl %eax, COUNTER
	call slot_offset
	movl %eax, %es:(%di)
	call put_hex
	movb $'\n', %al
	call putc
	movw $DELAY, %cx
2:	loop 2b
	jmp round

/* %di = (%eax mod 64) * 1024 */
slot_offset:
	movw %ax, %di
	andw $63, %di
	shlw $10, %di
	ret

/* %eax as 8 hex digits */
put_hex:
	pushl %eax
	movw $8, %bx
3:	roll $4, %eax
	pushl %eax
	andb $0x0F, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 4f
	addb $('a' - '0' - 10), %al
4:	call putc
	popl %eax
	decw %bx
	jnz 3b
	popl %eax
	ret

/* the string at %cs:%si, NUL-terminated */
puts:
	movb %cs:(%si), %al
	testb %al, %al
	jz 5f
	call putc
	incw %si
	jmp puts
5:	ret

/* %al to COM1 once its transmitter holding register is empty */
putc:
	pushw %dx
	pushw %ax
	movw $COM1 + 5, %dx
6:	inb %dx, %al
	testb $0x20, %al
	jz 6b
	popw %ax
	movw $COM1, %dx
	outb %al, %dx
	popw %dx
	ret

msg_start:
	.asciz "START\n"
msg_bad:
	.asciz "BAD\n"

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
