/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector that plays a known waveform on a Sound Blaster 16 at
 * 0x220 (IRQ 5, DMA 1 and 5) as a DOS program would: it resets the DSP
 * (0xAA), fills a DMA buffer, programs the 8237 channel for auto-init
 * reads, starts an auto-init transfer of half the buffer per block and
 * counts the block interrupts (real-mode INT 0Dh, IRQ 5 under SeaBIOS's
 * PIC set-up), acknowledging each at the DSP and the PIC. Before the last
 * block it sends exit-auto-init; at the last interrupt it prints
 * "VMM-SB16 done" on port 0x402 and exits through isa-debug-exit (0xF4,
 * 0x10: status 33). (The BIOS tick count is no clock for this: on the
 * project's software-nested KVM the PIT's ticks lost during POST are
 * delivered late, in bursts.)
 *
 * SB16_BITS=8: a 1 kHz sine at 8000 Hz, 8-bit unsigned mono (command 0x1C
 *   after time constant 131 and block size 0x48), on channel 1: a 4096-byte
 *   buffer, 2048-sample blocks, 8 blocks (16384 samples, 2.048 s).
 * SB16_BITS=16: a ramp in each channel at 22050 Hz, 16-bit signed stereo
 *   (rate 0x41, command 0xB6 mode 0x30), on channel 5: left i*7-32000,
 *   right 16000-i*3 for frame i of an 8192-frame buffer, 4096-frame
 *   blocks, 10 blocks (40960 frames, 1.858 s).
 * The blocks are long (256 and 186 ms) because the program must answer a
 * block's interrupt (exit-auto-init) before the next block starts, or
 * that one plays too: a guest stalled longer on a loaded host would play
 * one more block, as on real hardware.
 * It prints "VMM-SB16 start" once the transfer runs (the host times the
 * playback from there to the exit).
 * FOREVER: never sends exit-auto-init (for the SIGTERM test).
 */
#define SB 0x220
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10
#define DEBUGCON 0x402
#define IRQ5_VECTOR 0x0D

#if SB16_BITS == 16
#define BUF_SEG 0x2000		/* 0x20000: a 128 KiB page of the 16-bit channels */
#define BUF_BYTES 32768
#define BLOCKS 10
#define ACK_PORT (SB + 0xF)
#else
#define BUF_SEG 0x1000		/* 0x10000 */
#define BUF_BYTES 4096
#define BLOCKS 8
#define ACK_PORT (SB + 0xE)
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
	movw $isr, (IRQ5_VECTOR * 4)
	movw $0, (IRQ5_VECTOR * 4 + 2)
	inb $0x21, %al		/* unmask IRQ 5 at the master PIC */
	andb $0xDF, %al
	outb %al, $0x21

	/* DSP reset: 1, a pause, 0; then 0xAA to read */
	movw $(SB + 6), %dx
	movb $1, %al
	outb %al, %dx
	inb $0x80, %al
	inb $0x80, %al
	xorb %al, %al
	outb %al, %dx
	movw $(SB + 0xE), %dx
1:	inb %dx, %al
	testb $0x80, %al
	jz 1b
	movw $(SB + 0xA), %dx
	inb %dx, %al
	cmpb $0xAA, %al
	jne fail

	call program_dma
	movb $0xD1, %al		/* speaker on */
	call dsp_write
#if SB16_BITS == 16
	movb $0x41, %al		/* output rate 22050, high byte first */
	call dsp_write
	movb $0x56, %al
	call dsp_write
	movb $0x22, %al
	call dsp_write
	movb $0xB6, %al		/* 16-bit output, auto-init, FIFO */
	call dsp_write
	movb $0x30, %al		/* stereo, signed */
	call dsp_write
	movb $0xFF, %al		/* 8192 samples - 1 */
	call dsp_write
	movb $0x1F, %al
	call dsp_write
#else
	movb $0x40, %al		/* time constant 131: 1000000 / 125 = 8000 Hz */
	call dsp_write
	movb $131, %al
	call dsp_write
	movb $0x48, %al		/* block size 2048 - 1 */
	call dsp_write
	movb $0xFF, %al
	call dsp_write
	movb $0x07, %al
	call dsp_write
	movb $0x1C, %al		/* 8-bit auto-init output */
	call dsp_write
#endif
	movw $started, %si
	call print
	sti
#ifdef FOREVER
2:	hlt
	jmp 2b
#else
2:	hlt
	cmpw $(BLOCKS - 1), irqs
	jb 2b
#if SB16_BITS == 16
	movb $0xD9, %al		/* exit 16-bit auto-init after this block */
#else
	movb $0xDA, %al		/* exit 8-bit auto-init after this block */
#endif
	call dsp_write
3:	hlt
	cmpw $BLOCKS, irqs
	jb 3b
	cli
	movw $done, %si
	call print
	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
#endif
fail:
	cli
4:	hlt
	jmp 4b

/* The block interrupt: acknowledge it at the DSP, then at the PIC. */
isr:
	pushw %ax
	pushw %dx
	movw $ACK_PORT, %dx
	inb %dx, %al
	incw %cs:irqs
	movb $0x20, %al
	outb %al, $0x20
	popw %dx
	popw %ax
	iret

/* al to the DSP once its write buffer is free (bit 7 of base+0xC clear). */
dsp_write:
	pushw %ax
	movw $(SB + 0xC), %dx
1:	inb %dx, %al
	testb $0x80, %al
	jnz 1b
	popw %ax
	outb %al, %dx
	ret

#if SB16_BITS == 16
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

/* Channel 5 (controller 2, channel 1): auto-init single-mode reads of the
 * buffer, counted in words. */
program_dma:
	movb $0x05, %al
	outb %al, $0xD4		/* mask */
	movb $0x59, %al
	outb %al, $0xD6		/* single, auto-init, read, channel 1 of 2 */
	xorb %al, %al
	outb %al, $0xD8		/* flip-flop */
	outb %al, $0xC4		/* word address 0 (0x20000 >> 1 & 0xFFFF) */
	outb %al, $0xC4
	movb $(BUF_SEG >> 12), %al
	outb %al, $0x8B		/* page */
	movb $0xFF, %al		/* 16384 words - 1 */
	outb %al, $0xC6
	movb $0x3F, %al
	outb %al, $0xC6
	movb $0x01, %al
	outb %al, $0xD4		/* unmask */
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

program_dma:
	movb $0x05, %al
	outb %al, $0x0A		/* mask channel 1 */
	movb $0x59, %al
	outb %al, $0x0B		/* single, auto-init, read, channel 1 */
	xorb %al, %al
	outb %al, $0x0C
	outb %al, $0x02		/* address 0 */
	outb %al, $0x02
	movb $(BUF_SEG >> 12), %al
	outb %al, $0x83		/* page */
	movb $0xFF, %al		/* 4096 bytes - 1 */
	outb %al, $0x03
	movb $0x0F, %al
	outb %al, $0x03
	movb $0x01, %al
	outb %al, $0x0A		/* unmask */
	ret

/* One period of a 1 kHz sine at 8000 Hz: 128 + 127 sin(2 pi k / 8). */
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

#ifndef FOREVER
done:	.asciz "VMM-SB16 done\n"
#endif
started: .asciz "VMM-SB16 start\n"

irqs:	.word 0

	.org 510
	.byte 0x55, 0xAA
