build2/obj/hw/piix_pm.o: hw/piix_pm.c include/hw/chipset.h include/bus.h \
 include/irq.h include/pci.h include/bus.h include/util.h
include/hw/chipset.h:
include/bus.h:
include/irq.h:
include/pci.h:
include/bus.h:
include/util.h:
