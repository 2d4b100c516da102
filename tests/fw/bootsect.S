/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A boot sector for firmware-level tests. SeaBIOS loads it at 0x7C00 from
 * a disk (MBR) or a CD (El Torito, no emulation). It prints a line on COM1
 * with the BIOS boot drive number, then either exits through isa-debug-exit
 * (port 0xF4, value 0x10: vmm status 33) or, when RESET_METHOD is set,
 * resets the machine once by that method and exits on the second boot.
 * CMOS byte 0x50 carries the boot count across the reset.
 *   RESET_METHOD 1: 0xCF9 reset control   2: keyboard controller 0xFE
 *                3: port 0x92 bit 0       4: triple fault
 *                5: none, idle in hlt forever (QMP tests drive the machine)
 * RESET_METHOD 6 does not reset: it writes this sector to LBA 1 through
 * int 13h (AH=03h), reads it back (AH=02h) and prints VMM-WRITE-OK, so
 * tests can see where guest writes land (overlays, -snapshot).
 * RESET_METHOD 7 prints CPUID leaf 1 ECX and leaf 7 EBX as the guest sees
 * them ("VMM-CPUID 1.ecx=XXXXXXXX 7.ebx=XXXXXXXX") and exits (-cpu tests).
 * RESET_METHOD 8 enables the RTC's periodic interrupt (which starts vmm's
 * RTC timer thread), polls register C until the periodic flag has been seen
 * 16 times, prints VMM-RTC-OK and exits (interrupts stay off throughout).
 * RESET_METHOD 9 checks the interrupt and DMA paths: sets IRQ 3 level in
 * the ELCR and prints what reads back ("VMM-ELCR XX"), prints the DMA
 * controller 2 mask register (channel 4 unmasked by SeaBIOS's cascade
 * set-up) and channel 2's address, page and high page written and read
 * back ("VMM-DMA MM AAAA PP HH"), then has COM1 raise and lower IRQ 4
 * with the line level-, then edge-triggered, and prints the PIC's IRR bit
 * after each ("VMM-IRQ4 10 00 10 10").
 * RESET_METHOD 10 is for dirty logging: it prints VMM-DIRTY-READY, waits
 * for a byte B on COM1, writes one byte at 0x100000 + (B & 15) * 4 KiB,
 * prints VMM-DIRTY-DONE, waits for another byte and starts over. From
 * READY to that second byte it writes no other memory (no stack: no
 * calls), with interrupts off, so the pages dirtied in between are
 * exactly the one it was told to write.
 * RESET_METHOD 11 is for the watchdogs: it points the NMI vector at a
 * handler that prints VMM-WDT-NMI and exits, arms an ib700 for 2 s
 * (index 14 at port 0x443), prints VMM-WDT-ARMED and idles in hlt; the
 * watchdog action decides what happens next.
 * RESET_METHOD 13 idles like 5 but with interrupts off (cli; hlt), so no
 * SeaBIOS interrupt handler runs after the boot line: the saved-state
 * round trips of tests/fw/test_lifecycle.py then never catch the vCPU in
 * SeaBIOS's 32-bit code, whose state kvm_pvm reports inconsistently (real
 * mode with a 32-bit code address; docs/testing.md).
 * RESET_METHOD 12 is for the serial ports: it prints the BIOS data area's
 * four COM port addresses as SeaBIOS found them ("VMM-BDA-COM 03F8 02F8
 * 03E8 0000"), writes VMM-COM2-OK out of the second one (if there is one),
 * then, if there is a third, shares IRQ 4 between COM1 and it (the line
 * level-triggered in the ELCR): both raise it (THRE interrupt enabled),
 * COM1 lowers, then the other; prints the PIC's IRR bit 4 after each
 * ("VMM-SHARE 10 10 00": the line stays up while either asks).
 * RESET_METHOD 14 prints the RTC's date and time as the guest reads them
 * (register A's update-in-progress flag clear first), the BCD registers as
 * hex: "VMM-RTC 2006-06-17 16:01:21" (century 0x32, year, month, day,
 * hours, minutes, seconds), for -rtc base= (tests/fw/test_machine_opts.py).
 * RESET_METHOD 15 is a serial echo for the console multiplexer
 * (tests/fw/test_mux.py): prints VMM-ECHO-READY, then polls COM1's LSR
 * forever: a break (BI) prints VMM-BREAK (its zero character dropped),
 * any other byte received is sent back.
 */
#ifndef RESET_METHOD
#define RESET_METHOD 0
#endif
#define COM1 0x3F8
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define BOOT_COUNT 0x50

	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $0x7C00, %sp
	ljmp $0, $1f
1:	movb %dl, boot_drive

	movw $msg, %si
	call puts
	movb boot_drive, %al
	call puthex
	movw $newline, %si
	call puts

#if RESET_METHOD == 5
	sti
idle:	hlt
	jmp idle
#elif RESET_METHOD == 13
	cli
13:	hlt
	jmp 13b
#elif RESET_METHOD == 6
	movw $0x0301, %ax       /* write 1 sector */
	movw $0x0002, %cx       /* cylinder 0, sector 2 (LBA 1) */
	xorb %dh, %dh
	movb boot_drive, %dl
	movw $0x7C00, %bx       /* ES = 0 */
	int $0x13
	jc done
	movw $0x0201, %ax       /* read it back to 0x8000 */
	movw $0x0002, %cx
	xorb %dh, %dh
	movb boot_drive, %dl
	movw $0x8000, %bx
	int $0x13
	jc done
	movw 0x8000 + 510, %ax
	cmpw $0xAA55, %ax
	jne done
	movw $writeok, %si
	call puts
#elif RESET_METHOD == 7
	movl $1, %eax
	xorl %ecx, %ecx
	cpuid
	movl %ecx, %ebx
	movw $cpuid1, %si
	call puts
	call put32
	movl $7, %eax
	xorl %ecx, %ecx
	cpuid
	movw $cpuid7, %si
	call puts
	call put32
	movw $newline, %si
	call puts
#elif RESET_METHOD == 8
	movb $0x0B, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	orb $0x40, %al          /* register B: PIE */
	movb %al, %bl
	movb $0x0B, %al
	outb %al, $CMOS_INDEX
	movb %bl, %al
	outb %al, $CMOS_DATA
	movw $16, %cx
6:	movb $0x0C, %al         /* register C (reading clears it) */
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	testb $0x40, %al        /* PF */
	jz 6b
	loop 6b
	movw $rtcok, %si
	call puts
#elif RESET_METHOD == 9
	movw $0x4D0, %dx        /* ELCR 1: IRQ 3 level, read back, restore */
	inb %dx, %al
	movb %al, %bl
	orb $0x08, %al
	outb %al, %dx
	inb %dx, %al
	movb %al, %bh
	movb %bl, %al
	outb %al, %dx
	movw $elcrmsg, %si
	call puts
	movb %bh, %al
	call puthex
	movw $dmamsg, %si
	call puts
	inb $0xDE, %al          /* controller 2: all mask bits */
	call puthex
	movb $' ', %al
	call putc
	outb %al, $0x0C         /* channel 2 address 0x1234 */
	movb $0x34, %al
	outb %al, $0x04
	movb $0x12, %al
	outb %al, $0x04
	outb %al, $0x0C
	inb $0x04, %al
	movb %al, %bl
	inb $0x04, %al
	call puthex
	movb %bl, %al
	call puthex
	movb $0x56, %al         /* page 0x81, high page 0x481 */
	outb %al, $0x81
	movw $0x481, %dx
	movb $0x78, %al
	outb %al, %dx
	movb $' ', %al
	call putc
	inb $0x81, %al
	call puthex
	movb $' ', %al
	call putc
	movw $0x481, %dx
	inb %dx, %al
	call puthex
	movw $irqmsg, %si       /* IRQ 4 level-triggered, then edge */
	call puts
	movb $0x10, %bl
	call irq4_probe
	movb $' ', %al
	call putc
	xorb %bl, %bl
	call irq4_probe
	movw $newline, %si
	call puts
#elif RESET_METHOD == 10
	/* The waits are inlined: a call would write its return address. */
	.macro wait_com1_byte
	movw $COM1 + 5, %dx
1:	inb %dx, %al
	testb $0x01, %al        /* LSR.DR */
	jz 1b
	movw $COM1, %dx
	inb %dx, %al
	.endm
dirty_round:
	movw $dirtyready, %si
	call puts
	wait_com1_byte
	andw $0x0F, %ax
	shlw $12, %ax
	addw $0x10, %ax         /* 0xFFFF:0x0010 is 0x100000 (no A20 gate) */
	movw %ax, %bx
	movw $0xFFFF, %ax
	movw %ax, %es
	movb $0xA5, %es:(%bx)
	movw $dirtydone, %si
8:	lodsb
	testb %al, %al
	jz 10f
	movb %al, %ah
	movw $COM1 + 5, %dx
9:	inb %dx, %al
	testb $0x20, %al
	jz 9b
	movw $COM1, %dx
	movb %ah, %al
	outb %al, %dx
	jmp 8b
10:	wait_com1_byte          /* the test has read the bitmap: next round */
	jmp dirty_round
#elif RESET_METHOD == 11
	movw $wdt_nmi, 0x0008   /* IVT entry 2 (NMI), DS = 0 */
	movw $0, 0x000A
	movw $0x443, %dx
	movb $14, %al           /* 30 s - 2 s * 14 */
	outb %al, %dx
	movw $wdtarmed, %si
	call puts
	sti
11:	hlt
	jmp 11b
wdt_nmi:
	/* the NMI may land in a SeaBIOS interrupt handler with its own DS
	 * (the timer's, which a held vCPU owes when it runs again) */
	xorw %ax, %ax
	movw %ax, %ds
	cld
	movw $wdtnmi, %si
	call puts
	jmp done
#elif RESET_METHOD == 12
	movw $bdamsg, %si
	call puts
	movw $0x400, %bx        /* BDA: COM1-COM4 base addresses (DS = 0) */
	movw $4, %cx
12:	movb $' ', %al
	call putc
	movw (%bx), %ax
	pushw %ax
	movb %ah, %al
	call puthex
	popw %ax
	call puthex
	addw $2, %bx
	loop 12b
	movw $newline, %si
	call puts
	movw 0x402, %bx         /* the second port SeaBIOS found */
	testw %bx, %bx
	jz done
	movw $com2msg, %si
13:	lodsb
	testb %al, %al
	jz 15f
	movb %al, %ah
	leaw 5(%bx), %dx
14:	inb %dx, %al            /* LSR.THRE */
	testb $0x20, %al
	jz 14b
	movw %bx, %dx
	movb %ah, %al
	outb %al, %dx
	jmp 13b
15:	movw 0x404, %bx         /* the third: IRQ 4 with COM1 */
	testw %bx, %bx
	jz done
	incw %bx                /* its IER */
	movw $0x4D0, %dx        /* ELCR 1: IRQ 4 level-triggered */
	inb %dx, %al
	orb $0x10, %al
	outb %al, %dx
	movw $sharemsg, %si
	call puts
	movb $0x02, %al         /* both ask (ETBEI with THR empty) */
	movw $COM1 + 1, %dx
	outb %al, %dx
	movw %bx, %dx
	outb %al, %dx
	call irr4
	movb $' ', %al
	call putc
	movw $COM1 + 1, %dx     /* COM1 stops asking */
	xorb %al, %al
	outb %al, %dx
	call irr4
	movb $' ', %al
	call putc
	movw %bx, %dx           /* and the other */
	xorb %al, %al
	outb %al, %dx
	call irr4
	movw $newline, %si
	call puts
#elif RESET_METHOD == 15
	movw $echoready, %si
	call puts
15:	movw $COM1 + 5, %dx
	inb %dx, %al            /* BI is cleared by this read: test this value */
	testb $0x10, %al        /* LSR.BI */
	jz 16f
	movw $breakmsg, %si
	call puts
	movw $COM1, %dx
	inb %dx, %al            /* the break's zero character */
	jmp 15b
16:	testb $0x01, %al        /* LSR.DR */
	jz 15b
	movw $COM1, %dx
	inb %dx, %al
	call putc
	jmp 15b
#elif RESET_METHOD == 14
14:	movb $0x0A, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	testb $0x80, %al        /* UIP: the registers change within 244 us */
	jnz 14b
	movw $rtcmsg, %si
	call puts
	movw $rtcfields, %si
15:	lodsb                   /* a register index, or 0 at the end */
	testb %al, %al
	jz 16f
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	call puthex
	lodsb                   /* what follows it */
	testb %al, %al
	jz 15b
	call putc
	jmp 15b
16:	movw $newline, %si
	call puts
#elif RESET_METHOD
	movb $BOOT_COUNT, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	incb %al
	movb %al, %bl
	movb $BOOT_COUNT, %al
	outb %al, $CMOS_INDEX
	movb %bl, %al
	outb %al, $CMOS_DATA
	cmpb $1, %bl
	jne done
	movw $resetting, %si
	call puts
#if RESET_METHOD == 1
	movw $0xCF9, %dx
	movb $0x02, %al
	outb %al, %dx
	movb $0x06, %al
	outb %al, %dx
#elif RESET_METHOD == 2
	movb $0xFE, %al
	outb %al, $0x64
#elif RESET_METHOD == 3
	inb $0x92, %al
	orb $0x01, %al
	outb %al, $0x92
#elif RESET_METHOD == 4
	/* In protected mode an interrupt through an empty IDT faults, the
	 * fault faults again, and the third fault shuts the CPU down. (In
	 * real mode KVM's emulator would not check the IVT limit.) */
	lidt null_idt
	movl %cr0, %eax
	orb $1, %al
	movl %eax, %cr0
	int $3
#endif
	jmp .
#endif

done:
	movb $0x10, %al
	outb %al, $0xF4
	hlt
	jmp done

/* Prints the NUL-terminated string at %si on COM1, polling LSR.THRE. */
puts:
	lodsb
	testb %al, %al
	jz 2f
	call putc
	jmp puts
2:	ret

putc:
	movb %al, %ah
	movw $COM1 + 5, %dx
3:	inb %dx, %al
	testb $0x20, %al
	jz 3b
	movw $COM1, %dx
	movb %ah, %al
	outb %al, %dx
	ret

#if RESET_METHOD == 9
/* ELCR bit 4 := %bl; COM1 raises IRQ 4 (THRE interrupt enabled with THR
 * empty), then lowers it (IIR read); prints the PIC's IRR bit 4 after
 * each: a level-triggered line follows the wire (10 00), an edge-triggered
 * one keeps the edge it latched (10 10). Interrupts stay off. */
irq4_probe:
	movw $0x4D0, %dx
	inb %dx, %al
	andb $0xEF, %al
	orb %bl, %al
	outb %al, %dx
	movw $COM1 + 1, %dx
	movb $0x02, %al
	outb %al, %dx
	call irr4
	movb $' ', %al
	call putc
	movw $COM1 + 2, %dx
	inb %dx, %al
	movw $COM1 + 1, %dx
	xorb %al, %al
	outb %al, %dx
#endif
#if RESET_METHOD == 9 || RESET_METHOD == 12
/* Prints the PIC's IRR bit 4 (10 or 00). */
irr4:
	movb $0x0A, %al         /* OCW3: read IRR */
	outb %al, $0x20
	inb $0x20, %al
	andb $0x10, %al
	jmp puthex
#endif

#if RESET_METHOD == 7
/* Prints %ebx as 8 hex digits. */
put32:
	movw $4, %cx
5:	roll $8, %ebx
	movb %bl, %al
	call puthex
	loop 5b
	ret
#endif

puthex:
	pushw %ax
	shrb $4, %al
	call hexdigit
	popw %ax
	andb $0x0F, %al
hexdigit:
	addb $'0', %al
	cmpb $'9', %al
	jbe 4f
	addb $7, %al
4:	jmp putc

null_idt:
	.word 0
	.long 0
boot_drive:
	.byte 0
msg:
	.asciz "VMM-BOOT-OK drive="
newline:
	.asciz "\r\n"
resetting:
	.asciz "VMM-RESETTING\r\n"
#if RESET_METHOD == 6
writeok:
	.asciz "VMM-WRITE-OK\r\n"
#endif
#if RESET_METHOD == 15
echoready:
	.asciz "VMM-ECHO-READY\r\n"
breakmsg:
	.asciz "VMM-BREAK\r\n"
#endif
#if RESET_METHOD == 14
/* index, separator (0: none) pairs after "VMM-RTC " (seconds are index 0,
 * so the list starts with its prefix and ends at a 0 index) */
rtcmsg:
	.asciz "VMM-RTC "
rtcfields:
	.byte 0x32, 0, 0x09, '-', 0x08, '-', 0x07, ' ', 0x04, ':', 0x02, ':', 0x80, 0, 0
#endif
#if RESET_METHOD == 8
rtcok:
	.asciz "VMM-RTC-OK\r\n"
#endif
#if RESET_METHOD == 9
elcrmsg:
	.asciz "VMM-ELCR "
dmamsg:
	.asciz " VMM-DMA "
irqmsg:
	.asciz " VMM-IRQ4 "
#endif
#if RESET_METHOD == 10
dirtyready:
	.asciz "VMM-DIRTY-READY\r\n"
dirtydone:
	.asciz "VMM-DIRTY-DONE\r\n"
#endif
#if RESET_METHOD == 11
wdtarmed:
	.asciz "VMM-WDT-ARMED\r\n"
wdtnmi:
	.asciz "VMM-WDT-NMI\r\n"
#endif
#if RESET_METHOD == 12
bdamsg:
	.asciz "VMM-BDA-COM"
com2msg:
	.asciz "VMM-COM2-OK\r\n"
sharemsg:
	.asciz "VMM-SHARE "
#endif
#if RESET_METHOD == 7
cpuid1:
	.asciz "VMM-CPUID 1.ecx="
cpuid7:
	.asciz " 7.ebx="
#endif

	.org 510
	.byte 0x55, 0xAA
