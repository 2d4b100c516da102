build2/asan/src/loader_multiboot.o: src/loader_multiboot.c \
 include/loader.h include/util.h
include/loader.h:
include/util.h:
