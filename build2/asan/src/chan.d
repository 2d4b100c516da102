build2/asan/src/chan.o: src/chan.c include/chan.h include/util.h
include/chan.h:
include/util.h:
