/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the VM snapshot tests (tests/fw/test_savevm.py):
 * from the reset vector it prints "START" to COM1, then counts for ever,
 * keeping the count twice: in RAM (0x1000) and in the first dword of
 * sector 1 of the primary IDE master disk (PIO, LBA28, no interrupts).
 * Each round reads the sector back first and prints "BAD" if it does not
 * hold the count RAM holds; then it counts one on, writes the sector, and
 * prints the count as 8 hex digits and a newline.
 *
 * So after loadvm the guest goes on from the saved count without "BAD"
 * only if RAM and the disk both went back to the same point: RAM alone
 * (the disk left as it was) makes the next round print "BAD".
 */
#define COM1 0x3F8
#define IDE 0x1F0
#define IDE_CTL 0x3F6
#define COUNTER 0x1000
#define SECBUF 0x2000
#define DELAY 20000

	.code16
	.text
	.globl _start
_start:
start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x7000, %sp
	cld
	movw $msg_start, %si
	call puts
	/* nIEN: the disk raises no interrupt (none is set up) */
	movw $IDE_CTL, %dx
	movb $0x02, %al
	outb %al, %dx
	movl $0, COUNTER
	call write_count

round:
	call read_sector
	movl SECBUF, %eax
	cmpl COUNTER, %eax
	je 1f
	movw $msg_bad, %si
	call puts
1:	incl COUNTER
	call write_count
	movl COUNTER, %eax
	call put_hex
	movb $'\n', %al
	call putc
	movw $DELAY, %cx
2:	loop 2b
	jmp round

/* Waits until the drive is not busy; %al: its status. */
ide_idle:
	movw $IDE + 7, %dx
3:	inb %dx, %al
	testb $0x80, %al
	jnz 3b
	ret

/* Sector 1, one sector, command %bl; returns once DRQ is set (or the
 * drive reported an error: "BAD"). */
ide_command:
	call ide_idle
	movw $IDE + 6, %dx
	movb $0xE0, %al      /* LBA, master, LBA bits 24-27 zero */
	outb %al, %dx
	movw $IDE + 2, %dx
	movb $1, %al         /* one sector */
	outb %al, %dx
	incw %dx
	outb %al, %dx        /* LBA 0-7: 1 */
	incw %dx
	xorb %al, %al
	outb %al, %dx        /* LBA 8-15 */
	incw %dx
	outb %al, %dx        /* LBA 16-23 */
	movw $IDE + 7, %dx
	movb %bl, %al
	outb %al, %dx
	call ide_idle
	testb $0x01, %al
	jz 4f
	movw $msg_bad, %si
	call puts
4:	ret

read_sector:
	movb $0x20, %bl      /* READ SECTORS */
	call ide_command
	movw $IDE, %dx
	movw $SECBUF, %di
	movw $256, %cx
	rep insw
	ret

write_count:
	movl COUNTER, %eax
	movl %eax, SECBUF
	movb $0x30, %bl      /* WRITE SECTORS */
	call ide_command
	movw $IDE, %dx
	movw $SECBUF, %si
	movw $256, %cx
	rep outsw
	call ide_idle
	ret

/* %eax as 8 hex digits */
put_hex:
	pushl %eax
	movw $8, %bx
5:	roll $4, %eax
	pushl %eax
	andb $0x0F, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 6f
	addb $('a' - '0' - 10), %al
6:	call putc
	popl %eax
	decw %bx
	jnz 5b
	popl %eax
	ret

/* the string at %cs:%si, NUL-terminated */
puts:
	movb %cs:(%si), %al
	testb %al, %al
	jz 7f
	call putc
	incw %si
	jmp puts
7:	ret

/* %al to COM1 once its transmitter holding register is empty */
putc:
	pushw %dx
	pushw %ax
	movw $COM1 + 5, %dx
8:	inb %dx, %al
	testb $0x20, %al
	jz 8b
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
