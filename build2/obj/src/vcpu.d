build2/obj/src/vcpu.o: src/vcpu.c include/vcpu.h include/kvm.h \
 include/machine.h include/bus.h include/chan.h include/guest_mem.h \
 include/hw/chipset.h include/bus.h include/irq.h include/pci.h \
 include/kvm.h include/memmap.h include/net.h include/pci.h \
 include/topology.h include/vcpu.h include/topology.h include/util.h
include/vcpu.h:
include/kvm.h:
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
include/topology.h:
include/util.h:
