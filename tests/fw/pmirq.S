/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector that asks whether this host's /dev/kvm can run 32-bit
 * protected-mode code that takes interrupts, which iPXE (the NICs' option
 * ROMs) does from its first idle loop. It enters flat 32-bit protected
 * mode with an IDT whose vector 8 (IRQ 0 under SeaBIOS's PIC set-up)
 * counts the PIT's ticks and returns with IRET, waits in STI/HLT for 3
 * ticks, prints VMM-PMIRQ-OK on port 0x402 and exits through
 * isa-debug-exit (0xF4, 0x10: status 33).
 *
 * On a host with hardware virtualization this takes one tick time. On the
 * project's software-nested kvm_pvm the first IRET stops the vCPU ("KVM
 * internal error", kvm-pvm logs "INTERNAL_ERROR in batch emul" at the
 * IRET): its instruction emulator returns only from real-mode interrupts.
 * QEMU on the same host stops the same way, at the same instruction.
 */
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10
#define DEBUGCON 0x402
#define IDT 0x8000		/* 256 gates, zeroed here */

	.code16
	.text
	.globl _start
_start:
	cli
	ljmp $0, $start
start:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x7000, %sp
	movw $IDT, %di		/* an empty IDT, then gate 8 */
	movw $(256 * 4), %cx
	cld
	rep stosw
	movw $isr, (IDT + 8 * 8)
	movw $0x08, (IDT + 8 * 8 + 2)
	movw $0x8E00, (IDT + 8 * 8 + 4)	/* present, 32-bit interrupt gate */
	movw $0, (IDT + 8 * 8 + 6)
	lgdtl gdtr
	lidtl idtr
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $pm32

	.code32
pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $0x7000, %esp
	sti
1:	hlt
	cmpl $3, ticks
	jb 1b
	cli
	movl $message, %esi
	movw $DEBUGCON, %dx
2:	lodsb
	testb %al, %al
	jz 3f
	outb %al, %dx
	jmp 2b
3:	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
4:	hlt
	jmp 4b

isr:
	pushl %eax
	incl ticks
	movb $0x20, %al		/* EOI to the master PIC */
	outb %al, $0x20
	popl %eax
	iret

	.align 8
gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08: flat 32-bit code */
	.quad 0x00CF92000000FFFF	/* 0x10: flat data */
gdtr:
	.word 23
	.long gdt
idtr:
	.word 256 * 8 - 1
	.long IDT
ticks:
	.long 0
message:
	.asciz "VMM-PMIRQ-OK\n"

	.org 510
	.word 0xAA55
