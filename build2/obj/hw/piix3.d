build2/obj/hw/piix3.o: hw/piix3.c include/hw/chipset.h include/bus.h \
 include/irq.h include/pci.h include/bus.h include/util.h
include/hw/chipset.h:
include/bus.h:
include/irq.h:
include/pci.h:
include/bus.h:
include/util.h:
