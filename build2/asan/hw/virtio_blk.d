build2/asan/hw/virtio_blk.o: hw/virtio_blk.c include/hw/virtio_blk.h \
 include/block.h include/hw/virtio_pci.h include/guest_mem.h \
 include/pci.h include/bus.h include/virtio.h include/guest_mem.h \
 include/util.h
include/hw/virtio_blk.h:
include/block.h:
include/hw/virtio_pci.h:
include/guest_mem.h:
include/pci.h:
include/bus.h:
include/virtio.h:
include/guest_mem.h:
include/util.h:
