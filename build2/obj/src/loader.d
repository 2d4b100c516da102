build2/obj/src/loader.o: src/loader.c include/loader.h \
 include/hw/fw_cfg.h include/bus.h include/guest_mem.h include/util.h
include/loader.h:
include/hw/fw_cfg.h:
include/bus.h:
include/guest_mem.h:
include/util.h:
