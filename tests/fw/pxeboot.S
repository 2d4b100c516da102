/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A PXE network bootstrap program (NBP) for tests/fw/test_pxe.py: the
 * option ROM's iPXE fetches it over TFTP from libslirp (-netdev
 * user,tftp=DIR,bootfile=pxeboot.0), loads it at 0:7C00 and jumps there in
 * real mode, as a PXE ROM does. It prints VMM-PXE-NBP-OK on COM1 and exits
 * through isa-debug-exit (port 0xF4, value 0x10: vmm status 33). It ends
 * with the 55 AA signature, so the same image also boots as a disk's MBR:
 * the test checks the program itself that way, without the network.
 */
#define COM1 0x3F8
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10

	.code16
	.text
	.globl _start
_start:
	cli
	ljmp $0, $start		/* PXE enters at 0:7C00; a BIOS may use 07C0:0000 */
start:
	xorw %ax, %ax
	movw %ax, %ds
	movw $message, %si
	cld
1:	lodsb
	testb %al, %al
	jz 3f
	movb %al, %bl
	movw $(COM1 + 5), %dx	/* LSR: wait for THR empty */
2:	inb %dx, %al
	testb $0x20, %al
	jz 2b
	movw $COM1, %dx
	movb %bl, %al
	outb %al, %dx
	jmp 1b
3:	movw $(COM1 + 5), %dx	/* the last byte out of the shift register */
4:	inb %dx, %al
	testb $0x40, %al
	jz 4b
	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
5:	hlt
	jmp 5b

message:
	.asciz "VMM-PXE-NBP-OK\r\n"

	.org 510
	.word 0xAA55
