/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The static-screen guest of `make bench` (tools/bench/bench.py, docs/bench.md):
 * a boot sector, loaded by SeaBIOS at 0x7C00 with the VGA BIOS in place,
 * that sets a graphics mode through int 10h, draws a picture once, prints
 * VMM-VGA-READY on COM1 and then idles as an operating system does: HLT
 * with interrupts on, woken by the BIOS's timer tick (18.2 Hz) and nothing
 * else. What the VMM process spends from then on is the cost of a screen
 * that does not change.
 *   -DIDLE_13h:   mode 13h (320x200, 256 colours, chain-4 through the
 *                 0xA0000 window); pixel (x, y) = (x + 2 * y) & 255 with
 *                 the BIOS's default palette.
 *   -DIDLE_vbe32: VBE mode 0x142 (640x480, 32 bpp) with its linear
 *                 framebuffer (int 10h AX=4F02h, BX=0x4142); pixel i
 *                 (row-major) = (i * 0x010203) & 0xFFFFFF, written in flat
 *                 32-bit protected mode, then back to real mode (the BIOS's
 *                 interrupt table) for the idle loop.
 * If the VGA BIOS refuses the mode it prints VMM-VBE-FAIL and halts with
 * interrupts off: the bench waits for VMM-VGA-READY and counts that as an
 * error.
 */
#define COM1 0x3F8
#define MODEINFO 0x6000
#define VBE_MODE 0x142

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
	sti
	cld
#ifdef IDLE_13h
	movw $0x0013, %ax
	int $0x10
	movw $0xA000, %ax
	movw %ax, %es
	xorw %di, %di
	xorw %bx, %bx              /* y */
1:	xorw %cx, %cx              /* x */
2:	movw %bx, %ax
	shlw $1, %ax
	addw %cx, %ax
	stosb
	incw %cx
	cmpw $320, %cx
	jne 2b
	incw %bx
	cmpw $200, %bx
	jne 1b
	xorw %ax, %ax
	movw %ax, %es
	jmp ready
#elif defined(IDLE_vbe32)
	movw $0x4F01, %ax
	movw $VBE_MODE, %cx
	movw $MODEINFO, %di
	int $0x10
	cmpw $0x004F, %ax
	jne vbe_fail
	movw $0x4F02, %ax
	movw $(0x4000 | VBE_MODE), %bx
	int $0x10
	cmpw $0x004F, %ax
	jne vbe_fail
	cli
	lgdt gdt_desc
	movl %cr0, %eax
	orb $1, %al
	movl %eax, %cr0
	ljmpl $0x08, $pm32
vbe_fail:
	movw $fail_msg, %si
	call print16
	cli
1:	hlt
	jmp 1b

	.code32
pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl MODEINFO + 0x28, %edi    /* PhysBasePtr */
	movl $(640 * 480), %ecx
	xorl %ebx, %ebx               /* the pixel value */
1:	movl %ebx, %eax
	andl $0xFFFFFF, %eax
	stosl
	addl $0x010203, %ebx
	loop 1b
	ljmp $0x18, $pm16             /* 16-bit protected mode first ... */

	.code16
pm16:
	movw $0x20, %ax               /* ... with 64 KiB segments ... */
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr0, %eax
	andb $0xFE, %al
	movl %eax, %cr0
	ljmp $0, $real                /* ... then real mode again */
real:
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	sti
	jmp ready

	.p2align 3
gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF      /* 0x08: flat code, 32-bit */
	.quad 0x00CF92000000FFFF      /* 0x10: flat data */
	.quad 0x00009A000000FFFF      /* 0x18: code, 16-bit, 64 KiB */
	.quad 0x000092000000FFFF      /* 0x20: data, 64 KiB */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt
fail_msg:
	.asciz "VMM-VBE-FAIL\n"
#else
#error "build with -DIDLE_13h or -DIDLE_vbe32"
#endif

ready:
	movw $ready_msg, %si
	call print16
idle:
	sti
	hlt
	jmp idle

/* COM1 output of the NUL-terminated string at SI. */
print16:
	lodsb
	testb %al, %al
	jz 2f
	movw $COM1, %dx
	outb %al, %dx
	jmp print16
2:	ret

ready_msg:
	.asciz "VMM-VGA-READY\n"

	.org 510
	.word 0xAA55
