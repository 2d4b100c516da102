/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector that plays a known waveform on a Gravis Ultrasound at
 * 0x240 (IRQ 7, DMA 3: QEMU's defaults) as a GF1 driver would: it resets
 * the GF1 and releases it with 14 active voices (617400 / 14 = 44100 Hz),
 * the DAC and the GF1 IRQ on; uploads 64 KiB from host memory into DRAM 0
 * by DMA (the 8237's channel 3, single-mode reads; the GF1's DMA control
 * with its terminal count IRQ, 16-bit data, no inversion) and waits for
 * that IRQ (real-mode INT 0Fh, IRQ 7 on the master PIC: the handler reads
 * the IRQ status, then the DMA control, which takes it); then plays it
 * with two voices at full volume, no ramps:
 *   voice 0: 16-bit, pan 0 (left), DRAM words 0-32767 at step 1.0, the
 *            wave IRQ at its end, where it stops;
 *   voice 1: 8-bit, pan 15 (right), the odd bytes 1-65535 (the high byte
 *            of each 16-bit sample) at step 2.0, no IRQ.
 * The waveform: sample i = (3 * i) mod 65536 as a signed 16-bit value, a
 * sawtooth (32768 frames, 0.743 s). It prints "VMM-GUS start" as the
 * voices start, waits for voice 0's wave IRQ (the handler reads the IRQ
 * source register, which takes it), prints "VMM-GUS done" on port 0x402
 * and exits through isa-debug-exit (0xF4, 0x10: status 33).
 * FOREVER: both voices loop over their blocks without end and without
 *   IRQs, the program never exits (the playback CPU bench,
 *   tools/bench/bench.py).
 */
#define BASE 0x240
#define GF1 (BASE + 0x100)
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10
#define DEBUGCON 0x402
#define IRQ7_VECTOR 0x0F
#define BUF_SEG 0x2000		/* 0x20000: one 64 KiB DMA page */
#define FRAMES 32768
#ifdef FOREVER
#define VOICE1_RUN 0x08		/* 8-bit, loop, no IRQ */
#define VOICE0_RUN 0x0C		/* 16-bit, loop, no IRQ */
#else
#define VOICE1_RUN 0x00		/* 8-bit, no IRQ: stops at its end */
#define VOICE0_RUN 0x24		/* 16-bit, wave IRQ: stops at its end */
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
	movw $BUF_SEG, %ax	/* the sawtooth */
	movw %ax, %es
	xorw %di, %di
	xorw %ax, %ax
	movw $FRAMES, %cx
1:	stosw
	addw $3, %ax
	loop 1b
	movw $isr, (IRQ7_VECTOR * 4)
	movw $0, (IRQ7_VECTOR * 4 + 2)
	inb $0x21, %al		/* unmask IRQ 7 */
	andb $0x7F, %al
	outb %al, $0x21

	movw $0x4C00, %ax	/* reset, then run; 14 voices; DAC and IRQ on */
	call w8
	movw $0x4C01, %ax
	call w8
	movw $0x0ECD, %ax
	call w8
	movw $0x4C07, %ax
	call w8

	movb $0x07, %al		/* channel 3: mask, single read, 0x20000, 64 KiB */
	outb %al, $0x0A
	movb $0x4B, %al
	outb %al, $0x0B
	xorb %al, %al
	outb %al, $0x0C
	outb %al, $0x06
	outb %al, $0x06
	movb $(BUF_SEG >> 12), %al
	outb %al, $0x82
	movb $0xFF, %al
	outb %al, $0x07
	outb %al, $0x07
	movb $0x03, %al
	outb %al, $0x0A
	sti
	movb $0x42, %ah		/* DRAM 0 */
	xorw %bx, %bx
	call w16
	movw $0x4161, %ax	/* enable, IRQ, 16-bit data */
	call w8
2:	hlt
	cmpb $0, dma_done
	je 2b

	movb $1, %al		/* voice 1: 8-bit high bytes, right */
	call voice_select
	movw $0x0C0F, %ax
	call w8
	movb $0x01, %ah
	movw $0x0800, %bx	/* step 2.0 */
	call w16
	movw $0x0000, %bx	/* start 1: address bits 19-7, then 6-0 at 15-9 */
	movw $0x0200, %si
	movb $0x02, %ah
	call waddr
	movw $0x01FF, %bx	/* end 0xFFFF */
	movw $0xFE00, %si
	movb $0x04, %ah
	call waddr
	movw $0x0000, %bx	/* current 1 */
	movw $0x0200, %si
	movb $0x0A, %ah
	call waddr
	call full_volume

	movb $0, %al		/* voice 0: 16-bit words 0-32767, left */
	call voice_select
	movw $0x0C00, %ax
	call w8
	movb $0x01, %ah
	movw $0x0400, %bx	/* step 1.0 */
	call w16
	xorw %bx, %bx		/* start 0 */
	xorw %si, %si
	movb $0x02, %ah
	call waddr
	movw $0x00FF, %bx	/* end word 0x7FFF */
	movw $0xFE00, %si
	movb $0x04, %ah
	call waddr
	xorw %bx, %bx		/* current 0 */
	xorw %si, %si
	movb $0x0A, %ah
	call waddr
	call full_volume

	movw $started, %si
	call print
	cli			/* both voices start in the same instant of the guest */
	movb $1, %al
	call voice_select
	movw $VOICE1_RUN, %ax	/* voice 1 runs */
	call w8
	xorb %al, %al
	call voice_select
	movw $VOICE0_RUN, %ax	/* voice 0 runs */
	call w8
	sti
3:	hlt
#ifdef FOREVER
	jmp 3b
#endif
	cmpb $0, wave_done
	je 3b
	cli
	movw $done, %si
	call print
	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
4:	hlt
	jmp 4b

/* The GF1's interrupt: the IRQ status; the DMA control read takes the
 * terminal count, the IRQ source read a voice's IRQ. Then the PIC. */
isr:
	pushw %ax
	pushw %bx
	pushw %dx
	movw $(BASE + 6), %dx
	inb %dx, %al
	movb %al, %bl
	testb $0x80, %bl
	jz 1f
	movb %bl, %cs:dma_done
	movb $0x41, %ah
	call r8
1:	testb $0x20, %bl
	jz 2f
	movb $0x8F, %ah
	call r8
	testb $0x80, %al	/* bit 7 clear: a wave IRQ */
	jnz 2f
	movb $1, %cs:wave_done
2:	movb $0x20, %al
	outb %al, $0x20
	popw %dx
	popw %bx
	popw %ax
	iret

voice_select:
	movw $(GF1 + 2), %dx
	outb %al, %dx
	ret

/* Register ah := al (8-bit), ah := bx (16-bit); al := register ah. */
w8:
	movw $(GF1 + 3), %dx
	xchgb %al, %ah
	outb %al, %dx
	addw $2, %dx
	movb %ah, %al
	outb %al, %dx
	ret

w16:
	movw $(GF1 + 3), %dx
	movb %ah, %al
	outb %al, %dx
	incw %dx
	movw %bx, %ax
	outw %ax, %dx
	ret

r8:
	movw $(GF1 + 3), %dx
	movb %ah, %al
	outb %al, %dx
	addw $2, %dx
	inb %dx, %al
	ret

/* The address pair at ah, ah + 1 := bx (high), si (low). */
waddr:
	pushw %ax
	call w16
	popw %ax
	incb %ah
	movw %si, %bx
	jmp w16

/* Volume 4095, the ramp stopped. */
full_volume:
	movb $0x09, %ah
	movw $0xFFF0, %bx
	call w16
	movw $0x0D03, %ax
	jmp w8

/* The NUL-terminated string at si to the debug console. */
print:
	movw $DEBUGCON, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	ret

done:	.asciz "VMM-GUS done\n"
started: .asciz "VMM-GUS start\n"

dma_done:	.byte 0
wave_done:	.byte 0

	.org 510
	.byte 0x55, 0xAA
