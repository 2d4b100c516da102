build2/asan/hw/ide_core.o: hw/ide_core.c hw/ide_internal.h \
 include/block.h include/guest_mem.h include/irq.h include/util.h
hw/ide_internal.h:
include/block.h:
include/guest_mem.h:
include/irq.h:
include/util.h:
