build2/obj/src/pci.o: src/pci.c include/pci.h include/bus.h \
 include/util.h
include/pci.h:
include/bus.h:
include/util.h:
