build2/obj/src/machine_pc.o: src/machine_pc.c include/machine.h \
 include/bus.h include/chan.h include/guest_mem.h include/hw/chipset.h \
 include/bus.h include/irq.h include/pci.h include/kvm.h include/memmap.h \
 include/net.h include/pci.h include/topology.h include/vcpu.h \
 include/block.h include/console.h include/machine.h include/control.h \
 include/vmctl.h include/hw/fw_cfg.h include/guest_mem.h \
 include/hw/i8042.h include/hw/ide.h include/hw/rtc.h include/hw/serial.h \
 include/hw/virtio_blk.h include/hw/virtio_pci.h include/virtio.h \
 include/hw/virtio_net.h include/net.h include/hw/virtio_rng.h \
 include/loader.h include/util.h
include/machine.h:
include/bus.h:
include/chan.h:
include/guest_mem.h:
include/hw/chipset.h:
include/bus.h:
include/irq.h:
include/pci.h:
include/kvm.h:
include/memmap.h:
include/net.h:
include/pci.h:
include/topology.h:
include/vcpu.h:
include/block.h:
include/console.h:
include/machine.h:
include/control.h:
include/vmctl.h:
include/hw/fw_cfg.h:
include/guest_mem.h:
include/hw/i8042.h:
include/hw/ide.h:
include/hw/rtc.h:
include/hw/serial.h:
include/hw/virtio_blk.h:
include/hw/virtio_pci.h:
include/virtio.h:
include/hw/virtio_net.h:
include/net.h:
include/hw/virtio_rng.h:
include/loader.h:
include/util.h:
