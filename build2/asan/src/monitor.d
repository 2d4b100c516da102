build2/asan/src/monitor.o: src/monitor.c include/monitor.h \
 include/vmctl.h include/util.h
include/monitor.h:
include/vmctl.h:
include/util.h:
