build2/asan/bios/linuxboot_rom.o: build2/bios/linuxboot_rom.c
