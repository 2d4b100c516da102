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

FW_IMAGES := $(foreach m,0 1 2 3 4 5,$(FW_BUILD)/disk-$(m).img) $(FW_BUILD)/cd-0.iso

fw-images: $(FW_IMAGES)

fwcheck: all fw-images
	VMM=$(abspath $(BUILD)/vmm) VMM_IMG=$(abspath $(BUILD)/vmm-img) FW_BUILD=$(abspath $(FW_BUILD)) \
		/usr/bin/python3 -m pytest -rs -v tests/fw

.PHONY: fw-images fwcheck
.SECONDARY: $(foreach m,0 1 2 3 4 5,$(FW_BUILD)/bootsect-$(m).bin)
