/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal Multiboot v1 kernel (ELF32, linked at 1 MiB) for the
 * firmware-level tests. It checks the machine state and prints the info
 * block on COM1, one item per line:
 *
 *   MB magic=2BADB002 flags=XXXXXXXX bss=ok
 *   MB mem lower=XXXXXXXX upper=XXXXXXXX
 *   MB mmap BASE LENGTH TYPE             (one line per entry)
 *   MB cmdline=[...]
 *   MB loader=[...]
 *   MB mod START END SUM [STRING]        (SUM: 16-bit byte sum of the module)
 *   MB end
 *
 * then exits through isa-debug-exit with 0x22 (vmm status 69).
 */
#define COM1 0x3F8
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* page-aligned modules, memory info */

	.text
	.code32
	.globl _start
_start:
	jmp entry
	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

entry:
	cli
	movl $stack_top, %esp
	movl %eax, %edi                 /* boot magic */
	movl %ebx, %ebp                 /* info block */

	movl $s_magic, %esi
	call puts
	movl %edi, %eax
	call puthex32
	movl $s_flags, %esi
	call puts
	movl (%ebp), %eax
	call puthex32
	movl $s_bss, %esi
	call puts
	/* The loader must zero the bss; check the words at both ends. */
	movl $s_ok, %esi
	movl bss_start, %eax
	orl bss_last, %eax
	jz 1f
	movl $s_bad, %esi
1:	call puts

	movl $s_mem, %esi
	call puts
	movl 4(%ebp), %eax
	call puthex32
	movl $s_upper, %esi
	call puts
	movl 8(%ebp), %eax
	call puthex32
	call newline

	/* mmap: entries of 'size' bytes plus the size field itself */
	movl 48(%ebp), %ebx
	movl 44(%ebp), %ecx
	addl %ebx, %ecx
2:	cmpl %ecx, %ebx
	jae 3f
	movl $s_mmap, %esi
	call puts
	movl 8(%ebx), %eax
	call puthex32
	movl 4(%ebx), %eax
	call puthex32
	call space
	movl 16(%ebx), %eax
	call puthex32
	movl 12(%ebx), %eax
	call puthex32
	call space
	movl 20(%ebx), %eax
	call puthex32
	call newline
	addl (%ebx), %ebx
	addl $4, %ebx
	jmp 2b
3:
	movl $s_cmdline, %esi
	call puts
	movl 16(%ebp), %esi
	call puts
	movl $s_close, %esi
	call puts
	movl $s_loader, %esi
	call puts
	movl 64(%ebp), %esi
	call puts
	movl $s_close, %esi
	call puts

	/* modules */
	movl 24(%ebp), %ebx
	movl 20(%ebp), %ecx
4:	testl %ecx, %ecx
	jz 6f
	movl $s_mod, %esi
	call puts
	movl (%ebx), %eax
	call puthex32
	call space
	movl 4(%ebx), %eax
	call puthex32
	call space
	/* sum of the module's bytes */
	movl (%ebx), %esi
	xorl %eax, %eax
	xorl %edx, %edx
5:	cmpl 4(%ebx), %esi
	jae 7f
	movb (%esi), %dl
	addl %edx, %eax
	incl %esi
	jmp 5b
7:	andl $0xFFFF, %eax
	call puthex32
	movl $s_open, %esi
	call puts
	movl 8(%ebx), %esi
	call puts
	movl $s_close, %esi
	call puts
	addl $16, %ebx
	decl %ecx
	jmp 4b
6:
	movl $s_end, %esi
	call puts
	movb $0x22, %al
	outb %al, $0xF4
8:	hlt
	jmp 8b

puts:
	lodsb
	testb %al, %al
	jz 9f
	call putc
	jmp puts
9:	ret

newline:
	movb $'\r', %al
	call putc
	movb $'\n', %al
	jmp putc

space:
	movb $' ', %al
putc:
	pushl %edx
	pushl %eax
	movw $COM1 + 5, %dx
10:	inb %dx, %al
	testb $0x20, %al
	jz 10b
	popl %eax
	movw $COM1, %dx
	outb %al, %dx
	popl %edx
	ret

puthex32:
	pushl %ecx
	movl $8, %ecx
11:	roll $4, %eax
	pushl %eax
	andb $0x0F, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 12f
	addb $7, %al
12:	call putc
	popl %eax
	loop 11b
	popl %ecx
	ret

	.section .rodata
s_magic:	.asciz "MB magic="
s_flags:	.asciz " flags="
s_bss:		.asciz " bss="
s_ok:		.asciz "ok\r\n"
s_bad:		.asciz "BAD\r\n"
s_mem:		.asciz "MB mem lower="
s_upper:	.asciz " upper="
s_mmap:		.asciz "MB mmap "
s_cmdline:	.asciz "MB cmdline=["
s_loader:	.asciz "MB loader=["
s_open:		.asciz " ["
s_close:	.asciz "]\r\n"
s_mod:		.asciz "MB mod "
s_end:		.asciz "MB end\r\n"

	/* A data word the loader must copy, so .data has file contents. */
	.data
	.long 0x12345678

	.bss
	.balign 4
bss_start:
	.fill 4096, 1, 0
stack_top:
	.fill 4092, 1, 0
bss_last:
	.long 0
