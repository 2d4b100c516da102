// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Every device model vmm has, in one visible list: -device, -device help,
 * -global and the board's fixed devices all look classes up here. Adding
 * a device is its model file, its struct dev_class and one line below
 * (docs/architecture.md, "How to add a device").
 */
#include "device.h"
#include "util.h"

extern const struct dev_class
	/* the board's fixed devices (board_only) */
	i440fx_class, piix3_class, piix3_ide_class, piix4_pm_class, rtc_class, isa_serial_class,
	kvm_pit_class, i8042_class, fw_cfg_class, port92_class, ioport80_class, i8257_class,
	isa_fdc_class,
	pcspk_class,
	/* what -device adds */
	ide_hd_class, ide_cd_class, virtio_blk_class, virtio_net_class, virtio_rng_class,
	virtio_balloon_class, virtio_serial_class, virtconsole_class, virtserialport_class,
	isa_debugcon_class, isa_debug_exit_class, i6300esb_class, ib700_class,
	vga_std_class, bochs_display_class, cirrus_vga_class, e1000_class, e1000_82544gc_class,
	e1000_82545em_class, rtl8139_class, ne2k_pci_class, ne2k_isa_class, pcnet_class,
	sb16_class, es1370_class, cs4231a_class, gus_class;

const struct dev_class *const dev_table[] = {
	&i440fx_class,
	&piix3_class,
	&piix3_ide_class,
	&piix4_pm_class,
	&rtc_class,
	&kvm_pit_class,
	&isa_serial_class,
	&i8042_class,
	&fw_cfg_class,
	&port92_class,
	&ioport80_class,
	&i8257_class,
	&isa_fdc_class,
	&pcspk_class,
	&ide_hd_class,
	&ide_cd_class,
	&virtio_blk_class,
	&virtio_net_class,
	&e1000_class,
	&e1000_82544gc_class,
	&e1000_82545em_class,
	&rtl8139_class,
	&ne2k_pci_class,
	&ne2k_isa_class,
	&pcnet_class,
	&virtio_rng_class,
	&virtio_balloon_class,
	&virtio_serial_class,
	&virtconsole_class,
	&virtserialport_class,
	&isa_debugcon_class,
	&isa_debug_exit_class,
	&i6300esb_class,
	&ib700_class,
	&vga_std_class,
	&bochs_display_class,
	&cirrus_vga_class,
	&sb16_class,
	&es1370_class,
	&cs4231a_class,
	&gus_class,
};

const unsigned dev_table_size = ARRAY_SIZE(dev_table);
