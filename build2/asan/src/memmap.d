build2/asan/src/memmap.o: src/memmap.c include/memmap.h \
 include/guest_mem.h include/kvm.h include/util.h
include/memmap.h:
include/guest_mem.h:
include/kvm.h:
include/util.h:
