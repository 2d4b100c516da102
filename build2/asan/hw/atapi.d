build2/asan/hw/atapi.o: hw/atapi.c hw/ide_internal.h include/block.h \
 include/guest_mem.h include/irq.h include/util.h
hw/ide_internal.h:
include/block.h:
include/guest_mem.h:
include/irq.h:
include/util.h:
