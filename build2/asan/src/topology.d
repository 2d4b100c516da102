build2/asan/src/topology.o: src/topology.c include/topology.h
include/topology.h:
