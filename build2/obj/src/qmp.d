build2/obj/src/qmp.o: src/qmp.c include/qmp.h include/vmctl.h \
 include/json.h include/util.h
include/qmp.h:
include/vmctl.h:
include/json.h:
include/util.h:
