/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 64 KiB -bios image that opens a TCP connection to user networking's
 * SMB server (-netdev user,smb=DIR: 10.0.2.4 port 445) through an e1000
 * at 00:05.0, in real mode, as tests/fw/tftpget.S does its TFTP read (the
 * same card set-up and rings, which this file repeats). Once the
 * handshake is complete libslirp connects the flow to vmm's smbd launcher
 * over a unix socket, on the NIC's I/O thread, under its seccomp filter:
 * tests/fw/test_smb.py checks that vmm survives it and that an smbd
 * started for the connection.
 *
 * It sends an ARP request for 10.0.2.2 (so slirp learns our MAC), waits
 * for a frame, sends a SYN from 10.0.2.15:2069 to 10.0.2.4:445, waits for
 * the SYN-ACK, answers with the ACK (its acknowledgement number and TCP
 * checksum filled in here), prints "SMB-TCP-CONNECTED" on COM1 and halts,
 * leaving the connection open.
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
#define SYN_BUF 0x9100
#define ACK_BUF 0x9200
#define ARP_LEN 42
#define TCP_LEN 54
/* the ones' complement sum, of 16-bit words read little-endian, of the
 * ACK's pseudo-header and TCP header with acknowledgement and checksum 0 */
#define ACK_PARTIAL_SUM 0x017d

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
	movw $syn_frame, %si
	movw $SYN_BUF, %di
	movw $TCP_LEN, %cx
	rep movsb
	movw $ack_frame, %si
	movw $ACK_BUF, %di
	movw $TCP_LEN, %cx
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
	/* transmit descriptors 0 (ARP), 1 (SYN), 2 (ACK): EOP | IFCS | RS */
	movl $ARP_BUF, (TX_RING)
	movl $0, (TX_RING + 4)
	movl $(ARP_LEN | 0x0B000000), (TX_RING + 8)
	movl $0, (TX_RING + 12)
	movl $SYN_BUF, (TX_RING + 16)
	movl $0, (TX_RING + 20)
	movl $(TCP_LEN | 0x0B000000), (TX_RING + 24)
	movl $0, (TX_RING + 28)
	movl $ACK_BUF, (TX_RING + 32)
	movl $0, (TX_RING + 36)
	movl $(TCP_LEN | 0x0B000000), (TX_RING + 40)
	movl $0, (TX_RING + 44)
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
	movw $0x3818, %bx            /* TDT 2: the SYN */
	movl $2, %ecx
	call e1000_write
wait_syn_ack:
	call next_frame              /* %di: the frame */
	cmpw $0x0008, 12(%di)        /* IPv4 (big-endian 0x0800) */
	jne skip
	cmpb $6, 23(%di)             /* TCP */
	jne skip
	cmpw $0xbd01, 34(%di)        /* from port 445 (0x01bd, big-endian) */
	jne skip
	movb 47(%di), %al            /* SYN and ACK */
	andb $0x12, %al
	cmpb $0x12, %al
	jne skip
	/* acknowledgement number: their sequence number + 1 */
	movl 38(%di), %eax
	bswapl %eax
	incl %eax
	bswapl %eax
	movl %eax, (ACK_BUF + 42)
	/* the TCP checksum: the partial sum plus those two words, folded */
	movl $ACK_PARTIAL_SUM, %ecx
	movzwl (ACK_BUF + 42), %eax
	addl %eax, %ecx
	movzwl (ACK_BUF + 44), %eax
	addl %eax, %ecx
	movl %ecx, %eax
	shrl $16, %eax
	andl $0xFFFF, %ecx
	addl %eax, %ecx
	movl %ecx, %eax
	shrl $16, %eax
	addw %ax, %cx
	notw %cx
	movw %cx, (ACK_BUF + 50)
	call give_back
	movw $0x3818, %bx            /* TDT 3: the ACK */
	movl $3, %ecx
	call e1000_write
	movw $connected_msg, %bx
1:	movb %cs:(%bx), %al
	testb %al, %al
	jz 2f
	call putc
	incw %bx
	jmp 1b
2:	hlt                          /* interrupts are off: stays here */
	jmp 2b
skip:
	call give_back
	jmp wait_syn_ack

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

connected_msg:
	.asciz "SMB-TCP-CONNECTED\n"

arp_frame:
	/* broadcast, our MAC, ARP: request, who has 10.0.2.2, tell 10.0.2.15 */
	.byte 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06
	.byte 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01
	.byte 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15
	.byte 0, 0, 0, 0, 0, 0, 10, 0, 2, 2
syn_frame:
	/* to slirp's gateway MAC; IPv4: 40 bytes, ID 3, DF, TTL 64, TCP,
	 * checksum 0x22bb, 10.0.2.15 -> 10.0.2.4; TCP 2069 -> 445, sequence
	 * 0x10000000, SYN, window 64240, checksum 0x830d */
	.byte 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00
	.byte 0x45, 0x00, 0x00, 0x28, 0x00, 0x03, 0x40, 0x00, 0x40, 0x06, 0x22, 0xbb
	.byte 0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02, 0x04
	.byte 0x08, 0x15, 0x01, 0xbd, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
	.byte 0x50, 0x02, 0xfa, 0xf0, 0x83, 0x0d, 0x00, 0x00
ack_frame:
	/* IPv4 ID 4 (checksum 0x22ba); TCP sequence 0x10000001, ACK; the
	 * acknowledgement number and the checksum are filled in */
	.byte 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00
	.byte 0x45, 0x00, 0x00, 0x28, 0x00, 0x04, 0x40, 0x00, 0x40, 0x06, 0x22, 0xba
	.byte 0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02, 0x04
	.byte 0x08, 0x15, 0x01, 0xbd, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00
	.byte 0x50, 0x10, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00

	.org 0xFFF0
reset_vector:
	ljmp $0xF000, $start
	.org 0x10000
