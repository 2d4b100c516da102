/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector that plays the PC speaker as a DOS program would, timed by
 * the ACPI PM timer (3.579545 MHz, 24 bits, at PMBA+8 of the PIIX4's PM
 * function 00:01.3, where SeaBIOS put it; the BIOS tick count is no clock
 * on the project's software-nested KVM, see sb16play.S):
 *
 *   1. PIT channel 2, mode 3, count 1193 (1000.15 Hz); port 0x61 bits 0
 *      and 1 set; 500 ms
 *   2. bit 1 cleared, the gate left on: 300 ms of silence
 *   3. count 2712 (439.97 Hz); bits 0 and 1 set; 500 ms
 *   4. bits 0 and 1 cleared
 *
 * While each tone plays it reads port 0x61 and notes whether bit 5 (OUT2)
 * was seen high and low. At the end it prints "VMM-PCSPK done" on port
 * 0x402, then "VMM-PCSPK out2 ok" if OUT2 moved in both tones, and exits
 * through isa-debug-exit (0xF4, 0x10: status 33). "VMM-PCSPK start" is
 * printed before the first tone. Without the PM function (-no-acpi) it
 * prints "VMM-PCSPK no PM timer" and exits at once (the SeaBIOS
 * calibration test needs only the boot).
 */
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10
#define DEBUGCON 0x402
#define PM_PMBA_ADDR 0x80000B40 /* config address of 00:01.3 register 0x40 */
#define PIT_MODE 0x43
#define PIT_CH2 0x42
#define PORT_B 0x61
#define TONE_TICKS 1789772	/* 500 ms of the PM timer */
#define SILENCE_TICKS 1073864	/* 300 ms */

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
	cld
	movl $PM_PMBA_ADDR, %eax	/* the PM timer's port */
	movw $0xCF8, %dx
	outl %eax, %dx
	movw $0xCFC, %dx
	inl %dx, %eax
	cmpl $0xFFFFFFFF, %eax
	je no_pm			/* -no-acpi: no PM function */
	andw $0xFFC0, %ax
	addw $8, %ax
	movw %ax, pm_timer
	movw $started, %si
	call print

	movw $1193, %bx		/* 1: 1000 Hz */
	call set_tone
	inb $PORT_B, %al
	orb $0x03, %al
	outb %al, $PORT_B
	movb $0, seen
	movl $TONE_TICKS, %ecx
	call wait_pm
	movb seen, %al
	movb %al, seen_tone

	inb $PORT_B, %al	/* 2: the gate stays, the speaker is off */
	andb $0xFD, %al
	outb %al, $PORT_B
	movl $SILENCE_TICKS, %ecx
	call wait_pm

	movw $2712, %bx		/* 3: 440 Hz */
	call set_tone
	inb $PORT_B, %al
	orb $0x03, %al
	outb %al, $PORT_B
	movb $0, seen
	movl $TONE_TICKS, %ecx
	call wait_pm
	movb seen, %al
	movb %al, seen_tone + 1

	inb $PORT_B, %al	/* 4: off */
	andb $0xFC, %al
	outb %al, $PORT_B

	movw $done, %si
	call print
	cmpw $0x0303, seen_tone
	jne 1f
	movw $out2ok, %si
	call print
1:
exit:	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
2:	cli
	hlt
	jmp 2b

no_pm:	movw $nopm, %si
	call print
	jmp exit

/* Channel 2, square wave (mode 3), binary, count bx (low byte, then high). */
set_tone:
	movb $0xB6, %al
	outb %al, $PIT_MODE
	movb %bl, %al
	outb %al, $PIT_CH2
	movb %bh, %al
	outb %al, $PIT_CH2
	ret

/* Waits ecx PM timer ticks (below 2^24), noting OUT2's levels in 'seen'
 * (bit 0: high, bit 1: low). */
wait_pm:
	movw pm_timer, %dx
	inl %dx, %eax
	andl $0xFFFFFF, %eax
	movl %eax, %ebx
1:	inb $PORT_B, %al
	testb $0x20, %al
	jz 2f
	orb $1, seen
	jmp 3f
2:	orb $2, seen
3:	inl %dx, %eax
	subl %ebx, %eax
	andl $0xFFFFFF, %eax
	cmpl %ecx, %eax
	jb 1b
	ret

/* The NUL-terminated string at si to the debug console. */
print:
	movw $DEBUGCON, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	ret

started: .asciz "VMM-PCSPK start\n"
done:	.asciz "VMM-PCSPK done\n"
out2ok:	.asciz "VMM-PCSPK out2 ok\n"
nopm:	.asciz "VMM-PCSPK no PM timer\n"

pm_timer: .word 0
seen:	.byte 0
seen_tone: .word 0	/* seen, per tone */

	.org 510
	.byte 0x55, 0xAA
