/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector that plays a known waveform on a CS4231A at 0x534 (IRQ 9,
 * DMA 3: QEMU's defaults) as a Windows Sound System driver would: it
 * waits for the codec (R0 INIT clear), sets mode 2 and checks the version
 * (I25 & 0xE7 = 0xA0, as Linux's snd-wss), sets the data format under MCE
 * (calibration: I11 ACI until clear), programs the 8237 channel 3 for
 * auto-init reads of a buffer (a pass), loads the base count (I15,
 * then I14) with a period, enables the interrupt (I10 IEN) and playback
 * (I9 PEN), and follows the playback by the 8237's current count, as a
 * driver's pointer does (flip-flop cleared, low then high byte, read until
 * two reads agree): the count going up is the channel's reload at the end
 * of the buffer, a pass. It looks at every codec interrupt (real-mode INT
 * 71h, IRQ 9 on the slave PIC under SeaBIOS; acknowledged by a write to R2
 * and at both PICs) and at every other wake-up (the BIOS tick). In the
 * last pass it takes auto-init away from the channel, so the DMA ends
 * exactly at the end of the buffer (the codec then underruns: silence)
 * however late the guest is; at the first interrupt that finds the count
 * gone up once more (to 0xFFFF, the channel's terminal count without
 * auto-init; QEMU's cs4231a wraps the DMA position itself and never lets
 * the 8237 reach its terminal count, so there it goes back to the buffer's
 * start and plays on until PEN off) it clears PEN, prints "VMM-CS4231A done, NN interrupts" on port 0x402 and exits
 * through isa-debug-exit (0xF4, 0x10: status 33).
 * Counting the interrupts instead would hang when the host stalls vmm
 * over two period ends: the codec's INT is one bit, both ends come in one
 * mixing step and raise one interrupt. The count sees every pass as long
 * as less than a pass (186 ms at 16-bit, 372 ms at 8-bit) is played
 * between two looks.
 *
 * CS_BITS=16: ramps at 44100 Hz (crystal 2 / 384), 16-bit signed stereo
 *   (I8 0x5B): left i*7-32000, right 16000-i*3 for frame i of an
 *   8192-frame buffer, 1024-frame periods (23 ms), 5 passes (40960
 *   frames, 0.929 s).
 * CS_BITS=8: a sine at 22050 Hz (crystal 2 / 768), 8-bit unsigned mono
 *   (I8 0x07): 128 + 127 sin(2 pi k / 8) repeated, an 8192-byte buffer,
 *   1024-sample periods, 4 passes (32768 samples, 1.486 s).
 * It prints "VMM-CS4231A start" as playback is enabled (the host times the
 * playback from there to the exit).
 * FOREVER: the 16-bit ramps in auto-init without end, 4096-frame periods
 *   (every interrupt acknowledged, the DMA and playback never stopped),
 *   never exits (the playback CPU bench, tools/bench/bench.py).
 */
#define CODEC 0x534
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10
#define DEBUGCON 0x402
#define IRQ9_VECTOR 0x71
#define MCE 0x40
#define PEN 0x01
#define ACAL 0x08

#if CS_BITS == 16
#define BUF_SEG 0x2000		/* 0x20000 */
#define BUF_BYTES 32768
#define PASSES 5
#define FORMAT 0x5B
#else
#define BUF_SEG 0x1000		/* 0x10000 */
#define BUF_BYTES 8192
#define PASSES 4
#define FORMAT 0x07
#endif
#ifdef FOREVER
#define PERIOD 4096		/* samples between interrupts: half the buffer */
#else
#define PERIOD 1024		/* an eighth of the buffer: a look every 23 ms */
#endif

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
	call fill_buffer
	movw $isr, (IRQ9_VECTOR * 4)
	movw $0, (IRQ9_VECTOR * 4 + 2)
	inb $0xA1, %al		/* unmask IRQ 9 at the slave PIC */
	andb $0xFD, %al
	outb %al, $0xA1
	inb $0x21, %al		/* and the cascade (IRQ 2) at the master */
	andb $0xFB, %al
	outb %al, $0x21

	movw $CODEC, %dx	/* the codec is ready when INIT reads clear */
1:	inb %dx, %al
	testb $0x80, %al
	jnz 1b
	movb $MCE, %bl		/* bl: R0's MCE, kept with every index */
	movw $0x0C40, %ax	/* I12: mode 2 */
	call codec_write
	movb $25, %ah		/* I25: the version */
	call codec_read
	andb $0xE7, %al
	cmpb $0xA0, %al
	jne fail
	movw $((8 << 8) | FORMAT), %ax
	call codec_write
	movw $((9 << 8) | ACAL), %ax
	call codec_write
	xorb %bl, %bl		/* leave mode change: the codec calibrates */
	movw $(10 << 8), %ax	/* I10 = 0 on the way */
	call codec_write
2:	movb $11, %ah		/* I11 ACI: calibration in progress */
	call codec_read
	testb $0x20, %al
	jnz 2b

	call program_dma
	movw $((15 << 8) | ((PERIOD - 1) & 0xFF)), %ax
	call codec_write
	movw $((14 << 8) | ((PERIOD - 1) >> 8)), %ax	/* loads the current count */
	call codec_write
	movw $((10 << 8) | 0x02), %ax	/* IEN */
	call codec_write
	movw $started, %si
	call print
	movw $((9 << 8) | ACAL | PEN), %ax
	call codec_write
	sti
3:	hlt
#ifdef FOREVER
	jmp 3b
#else
	cli			/* a look between interrupts: no ISR meanwhile */
	call track
	cmpb $0, finished
	jne 4f
	sti			/* (the HLT after STI takes the next interrupt) */
	jmp 3b
4:	movw $done, %si
	call print
	movw irqs, %ax		/* the interrupts, two decimal digits */
	movb $10, %cl
	divb %cl
	addw $0x3030, %ax
	movw $DEBUGCON, %dx
	outb %al, %dx
	movb %ah, %al
	outb %al, %dx
	movw $done_tail, %si
	call print
	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
#endif
fail:
	cli
5:	hlt
	jmp 5b

/* The count's interrupt: acknowledged by a write to R2, counted; a look
 * at the DMA; when the DMA is past its last pass, playback off. Then both
 * PICs. */
isr:
	pushw %ax
	pushw %dx
	movw $(CODEC + 2), %dx
	outb %al, %dx
#ifndef FOREVER
	incw %cs:irqs
	call track
	cmpw $PASSES, %cs:passes	/* the DMA is past its last pass */
	jb 1f
	movb $1, %cs:finished
	movw $CODEC, %dx
	movb $9, %al
	outb %al, %dx
	incw %dx
	movb $ACAL, %al		/* PEN off */
	outb %al, %dx
1:
#endif
	movb $0x20, %al
	outb %al, $0xA0
	outb %al, $0x20
	popw %dx
	popw %ax
	iret

#ifndef FOREVER
/* A look at the DMA (interrupts off): the count went up since the last
 * look, a pass ended; in the last pass, auto-init off. Clobbers ax. */
track:
	call read_count
	cmpw %cs:last_count, %ax
	movw %ax, %cs:last_count
	jbe 1f
	incw %cs:passes
1:	cmpb $0, %cs:final
	jne 2f
	cmpw $(PASSES - 1), %cs:passes
	jb 2f
	movb $0x4B, %al		/* single, read, no auto-init, channel 3 */
	outb %al, $0x0B
	movb $1, %cs:final
2:	ret

/* ax := channel 3's current count, read until two reads agree (the
 * channel may move between the low and the high byte). */
read_count:
	pushw %bx
1:	call count_once
	movw %ax, %bx
	call count_once
	cmpw %ax, %bx
	jne 1b
	popw %bx
	ret

count_once:
	outb %al, $0x0C		/* flip-flop: the low byte next */
	inb $0x07, %al
	movb %al, %ah
	inb $0x07, %al
	xchgb %al, %ah
	ret
#endif

/* Indexed register ah (with bl's MCE) := al; al := indexed register ah. */
codec_write:
	movw $CODEC, %dx
	xchgb %al, %ah
	orb %bl, %al
	outb %al, %dx
	incw %dx
	movb %ah, %al
	outb %al, %dx
	ret

codec_read:
	movw $CODEC, %dx
	movb %ah, %al
	orb %bl, %al
	outb %al, %dx
	incw %dx
	inb %dx, %al
	ret

/* Channel 3: auto-init single-mode reads of the buffer. */
program_dma:
	movb $0x07, %al
	outb %al, $0x0A		/* mask channel 3 */
	movb $0x5B, %al
	outb %al, $0x0B		/* single, auto-init, read, channel 3 */
	xorb %al, %al
	outb %al, $0x0C		/* flip-flop */
	outb %al, $0x06		/* address 0 */
	outb %al, $0x06
	movb $(BUF_SEG >> 12), %al
	outb %al, $0x82		/* page */
	movb $((BUF_BYTES - 1) & 0xFF), %al
	outb %al, $0x07
	movb $((BUF_BYTES - 1) >> 8), %al
	outb %al, $0x07
	movb $0x03, %al
	outb %al, $0x0A		/* unmask */
	ret

#if CS_BITS == 16
fill_buffer:
	movw $BUF_SEG, %ax
	movw %ax, %es
	xorw %di, %di
	movw $-32000, %ax	/* left */
	movw $16000, %bx	/* right */
	movw $(BUF_BYTES / 4), %cx
1:	stosw
	xchgw %ax, %bx
	stosw
	xchgw %ax, %bx
	addw $7, %ax
	subw $3, %bx
	loop 1b
	ret
#else
fill_buffer:
	movw $BUF_SEG, %ax
	movw %ax, %es
	xorw %di, %di
	movw $(BUF_BYTES / 8), %cx
1:	movw $sine, %si
	movsl
	movsl
	loop 1b
	ret

sine:
	.byte 128, 218, 255, 218, 128, 38, 1, 38
#endif

/* The NUL-terminated string at si to the debug console. */
print:
	movw $DEBUGCON, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	ret

done:	.asciz "VMM-CS4231A done, "
done_tail: .asciz " interrupts\n"
started: .asciz "VMM-CS4231A start\n"

irqs:	.word 0
passes:	.word 0
last_count: .word BUF_BYTES - 1	/* the count before the first byte */
final:	.byte 0			/* auto-init taken away */
finished: .byte 0		/* the DMA ended and an interrupt came after */

	.org 510
	.byte 0x55, 0xAA
