build2/asan/hw/fw_cfg.o: hw/fw_cfg.c include/hw/fw_cfg.h include/bus.h \
 include/guest_mem.h include/util.h
include/hw/fw_cfg.h:
include/bus.h:
include/guest_mem.h:
include/util.h:
