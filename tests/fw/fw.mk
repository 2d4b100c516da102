# Firmware-level tests: SeaBIOS on the host's /dev/kvm (whatever kind it
# is), booting boot sectors of ours from disk and CD.
FW_BUILD := $(BUILD)/fw

$(FW_BUILD)/bootsect-%.bin: tests/fw/bootsect.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DRESET_METHOD=$* -c -o $(FW_BUILD)/bootsect-$*.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/bootsect-$*.o

# A 1 MiB disk with the boot sector as its MBR.
$(FW_BUILD)/disk-%.img: $(FW_BUILD)/bootsect-%.bin
	cp $< $@
	truncate -s 1M $@

# An El Torito no-emulation CD holding the same boot sector.
$(FW_BUILD)/cd-%.iso: $(FW_BUILD)/bootsect-%.bin
	@rm -rf $(FW_BUILD)/cdroot-$* && mkdir -p $(FW_BUILD)/cdroot-$*
	cp $< $(FW_BUILD)/cdroot-$*/boot.bin
	xorriso -as mkisofs -quiet -o $@ -b boot.bin -no-emul-boot -boot-load-size 4 \
		$(FW_BUILD)/cdroot-$*

# Direct kernel boot payloads: a tiny bzImage and a Multiboot ELF.
$(FW_BUILD)/tinylinux.bin: tests/fw/tinylinux.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/tinylinux.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/tinylinux.o

# -N: one segment from 1 MiB, without the ELF headers mapped below it.
$(FW_BUILD)/multiboot.elf: tests/fw/multiboot.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/multiboot.o $<
	ld -m elf_i386 -N --no-warn-rwx-segments -Ttext 0x100000 -o $@ $(FW_BUILD)/multiboot.o

# Display tests: a boot sector per picture (tests/fw/vgaboot.S), as a disk.
$(FW_BUILD)/vgadisk-%.img: tests/fw/vgaboot.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DVGA_TEST=$* -c -o $(FW_BUILD)/vgaboot-$*.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $(FW_BUILD)/vgaboot-$*.bin $(FW_BUILD)/vgaboot-$*.o
	cp $(FW_BUILD)/vgaboot-$*.bin $@
	truncate -s 1M $@

# A 64 KiB -bios image for the debug console tests (no SeaBIOS).
$(FW_BUILD)/debugcon.bin: tests/fw/debugcon.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/debugcon.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/debugcon.o

# A 64 KiB -bios image that prints CPUID's brand string (the CPU model
# tests, tests/fw/test_cpu_brand.py).
$(FW_BUILD)/cpubrand.bin: tests/fw/cpubrand.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/cpubrand.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/cpubrand.o

# A 64 KiB -bios image that counts in RAM and prints to COM1 (the
# migration tests, tests/fw/test_migration.py).
$(FW_BUILD)/migcount.bin: tests/fw/migcount.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/migcount.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/migcount.o

# A 64 KiB -bios image that counts in RAM and on an IDE disk (the VM
# snapshot tests, tests/fw/test_savevm.py).
$(FW_BUILD)/diskcount.bin: tests/fw/diskcount.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/diskcount.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/diskcount.o

# -bios images that send one UDP datagram through an emulated NIC.
$(FW_BUILD)/nictx-e1000.bin: tests/fw/nictx.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/nictx-e1000.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/nictx-e1000.o

$(FW_BUILD)/nictx-rtl8139.bin: tests/fw/nictx.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DNIC_RTL8139 -c -o $(FW_BUILD)/nictx-rtl8139.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/nictx-rtl8139.o

$(FW_BUILD)/nictx-ne2k_pci.bin: tests/fw/nictx.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DNIC_NE2K -c -o $(FW_BUILD)/nictx-ne2k_pci.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/nictx-ne2k_pci.o

$(FW_BUILD)/nictx-ne2k_isa.bin: tests/fw/nictx.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DNE2K_ISA -c -o $(FW_BUILD)/nictx-ne2k_isa.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/nictx-ne2k_isa.o

$(FW_BUILD)/nictx-pcnet.bin: tests/fw/nictx.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DNIC_PCNET -c -o $(FW_BUILD)/nictx-pcnet.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/nictx-pcnet.o

# Network boot (tests/fw/test_pxe.py): the NBP the NIC ROMs fetch over
# TFTP (also a valid MBR), a -bios image that reads a file over TFTP
# through the e1000 by itself, and the boot sector that asks whether the
# host can run iPXE at all (32-bit protected-mode interrupts).
$(FW_BUILD)/pxeboot.0: tests/fw/pxeboot.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/pxeboot.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/pxeboot.o

$(FW_BUILD)/tftpget.bin: tests/fw/tftpget.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/tftpget.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/tftpget.o

$(FW_BUILD)/smbconn.bin: tests/fw/smbconn.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/smbconn.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/smbconn.o

# A boot sector that counts the PIT's ticks after a stretch with interrupts
# off (tests/fw/test_pit.py: kvm-pit's lost_tick_policy).
$(FW_BUILD)/tickburst.img: tests/fw/tickburst.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/tickburst.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/tickburst.o
	truncate -s 1M $@

$(FW_BUILD)/pmirq.img: tests/fw/pmirq.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/pmirq.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/pmirq.o
	truncate -s 1M $@

# Sound: a boot sector that plays through a Sound Blaster 16 (8-bit mono,
# 16-bit stereo, and 16-bit without end for the SIGTERM test).
$(FW_BUILD)/sb16play-%.img: tests/fw/sb16play.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding \
		$(if $(filter forever,$*),-DSB16_BITS=16 -DFOREVER,-DSB16_BITS=$*) \
		-c -o $(FW_BUILD)/sb16play-$*.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/sb16play-$*.o
	truncate -s 1M $@

# Sound: a boot sector that plays through a CS4231A (WSS codec at 0x534, IRQ 9,
# DMA 3) by auto-init DMA with the count's interrupt: 16-bit stereo at 44100 Hz
# and 8-bit mono at 22050 Hz, and 16-bit without end (forever: the bench).
$(FW_BUILD)/cs4231aplay-%.img: tests/fw/cs4231aplay.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding \
		$(if $(filter forever,$*),-DCS_BITS=16 -DFOREVER,-DCS_BITS=$*) \
		-c -o $(FW_BUILD)/cs4231aplay-$*.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/cs4231aplay-$*.o
	truncate -s 1M $@

# Sound: a boot sector that uploads a sawtooth into a Gravis Ultrasound's DRAM
# by DMA (channel 3) and plays it with a 16-bit and an 8-bit voice at 44100 Hz;
# gusplay-forever.img loops both voices without end (the bench).
$(FW_BUILD)/gusplay.img: tests/fw/gusplay.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/gusplay.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/gusplay.o
	truncate -s 1M $@

$(FW_BUILD)/gusplay-forever.img: tests/fw/gusplay.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -DFOREVER -c -o $(FW_BUILD)/gusplay-forever.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/gusplay-forever.o
	truncate -s 1M $@

# Sound: a boot sector that plays through an ES1370 by bus mastering: DAC2
# 16-bit stereo and 8-bit mono, DAC1 16-bit stereo at its fixed 22050 Hz, as
# one stop-mode count (exact length); the same with an interrupt per period
# (16p, dac1p: the QEMU comparison), and DAC2 16-bit without end (forever).
ES1370_FLAGS_16 := -DES_BITS=16 -DES_DAC=2 -DONESHOT
ES1370_FLAGS_8 := -DES_BITS=8 -DES_DAC=2 -DONESHOT
ES1370_FLAGS_dac1 := -DES_BITS=16 -DES_DAC=1 -DONESHOT
ES1370_FLAGS_16p := -DES_BITS=16 -DES_DAC=2
ES1370_FLAGS_dac1p := -DES_BITS=16 -DES_DAC=1
ES1370_FLAGS_forever := -DES_BITS=16 -DES_DAC=2 -DFOREVER
$(FW_BUILD)/es1370play-%.img: tests/fw/es1370play.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding $(ES1370_FLAGS_$*) -c -o $(FW_BUILD)/es1370play-$*.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/es1370play-$*.o
	truncate -s 1M $@

# Sound: a boot sector that plays the PC speaker (1000 Hz, silence with the
# gate on, 440 Hz), timed by the PM timer.
$(FW_BUILD)/pcspkplay.img: tests/fw/pcspkplay.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/pcspkplay.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/pcspkplay.o
	truncate -s 1M $@

# The gdb stub's guest (tests/fw/test_gdbstub.py): a -bios image that
# enters long mode and runs a payload at a high virtual address; its .o
# stays for the symbols' offsets (nm).
$(FW_BUILD)/gdbguest.bin: tests/fw/gdbguest.S
	@mkdir -p $(dir $@)
	$(CC) -m64 -nostdlib -ffreestanding -c -o $(FW_BUILD)/gdbguest.o $<
	ld -m elf_x86_64 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/gdbguest.o

# A 64 KiB -bios image that watches the secondary master CD drive (ATAPI
# PIO) and prints what it sees (tests/fw/test_media.py).
$(FW_BUILD)/cdpoll.bin: tests/fw/cdpoll.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/cdpoll.o $<
	ld -m elf_i386 -Ttext 0 --oformat binary -o $@ $(FW_BUILD)/cdpoll.o

# A floppy boot sector that reads on through int 13h (tests/fw/test_floppy.py,
# which builds the 1.44M image around it).
$(FW_BUILD)/fdboot.bin: tests/fw/fdboot.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -ffreestanding -c -o $(FW_BUILD)/fdboot.o $<
	ld -m elf_i386 -Ttext 0x7C00 --oformat binary -o $@ $(FW_BUILD)/fdboot.o

FW_IMAGES := $(FW_BUILD)/fdboot.bin $(foreach m,0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15,$(FW_BUILD)/disk-$(m).img) $(FW_BUILD)/cd-0.iso \
	$(FW_BUILD)/cd-1.iso \
	$(FW_BUILD)/tinylinux.bin $(FW_BUILD)/multiboot.elf $(FW_BUILD)/debugcon.bin \
	$(FW_BUILD)/cpubrand.bin \
	$(FW_BUILD)/migcount.bin $(FW_BUILD)/diskcount.bin $(FW_BUILD)/gdbguest.bin \
	$(FW_BUILD)/cdpoll.bin \
	$(foreach t,1 2 3 4 5 6 7 8 9,$(FW_BUILD)/vgadisk-$(t).img) \
	$(FW_BUILD)/nictx-e1000.bin $(FW_BUILD)/nictx-rtl8139.bin $(FW_BUILD)/nictx-ne2k_pci.bin \
	$(FW_BUILD)/nictx-ne2k_isa.bin $(FW_BUILD)/nictx-pcnet.bin \
	$(FW_BUILD)/pxeboot.0 $(FW_BUILD)/pmirq.img $(FW_BUILD)/tickburst.img $(FW_BUILD)/tftpget.bin $(FW_BUILD)/smbconn.bin \
	$(FW_BUILD)/sb16play-8.img $(FW_BUILD)/sb16play-16.img $(FW_BUILD)/sb16play-forever.img \
	$(FW_BUILD)/es1370play-16.img $(FW_BUILD)/es1370play-8.img $(FW_BUILD)/es1370play-dac1.img \
	$(FW_BUILD)/es1370play-16p.img $(FW_BUILD)/es1370play-dac1p.img $(FW_BUILD)/es1370play-forever.img \
	$(FW_BUILD)/cs4231aplay-16.img $(FW_BUILD)/cs4231aplay-8.img $(FW_BUILD)/cs4231aplay-forever.img \
	$(FW_BUILD)/gusplay.img $(FW_BUILD)/gusplay-forever.img \
	$(FW_BUILD)/pcspkplay.img

fw-images: $(FW_IMAGES)

# build/vmm-asan: test_lifecycle.py's leak check of a full machine.
fwcheck: all fw-images $(BUILD)/vmm-asan
	VMM=$(abspath $(BUILD)/vmm) VMM_IMG=$(abspath $(BUILD)/vmm-img) FW_BUILD=$(abspath $(FW_BUILD)) \
		VMM_ASAN=$(abspath $(BUILD)/vmm-asan) \
		VMM_GUEST_CACHE=$${VMM_GUEST_CACHE:-$(abspath $(GUEST_CACHE))} \
		/usr/bin/python3 -m pytest -rs -v --durations=25 tests/fw

.PHONY: fw-images fwcheck
.SECONDARY: $(foreach m,0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15,$(FW_BUILD)/bootsect-$(m).bin)
