/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the CPU model tests: from the reset vector it
 * writes the 48-byte brand string of CPUID leaves 0x80000002-0x80000004
 * (what Linux shows as "model name") to port 0xE9, or nothing when the
 * highest extended leaf is below 0x80000004, then "\n", and exits through
 * isa-debug-exit at 0xF4 with 0x10 (status 33). No RAM, no stack.
 */
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10

/* The four bytes of \reg to port 0xE9 (in %dx), lowest first. */
.macro put_reg reg
	movl \reg, %ebp
	movw $4, %cx
1:	movl %ebp, %eax
	outb %al, %dx
	shrl $8, %ebp
	loop 1b
.endm

	.code16
	.text
	.globl _start
_start:
start:
	cli
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000004, %eax
	jb done
	movl $0x80000002, %esi
leaf:
	movl %esi, %eax
	xorl %ecx, %ecx
	cpuid
	movl %edx, %edi
	movl %ecx, %esp		/* no stack is used: %esp holds ECX */
	movw $0xE9, %dx
	put_reg %eax
	put_reg %ebx
	put_reg %esp
	put_reg %edi
	incl %esi
	cmpl $0x80000004, %esi
	jbe leaf
done:
	movw $0xE9, %dx
	movb $'\n', %al
	outb %al, %dx
	movb $EXIT_VALUE, %al
	outb %al, $DEBUG_EXIT_PORT
2:	hlt
	jmp 2b

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
