/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image for the emulated NICs' firmware-level test: from
 * the reset vector, in real mode, it places the card at 00:05.0 itself
 * (an I/O BAR at 0xC000, I/O decode and bus mastering on), copies a UDP
 * datagram for 10.0.2.2:47123 ("VMM-NIC-TX-UDP", from 10.0.2.15:1234) into
 * RAM at 0x9000 and has the card send it, through the I/O window only:
 *
 *   e1000 (default): IOADDR/IODATA at 0xC000/0xC004; a transmit ring of
 *     8 descriptors at 0x8000, one legacy descriptor (EOP, IFCS, RS), TDT 1.
 *   rtl8139 (-DNIC_RTL8139): C mode, slot 0: CR.TE, TSAD0, TSD0 = length.
 *   ne2k_pci (-DNIC_NE2K): the frame into the card's memory at 0x4000 by
 *     a word-wide remote write through the data port, then TPSR, TBCR and
 *     CR.TXP. With -DNE2K_ISA the same on the ISA card at 0x300 (no PCI).
 *   pcnet (-DNIC_PCNET): software style 2 (BCR20), an init block at
 *     0x8000 with one-descriptor rings, one TMD (OWN STP ENP), CSR1/2,
 *     CSR0 INIT, then STRT and TDMD.
 *
 * Then it halts: the test receives the datagram on the host, through
 * user networking, which opens a host socket for it on the vCPU that
 * wrote the doorbell (its sandbox list has the slirp set for this).
 */
#define CFG_ADDR 0xCF8
#define CFG_DATA 0xCFC
#define DEVFN_05 (0x80000000 | (5 << 11))
#define IOBASE 0xC000
#define RING 0x8000
#define BUF 0x9000
#define FRAME_LEN 56
#ifdef NE2K_ISA
#define NIC_NE2K
#undef IOBASE
#define IOBASE 0x300
#endif

	.code16
	.text
	.globl _start
_start:
start:
	cli
	xorw %ax, %ax
	movw %ax, %ss
	movw $0x7000, %sp
	/* the datagram from ROM to RAM */
	movw $0xF000, %ax
	movw %ax, %ds
	xorw %ax, %ax
	movw %ax, %es
	movw $frame, %si
	movw $BUF, %di
	movw $FRAME_LEN, %cx
	cld
	rep movsb
	xorw %ax, %ax
	movw %ax, %ds
#ifndef NE2K_ISA
#if defined(NIC_RTL8139) || defined(NIC_NE2K) || defined(NIC_PCNET)
	/* BAR0 is the I/O window */
	movl $(DEVFN_05 | 0x10), %eax
#else
	/* BAR1 is the I/O window (BAR0 the registers in memory) */
	movl $(DEVFN_05 | 0x14), %eax
#endif
	movw $CFG_ADDR, %dx
	outl %eax, %dx
	movl $IOBASE, %eax
	movw $CFG_DATA, %dx
	outl %eax, %dx
	movl $(DEVFN_05 | 0x04), %eax
	movw $CFG_ADDR, %dx
	outl %eax, %dx
	movw $0x0005, %ax            /* I/O decode, bus master */
	movw $CFG_DATA, %dx
	outw %ax, %dx
#endif
#if defined(NIC_NE2K)
	movw $IOBASE, %dx            /* CR: stopped, no DMA */
	movb $0x21, %al
	outb %al, %dx
	movw $(IOBASE + 0x0E), %dx   /* DCR: word-wide */
	movb $0x49, %al
	outb %al, %dx
	movw $(IOBASE + 0x0A), %dx   /* RBCR: the frame's length */
	movb $FRAME_LEN, %al
	outb %al, %dx
	incw %dx
	xorb %al, %al
	outb %al, %dx
	movw $(IOBASE + 0x08), %dx   /* RSAR: 0x4000 */
	xorb %al, %al
	outb %al, %dx
	incw %dx
	movb $0x40, %al
	outb %al, %dx
	movw $IOBASE, %dx            /* CR: remote write, start */
	movb $0x12, %al
	outb %al, %dx
	movw $BUF, %si
	movw $(FRAME_LEN / 2), %cx
	movw $(IOBASE + 0x10), %dx
	rep outsw
	movw $(IOBASE + 0x04), %dx   /* TPSR: page 0x40 */
	movb $0x40, %al
	outb %al, %dx
	movw $(IOBASE + 0x05), %dx   /* TBCR */
	movb $FRAME_LEN, %al
	outb %al, %dx
	incw %dx
	xorb %al, %al
	outb %al, %dx
	movw $IOBASE, %dx            /* CR: transmit */
	movb $0x26, %al
	outb %al, %dx
#elif defined(NIC_PCNET)
	movw $(IOBASE + 0x14), %dx   /* reset (WIO) */
	inw %dx, %ax
	movw $20, %ax                /* BCR20: software style 2 */
	movw $(IOBASE + 0x12), %dx
	outw %ax, %dx
	movw $2, %ax
	movw $(IOBASE + 0x16), %dx
	outw %ax, %dx
	/* init block: mode 0, rings of 1, no filter, RDRA 0x8100, TDRA 0x8200 */
	movl $0, (RING)
	movl $0, (RING + 4)
	movl $0, (RING + 8)
	movl $0, (RING + 12)
	movl $0, (RING + 16)
	movl $(RING + 0x100), (RING + 20)
	movl $(RING + 0x200), (RING + 24)
	movl $0, (RING + 0x104)      /* the receive descriptor: not the card's */
	movl $BUF, (RING + 0x200)    /* TMD: buffer, OWN STP ENP, -length */
	movl $(0x8300F000 | (0x1000 - FRAME_LEN)), (RING + 0x204)
	movl $0, (RING + 0x208)
	movw $1, %bx                 /* CSR1, CSR2: the init block */
	movw $RING, %cx
	call pcnet_csr
	movw $2, %bx
	xorw %cx, %cx
	call pcnet_csr
	xorw %bx, %bx                /* CSR0: INIT, then STRT and TDMD */
	movw $0x0001, %cx
	call pcnet_csr
	movw $0x000A, %cx
	call pcnet_csr
#elif defined(NIC_RTL8139)
	movw $(IOBASE + 0x37), %dx   /* CR: transmit enable */
	movb $0x04, %al
	outb %al, %dx
	movw $(IOBASE + 0x20), %dx   /* TSAD0 */
	movl $BUF, %eax
	outl %eax, %dx
	movw $(IOBASE + 0x10), %dx   /* TSD0: the length starts it */
	movl $FRAME_LEN, %eax
	outl %eax, %dx
#else
	/* descriptor 0: buffer, length, EOP | IFCS | RS */
	movl $BUF, %eax
	movl %eax, (RING)
	movl $0, (RING + 4)
	movl $(FRAME_LEN | 0x0B000000), (RING + 8)
	movl $0, (RING + 12)
	movw $0x3800, %bx            /* TDBAL */
	movl $RING, %ecx
	call e1000_write
	movw $0x3804, %bx            /* TDBAH */
	xorl %ecx, %ecx
	call e1000_write
	movw $0x3808, %bx            /* TDLEN: 8 descriptors */
	movl $128, %ecx
	call e1000_write
	movw $0x0400, %bx            /* TCTL: EN, PSP */
	movl $0x0A, %ecx
	call e1000_write
	movw $0x3818, %bx            /* TDT */
	movl $1, %ecx
	call e1000_write
#endif
1:	hlt
	jmp 1b

#ifdef NIC_PCNET
/* CSR %bx := %cx through RAP and RDP */
pcnet_csr:
	movw %bx, %ax
	movw $(IOBASE + 0x12), %dx
	outw %ax, %dx
	movw %cx, %ax
	movw $(IOBASE + 0x10), %dx
	outw %ax, %dx
	ret
#endif

#if !defined(NIC_RTL8139) && !defined(NIC_NE2K) && !defined(NIC_PCNET)
/* register %bx := %ecx through IOADDR/IODATA */
e1000_write:
	movzwl %bx, %eax
	movw $IOBASE, %dx
	outl %eax, %dx
	movl %ecx, %eax
	movw $(IOBASE + 4), %dx
	outl %eax, %dx
	ret
#endif

frame:
	/* Ethernet: slirp's gateway, our MAC, IPv4 */
	.byte 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00
	/* IPv4: 42 bytes, ID 1, DF, TTL 64, UDP, checksum 0x22b2, 10.0.2.15 -> 10.0.2.2 */
	.byte 0x45, 0x00, 0x00, 0x2a, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0x22, 0xb2
	.byte 0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02, 0x02
	/* UDP 1234 -> 47123, 22 bytes, no checksum */
	.byte 0x04, 0xd2, 0xb8, 0x13, 0x00, 0x16, 0x00, 0x00
	.ascii "VMM-NIC-TX-UDP"

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
