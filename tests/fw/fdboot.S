/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A floppy boot sector for tests/fw/test_floppy.py. SeaBIOS loads it from
 * drive A: (-fda IMG -boot a) through the floppy controller; it then reads
 * further sectors of the 1.44M image through int 13h, which SeaBIOS
 * carries out with the controller's READ DATA over ISA DMA channel 2:
 *
 *   VMM-FD-BOOT drive=00
 *   VMM-FD-PARAMS t=04 c=4F s=12 h=01   (int 13h AH=08h: type, last cylinder,
 *                                        sectors, last head)
 *   VMM-FD-READ st=00 first=0001 last=0011           (C0 H0 S2, 17 sectors)
 *   VMM-FD-READ st=00 first=0012 last=0023           (C0 H1 S1, 18 sectors)
 *   VMM-FD-READ st=00 first=0024 last=0035           (C1 H0 S1, 18: a seek)
 *   VMM-FD-READ st=00 first=0B3F last=0B3F           (C79 H1 S18: the last one)
 *   VMM-FD-WRITE st=00                               (C2 H0 S1 = LBA 72)
 *   VMM-FD-READ st=00 first=BEEF last=BEEF           (the same sector back)
 *   VMM-FD-DONE
 *
 * Each int 13h call is tried up to three times, with a reset (AH=00h)
 * between, as floppy boot sectors do: SeaBIOS gives each controller
 * command 2 s of timer ticks, which a backlog of ticks KVM's PIT
 * reinjects after a stall of the (slow, nested) vCPU can use up before
 * the floppy's lower-priority interrupt is taken.
 *
 * The test's image holds in the first word of every sector (but this
 * one) its LBA; "first" and "last" are the words of the first and last
 * sector read. The write puts 0xBEEF in the first word of LBA 72 (st=03
 * and the old word, 0048, read back on a read-only drive). Then it exits through
 * isa-debug-exit (0xF4, value 0x10: vmm status 33).
 */
#define COM1 0x3F8
#define BUF 0x8000

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
	ljmp $0, $1f
1:	sti
	movb %dl, boot_drive
	movw $msg_boot, %si
	call puts
	movb boot_drive, %al
	call puthex
	call newline

	/* AH=08h: drive type (BL), max cylinder (CH), sectors (CL), max head (DH) */
	movb $0x08, %ah
	movb boot_drive, %dl
	pushw %es
	int $0x13
	popw %es
	pushw %dx
	pushw %cx
	movw $msg_type, %si
	call puts
	movb %bl, %al
	call puthex
	movw $msg_cyl, %si
	call puts
	popw %cx
	pushw %cx
	movb %ch, %al
	call puthex
	movw $msg_sec, %si
	call puts
	popw %cx
	movb %cl, %al
	andb $0x3F, %al
	call puthex
	movw $msg_head, %si
	call puts
	popw %dx
	movb %dh, %al
	call puthex
	call newline

	/* reads: AL count, CH cylinder, CL sector, DH head */
	movw $0x0211, %ax
	movw $0x0002, %cx
	movb $0, %dh
	call read_print
	movw $0x0212, %ax
	movw $0x0001, %cx
	movb $1, %dh
	call read_print
	movw $0x0212, %ax
	movw $0x0101, %cx
	movb $0, %dh
	call read_print
	movw $0x0201, %ax
	movw $0x4F12, %cx
	movb $1, %dh
	call read_print

	/* write LBA 72 (C2 H0 S1) with 0xBEEF first, then read it back */
	movw $BUF, %di
	movw $256, %cx
	movw $0xBEEF, %ax
	rep stosw
	movw $0x0301, %ax
	movw $0x0201, %cx
	movb $0, %dh
	movb boot_drive, %dl
	movw $BUF, %bx
	call int13_retry
	movb %ah, status
	movw $msg_write, %si
	call puts
	movb status, %al
	call puthex
	call newline
	movw $0x0201, %ax
	movw $0x0201, %cx
	movb $0, %dh
	call read_print

	movw $msg_done, %si
	call puts
	movw $0xF4, %dx
	movb $0x10, %al
	outb %al, %dx
	cli
2:	hlt
	jmp 2b

/* int 13h AH=02h with AX, CX, DH as given, into BUF; prints the status
 * and the LBA words of the first and last sector. */
read_print:
	movb %al, count
	movb boot_drive, %dl
	movw $BUF, %bx
	movw $0xFFFF, BUF
	call int13_retry
	movb %ah, status
	movw $msg_read, %si
	call puts
	movb status, %al
	call puthex
	movw $msg_first, %si
	call puts
	movw BUF, %ax
	call puthex16
	movw $msg_last, %si
	call puts
	movzbw count, %bx
	decw %bx
	shlw $9, %bx
	movw BUF(%bx), %ax
	call puthex16
	call newline
	ret

/* int 13h with AX, BX, CX, DX as given, up to three times: after a
 * failure other than write protect (03h), a reset (AH=00h) and again.
 * Returns the last call's AH. */
int13_retry:
	movb $3, tries
5:	pushw %ax
	int $0x13
	jnc 6f
	cmpb $0x03, %ah
	je 6f
	decb tries
	jz 6f
	xorb %ah, %ah
	int $0x13
	popw %ax
	jmp 5b
6:	addw $2, %sp
	ret

puthex16:
	pushw %ax
	movb %ah, %al
	call puthex
	popw %ax
puthex:
	pushw %ax
	shrb $4, %al
	call hexdigit
	popw %ax
	andb $0x0F, %al
hexdigit:
	addb $'0', %al
	cmpb $'9', %al
	jbe 4f
	addb $7, %al
4:	jmp putc

newline:
	movw $msg_nl, %si
puts:
	lodsb
	testb %al, %al
	jz 2f
	call putc
	jmp puts
2:	ret

putc:
	pushw %dx
	movb %al, %ah
	movw $COM1 + 5, %dx
3:	inb %dx, %al
	testb $0x20, %al
	jz 3b
	movw $COM1, %dx
	movb %ah, %al
	outb %al, %dx
	popw %dx
	ret

boot_drive:
	.byte 0
status:
	.byte 0
count:
	.byte 0
tries:
	.byte 0
msg_boot:
	.asciz "VMM-FD-BOOT drive="
msg_type:
	.asciz "VMM-FD-PARAMS t="
msg_cyl:
	.asciz " c="
msg_sec:
	.asciz " s="
msg_head:
	.asciz " h="
msg_read:
	.asciz "VMM-FD-READ st="
msg_first:
	.asciz " first="
msg_last:
	.asciz " last="
msg_write:
	.asciz "VMM-FD-WRITE st="
msg_done:
	.asciz "VMM-FD-DONE\r\n"
msg_nl:
	.asciz "\r\n"

	.org 510
	.byte 0x55, 0xAA
