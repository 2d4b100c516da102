build2/asan/src/virtqueue.o: src/virtqueue.c include/virtio.h \
 include/guest_mem.h include/util.h
include/virtio.h:
include/guest_mem.h:
include/util.h:
