build2/obj/src/bus.o: src/bus.c include/bus.h include/util.h
include/bus.h:
include/util.h:
