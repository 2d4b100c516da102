// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The SMBIOS tables of the PC (DMTF SMBIOS 2.8), offered to SeaBIOS as the
 * fw_cfg files etc/smbios/smbios-anchor (the 2.1-style entry point) and
 * etc/smbios/smbios-tables (the structures). SeaBIOS adds its own BIOS
 * Information (type 0), puts the tables in memory, fixes the entry point's
 * address and checksums, and copies it to the F segment. Without these
 * files SeaBIOS builds tables itself, which in KVM's instruction emulator
 * (kvm_pvm) cost ~0.37 M emulated instructions of POST (docs/bench.md).
 *
 * What the machine has: System (type 1, with -uuid), Chassis (3), one
 * Processor (4) per socket, the Physical Memory Array (16) with a Memory
 * Device (17) per 16 GiB, a Mapped Address (19) per RAM range, System Boot
 * (32) and End-of-Table (127).
 */
#include "pc.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SMBIOS_MAJOR 2
#define SMBIOS_MINOR 8
/* The 2.1-style entry point gives the structures' length in 16 bits. */
#define TABLES_MAX 0xFFFF
#define DIMM_MAX (16 * GiB)
/* Handles: type 17's run from 0x1100, type 19's from 0x1300. */
#define DIMMS_MAX 0x200
#define PRODUCT "Standard PC (i440FX + PIIX, 1996)"

struct smbios_buf {
	uint8_t *data;
	size_t len, cap;
	unsigned count;	  /* structures */
	size_t max_size;  /* largest structure, strings included */
	size_t start;	  /* where the structure being built begins */
	unsigned nstrings;
};

static uint8_t *reserve(struct smbios_buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = MAX(b->cap * 2, b->len + n + 256);
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			die("out of memory building the SMBIOS tables");
	}
	uint8_t *p = b->data + b->len;
	memset(p, 0, n);
	b->len += n;
	return p;
}

/* The formatted area of a structure: type, its length, handle; the rest
 * is set through AT(b) once the strings are in. */
static void begin(struct smbios_buf *b, uint8_t type, uint8_t len, uint16_t handle)
{
	b->start = b->len;
	b->nstrings = 0;
	uint8_t *s = reserve(b, len);
	s[0] = type;
	s[1] = len;
	put_le16(s + 2, handle);
}

/* Appends a string to the structure being built; returns its number for
 * the formatted area (0 = none: an empty string is not stored). */
static uint8_t add_string(struct smbios_buf *b, const char *str)
{
	size_t n = strlen(str);
	if (!n)
		return 0;
	memcpy(reserve(b, n + 1), str, n + 1);
	return (uint8_t)++b->nstrings;
}

/* The string set ends with one more NUL; without strings, two. */
static void end(struct smbios_buf *b)
{
	reserve(b, b->nstrings ? 1 : 2);
	b->count++;
	b->max_size = MAX(b->max_size, b->len - b->start);
}

/* "CPU 3", "DIMM 12": format_uint, not printf, which a plain start-up
 * never runs otherwise (util.h). */
static const char *numbered(char buf[24], const char *prefix, unsigned i)
{
	size_t n = strlen(prefix);
	memcpy(buf, prefix, n);
	format_uint(buf + n, 24 - n, i, 10, 1);
	return buf;
}

/* The formatted area moves when a string grows the buffer: fields are
 * set through its offset. */
#define AT(b) ((b)->data + (b)->start)

static void add_system(struct smbios_buf *b, const struct machine *m)
{
	begin(b, 1, 27, 0x100);
	uint8_t manufacturer = add_string(b, "vmm");
	uint8_t product = add_string(b, PRODUCT);
	uint8_t *s = AT(b);
	s[4] = manufacturer;
	s[5] = product;
	/* SMBIOS 2.6 on: the first three fields little-endian; -uuid is kept
	 * as written (big-endian fields). Without -uuid: all zeros, "not
	 * present" (as QEMU). */
	if (m->cfg.uuid_set) {
		const uint8_t *u = m->cfg.uuid;
		uint8_t w[16] = { u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6] };
		memcpy(w + 8, u + 8, 8);
		memcpy(s + 8, w, 16);
	}
	s[24] = 0x06; /* wake-up type: power switch */
	end(b);
}

static void add_chassis(struct smbios_buf *b)
{
	begin(b, 3, 22, 0x300);
	uint8_t manufacturer = add_string(b, "vmm");
	uint8_t *s = AT(b);
	s[4] = manufacturer;
	s[5] = 0x01;  /* type: other */
	s[9] = 0x03;  /* boot-up state: safe */
	s[10] = 0x03; /* power supply state: safe */
	s[11] = 0x03; /* thermal state: safe */
	s[12] = 0x02; /* security status: unknown */
	end(b);
}

static void add_processors(struct smbios_buf *b, const struct machine *m)
{
	const struct cpu_topology *t = &m->cfg.smp;
	unsigned per_socket = t->cores * t->threads;

	for (unsigned i = 0; i < t->sockets; i++) {
		char name[24];
		begin(b, 4, 42, (uint16_t)(0x400 + i));
		uint8_t socket = add_string(b, numbered(name, "CPU ", i));
		uint8_t *s = AT(b);
		s[4] = socket;
		s[5] = 0x03; /* central processor */
		s[6] = 0x01; /* family: other */
		/* populated, enabled; a socket with no running vCPU (-smp
		 * maxcpus) is empty */
		s[24] = i * per_socket < m->ncpus ? 0x41 : 0x00;
		s[25] = 0x01; /* upgrade: other */
		put_le16(s + 26, 0xFFFF); /* no cache information */
		put_le16(s + 28, 0xFFFF);
		put_le16(s + 30, 0xFFFF);
		s[35] = (uint8_t)MIN(t->cores, 255u);
		s[36] = s[35];
		s[37] = (uint8_t)MIN(per_socket, 255u);
		put_le16(s + 38, 0x0002); /* characteristics: unknown */
		put_le16(s + 40, 0x0001); /* family 2: other */
		end(b);
	}
}

static unsigned dimm_count(uint64_t ram)
{
	return (unsigned)((ram + DIMM_MAX - 1) / DIMM_MAX);
}

static void add_memory_array(struct smbios_buf *b, uint64_t ram)
{
	uint64_t kib = ram / KiB;

	begin(b, 16, 23, 0x1000);
	uint8_t *s = AT(b);
	s[4] = 0x01; /* location: other */
	s[5] = 0x03; /* use: system memory */
	s[6] = 0x06; /* error correction: multi-bit ECC (as QEMU says) */
	if (kib < 0x80000000ULL) {
		put_le32(s + 7, (uint32_t)kib);
	} else {
		put_le32(s + 7, 0x80000000U);
		put_le64(s + 15, ram);
	}
	put_le16(s + 11, 0xFFFE); /* no error information */
	put_le16(s + 13, (uint16_t)dimm_count(ram));
	end(b);
}

static void add_memory_devices(struct smbios_buf *b, uint64_t ram)
{
	unsigned n = dimm_count(ram);

	for (unsigned i = 0; i < n; i++) {
		uint64_t size = MIN(ram - (uint64_t)i * DIMM_MAX, DIMM_MAX);
		uint64_t mib = size / MiB;
		char name[24];
		begin(b, 17, 40, (uint16_t)(0x1100 + i));
		uint8_t locator = add_string(b, numbered(name, "DIMM ", i));
		uint8_t *s = AT(b);
		put_le16(s + 4, 0x1000);
		put_le16(s + 6, 0xFFFE);
		put_le16(s + 8, 0xFFFF);  /* widths unknown */
		put_le16(s + 10, 0xFFFF);
		put_le16(s + 12, (uint16_t)mib); /* 16 GiB at most: below 0x7FFF */
		s[14] = 0x09; /* form factor: DIMM */
		s[16] = locator;
		s[18] = 0x07; /* memory type: RAM */
		put_le16(s + 19, 0x0002); /* type detail: other */
		end(b);
	}
}

static void add_mapped_range(struct smbios_buf *b, unsigned i, uint64_t start, uint64_t size)
{
	uint64_t last = start + size - 1;

	begin(b, 19, 31, (uint16_t)(0x1300 + i));
	uint8_t *s = AT(b);
	if (last / KiB < 0xFFFFFFFFULL) {
		put_le32(s + 4, (uint32_t)(start / KiB));
		put_le32(s + 8, (uint32_t)(last / KiB));
	} else {
		put_le32(s + 4, 0xFFFFFFFFU);
		put_le32(s + 8, 0xFFFFFFFFU);
		put_le64(s + 15, start);
		put_le64(s + 23, last);
	}
	put_le16(s + 12, 0x1000);
	s[14] = 1; /* partition width */
	end(b);
}

static void add_boot_and_end(struct smbios_buf *b)
{
	begin(b, 32, 11, 0x2000); /* boot status 0: no errors */
	end(b);
	begin(b, 127, 4, 0x7F00);
	end(b);
}

static uint8_t checksum_of(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static void entry_point(uint8_t ep[SMBIOS_ENTRY_POINT_LEN], const struct smbios_buf *b)
{
	memset(ep, 0, SMBIOS_ENTRY_POINT_LEN);
	memcpy(ep, "_SM_", 4);
	ep[5] = SMBIOS_ENTRY_POINT_LEN;
	ep[6] = SMBIOS_MAJOR;
	ep[7] = SMBIOS_MINOR;
	put_le16(ep + 8, (uint16_t)b->max_size);
	memcpy(ep + 16, "_DMI_", 5);
	put_le16(ep + 22, (uint16_t)b->len);
	/* the table address (24) is SeaBIOS's to fill in */
	put_le16(ep + 28, (uint16_t)b->count);
	ep[30] = SMBIOS_MAJOR << 4 | SMBIOS_MINOR;
	smbios_set_table_address(ep, 0);
}

void smbios_set_table_address(uint8_t ep[SMBIOS_ENTRY_POINT_LEN], uint32_t addr)
{
	put_le32(ep + 24, addr);
	ep[21] = ep[4] = 0;
	ep[21] = checksum_of(ep + 16, SMBIOS_ENTRY_POINT_LEN - 16);
	ep[4] = checksum_of(ep, 16);
}

bool smbios_build(const struct machine *m, uint8_t ep[SMBIOS_ENTRY_POINT_LEN],
		  uint8_t **tables, size_t *len)
{
	struct smbios_buf b = { 0 };
	uint64_t ram = m->mem.below_4g + m->mem.above_4g;

	if (dimm_count(ram) > DIMMS_MAX || m->cfg.smp.sockets > 0x400)
		return false;
	add_system(&b, m);
	add_chassis(&b);
	add_processors(&b, m);
	add_memory_array(&b, ram);
	add_memory_devices(&b, ram);
	add_mapped_range(&b, 0, 0, m->mem.below_4g);
	if (m->mem.above_4g)
		add_mapped_range(&b, 1, 4 * GiB, m->mem.above_4g);
	add_boot_and_end(&b);
	if (b.len > TABLES_MAX || b.count > 0xFFFF) {
		free(b.data);
		return false;
	}
	entry_point(ep, &b);
	*tables = b.data;
	*len = b.len;
	return true;
}
