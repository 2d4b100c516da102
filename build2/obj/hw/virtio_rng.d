build2/obj/hw/virtio_rng.o: hw/virtio_rng.c include/hw/virtio_rng.h \
 include/hw/virtio_pci.h include/guest_mem.h include/pci.h include/bus.h \
 include/virtio.h include/guest_mem.h include/util.h
include/hw/virtio_rng.h:
include/hw/virtio_pci.h:
include/guest_mem.h:
include/pci.h:
include/bus.h:
include/virtio.h:
include/guest_mem.h:
include/util.h:
