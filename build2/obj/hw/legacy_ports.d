build2/obj/hw/legacy_ports.o: hw/legacy_ports.c include/hw/chipset.h \
 include/bus.h include/irq.h include/pci.h include/bus.h include/util.h
include/hw/chipset.h:
include/bus.h:
include/irq.h:
include/pci.h:
include/bus.h:
include/util.h:
