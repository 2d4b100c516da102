build2/asan/src/daemon.o: src/daemon.c include/daemon.h include/util.h
include/daemon.h:
include/util.h:
