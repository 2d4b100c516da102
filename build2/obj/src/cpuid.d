build2/obj/src/cpuid.o: src/cpuid.c include/topology.h include/vcpu.h
include/topology.h:
include/vcpu.h:
