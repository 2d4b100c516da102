build2/obj/src/kvm.o: src/kvm.c include/kvm.h include/util.h
include/kvm.h:
include/util.h:
