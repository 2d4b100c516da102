// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the PC's fw_cfg holds for SeaBIOS: CPU counts, RAM size, boot menu,
 * IRQ0 override, the e820 map, the SMBIOS tables (pc_smbios.c); and the
 * kernel, initrd and command line of a direct kernel boot (-kernel).
 */
#include "pc.h"

#include <stdlib.h>
#include <string.h>

#include "hw/fw_cfg.h"
#include "loader.h"
#include "util.h"


/* SeaBIOS's legacy SMBIOS entries (fw_cfg key 0x8001, which SeaBIOS reads
 * when no etc/smbios tables are offered): a little-endian count, then per
 * entry a header (u16 length including itself, u8 kind 0 = one field of a
 * table SeaBIOS builds, u8 table type, u16 field offset) and the bytes.
 * vmm sets one field: the type 1 (System Information) UUID at offset 8. */
#define SMBIOS_TYPE1_UUID_OFFSET 8
static void setup_smbios_uuid(struct machine *m)
{
	uint8_t e[2 + 6 + 16];

	put_le16(e, 1);
	put_le16(e + 2, 6 + 16);
	e[4] = 0;
	e[5] = 1;
	put_le16(e + 6, SMBIOS_TYPE1_UUID_OFFSET);
	/* As written on the command line: SeaBIOS's tables say SMBIOS 2.4,
	 * whose UUID bytes are in that order (2.6 made the first three fields
	 * little-endian). */
	memcpy(e + 8, m->cfg.uuid, 16);
	fw_cfg_add_bytes(m->fw_cfg, FW_CFG_SMBIOS, e, sizeof(e));
}

/* -boot's fw_cfg files (names from SeaBIOS's boot.c): how long the menu
 * waits, and how long SeaBIOS waits to retry when nothing boots. */
static void setup_boot_files(struct machine *m)
{
	uint8_t b[4];

	if (m->cfg.splash_time >= 0) {
		put_le16(b, (uint16_t)m->cfg.splash_time);
		fw_cfg_add_file(m->fw_cfg, "etc/boot-menu-wait", b, 2);
	}
	if (m->cfg.reboot_timeout >= -1) {
		put_le32(b, (uint32_t)m->cfg.reboot_timeout);
		fw_cfg_add_file(m->fw_cfg, "etc/boot-fail-wait", b, 4);
	}
}

void setup_fw_cfg(struct machine *m)
{
	struct fw_cfg *f = m->fw_cfg;
	uint8_t e820[3 * 20];
	size_t n = 0;
	uint8_t uuid[16] = { 0 };

	uint8_t ep[SMBIOS_ENTRY_POINT_LEN];
	uint8_t *tables;
	size_t tables_len;
	if (m->cfg.uuid_set)
		memcpy(uuid, m->cfg.uuid, sizeof(uuid));
	if (smbios_build(m, ep, &tables, &tables_len)) {
		fw_cfg_add_file(f, "etc/smbios/smbios-anchor", ep, sizeof(ep));
		fw_cfg_add_file(f, "etc/smbios/smbios-tables", tables, (uint32_t)tables_len);
		free(tables);
	} else if (m->cfg.uuid_set) {
		setup_smbios_uuid(m);
	}
	setup_boot_files(m);

	/* NB_CPUS: how many CPUs SeaBIOS waits for. MAX_CPUS: not a count but
	 * the APIC ID limit, over which SeaBIOS builds its MADT and MP table,
	 * enabling the entries of the CPUs that checked in; with a topology
	 * whose fields are not powers of two the IDs have gaps. */
	fw_cfg_add_u16(f, FW_CFG_NB_CPUS, (uint16_t)m->ncpus);
	fw_cfg_add_u16(f, FW_CFG_MAX_CPUS, (uint16_t)topology_apic_id_limit(&m->cfg.smp));
	fw_cfg_add_u64(f, FW_CFG_RAM_SIZE, m->mem.ram_size);
	fw_cfg_add_u16(f, FW_CFG_NOGRAPHIC, m->cfg.nographic ? 1 : 0);
	fw_cfg_add_u16(f, FW_CFG_BOOT_MENU, m->cfg.boot_menu ? 1 : 0);
	fw_cfg_add_u64(f, FW_CFG_NUMA, 0);
	fw_cfg_add_bytes(f, FW_CFG_UUID, uuid, sizeof(uuid));
	/* Our GSI routing sends the PIT to IOAPIC pin 2. */
	fw_cfg_add_u32(f, FW_CFG_IRQ0_OVERRIDE, 1);

	put_le64(e820 + n, 0);
	put_le64(e820 + n + 8, m->mem.below_4g);
	put_le32(e820 + n + 16, E820_RAM);
	n += 20;
	if (m->mem.above_4g) {
		put_le64(e820 + n, 4 * GiB);
		put_le64(e820 + n + 8, m->mem.above_4g);
		put_le32(e820 + n + 16, E820_RAM);
		n += 20;
	}
	/* KVM's identity map and TSS pages. */
	put_le64(e820 + n, KVM_RESERVED_START);
	put_le64(e820 + n + 8, KVM_RESERVED_SIZE);
	put_le32(e820 + n + 16, E820_RESERVED);
	n += 20;
	fw_cfg_add_file(f, "etc/e820", e820, (uint32_t)n);
}

/* -kernel: everything is read and checked here, before any vCPU runs; the
 * option ROM does the rest when SeaBIOS boots it. */
void setup_kernel_boot(struct machine *m)
{
	const struct machine_config *cfg = &m->cfg;
	struct loader_ram ram = { .below_4g = m->mem.below_4g };
	struct boot_image img;
	char err[512];

	if (!cfg->kernel_path)
		return;
	if (loader_load(cfg->kernel_path, cfg->initrd_path, cfg->append, &ram, &img, err,
			sizeof(err)) < 0)
		die("could not load kernel '%s': %s", cfg->kernel_path, err);
	if (direct_boot_choose(m, &img)) {
		/* The firmware gets the kernel too (without a copy): state from
		 * a machine that booted it through SeaBIOS, still in the ROM
		 * when it was saved or migrated, finds it here. */
		if (!m->direct_boot->pvh)
			loader_install(m->direct_boot, m->fw_cfg, cfg->boot_strict, true);
		return;
	}
	loader_install(&img, m->fw_cfg, cfg->boot_strict, false);
	boot_image_free(&img);
}

#define ROM_NAME "genroms/linuxboot.bin"

static void add_blob(struct fw_cfg *f, const struct boot_blob *b, uint16_t addr_key,
		     uint16_t size_key, uint16_t data_key, bool borrow)
{
	fw_cfg_add_u32(f, addr_key, b->addr);
	fw_cfg_add_u32(f, size_key, b->size);
	if (borrow)
		fw_cfg_add_bytes_borrowed(f, data_key, b->data, b->data ? b->size : 0);
	else
		fw_cfg_add_bytes(f, data_key, b->data, b->data ? b->size : 0);
}

void loader_install(const struct boot_image *img, struct fw_cfg *f, bool strict, bool borrow)
{
	/* SeaBIOS boots BEV ROMs after disks unless bootorder names them;
	 * -boot strict=on: HALT after it, so nothing else boots (SeaBIOS's
	 * bootorder keyword) */
	static const char bootorder[] = "/rom@" ROM_NAME "\n";
	static const char bootorder_strict[] = "/rom@" ROM_NAME "\nHALT\n";

	add_blob(f, &img->setup, FW_CFG_SETUP_ADDR, FW_CFG_SETUP_SIZE, FW_CFG_SETUP_DATA, borrow);
	add_blob(f, &img->kernel, FW_CFG_KERNEL_ADDR, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA,
		 borrow);
	add_blob(f, &img->initrd, FW_CFG_INITRD_ADDR, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA,
		 borrow);
	add_blob(f, &img->cmdline, FW_CFG_CMDLINE_ADDR, FW_CFG_CMDLINE_SIZE, FW_CFG_CMDLINE_DATA,
		 borrow);
	fw_cfg_add_u32(f, FW_CFG_KERNEL_CMDLINE, img->cmdline.addr);
	fw_cfg_add_u32(f, FW_CFG_KERNEL_ENTRY, img->entry);
	if (fw_cfg_add_file(f, ROM_NAME, vmm_linuxboot_rom, vmm_linuxboot_rom_size) < 0 ||
	    fw_cfg_add_file(f, "bootorder", strict ? bootorder_strict : bootorder,
			    strict ? sizeof(bootorder_strict) : sizeof(bootorder)) < 0)
		die("fw_cfg: cannot add the kernel boot ROM");
}
