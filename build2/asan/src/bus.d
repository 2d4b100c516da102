build2/asan/src/bus.o: src/bus.c include/bus.h include/util.h
include/bus.h:
include/util.h:
