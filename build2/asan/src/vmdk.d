build2/asan/src/vmdk.o: src/vmdk.c include/block.h include/util.h
include/block.h:
include/util.h:
