build2/obj/src/net_slirp.o: src/net_slirp.c include/net.h include/util.h
include/net.h:
include/util.h:
