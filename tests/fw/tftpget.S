/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image that reads a file over TFTP from user networking
 * (-netdev user,tftp=DIR) through an e1000 at 00:05.0, in real mode,
 * without SeaBIOS or iPXE: the part of network boot this project's host
 * can run (iPXE cannot run here, see tests/fw/pmirq.S). slirp's TFTP
 * server opens and reads the file on the thread that hands it the guest's
 * frames (the NIC's I/O thread), so this checks the sandbox lets it.
 *
 * It places the card (I/O BAR at 0xC000, bus mastering), sets up a
 * receive ring of 8 descriptors at 0x8200 (2 KiB buffers from 0xC000,
 * unicast/multicast promiscuous, broadcasts) and a transmit ring at
 * 0x8000, sends an ARP request for 10.0.2.2 (so slirp learns our MAC),
 * waits for a frame, then a TFTP read request for "tftp.txt" (octet, from
 * 10.0.2.15:2069 to 10.0.2.2:69), and waits for a UDP datagram from port
 * 69: DATA (opcode 3) gets its first line printed on COM1, anything else
 * "TFTP-ERROR". Then it exits through isa-debug-exit (0xF4, 0x10: 33).
 */
#define CFG_ADDR 0xCF8
#define CFG_DATA 0xCFC
#define DEVFN_05 (0x80000000 | (5 << 11))
#define IOBASE 0xC000
#define COM1 0x3F8
#define TX_RING 0x8000
#define RX_RING 0x8200
#define RX_BUFS 0xC000
#define ARP_BUF 0x9000
#define RRQ_BUF 0x9100
#define ARP_LEN 42
#define RRQ_LEN 59

	.code16
	.text
	.globl _start
_start:
start:
	cli
	xorw %ax, %ax
	movw %ax, %ss
	movw $0x7000, %sp
	/* the two frames from ROM to RAM */
	movw $0xF000, %ax
	movw %ax, %ds
	xorw %ax, %ax
	movw %ax, %es
	cld
	movw $arp_frame, %si
	movw $ARP_BUF, %di
	movw $ARP_LEN, %cx
	rep movsb
	movw $rrq_frame, %si
	movw $RRQ_BUF, %di
	movw $RRQ_LEN, %cx
	rep movsb
	xorw %ax, %ax
	movw %ax, %ds
	/* receive descriptors: buffer i at RX_BUFS + i * 2 KiB, the rest 0 */
	movw $RX_RING, %di
	movl $RX_BUFS, %eax
1:	movl %eax, (%di)
	movl $0, 4(%di)
	movl $0, 8(%di)
	movl $0, 12(%di)
	addl $0x800, %eax
	addw $16, %di
	cmpw $(RX_RING + 128), %di
	jb 1b
	/* transmit descriptors 0 (ARP) and 1 (RRQ): EOP | IFCS | RS */
	movl $ARP_BUF, (TX_RING)
	movl $0, (TX_RING + 4)
	movl $(ARP_LEN | 0x0B000000), (TX_RING + 8)
	movl $0, (TX_RING + 12)
	movl $RRQ_BUF, (TX_RING + 16)
	movl $0, (TX_RING + 20)
	movl $(RRQ_LEN | 0x0B000000), (TX_RING + 24)
	movl $0, (TX_RING + 28)
	/* BAR1: the I/O window; I/O decode and bus mastering */
	movl $(DEVFN_05 | 0x14), %eax
	movw $CFG_ADDR, %dx
	outl %eax, %dx
	movl $IOBASE, %eax
	movw $CFG_DATA, %dx
	outl %eax, %dx
	movl $(DEVFN_05 | 0x04), %eax
	movw $CFG_ADDR, %dx
	outl %eax, %dx
	movw $0x0005, %ax
	movw $CFG_DATA, %dx
	outw %ax, %dx
	/* receive: RDBAL, RDBAH, RDLEN 8 descriptors, RDH 0, RDT 7, RCTL */
	movw $0x2800, %bx
	movl $RX_RING, %ecx
	call e1000_write
	movw $0x2804, %bx
	xorl %ecx, %ecx
	call e1000_write
	movw $0x2808, %bx
	movl $128, %ecx
	call e1000_write
	movw $0x2810, %bx
	xorl %ecx, %ecx
	call e1000_write
	movw $0x2818, %bx
	movl $7, %ecx
	call e1000_write
	movw $0x0100, %bx            /* RCTL: EN UPE MPE BAM, 2 KiB buffers */
	movl $0x0000801A, %ecx
	call e1000_write
	/* transmit: TDBAL, TDBAH, TDLEN, TCTL EN PSP, then TDT 1: the ARP */
	movw $0x3800, %bx
	movl $TX_RING, %ecx
	call e1000_write
	movw $0x3804, %bx
	xorl %ecx, %ecx
	call e1000_write
	movw $0x3808, %bx
	movl $128, %ecx
	call e1000_write
	movw $0x0400, %bx
	movl $0x0A, %ecx
	call e1000_write
	movw $0x3818, %bx
	movl $1, %ecx
	call e1000_write
	/* %si: the next receive descriptor's index */
	xorw %si, %si
	call next_frame              /* slirp's ARP reply */
	call give_back
	movw $0x3818, %bx            /* TDT 2: the read request */
	movl $2, %ecx
	call e1000_write
wait_data:
	call next_frame              /* %di: the frame */
	cmpw $0x0008, 12(%di)        /* IPv4 (big-endian 0x0800) */
	jne skip
	cmpb $17, 23(%di)            /* UDP */
	jne skip
	cmpw $0x4500, 34(%di)        /* from port 69 (0x0045, big-endian) */
	jne skip
	cmpw $0x0300, 42(%di)        /* TFTP DATA */
	jne tftp_error
	leaw 46(%di), %bx            /* the file's first line */
	movw $64, %cx
print:
	movb (%bx), %al
	call putc
	cmpb $'\n', %al
	je done
	incw %bx
	loop print
	jmp done
skip:
	call give_back
	jmp wait_data
tftp_error:
	movw $error_msg, %bx
1:	movb %cs:(%bx), %al
	testb %al, %al
	jz done
	call putc
	incw %bx
	jmp 1b
done:
	movw $(COM1 + 5), %dx        /* the last byte out */
1:	inb %dx, %al
	testb $0x40, %al
	jz 1b
	movw $0xF4, %dx
	movb $0x10, %al
	outb %al, %dx
2:	hlt
	jmp 2b

/* Waits until descriptor %si is done; %di := its buffer. */
next_frame:
	movw %si, %bx
	shlw $4, %bx
1:	testb $1, (RX_RING + 12)(%bx)
	jz 1b
	movw %si, %di
	shlw $11, %di
	addw $RX_BUFS, %di
	ret

/* Hands descriptor %si back to the card (RDT) and moves to the next. */
give_back:
	movw %si, %bx
	shlw $4, %bx
	movb $0, (RX_RING + 12)(%bx)
	movzwl %si, %ecx
	movw $0x2818, %bx
	call e1000_write
	incw %si
	andw $7, %si
	ret

/* register %bx := %ecx through IOADDR/IODATA */
e1000_write:
	movzwl %bx, %eax
	movw $IOBASE, %dx
	outl %eax, %dx
	movl %ecx, %eax
	movw $(IOBASE + 4), %dx
	outl %eax, %dx
	ret

/* %al to COM1 */
putc:
	pushw %ax
	movw $(COM1 + 5), %dx
1:	inb %dx, %al
	testb $0x20, %al
	jz 1b
	popw %ax
	movw $COM1, %dx
	outb %al, %dx
	ret

error_msg:
	.asciz "TFTP-ERROR\n"

arp_frame:
	/* broadcast, our MAC, ARP: request, who has 10.0.2.2, tell 10.0.2.15 */
	.byte 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06
	.byte 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01
	.byte 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15
	.byte 0, 0, 0, 0, 0, 0, 10, 0, 2, 2
rrq_frame:
	/* to slirp's gateway MAC; IPv4: 45 bytes, ID 2, DF, TTL 64, UDP,
	 * checksum 0x22ae, 10.0.2.15 -> 10.0.2.2 */
	.byte 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00
	.byte 0x45, 0x00, 0x00, 0x2d, 0x00, 0x02, 0x40, 0x00, 0x40, 0x11, 0x22, 0xae
	.byte 10, 0, 2, 15, 10, 0, 2, 2
	/* UDP 2069 -> 69, 25 bytes, no checksum; TFTP RRQ "tftp.txt" octet */
	.byte 0x08, 0x15, 0x00, 0x45, 0x00, 0x19, 0x00, 0x00
	.byte 0x00, 0x01
	.asciz "tftp.txt"
	.asciz "octet"

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
