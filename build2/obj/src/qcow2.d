build2/obj/src/qcow2.o: src/qcow2.c include/qcow2.h include/block.h \
 include/util.h
include/qcow2.h:
include/block.h:
include/util.h:
