build2/obj/src/topology.o: src/topology.c include/topology.h
include/topology.h:
