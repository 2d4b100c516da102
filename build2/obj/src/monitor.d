build2/obj/src/monitor.o: src/monitor.c include/monitor.h include/vmctl.h \
 include/util.h
include/monitor.h:
include/vmctl.h:
include/util.h:
