/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmm's direct kernel boot option ROM (fw_cfg file genroms/linuxboot.bin).
 *
 * SeaBIOS runs the init entry at offset 3 (we need nothing there) and lists
 * the PnP header's Bootstrap Entry Vector as a boot device; vmm's
 * "bootorder" file puts it first. When SeaBIOS boots it, the BEV copies the
 * pieces vmm prepared (include/loader.h) from fw_cfg into RAM by DMA, which
 * reaches any address from real mode (without DMA: the data port into a
 * low bounce buffer, moved on by int 15h AH=87h), then enters the kernel:
 *
 *   Linux:     real mode, DS=ES=FS=GS=SS=setup segment, SP=heap end, at
 *              setup+0x200, so the setup code still has the BIOS services
 *   Multiboot: memory map and sizes from int 15h E820 / int 12h written into
 *              the info block, then flat 32-bit protected mode at the entry
 *              with EAX=0x2BADB002 and EBX=the info block
 *
 * If something fails, it prints a line on COM1 and returns to SeaBIOS,
 * which then tries the next boot device.
 */
#define FW_CFG_SEL       0x510
#define FW_CFG_DATA      0x511
#define FW_CFG_DMA_HI    0x514
#define FW_CFG_DMA_LO    0x518
#define DMA_ERROR        0x01
#define DMA_READ         0x02
#define DMA_SELECT       0x08
#define COM1             0x3f8

#define KEY_ID           0x01
#define KEY_KERNEL_ADDR  0x07
#define KEY_KERNEL_SIZE  0x08
#define KEY_INITRD_ADDR  0x0a
#define KEY_INITRD_SIZE  0x0b
#define KEY_KERNEL_ENTRY 0x10
#define KEY_KERNEL_DATA  0x11
#define KEY_INITRD_DATA  0x12
#define KEY_CMDLINE_ADDR 0x13
#define KEY_CMDLINE_SIZE 0x14
#define KEY_CMDLINE_DATA 0x15
#define KEY_SETUP_ADDR   0x16
#define KEY_SETUP_SIZE   0x17
#define KEY_SETUP_DATA   0x18

/* Our stack: the top of Linux's real-mode heap (setup segment 0x1000,
 * heap end 0xE000). Setup code and the Multiboot info both end below
 * 0x18000, so loading them cannot overwrite it. */
#define STACK_SEG        0x1000
#define STACK_TOP        0xE000
#define STACK_LINEAR     0x1E000
#define LINUX_HEAP_END   0xE000

/* Without DMA: 32 KiB at 0x20000, above everything we load below 1 MiB. */
#define BOUNCE_SEG       0x2000
#define BOUNCE_LINEAR    0x20000
#define BOUNCE_SIZE      0x8000
#define MOVE_GDT         0x8010

/* Multiboot info block fields. */
#define MBI_FLAGS        0
#define MBI_MEM_LOWER    4
#define MBI_MEM_UPPER    8
#define MBI_MMAP_LENGTH  44
#define MBI_MMAP_ADDR    48
#define MBI_FLAG_MMAP    0x40
#define MB_BOOT_MAGIC    0x2BADB002
#define SMAP             0x534D4150

	.code16
	.text
	.globl _start
_start:
	.byte 0x55, 0xaa
	.byte 0                 /* size in 512-byte blocks: set by tools/romsign */
	lret                    /* init entry: nothing to set up before boot */

	.org 0x18
	.word 0                 /* no PCI data structure */
	.word pnp_header

	.balign 16, 0
pnp_header:
	.ascii "$PnP"
	.byte 1                 /* structure revision */
	.byte 2                 /* length in 16-byte units */
	.word 0                 /* no next header */
	.byte 0
	.byte 0                 /* checksum: set by tools/romsign */
	.long 0                 /* device identifier */
	.word manufacturer
	.word product
	.byte 0, 0, 0           /* device type */
	.byte 0                 /* device indicators */
	.word 0                 /* BCV */
	.word 0                 /* disconnect vector */
	.word boot              /* BEV */
	.word 0
	.word 0                 /* static resource information */

manufacturer:
	.asciz "vmm"
product:
	.asciz "vmm direct kernel boot"

/* (address key, size key, data key) per piece, loaded in this order. */
items:
	.word KEY_SETUP_ADDR, KEY_SETUP_SIZE, KEY_SETUP_DATA
	.word KEY_KERNEL_ADDR, KEY_KERNEL_SIZE, KEY_KERNEL_DATA
	.word KEY_INITRD_ADDR, KEY_INITRD_SIZE, KEY_INITRD_DATA
	.word KEY_CMDLINE_ADDR, KEY_CMDLINE_SIZE, KEY_CMDLINE_DATA
items_end:

boot:
	cli
	cld
	movw %ss, %ax
	movw %sp, %bx
	movw $STACK_SEG, %cx
	movw %cx, %ss
	movw $STACK_TOP, %sp
	pushw %ax               /* SeaBIOS's stack, for returning on failure */
	pushw %bx
	movw %sp, %bp
	pushw %cs
	popw %ds

	/* SeaBIOS leaves A20 on; make sure, as Multiboot requires it. */
	inb $0x92, %al
	orb $0x02, %al
	andb $0xfe, %al
	outb %al, $0x92

	movw $KEY_ID, %ax
	call cfg_read32
	andl $0x02, %eax
	pushl %eax              /* at -4(%bp): nonzero when DMA is there */

	movw $items, %si
1:	call load_item
	cmpw $items_end, %si
	jb 1b

	movw $KEY_KERNEL_ENTRY, %ax
	call cfg_read32
	testl %eax, %eax
	jnz multiboot

	/* Linux: the boot protocol's real-mode entry. */
	movw $KEY_SETUP_ADDR, %ax
	call cfg_read32
	shrl $4, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movw $LINUX_HEAP_END, %sp
	addw $0x20, %ax
	pushw %ax
	pushw $0
	lret

multiboot:
	movl %eax, %esi         /* entry, kept until the jump */
	movw $KEY_SETUP_ADDR, %ax
	call cfg_read32
	shrl $4, %eax
	movw %ax, %es           /* the info block, at ES:0 */
	pushl %esi
	call fill_memory
	popl %esi
	cli
	xorl %eax, %eax
	movw %cs, %ax
	shll $4, %eax
	movl %eax, %edx         /* linear address of this ROM */
	addl $gdt, %eax
	pushl %eax
	pushw $(gdt_end - gdt - 1)
	movw %sp, %bx
	lgdtl %ss:(%bx)
	addw $6, %sp
	xorl %ebx, %ebx
	movw %es, %bx
	shll $4, %ebx           /* EBX: the info block */
	movl %cr0, %eax
	orb $1, %al
	movl %eax, %cr0
	addl $pm32, %edx
	pushl $0x08
	pushl %edx
	lretl

	.code32
pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $STACK_LINEAR, %esp
	movl $MB_BOOT_MAGIC, %eax
	jmp *%esi
	.code16

/* mem_lower, mem_upper and the E820 map into the info block at ES:0. */
fill_memory:
	int $0x12
	movzwl %ax, %eax
	movl %eax, %es:MBI_MEM_LOWER
	movl $0, %es:MBI_MEM_UPPER
	xorl %eax, %eax
	movw %es, %ax
	shll $4, %eax
	movl %es:MBI_MMAP_ADDR, %edi
	subl %eax, %edi         /* DI: the map area, inside the info block */
	movl %es:MBI_MMAP_LENGTH, %esi
	addl %edi, %esi         /* SI: end of the room vmm left for it */
	pushw %di
	xorl %ebx, %ebx
1:	leal 24(%edi), %eax
	cmpl %esi, %eax
	ja 3f
	leaw 4(%di), %di        /* the BIOS entry follows our size field */
	movl $0xE820, %eax
	movl $20, %ecx
	movl $SMAP, %edx
	int $0x15
	leaw -4(%di), %di
	jc 3f
	cmpl $SMAP, %eax
	jne 3f
	movl $20, %es:(%di)
	cmpl $0x100000, %es:4(%di)      /* mem_upper: the RAM run from 1 MiB */
	jne 2f
	cmpl $0, %es:8(%di)
	jne 2f
	cmpl $1, %es:20(%di)
	jne 2f
	movl %es:12(%di), %eax
	shrl $10, %eax
	movl %eax, %es:MBI_MEM_UPPER
2:	addw $24, %di
	testl %ebx, %ebx
	jnz 1b
3:	popw %ax
	movw %di, %cx
	subw %ax, %cx
	movzwl %cx, %ecx
	movl %ecx, %es:MBI_MMAP_LENGTH
	testl %ecx, %ecx
	jnz 4f
	andl $~MBI_FLAG_MMAP, %es:MBI_FLAGS
4:	ret

/* DS:SI: an item (address, size, data keys); advances SI past it. */
load_item:
	lodsw
	call cfg_read32
	movl %eax, %edi
	lodsw
	call cfg_read32
	movl %eax, %ecx
	lodsw
	testl %ecx, %ecx
	jz 2f
	cmpl $0, -4(%bp)
	je 1f
	call dma_read
	ret
1:	call pio_read
2:	ret

/* AX: key. Returns its first four bytes (little-endian) in EAX. */
cfg_read32:
	movw $FW_CFG_SEL, %dx
	outw %ax, %dx
	incw %dx
	xorl %eax, %eax
	pushw %cx
	movw $4, %cx
1:	inb %dx, %al
	rorl $8, %eax
	loop 1b
	popw %cx
	ret

/* AX: key, EDI: guest-physical destination, ECX: length. */
dma_read:
	pushl %ebx
	movl %edi, %ebx
	bswapl %ebx
	pushl %ebx              /* address, low half (big-endian like the rest) */
	pushl $0                /* address, high half */
	movl %ecx, %ebx
	bswapl %ebx
	pushl %ebx              /* length */
	movzwl %ax, %ebx
	shll $16, %ebx
	orl $(DMA_SELECT | DMA_READ), %ebx
	bswapl %ebx
	pushl %ebx              /* control */
	xorl %ebx, %ebx
	movw %ss, %bx
	shll $4, %ebx
	xorl %eax, %eax
	movw %sp, %ax
	addl %eax, %ebx         /* the access structure's physical address */
	xorl %eax, %eax
	movw $FW_CFG_DMA_HI, %dx
	outl %eax, %dx
	movl %ebx, %eax
	bswapl %eax
	movw $FW_CFG_DMA_LO, %dx
	outl %eax, %dx
	movw %sp, %bx
1:	movl %ss:(%bx), %eax    /* done when only the error bit may be left */
	bswapl %eax
	testl $~DMA_ERROR, %eax
	jnz 1b
	addw $16, %sp
	popl %ebx
	testl $DMA_ERROR, %eax
	jnz dma_error
	ret

/* AX: key, EDI: destination, ECX: length; the traditional interface:
 * rep insb into the bounce buffer, then the BIOS moves it into place. */
pio_read:
	movw $FW_CFG_SEL, %dx
	outw %ax, %dx
1:	movl %ecx, %ebx
	cmpl $BOUNCE_SIZE, %ebx
	jbe 2f
	movl $BOUNCE_SIZE, %ebx
2:	pushl %ecx
	pushl %edi
	movw $BOUNCE_SEG, %ax
	movw %ax, %es
	xorw %di, %di
	movw %bx, %cx
	movw $FW_CFG_DATA, %dx
	rep insb
	movb $0, %es:(%di)      /* an odd tail moves as a whole word */
	popl %edi
	call bios_move
	popl %ecx
	addl %ebx, %edi
	subl %ebx, %ecx
	jnz 1b
	ret

/* int 15h AH=87h: EBX bytes from the bounce buffer to EDI. The BIOS wants
 * a 48-byte descriptor table; it goes right after the buffer, not on our
 * stack, where SeaBIOS's handler returned to a corrupted address. */
bios_move:
	pushl %ebx
	pushl %esi
	pushl %edi
	movw $BOUNCE_SEG, %ax
	movw %ax, %es
	movw $MOVE_GDT, %si
	movw %si, %di
	xorl %eax, %eax
	movw $12, %cx
	rep stosl
	movw $0xFFFF, %es:16(%si)       /* source: limit, base, access */
	movl $BOUNCE_LINEAR, %es:18(%si)
	movb $0x93, %es:21(%si)
	popl %edi
	movw $0xFFFF, %es:24(%si)       /* destination */
	movl %edi, %eax
	movl %eax, %es:26(%si)
	movb $0x93, %es:29(%si)
	shrl $24, %eax
	movb %al, %es:31(%si)
	movl %ebx, %ecx
	incl %ecx
	shrl $1, %ecx                   /* words */
	pushl %edi
	movb $0x87, %ah
	int $0x15
	popl %edi
	popl %esi
	popl %ebx
	jc move_error
	ret

move_error:
	movw $msg_move_error, %si
	jmp fail
dma_error:
	movw $msg_dma_error, %si
fail:
	call puts
	movw %bp, %sp
	popw %bx
	popw %ax
	movw %ax, %ss
	movw %bx, %sp
	sti
	lret

/* DS:SI: a NUL-terminated string, to COM1. */
puts:
	lodsb
	testb %al, %al
	jz 2f
	movb %al, %ah
	movw $(COM1 + 5), %dx
1:	inb %dx, %al
	testb $0x20, %al
	jz 1b
	movb %ah, %al
	movw $COM1, %dx
	outb %al, %dx
	jmp puts
2:	ret

msg_move_error:
	.asciz "vmm linuxboot: int 15h AH=87h failed\r\n"
msg_dma_error:
	.asciz "vmm linuxboot: fw_cfg DMA error\r\n"

	.balign 8, 0
/* Accessed bits preset: the CPU would otherwise write them into this
 * read-only shadow copy when loading the segments. */
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff        /* 0x08: flat 32-bit code */
	.quad 0x00cf93000000ffff        /* 0x10: flat data */
gdt_end:
