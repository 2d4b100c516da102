/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the removable media tests (tests/fw/test_media.py):
 * a guest that watches the CD drive on the secondary IDE master (ATAPI, PIO,
 * no interrupts) as an operating system's CD driver would, and says what it
 * sees on COM1, one line per change:
 *
 *   START            once
 *   LOCKED           it sent PREVENT MEDIUM REMOVAL (the tray is locked)
 *   EV n             GET EVENT STATUS NOTIFICATION reported media event n
 *                    (1 eject request, 2 new media, 3 media removal)
 *   UNLOCKED         after an eject request it allowed removal, as Linux does,
 *   EJECTED          and opened the tray itself (START STOP UNIT, LoEj), as a
 *                    desktop answers the drive's eject button
 *   SENSE kk aa qq   a command failed: REQUEST SENSE's key, ASC, ASCQ (hex);
 *                    printed when it differs from the last one printed
 *   DATA xxxxxxxx    the first 8 bytes of block 0 of the disc, when they
 *                    differ from the last ones printed
 *
 * Each round: GESN (media class, polled), TEST UNIT READY, and READ(10) of
 * block 0 when the drive is ready.
 */
#define COM1 0x3F8
#define IDE 0x170
#define IDE_CTL 0x376
#define BUF 0x2000       /* data in */
#define LAST_DATA 0x1000 /* 8 bytes: the DATA line printed last */
#define LAST_SENSE 0x1010 /* 3 bytes: the SENSE line printed last (0: none) */
#define DELAY 2000       /* port 0x80 writes between rounds */

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
	movl $0, LAST_DATA
	movl $0, LAST_DATA + 4
	movl $0, LAST_SENSE
	movw $msg_start, %si
	call puts
	movw $IDE_CTL, %dx   /* nIEN: no interrupt is set up */
	movb $0x02, %al
	outb %al, %dx
	movw $cdb_prevent, %si
	call atapi
	jc 1f
	movw $msg_locked, %si
	call puts
1:

round:
	/* GET EVENT STATUS NOTIFICATION, media class */
	movw $cdb_gesn, %si
	call atapi
	jc 2f
	movb BUF + 4, %al
	andb $0x0F, %al
	jz 2f
	pushw %ax
	movw $msg_ev, %si
	call puts
	popw %ax
	pushw %ax
	addb $'0', %al
	call putc
	movb $'\n', %al
	call putc
	popw %ax
	cmpb $1, %al          /* eject request: allow removal */
	jne 2f
	movw $cdb_allow, %si
	call atapi
	jc 2f
	movw $msg_unlocked, %si
	call puts
	movw $cdb_eject, %si
	call atapi
	jc 2f
	movw $msg_ejected, %si
	call puts
2:
	movw $cdb_tur, %si
	call atapi
	jc failed
	movw $cdb_read, %si
	call atapi
	jc failed
	movl $0, LAST_SENSE
	movl BUF, %eax
	cmpl LAST_DATA, %eax
	jne 3f
	movl BUF + 4, %eax
	cmpl LAST_DATA + 4, %eax
	je pause
3:	movl BUF, %eax
	movl %eax, LAST_DATA
	movl BUF + 4, %eax
	movl %eax, LAST_DATA + 4
	movw $msg_data, %si
	call puts
	movw $BUF, %bx
	movw $8, %cx
4:	movb (%bx), %al
	call putc
	incw %bx
	loop 4b
	movb $'\n', %al
	call putc
	jmp pause

failed:
	movw $cdb_sense, %si
	call atapi
	jc pause
	movb BUF + 2, %al
	andb $0x0F, %al
	movb BUF + 12, %ah
	movb BUF + 13, %bl
	cmpb LAST_SENSE, %al
	jne 5f
	cmpb LAST_SENSE + 1, %ah
	jne 5f
	cmpb LAST_SENSE + 2, %bl
	je pause
5:	movb %al, LAST_SENSE
	movb %ah, LAST_SENSE + 1
	movb %bl, LAST_SENSE + 2
	movl $0, LAST_DATA    /* the disc may change while not ready */
	movl $0, LAST_DATA + 4
	movw $msg_sense, %si
	call puts
	movb LAST_SENSE, %al
	call put_hex8
	movb $' ', %al
	call putc
	movb LAST_SENSE + 1, %al
	call put_hex8
	movb $' ', %al
	call putc
	movb LAST_SENSE + 2, %al
	call put_hex8
	movb $'\n', %al
	call putc

pause:
	movw $DELAY, %cx
6:	outb %al, $0x80
	loop 6b
	jmp round

/* Waits until the drive is not busy; %al: its status. */
ide_idle:
	movw $IDE + 7, %dx
7:	inb %dx, %al
	testb $0x80, %al
	jnz 7b
	ret

/* One PACKET command: the 12-byte CDB at %cs:%si, data in (at most 2 KiB)
 * to BUF. CF set if the drive reported an error. */
atapi:
	call ide_idle
	movw $IDE + 6, %dx
	movb $0xA0, %al      /* master */
	outb %al, %dx
	movw $IDE + 1, %dx
	xorb %al, %al        /* PIO */
	outb %al, %dx
	movw $IDE + 4, %dx   /* byte count limit 2048 */
	outb %al, %dx
	incw %dx
	movb $0x08, %al
	outb %al, %dx
	movw $IDE + 7, %dx
	movb $0xA0, %al      /* PACKET */
	outb %al, %dx
	call ide_idle
	testb $0x08, %al
	jz 9f
	pushw %ds
	pushw %cs
	popw %ds
	movw $IDE, %dx
	movw $6, %cx
	rep outsw
	popw %ds
	movw $BUF, %di
8:	call ide_idle
	testb $0x01, %al
	jnz 9f
	testb $0x08, %al
	jz 10f
	movw $IDE + 4, %dx   /* this block's byte count */
	inb %dx, %al
	movb %al, %cl
	incw %dx
	inb %dx, %al
	movb %al, %ch
	incw %cx
	shrw $1, %cx
	cmpw $1024, %cx      /* never past BUF's 2 KiB */
	jbe 11f
	movw $1024, %cx
11:	movw $IDE, %dx
	movw $BUF, %di
	rep insw
	jmp 8b
10:	clc
	ret
9:	stc
	ret

/* %al as 2 hex digits */
put_hex8:
	pushw %ax
	shrb $4, %al
	call put_nibble
	popw %ax
	pushw %ax
	call put_nibble
	popw %ax
	ret

put_nibble:
	andb $0x0F, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 12f
	addb $('a' - '0' - 10), %al
12:	call putc
	ret

/* the string at %cs:%si, NUL-terminated */
puts:
	movb %cs:(%si), %al
	testb %al, %al
	jz 13f
	call putc
	incw %si
	jmp puts
13:	ret

/* %al to COM1 once its transmitter holding register is empty */
putc:
	pushw %dx
	pushw %ax
	movw $COM1 + 5, %dx
14:	inb %dx, %al
	testb $0x20, %al
	jz 14b
	popw %ax
	movw $COM1, %dx
	outb %al, %dx
	popw %dx
	ret

	.balign 2
cdb_tur:
	.byte 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
cdb_sense:
	.byte 0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0
cdb_read:
	.byte 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
cdb_gesn:
	.byte 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0, 0, 0
cdb_prevent:
	.byte 0x1E, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0
cdb_allow:
	.byte 0x1E, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
cdb_eject:
	.byte 0x1B, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0

msg_start:
	.asciz "START\n"
msg_locked:
	.asciz "LOCKED\n"
msg_unlocked:
	.asciz "UNLOCKED\n"
msg_ejected:
	.asciz "EJECTED\n"
msg_ev:
	.asciz "EV "
msg_sense:
	.asciz "SENSE "
msg_data:
	.asciz "DATA "

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
