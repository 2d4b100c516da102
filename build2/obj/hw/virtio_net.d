build2/obj/hw/virtio_net.o: hw/virtio_net.c include/hw/virtio_net.h \
 include/hw/virtio_pci.h include/guest_mem.h include/pci.h include/bus.h \
 include/virtio.h include/guest_mem.h include/net.h include/util.h
include/hw/virtio_net.h:
include/hw/virtio_pci.h:
include/guest_mem.h:
include/pci.h:
include/bus.h:
include/virtio.h:
include/guest_mem.h:
include/net.h:
include/util.h:
