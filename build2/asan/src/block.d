build2/asan/src/block.o: src/block.c include/block.h include/qcow2.h \
 include/block.h include/util.h
include/block.h:
include/qcow2.h:
include/block.h:
include/util.h:
