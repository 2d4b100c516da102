build2/obj/src/main.o: src/main.c include/cli.h include/machine.h \
 include/bus.h include/chan.h include/guest_mem.h include/hw/chipset.h \
 include/bus.h include/irq.h include/pci.h include/kvm.h include/memmap.h \
 include/net.h include/pci.h include/topology.h include/vcpu.h \
 include/control.h include/vmctl.h include/daemon.h include/machine.h \
 include/util.h
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
include/control.h:
include/vmctl.h:
include/daemon.h:
include/machine.h:
include/util.h:
