build2/asan/src/console.o: src/console.c include/console.h \
 include/machine.h include/bus.h include/chan.h include/guest_mem.h \
 include/hw/chipset.h include/bus.h include/irq.h include/pci.h \
 include/kvm.h include/memmap.h include/net.h include/pci.h \
 include/topology.h include/vcpu.h include/hw/serial.h include/util.h
include/console.h:
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
include/hw/serial.h:
include/util.h:
