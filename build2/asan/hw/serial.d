build2/asan/hw/serial.o: hw/serial.c include/hw/serial.h include/bus.h \
 include/irq.h include/util.h
include/hw/serial.h:
include/bus.h:
include/irq.h:
include/util.h:
