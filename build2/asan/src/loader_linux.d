build2/asan/src/loader_linux.o: src/loader_linux.c include/loader.h \
 include/util.h
include/loader.h:
include/util.h:
