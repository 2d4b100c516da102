build2/obj/src/util.o: src/util.c include/util.h
include/util.h:
