build2/asan/src/control.o: src/control.c include/control.h include/chan.h \
 include/vmctl.h include/monitor.h include/qmp.h include/util.h
include/control.h:
include/chan.h:
include/vmctl.h:
include/monitor.h:
include/qmp.h:
include/util.h:
