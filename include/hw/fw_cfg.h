/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU firmware configuration device (fw_cfg) on x86 I/O ports.
 *
 *   0x510  selector, 16-bit write (resets the data offset)
 *   0x511  data, 8-bit read, auto-increment; 0 past the end or for
 *          unknown keys; writes are ignored (as on current QEMU)
 *   0x514  DMA address, 64-bit big-endian in two 32-bit halves; a write of
 *          the low half at 0x518 runs the operation synchronously; reads
 *          return the signature "QEMU CFG"
 *
 * Every key holds a private copy of its data. Files live in the directory
 * (key 0x19) sorted by name; their selectors are 0x20 + rank in that order,
 * so adding a file may renumber the others: add everything before the guest
 * starts. All entry points are thread-safe.
 */
#ifndef VMM_HW_FW_CFG_H
#define VMM_HW_FW_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "guest_mem.h"

#define FW_CFG_PORT_SEL     0x510
#define FW_CFG_PORT_DATA    0x511
#define FW_CFG_PORT_DMA     0x514

/* Well-known keys (an enum, so a machine file may still #define its own
 * copies without a redefinition warning). */
enum {
	FW_CFG_SIGNATURE = 0x0000,
	FW_CFG_ID = 0x0001,
	FW_CFG_UUID = 0x0002,
	FW_CFG_RAM_SIZE = 0x0003,
	FW_CFG_NOGRAPHIC = 0x0004,
	FW_CFG_NB_CPUS = 0x0005,
	/* Direct kernel boot (the legacy keys option ROMs read). */
	FW_CFG_KERNEL_ADDR = 0x0007,
	FW_CFG_KERNEL_SIZE = 0x0008,
	FW_CFG_KERNEL_CMDLINE = 0x0009,
	FW_CFG_INITRD_ADDR = 0x000a,
	FW_CFG_INITRD_SIZE = 0x000b,
	FW_CFG_NUMA = 0x000d,
	FW_CFG_BOOT_MENU = 0x000e,
	FW_CFG_MAX_CPUS = 0x000f,
	FW_CFG_KERNEL_ENTRY = 0x0010,
	FW_CFG_KERNEL_DATA = 0x0011,
	FW_CFG_INITRD_DATA = 0x0012,
	FW_CFG_CMDLINE_ADDR = 0x0013,
	FW_CFG_CMDLINE_SIZE = 0x0014,
	FW_CFG_CMDLINE_DATA = 0x0015,
	FW_CFG_SETUP_ADDR = 0x0016,
	FW_CFG_SETUP_SIZE = 0x0017,
	FW_CFG_SETUP_DATA = 0x0018,
	FW_CFG_FILE_DIR = 0x0019,
	FW_CFG_FILE_FIRST = 0x0020,
	FW_CFG_ACPI_TABLES = 0x8000,
	FW_CFG_SMBIOS = 0x8001,
	FW_CFG_IRQ0_OVERRIDE = 0x8002,
	FW_CFG_E820_TABLE = 0x8003,
};

/* Key 0x0001 feature bits. */
#define FW_CFG_VERSION      0x01
#define FW_CFG_VERSION_DMA  0x02

/* DMA control bits (big-endian in guest memory). */
#define FW_CFG_DMA_ERROR    0x01
#define FW_CFG_DMA_READ     0x02
#define FW_CFG_DMA_SKIP     0x04
#define FW_CFG_DMA_SELECT   0x08
#define FW_CFG_DMA_WRITE    0x10

#define FW_CFG_MAX_FILE_PATH 56
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL /* "QEMU CFG" */

struct fw_cfg;

/* 'mem' is used for DMA; it must outlive the device. Keys 0x0000 and
 * 0x0001 (with the DMA bit) and an empty directory are preset. */
struct fw_cfg *fw_cfg_create(const struct guest_mem *mem);
void fw_cfg_destroy(struct fw_cfg *f);

/* Without DMA (as on QEMU before 2.5): key 0x0001 says so and 0x514 is
 * not mapped. Call before fw_cfg_map. Tests use it for the slow paths. */
void fw_cfg_disable_dma(struct fw_cfg *f);

/* Maps 0x510-0x511 and 0x514-0x51B (the latter unless DMA is disabled). Returns 0 or -errno from bus_map(). */
int fw_cfg_map(struct fw_cfg *f, struct io_bus *pio);

/* Sets (or replaces) a numbered item; the data is copied. Keys are taken
 * modulo the write-channel bit 0x4000. Not for file selectors. */
void fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len);
/* The same without a copy: data must outlive f (the -kernel images a
 * firmware-less boot keeps for its resets, offered to the firmware too). */
void fw_cfg_add_bytes_borrowed(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len);
void fw_cfg_add_u16(struct fw_cfg *f, uint16_t key, uint16_t value); /* LE */
void fw_cfg_add_u32(struct fw_cfg *f, uint16_t key, uint32_t value); /* LE */
void fw_cfg_add_u64(struct fw_cfg *f, uint16_t key, uint64_t value); /* LE */

/* Adds a read-only file; the data is copied. Returns 0, -EEXIST,
 * -ENAMETOOLONG (name must fit 55 chars + NUL) or -EINVAL (empty name). */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len);

/* Adds a file the guest may overwrite through DMA WRITE (never resized).
 * 'on_write', if set, runs after each guest write with the lock held: it
 * must not call back into fw_cfg. Same return values as fw_cfg_add_file. */
typedef void (*fw_cfg_write_cb)(void *opaque, const char *name, uint32_t offset,
				uint32_t len, const uint8_t *data);
int fw_cfg_add_file_writable(struct fw_cfg *f, const char *name, const void *data,
			     uint32_t len, fw_cfg_write_cb on_write, void *opaque);

/* Copies up to 'max' bytes of a file's current contents into 'buf'.
 * Returns the file size, or -ENOENT. */
int64_t fw_cfg_read_file(struct fw_cfg *f, const char *name, void *buf, uint32_t max);

/* Selector, offset and DMA address back to power-on; contents stay. */
void fw_cfg_reset(struct fw_cfg *f);

/* Saved state (section "fw_cfg", include/savestate.h): the guest's
 * selector, offset and DMA address, and the contents of writable files.
 * fw_cfg_load checks everything before it changes the device; false
 * (reason in r->err) leaves it as it was. */
struct ss_writer;
struct ss_reader;
void fw_cfg_save(struct fw_cfg *f, struct ss_writer *w, uint32_t instance);
bool fw_cfg_load(struct fw_cfg *f, struct ss_reader *r, uint32_t instance);

#endif
