build2/asan/hw/piix_ide.o: hw/piix_ide.c include/hw/ide.h include/block.h \
 include/bus.h include/guest_mem.h include/irq.h include/pci.h \
 include/bus.h hw/ide_internal.h include/util.h
include/hw/ide.h:
include/block.h:
include/bus.h:
include/guest_mem.h:
include/irq.h:
include/pci.h:
include/bus.h:
hw/ide_internal.h:
include/util.h:
