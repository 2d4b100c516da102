/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the gdb stub's tests (tests/fw/test_gdbstub.py).
 * From the reset vector it goes to long mode (through 32-bit protected
 * mode) and copies its 64-bit payload to RAM at 1 MiB, where it
 * runs at the virtual address PAYLOAD_VA: a page-table mapping that is not
 * the identity, so the stub's memory accesses must walk the guest's page
 * tables (KVM_TRANSLATE). The payload counts ROUNDS times through a loop
 * (the counter in %rbx and in RAM, the dword 'counter'), then prints
 * "GDBOK\n" on the debug console (port 0xe9) and spins for ever, still
 * incrementing 'spins' (so a Ctrl-C finds it running).
 *
 * Page tables at 0x10000: PML4[0] -> identity for the first 4 MiB (2 MiB
 * pages), PML4[511] -> PDPT[510] -> the same 4 MiB at 0xFFFFFFFF80000000.
 */
#define PML4 0x10000
#define PDPT_LOW 0x11000
#define PDPT_HIGH 0x12000
#define PD 0x13000
#define PAYLOAD_PA 0x100000
#define ROM_BASE 0xF0000
#define DEBUGCON 0xE9
#define ROUNDS 3
#define GDT_RAM 0x600
#define PAYLOAD_VA (0xFFFFFFFF80000000 + PAYLOAD_PA)

	.code16
	.text
	.globl _start
_start:
start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	/* page tables */
	cld
	movw $(PML4 >> 4), %ax
	movw %ax, %es
	xorw %di, %di
	xorl %eax, %eax
	movw $(0x4000 / 4), %cx
	rep stosl
	movl $(PDPT_LOW | 3), %es:0
	movl $(PDPT_HIGH | 3), %es:(511 * 8)
	movl $(PD | 3), %es:(0x1000)
	movl $(PD | 3), %es:(0x2000 + 510 * 8)
	movl $0x000083, %es:(0x3000)       /* 2 MiB page at 0 */
	movl $0x200083, %es:(0x3000 + 8)   /* 2 MiB page at 2 MiB */
	/* 32-bit protected mode first, then long mode from there (the
	 * path every 64-bit boot loader takes) */
	/* the GDT to RAM: descriptor loads through the ROM do not complete
	 * on every KVM (kvm_pvm's emulator spins on them) */
	xorw %ax, %ax
	movw %ax, %es
	movw $gdt, %si
	movw $GDT_RAM, %di
	movw $(gdt_end - gdt), %cx
	rep movsb %cs:(%si), %es:(%di)
	movw $(gdt_end - gdt - 1), GDT_RAM - 8
	movl $GDT_RAM, GDT_RAM - 6
	lgdtl GDT_RAM - 8
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x18, $(ROM_BASE + pm32)

	.code32
pm32:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $PML4, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ljmpl $0x08, $(ROM_BASE + long_entry)

	.code64
long_entry:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movq $0x8000, %rsp
	/* the payload to RAM, then to its high address */
	leaq payload(%rip), %rsi
	movq $PAYLOAD_PA, %rdi
	movq $(payload_end - payload), %rcx
	rep movsb
	movabsq $PAYLOAD_VA, %rax
	jmp *%rax

	.balign 8
gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF /* 64-bit code */
	.quad 0x00CF92000000FFFF /* data */
	.quad 0x00CF9A000000FFFF /* 32-bit code */
gdt_end:

/* Position-independent: runs at PAYLOAD_VA. */
	.balign 16
	.globl payload
payload:
	xorl %ebx, %ebx
	.globl loop_top
loop_top:
	incq %rbx
	movl %ebx, counter(%rip)
	.globl bp_target
bp_target:
	nop
	.globl after_nop
after_nop:
	nop
	cmpq $ROUNDS, %rbx
	jb loop_top
	.globl done
done:
	leaq msg(%rip), %rsi
1:	movb (%rsi), %al
	testb %al, %al
	jz spin
	outb %al, $DEBUGCON
	incq %rsi
	jmp 1b
	.globl spin
spin:
	incl spins(%rip)
	pause
	jmp spin
	.balign 8
	.globl counter
counter:
	.long 0
	.globl spins
spins:
	.long 0
	.globl magic
magic:
	.quad 0x1122334455667788
msg:
	.asciz "GDBOK\n"
payload_end:


	.code16
	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
