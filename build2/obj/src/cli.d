build2/obj/src/cli.o: src/cli.c include/cli.h include/machine.h \
 include/bus.h include/chan.h include/guest_mem.h include/hw/chipset.h \
 include/bus.h include/irq.h include/pci.h include/kvm.h include/memmap.h \
 include/net.h include/pci.h include/topology.h include/vcpu.h \
 include/block.h include/util.h include/vmctl.h
include/cli.h:
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
include/util.h:
include/vmctl.h:
