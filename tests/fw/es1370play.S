/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector that plays a known waveform on an Ensoniq ES1370 as a
 * driver would (the order of Linux's snd-ens1370): it finds the card with
 * the PCI BIOS (INT 1Ah B102h; SeaBIOS has placed its I/O BAR and routed
 * its INTA to an ISA line), turns on I/O decode and bus mastering, hooks
 * that line's real-mode vector and unmasks it, fills a buffer, and
 * programs one DAC: channel off, memory page 0xC, frame address and size,
 * serial control (format, loop mode, interrupt enable), sample count (one
 * period, half the buffer), then the rate and the enable bit. Each
 * interrupt is checked in the status register (INTR and the DAC's bit) and
 * acknowledged by clearing and setting the DAC's interrupt enable, then at
 * the PICs. After the next-to-last period's interrupt it sets stop mode,
 * so the DAC stops at the end of the last period; at that period's
 * interrupt it prints "VMM-ES1370 done" on port 0x402 and exits through
 * isa-debug-exit (0xF4, 0x10: status 33). It prints "VMM-ES1370 start"
 * once the DAC runs.
 *
 * ES_BITS=16 (DAC 2 or 1): ramps in both channels, 16-bit signed stereo at
 *   22050 Hz (DAC2: PCLKDIV 62, 1411200 / 64; DAC1: the fixed rate
 *   WTSRSEL 2): left i*7-32000, right 16000-i*3 for frame i of an
 *   8192-frame buffer at 0x20000, 4096-frame periods, 10 periods (40960
 *   frames, 1.858 s).
 * ES_BITS=8 (DAC 2): a sine period of 8 samples, 8-bit unsigned mono at
 *   11025 Hz (PCLKDIV 126, 1411200 / 128), a 4096-byte buffer at 0x10000,
 *   2048-sample periods, 8 periods (16384 samples, 1.486 s).
 * ONESHOT: the same samples as one count of all the periods in stop mode
 *   from the start: one interrupt, at the end, and the DAC stops there by
 *   itself (the length does not depend on how soon a guest stalled by a
 *   loaded host answers each period's interrupt; a late answer in the
 *   period program lets one more period play, as on real hardware).
 * FOREVER: loop mode without end, never exits (the lifecycle test).
 * Any failure (no card, a status without the DAC's bit) halts without the
 * done line.
 */
#define DEBUG_EXIT_PORT 0xF4
#define EXIT_VALUE 0x10
#define DEBUGCON 0x402

#define REG_CONTROL 0x00
#define REG_STATUS 0x04
#define REG_MEM_PAGE 0x0C
#define REG_SERIAL 0x20
#define STAT_INTR 0x80000000
#define PAGE_DAC 0x0C

#if ES_DAC == 1
#define CTL_RATE (2 << 12)		/* WTSRSEL 2: 22050 Hz */
#define CTL_EN 0x40
#define REG_COUNT 0x24
#define REG_FRAME 0x30
#define REG_SIZE 0x34
#define MODE_SHIFT 0
#define SER_INT_EN 0x100
#define SER_LOOP_SEL 0x2000
#define STAT_DAC 0x04
#else
#define CTL_EN 0x20
#define REG_COUNT 0x28
#define REG_FRAME 0x38
#define REG_SIZE 0x3C
#define MODE_SHIFT 2
#define SER_INT_EN 0x200
#define SER_LOOP_SEL 0x4000
#define STAT_DAC 0x02
#endif

#if ES_BITS == 16
#define BUF 0x20000
#define BUF_BYTES 32768
#define PERIOD 4096			/* frames */
#define BLOCKS 10
#define MODE 3				/* 16-bit stereo */
#if ES_DAC != 1
#define CTL_RATE (62 << 16)		/* PCLKDIV: 1411200 / 64 = 22050 Hz */
#endif
#else
#define BUF 0x10000
#define BUF_BYTES 4096
#define PERIOD 2048
#define BLOCKS 8
#define MODE 0				/* 8-bit mono */
#define CTL_RATE (126 << 16)		/* PCLKDIV: 1411200 / 128 = 11025 Hz */
#endif

#ifdef ONESHOT
#define COUNT (BLOCKS * PERIOD)
#define SCTRL_INIT (SER_INT_EN | (MODE << MODE_SHIFT) | SER_LOOP_SEL)
#else
#define COUNT PERIOD
#define SCTRL_INIT (SER_INT_EN | (MODE << MODE_SHIFT))
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

	/* the card: bus BH, device/function BL */
	movw $0xB102, %ax
	movw $0x5000, %cx
	movw $0x1274, %dx
	xorw %si, %si
	int $0x1A
	jc fail
	movw %bx, pcidev
	movw $0xB10A, %ax		/* BAR 0 */
	movw $0x10, %di
	int $0x1A
	andw $0xFFFC, %cx
	movw %cx, iobase
	movw $0xB108, %ax		/* interrupt line */
	movw pcidev, %bx
	movw $0x3C, %di
	int $0x1A
	movb %cl, irqline
	movw $0xB109, %ax		/* command: + I/O decode, bus master */
	movw pcidev, %bx
	movw $0x04, %di
	int $0x1A
	orw $0x05, %cx
	movw $0xB10C, %ax
	movw pcidev, %bx
	int $0x1A

	/* the line's vector: 08h-0Fh for IRQ 0-7, 70h-77h for IRQ 8-15 */
	movzbw irqline, %bx
	leaw 0x08(%bx), %di
	cmpb $8, %bl
	jb 1f
	leaw 0x68(%bx), %di
1:	shlw $2, %di
	movw $isr, (%di)
	movw $0, 2(%di)
	movw $1, %ax			/* unmask: the slave's bit and the cascade */
	movb %bl, %cl
	shlw %cl, %ax
	notw %ax
	inb $0xA1, %al
	andb %ah, %al
	outb %al, $0xA1
	movw $1, %ax
	movb %bl, %cl
	shlw %cl, %ax
	notw %ax
	andb $0xFB, %al
	movb %al, %ah
	inb $0x21, %al
	andb %ah, %al
	outb %al, $0x21

	/* the DAC, as snd-ens1370 prepares and starts it */
	movl $0, %eax
	movw $REG_CONTROL, %dx
	call out32
	movl $PAGE_DAC, %eax
	movw $REG_MEM_PAGE, %dx
	call out32
	movl $BUF, %eax
	movw $REG_FRAME, %dx
	call out32
	movl $(BUF_BYTES / 4 - 1), %eax
	movw $REG_SIZE, %dx
	call out32
	movl sctrl, %eax
	movw $REG_SERIAL, %dx
	call out32
	movl $(COUNT - 1), %eax
	movw $REG_COUNT, %dx
	call out32
	movl $(CTL_RATE | CTL_EN), %eax
	movw $REG_CONTROL, %dx
	call out32
	movw $started, %si
	call print
	sti
#ifdef FOREVER
5:	hlt
	jmp 5b
#endif
#ifdef ONESHOT
6:	hlt
	cmpw $1, irqs
	jb 6b
	jmp finish
#endif
2:	hlt
	cmpw $(BLOCKS - 1), irqs
	jb 2b
	cli				/* stop mode: the DAC stops after the next period */
	orl $SER_LOOP_SEL, sctrl
	movl sctrl, %eax
	movw $REG_SERIAL, %dx
	call out32
	sti
3:	hlt
	cmpw $BLOCKS, irqs
	jb 3b
finish:
	cli
	movw $done, %si
	call print
	movw $DEBUG_EXIT_PORT, %dx
	movb $EXIT_VALUE, %al
	outb %al, %dx
fail:
	cli
4:	hlt
	jmp 4b

/* The period interrupt: the DAC's bit must be set; acknowledge it by
 * clearing and setting its interrupt enable, then at the PICs. */
isr:
	pushal
	movw $REG_STATUS, %dx
	addw %cs:iobase, %dx
	inl %dx, %eax
	andl $(STAT_INTR | STAT_DAC), %eax
	cmpl $(STAT_INTR | STAT_DAC), %eax
	jne fail
	movl %cs:sctrl, %eax
	andl $~SER_INT_EN, %eax
	movw $REG_SERIAL, %dx
	call out32
	movl %cs:sctrl, %eax
	call out32
	incw %cs:irqs
	movb $0x20, %al
	cmpb $8, %cs:irqline
	jb 1f
	outb %al, $0xA0
1:	outb %al, $0x20
	popal
	iret

/* eax to the card's register at offset dx. */
out32:
	addw %cs:iobase, %dx
	outl %eax, %dx
	subw %cs:iobase, %dx
	ret

#if ES_BITS == 16
fill_buffer:
	movw $(BUF >> 4), %ax
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
	movw $(BUF >> 4), %ax
	movw %ax, %es
	xorw %di, %di
	movw $(BUF_BYTES / 8), %cx
1:	movw $sine, %si
	movsl
	movsl
	loop 1b
	ret

/* One period of a sine: 128 + 127 sin(2 pi k / 8). */
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

done:	.asciz "VMM-ES1370 done\n"
started: .asciz "VMM-ES1370 start\n"

	.balign 4
sctrl:	.long SCTRL_INIT
irqs:	.word 0
iobase:	.word 0
pcidev:	.word 0
irqline: .byte 0

	.org 510
	.byte 0x55, 0xAA
