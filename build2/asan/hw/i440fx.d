build2/asan/hw/i440fx.o: hw/i440fx.c include/hw/chipset.h include/bus.h \
 include/irq.h include/pci.h include/bus.h include/memmap.h \
 include/guest_mem.h include/util.h
include/hw/chipset.h:
include/bus.h:
include/irq.h:
include/pci.h:
include/bus.h:
include/memmap.h:
include/guest_mem.h:
include/util.h:
