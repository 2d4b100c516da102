/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal "bzImage" for the firmware-level tests: a boot-protocol 2.06
 * setup header, real-mode setup code, and a small protected-mode part that
 * is never run. The setup code checks what the boot loader (vmm + its
 * option ROM) filled in and prints it on COM1:
 *
 *   TINYLINUX loader=FF flags=81 heap=DE00 seg=1000 cmdptr=0001E000
 *   TINYLINUX kernel=TINYKERN rd=IIIIIIII+SSSSSSSS sum=XXXX
 *   TINYLINUX cmdline=[...]
 *
 * sum is the 16-bit byte sum of the initrd's first 512 bytes, read through
 * the BIOS (int 15h AH=87h), which also shows the BIOS services are still
 * there. It then exits through isa-debug-exit with 0x21 (vmm status 67).
 */
#define COM1 0x3F8
#define SETUP_SECTS 3
/* Scratch space in the heap, past the setup code. */
#define buffer 0x9000

	.code16
	.text
	.globl _start
_start:
	.org 0x1F1
setup_sects:	.byte SETUP_SECTS
root_flags:	.word 0
syssize:	.long (kernel_end - kernel_start) / 16
ram_size:	.word 0
vid_mode:	.word 0xFFFF
root_dev:	.word 0
boot_flag:	.word 0xAA55
	/* 0x200: the real-mode entry */
	jmp setup
	.ascii "HdrS"
version:	.word 0x0206
realmode_swtch:	.long 0
start_sys_seg:	.word 0
kernel_version:	.word 0
type_of_loader:	.byte 0
loadflags:	.byte 0x01          /* LOADED_HIGH */
setup_move_size: .word 0
code32_start:	.long 0x100000
ramdisk_image:	.long 0
ramdisk_size:	.long 0
bootsect_kludge: .long 0
heap_end_ptr:	.word 0
ext_loader_ver:	.byte 0
ext_loader_type: .byte 0
cmd_line_ptr:	.long 0
initrd_addr_max: .long 0x37FFFFFF
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 0
min_alignment:	.byte 0
xloadflags:	.word 0
cmdline_size:	.long 255

setup:
	/* DS = the setup segment (our offsets are file offsets); CS is
	 * DS + 0x20, so only relative jumps and calls are used. */
	movw $msg_a, %si
	call puts
	movb type_of_loader, %al
	call puthex8
	movw $msg_flags, %si
	call puts
	movb loadflags, %al
	call puthex8
	movw $msg_heap, %si
	call puts
	movw heap_end_ptr, %ax
	call puthex16
	movw $msg_seg, %si
	call puts
	movw %ds, %ax
	call puthex16
	movw $msg_cmdptr, %si
	call puts
	movl cmd_line_ptr, %eax
	call puthex32

	/* The protected-mode part, at 1 MiB. */
	movl $0x100000, %eax
	call copy_high
	movw $msg_kernel, %si
	call puts
	movw $buffer, %si
	movb $0, buffer + 8
	call puts

	movw $msg_rd, %si
	call puts
	movl ramdisk_image, %eax
	call puthex32
	movb $'+', %al
	call putc
	movl ramdisk_size, %eax
	call puthex32
	movl ramdisk_image, %eax
	call copy_high
	movw $msg_sum, %si
	call puts
	call sum_buffer
	call puthex16

	movw $msg_cmdline, %si
	call puts
	movl cmd_line_ptr, %eax
	movl %eax, %ebx
	shrl $4, %ebx
	andw $0x0F, %ax
	movw %ax, %si
	pushw %ds
	movw %bx, %ds
	call puts
	popw %ds
	movw $msg_end, %si
	call puts

	movb $0x21, %al
	outb %al, $0xF4
1:	hlt
	jmp 1b

/* Copies 512 bytes from linear EAX to 'buffer' with int 15h AH=87h. */
copy_high:
	movl %eax, gdt_src + 2          /* base 0-23 (the access byte follows) */
	movb $0x93, gdt_src + 5
	shrl $24, %eax
	movb %al, gdt_src + 7
	xorl %eax, %eax
	movw %ds, %ax
	shll $4, %eax
	addl $buffer, %eax
	movl %eax, gdt_dst + 2
	movb $0x93, gdt_dst + 5
	shrl $24, %eax
	movb %al, gdt_dst + 7
	pushw %ds
	popw %es
	movw $move_gdt, %si
	movw $256, %cx
	movb $0x87, %ah
	int $0x15
	jnc 2f
	movw $msg_int15, %si
	call puts
2:	ret

/* AX = 16-bit sum of the 512 bytes in 'buffer'. */
sum_buffer:
	xorw %ax, %ax
	xorw %bx, %bx
	movw $buffer, %si
3:	movb (%si), %bl
	addw %bx, %ax
	incw %si
	cmpw $buffer + 512, %si
	jb 3b
	ret

puts:
	lodsb
	testb %al, %al
	jz 4f
	call putc
	jmp puts
4:	ret

putc:
	pushw %dx
	movb %al, %ah
	movw $COM1 + 5, %dx
5:	inb %dx, %al
	testb $0x20, %al
	jz 5b
	movw $COM1, %dx
	movb %ah, %al
	outb %al, %dx
	popw %dx
	ret

puthex32:
	pushl %eax
	shrl $16, %eax
	call puthex16
	popl %eax
puthex16:
	pushw %ax
	movb %ah, %al
	call puthex8
	popw %ax
puthex8:
	pushw %ax
	shrb $4, %al
	call hexdigit
	popw %ax
	andb $0x0F, %al
hexdigit:
	addb $'0', %al
	cmpb $'9', %al
	jbe 6f
	addb $7, %al
6:	jmp putc

msg_a:		.asciz "TINYLINUX loader="
msg_flags:	.asciz " flags="
msg_heap:	.asciz " heap="
msg_seg:	.asciz " seg="
msg_cmdptr:	.asciz " cmdptr="
msg_kernel:	.asciz "\r\nTINYLINUX kernel="
msg_rd:		.asciz " rd="
msg_sum:	.asciz " sum="
msg_cmdline:	.asciz "\r\nTINYLINUX cmdline=["
msg_end:	.asciz "]\r\n"
msg_int15:	.asciz " int15-87-failed"

	.balign 8, 0
move_gdt:	.fill 16, 1, 0
gdt_src:	.word 0xFFFF
		.fill 6, 1, 0
gdt_dst:	.word 0xFFFF
		.fill 6, 1, 0
		.fill 16, 1, 0

	.org (SETUP_SECTS + 1) * 512
kernel_start:
	.ascii "TINYKERN"
	.fill 4096 - 8, 1, 0xCC
kernel_end:
