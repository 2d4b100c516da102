// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QEMU 7.2's names (qemu-system-x86_64) that vmm does not implement, with
 * the reason: one table per kind. What vmm implements is not listed here:
 * the option table (src/cli.c) and the device table are the truth for that.
 */
#include "qemu_names.h"

#include <string.h>

#include "util.h"

static const struct qemu_name options[] = {
	{ "numa", "one NUMA node only" },
	{ "audio", "use -audiodev with -device CARD,audiodev=ID" },
	{ "dfilter", "KVM only (no TCG log)" },
	{ "add-fd", "no fd sets" },
	{ "set", "no -readconfig groups" },
	{ "blockdev", "use -drive" },
	{ "mtdblock", "no flash devices on a PC" },
	{ "sd", "no SD card reader on a PC" },
	{ "pflash", "SeaBIOS only (-bios); no UEFI flash" },
	{ "fsdev", "no 9p file systems" },
	{ "virtfs", "no 9p file systems" },
	{ "iscsi", "no iSCSI initiator" },
	{ "usb", "no USB controller" },
	{ "usbdevice", "no USB controller" },
	{ "spice", "no SPICE server (use -vnc)" },
	{ "portrait", "no display rotation" },
	{ "rotate", "no display rotation" },
	{ "win2k-hack", "not needed by vmm's IDE" },
	{ "acpitable", "SeaBIOS builds the ACPI tables" },
	{ "smbios", "SeaBIOS builds the SMBIOS tables (-uuid sets the system UUID)" },
	{ "dtb", "no device trees on a PC" },
	{ "compat", "no deprecated-interface policy" },
	{ "fw_cfg", "no user fw_cfg files" },
	{ "parallel", "no parallel port" },
	{ "qmp-pretty", "QMP replies are one line each" },
	{ "singlestep", "KVM only (no TCG)" },
	{ "preconfig", "no preconfig state" },
	{ "d", "KVM only (no TCG log)" },
	{ "D", "KVM only (no TCG log)" },
	{ "seed", "KVM only (no TCG)" },
	{ "xen-attach", "KVM only" },
	{ "xen-domid-restrict", "KVM only" },
	{ "no-shutdown", "power-off always ends vmm" },
	{ "action", "use -no-reboot and -watchdog-action" },
	{ "option-rom", "no user option ROMs" },
	{ "icount", "KVM only (no TCG)" },
	{ "echr", "the escape key is Ctrl-A" },
	{ "only-migratable", "no migration blockers to refuse" },
	{ "readconfig", "no configuration files" },
	{ "trace", "no trace events" },
	{ "plugin", "KVM only (no TCG plugins)" },
	{ "qtest", "no qtest protocol" },
	{ "qtest-log", "no qtest protocol" },
	{ "dump-vmstate", "vmm's saved state is its own format" },
	{ "enable-sync-profile", "no lock profiling" },
	{ "tpmdev", "no TPM" },
	{ "no-quit", "the SDL window always closes" },
	{ "alt-grab", "use -display sdl,grab-mod=" },
	{ "ctrl-grab", "use -display sdl,grab-mod=rctrl" },
	{ "xen-domid", "KVM only" },
};

/* what QEMU's other sound devices are told */
#define SOUND_HINT "sound: sb16, ES1370, cs4231a or gus"

static const struct qemu_name devices[] = {
	{ "qemu-xhci", "no USB" }, { "nec-usb-xhci", "no USB" }, { "piix3-usb-uhci", "no USB" },
	{ "piix4-usb-uhci", "no USB" }, { "ich9-usb-ehci1", "no USB" }, { "ich9-usb-uhci1", "no USB" },
	{ "usb-ehci", "no USB" }, { "pci-ohci", "no USB" }, { "usb-tablet", "no USB" },
	{ "usb-kbd", "no USB" }, { "usb-mouse", "no USB" }, { "usb-storage", "no USB" },
	{ "usb-host", "no USB" }, { "usb-redir", "no USB" }, { "usb-hub", "no USB" },
	{ "usb-audio", "no USB" }, { "usb-serial", "no USB" }, { "usb-net", "no USB" },
	{ "virtio-scsi-pci", "no SCSI (use virtio-blk-pci)" }, { "scsi-hd", "no SCSI" },
	{ "scsi-cd", "no SCSI" }, { "scsi-generic", "no SCSI" }, { "scsi-block", "no SCSI" },
	{ "lsi53c895a", "no SCSI" }, { "megasas", "no SCSI" }, { "megasas-gen2", "no SCSI" },
	{ "pvscsi", "no SCSI" }, { "am53c974", "no SCSI" }, { "dc390", "no SCSI" },
	{ "mptsas1068", "no SCSI" }, { "ahci", "no AHCI (IDE and virtio-blk)" },
	{ "ich9-ahci", "no AHCI (IDE and virtio-blk)" }, { "ide-drive", "use ide-hd or ide-cd" },
	{ "nvme", "no NVMe" }, { "nvme-ns", "no NVMe" }, { "sdhci-pci", "no SD" },
	{ "floppy", "the floppy drives are -fda/-fdb or -drive if=floppy" },
	{ "isa-parallel", "no parallel port" }, { "pci-serial", "use isa-serial" },
	{ "pci-serial-2x", "use isa-serial" }, { "pci-serial-4x", "use isa-serial" },
	{ "intel-hda", SOUND_HINT },
	{ "ich9-intel-hda", SOUND_HINT },
	{ "hda-duplex", SOUND_HINT },
	{ "hda-output", SOUND_HINT },
	{ "hda-micro", SOUND_HINT },
	{ "AC97", SOUND_HINT },
	{ "adlib", SOUND_HINT },
	{ "pcspk", "the PC speaker is -machine pcspk-audiodev=ID" },
	{ "virtio-gpu-pci", "display: VGA, bochs-display, cirrus-vga" },
	{ "virtio-vga", "display: VGA, bochs-display, cirrus-vga" },
	{ "virtio-gpu-gl-pci", "display: VGA, bochs-display, cirrus-vga" },
	{ "qxl", "display: VGA, bochs-display, cirrus-vga" },
	{ "qxl-vga", "display: VGA, bochs-display, cirrus-vga" },
	{ "vmware-svga", "display: VGA, bochs-display, cirrus-vga" },
	{ "ati-vga", "display: VGA, bochs-display, cirrus-vga" },
	{ "secondary-vga", "display: VGA, bochs-display, cirrus-vga" },
	{ "isa-vga", "display: VGA, bochs-display, cirrus-vga" }, { "ramfb", "no ramfb" },
	{ "sga", "use -nographic (SeaBIOS's serial console)" },
	{ "virtio-keyboard-pci", "no virtio input" }, { "virtio-mouse-pci", "no virtio input" },
	{ "virtio-tablet-pci", "no virtio input" }, { "virtio-input-host-pci", "no virtio input" },
	{ "vmxnet3", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82550", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82551", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82557a", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82557b", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82557c", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82558a", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82558b", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82559a", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82559b", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82559c", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82559er", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82562", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "i82801", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "e1000e", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "igb", "NICs: e1000, rtl8139, ne2k_pci, pcnet, virtio-net-pci" },
	{ "virtio-9p-pci", "no 9p file systems" }, { "vhost-vsock-pci", "no vhost" },
	{ "vhost-user-fs-pci", "no vhost" }, { "vhost-user-blk-pci", "no vhost" },
	{ "vhost-scsi-pci", "no vhost" }, { "vfio-pci", "no device assignment" },
	{ "ivshmem-plain", "no shared-memory device" }, { "ivshmem-doorbell", "no shared-memory device" },
	{ "pci-bridge", "one PCI bus" }, { "pcie-root-port", "q35 only (vmm is pc)" },
	{ "pxb", "one PCI bus" }, { "pxb-pcie", "q35 only (vmm is pc)" },
	{ "ioh3420", "q35 only (vmm is pc)" }, { "x3130-upstream", "q35 only (vmm is pc)" },
	{ "xio3130-downstream", "q35 only (vmm is pc)" }, { "intel-iommu", "no IOMMU" },
	{ "amd-iommu", "no IOMMU" }, { "virtio-iommu-pci", "no IOMMU" },
	{ "pvpanic", "no pvpanic" }, { "pvpanic-pci", "no pvpanic" },
	{ "tpm-tis", "no TPM" }, { "tpm-crb", "no TPM" }, { "pc-dimm", "no memory hotplug" },
	{ "nvdimm", "no memory hotplug" }, { "virtio-mem-pci", "no memory hotplug" },
	{ "virtio-pmem-pci", "no memory hotplug" }, { "hyperv-testdev", "no Hyper-V devices" },
	{ "vmgenid", "no VM generation ID" }, { "vmcoreinfo", "no vmcoreinfo" },
	{ "pc-testdev", "test device: use isa-debug-exit" }, { "pci-testdev", "no PCI test device" },
	{ "edu", "no teaching device" }, { "virtio-crypto-pci", "no virtio crypto" },
	{ "vhost-user-gpu-pci", "no vhost" }, { "isa-ipmi-kcs", "no IPMI" },
	{ "ipmi-bmc-sim", "no IPMI" }, { "smbus-ipmi", "no IPMI" }, { "applesmc", "no applesmc" },
	{ "vmmouse", "no vmmouse" }, { "vmport", "no vmport" }, { "sev-guest", "no SEV" },
	{ "cpu", "no CPU hotplug" }, { "qemu64-x86_64-cpu", "no CPU hotplug" },
	{ "host-x86_64-cpu", "no CPU hotplug" }, { "isa-applesmc", "no applesmc" },
};

static const struct qemu_name machines[] = {
	{ "q35", "i440FX only (pc)" }, { "pc-q35-", "i440FX only (pc)" },
	{ "isapc", "i440FX only (pc)" }, { "microvm", "i440FX only (pc)" },
	{ "xenfv", "KVM only" }, { "xenpv", "KVM only" }, { "x-remote", "no multi-process QEMU" },
	{ "none", "a machine with no board is not emulated" },
};

static const struct qemu_name accels[] = {
	{ "tcg", "KVM only" }, { "xen", "KVM only" }, { "hax", "KVM only" },
	{ "whpx", "KVM only" }, { "nvmm", "KVM only" }, { "qtest", "no qtest protocol" },
};

static const struct qemu_name objects[] = {
	{ "memory-backend-epc", "no SGX" }, { "rng-egd", "use rng-random or rng-builtin" },
	{ "secret", "no secrets (VNC: QMP change-vnc-password)" }, { "secret_keyring", "no secrets" },
	{ "iothread", "each device has its own I/O thread" }, { "thread-context", "no thread contexts" },
	{ "tls-creds-anon", "no TLS" }, { "tls-creds-psk", "no TLS" }, { "tls-creds-x509", "no TLS" },
	{ "tls-cipher-suites", "no TLS" }, { "throttle-group", "no I/O throttling" },
	{ "filter-buffer", "no network filters" }, { "filter-dump", "no network filters" },
	{ "filter-mirror", "no network filters" }, { "filter-redirector", "no network filters" },
	{ "filter-rewriter", "no network filters" }, { "colo-compare", "no COLO" },
	{ "cryptodev-backend-builtin", "no virtio crypto" },
	{ "cryptodev-vhost-user", "no virtio crypto" }, { "can-bus", "no CAN" },
	{ "can-host-socketcan", "no CAN" }, { "input-linux", "no host input passthrough" },
	{ "input-barrier", "no host input passthrough" }, { "authz-simple", "no authorization" },
	{ "authz-list", "no authorization" }, { "authz-listfile", "no authorization" },
	{ "authz-pam", "no authorization" }, { "sev-guest", "no SEV" },
	{ "pr-manager-helper", "no SCSI" }, { "dbus-vmstate", "no D-Bus" },
	{ "x-remote-object", "no multi-process QEMU" }, { "main-loop", "no main-loop tuning" },
};

static const struct {
	const struct qemu_name *list;
	size_t n;
	bool prefixes; /* an entry ending in '-' matches every name it begins */
} tables[QEMU_NAME_KINDS] = {
	[QEMU_OPTION] = { options, ARRAY_SIZE(options), false },
	[QEMU_DEVICE] = { devices, ARRAY_SIZE(devices), false },
	[QEMU_MACHINE] = { machines, ARRAY_SIZE(machines), true },
	[QEMU_ACCEL] = { accels, ARRAY_SIZE(accels), false },
	[QEMU_OBJECT] = { objects, ARRAY_SIZE(objects), false },
};

const struct qemu_name *qemu_name_unsupported(enum qemu_name_kind kind, const char *name)
{
	if ((unsigned)kind >= QEMU_NAME_KINDS || !name)
		return NULL;
	for (size_t i = 0; i < tables[kind].n; i++) {
		const char *n = tables[kind].list[i].name;
		size_t len = strlen(n);
		if (!strcmp(n, name) ||
		    (tables[kind].prefixes && n[len - 1] == '-' && !strncmp(n, name, len)))
			return &tables[kind].list[i];
	}
	return NULL;
}

const struct qemu_name *qemu_names(enum qemu_name_kind kind, size_t *count)
{
	*count = (unsigned)kind < QEMU_NAME_KINDS ? tables[kind].n : 0;
	return *count ? tables[kind].list : NULL;
}
