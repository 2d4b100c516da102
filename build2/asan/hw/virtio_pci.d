build2/asan/hw/virtio_pci.o: hw/virtio_pci.c include/hw/virtio_pci.h \
 include/guest_mem.h include/pci.h include/bus.h include/virtio.h \
 include/guest_mem.h include/util.h
include/hw/virtio_pci.h:
include/guest_mem.h:
include/pci.h:
include/bus.h:
include/virtio.h:
include/guest_mem.h:
include/util.h:
