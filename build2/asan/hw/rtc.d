build2/asan/hw/rtc.o: hw/rtc.c include/hw/rtc.h include/bus.h \
 include/irq.h include/util.h
include/hw/rtc.h:
include/bus.h:
include/irq.h:
include/util.h:
