build2/asan/src/guest_mem.o: src/guest_mem.c include/guest_mem.h \
 include/util.h
include/guest_mem.h:
include/util.h:
