build2/obj/hw/i8042.o: hw/i8042.c include/hw/i8042.h include/bus.h \
 include/irq.h include/util.h
include/hw/i8042.h:
include/bus.h:
include/irq.h:
include/util.h:
