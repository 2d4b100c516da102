/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the debug console tests: from the reset vector
 * it writes "E9\n" to port 0xE9 (QEMU's -debugcon), "402\n" to port 0x402
 * (SeaBIOS's log port), then reads port 0xE9 and port 0x402 and writes what
 * it read to port 0xE9 as two hex digits each ("e9" per isa-debugcon,
 * "ff" for a port nobody claims), and exits through isa-debug-exit at 0xF4
 * with 0x10 (status 33). No RAM, no stack.
 */
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10

	.code16
	.text
	.globl _start
_start:
start:
	cli
	movw $0xE9, %dx
	movb $'E', %al
	outb %al, %dx
	movb $'9', %al
	outb %al, %dx
	movb $'\n', %al
	outb %al, %dx
	movw $0x402, %dx
	movb $'4', %al
	outb %al, %dx
	movb $'0', %al
	outb %al, %dx
	movb $'2', %al
	outb %al, %dx
	movb $'\n', %al
	outb %al, %dx
	/* readbacks: %bl from 0xE9, %bh from 0x402 */
	movw $0xE9, %dx
	inb %dx, %al
	movb %al, %bl
	movw $0x402, %dx
	inb %dx, %al
	movb %al, %bh
	movw $0xE9, %dx
	movb %bl, %cl
	shrb $4, %cl		/* high nibble of %bl */
	movb %bl, %ch
	andb $0x0F, %ch		/* low nibble */
	movb %cl, %al
1:	addb $'0', %al
	cmpb $'9', %al
	jbe 2f
	addb $('a' - '0' - 10), %al
2:	outb %al, %dx
	movb %ch, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 3f
	addb $('a' - '0' - 10), %al
3:	outb %al, %dx
	movb $' ', %al
	outb %al, %dx
	movb %bh, %cl
	shrb $4, %cl
	movb %bh, %ch
	andb $0x0F, %ch
	movb %cl, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 4f
	addb $('a' - '0' - 10), %al
4:	outb %al, %dx
	movb %ch, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 5f
	addb $('a' - '0' - 10), %al
5:	outb %al, %dx
	movb $'\n', %al
	outb %al, %dx
	movb $EXIT_VALUE, %al
	outb %al, $DEBUG_EXIT_PORT
6:	hlt
	jmp 6b

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
