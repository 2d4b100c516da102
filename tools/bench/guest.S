/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Benchmark guest: a 64 KiB -bios image. The CPU starts at F000:FFF0 (the
 * last 16 bytes of the image, seen at 0xFFFFFFF0 and 0xFFFF0) and jumps to
 * `start` at F000:0000. No stack and no RAM are used: it runs from ROM alone.
 *
 * LOOPS=0: the empty guest. It exits at once through isa-debug-exit.
 * LOOPS=N: it first writes N times to PIO_PORT, a port that no device claims
 * in vmm or QEMU -M pc (nor KVM's in-kernel PIC/PIT), so each write is one
 * port-I/O exit answered by the VMM's userspace. Then it writes the TSC
 * cycles the loop took as 16 hex digits and a newline to the debug console,
 * so the loop can be timed without the VMM's start-up and tear-down, on
 * port 0xE9: the isa-debugcon that -debugcon gives in vmm and in QEMU.
 *
 * Exit: EXIT_VALUE to port 0xF4 -> process status (0x10 << 1) | 1 = 33.
 */
#ifndef LOOPS
#define LOOPS 0
#endif
#ifndef PIO_PORT
#define PIO_PORT 0xE0
#endif
#define DEBUG_EXIT_PORT 0xF4
#define DEBUGCON_PORT 0xE9
#define EXIT_VALUE 0x10

	.code16
	.text
	.globl _start
_start:
start:
	cli
#if LOOPS
	rdtsc
	movl %eax, %esi			/* %edi:%esi = TSC at the start */
	movl %edx, %edi
	movl $LOOPS, %ecx
	xorb %al, %al
1:	outb %al, $PIO_PORT
	decl %ecx
	jnz 1b
	rdtsc
	subl %esi, %eax
	sbbl %edi, %edx
	movl %eax, %ebx			/* %esi:%ebx = cycles, printed MSB first */
	movl %edx, %esi
	movw $DEBUGCON_PORT, %dx
	movw $16, %cx
2:	movl %esi, %eax			/* top nibble -> hex digit */
	shrl $28, %eax
	addb $'0', %al
	cmpb $'9', %al
	jbe 3f
	addb $('a' - '0' - 10), %al
3:	outb %al, %dx
	shldl $4, %ebx, %esi
	shll $4, %ebx
	loop 2b
	movb $'\n', %al
	outb %al, %dx
#endif
	movb $EXIT_VALUE, %al
	outb %al, $DEBUG_EXIT_PORT
4:	hlt
	jmp 4b

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
