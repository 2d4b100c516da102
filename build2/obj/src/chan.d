build2/obj/src/chan.o: src/chan.c include/chan.h include/util.h
include/chan.h:
include/util.h:
