/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector for kvm-pit's lost_tick_policy (tests/fw/test_pit.py). With
 * interrupts off it waits until the RTC's seconds have changed three times
 * (2-3 s: 36-55 ticks of the PIT's 18.2 Hz that the vCPU cannot take), then
 * turns them on for 110 ms of PIT channel 2 time (two one-shot counts of
 * 0xFFFF, as SeaBIOS times its TSC calibration, read from port 0x61 bit 5)
 * and prints on COM1 how many ticks SeaBIOS's IRQ 0 handler counted in the
 * BIOS data area meanwhile: "VMM-TICKS hhhh". Policy "delay" delivers the
 * missed ticks one after another (dozens); "discard" drops them (about 2,
 * the window's own). Then it halts with interrupts off.
 */
#define COM1 0x3F8
#define BDA_TICKS 0x46C

	.code16
	.text
	.globl _start
_start:
	cli
	ljmp $0, $start
start:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $0x7000, %sp
	movw $3, %cx		/* three changes of the RTC's seconds */
	call rtc_seconds
	movb %al, %bl
1:	call rtc_seconds
	cmpb %al, %bl
	je 1b
	movb %al, %bl
	loop 1b
	movw BDA_TICKS, %si	/* interrupts are off: a stable read */
	sti
	call stopwatch
	call stopwatch
	cli
	movw BDA_TICKS, %ax
	subw %si, %ax
	pushw %ax
	movw $msg, %si
	call puts
	popw %ax
	call hex16
	movb $'\n', %al
	call putc
2:	hlt
	jmp 2b

/* %al = CMOS register 0 (seconds; SeaBIOS leaves the RTC in BCD) */
rtc_seconds:
	movb $0x00, %al
	outb %al, $0x70
	inb $0x71, %al
	ret

/* PIT channel 2, mode 0, count 0xFFFF (55 ms), gated by port 0x61 bit 0
 * with the speaker off; returns when its output (0x61 bit 5) goes high */
stopwatch:
	inb $0x61, %al
	andb $0xFC, %al
	outb %al, $0x61
	movb $0xB0, %al		/* channel 2, lobyte/hibyte, mode 0, binary */
	outb %al, $0x43
	movb $0xFF, %al
	outb %al, $0x42
	outb %al, $0x42
	inb $0x61, %al
	orb $0x01, %al
	outb %al, $0x61
1:	inb $0x61, %al
	testb $0x20, %al
	jz 1b
	ret

puts:
	lodsb
	testb %al, %al
	jz 1f
	call putc
	jmp puts
1:	ret

putc:
	pushw %dx
	movw $COM1, %dx
	outb %al, %dx
	popw %dx
	ret

/* %ax as four hex digits */
hex16:
	movw $4, %cx
1:	rolw $4, %ax
	pushw %ax
	andb $0x0F, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 2f
	addb $('a' - '0' - 10), %al
2:	call putc
	popw %ax
	loop 1b
	ret

msg:
	.asciz "VMM-TICKS "

	.org 510
	.word 0xAA55
