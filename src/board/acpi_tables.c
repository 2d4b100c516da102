// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PC's ACPI tables, for a Linux booted without firmware (-kernel with
 * no SeaBIOS, which otherwise builds them). Written from the ACPI 6.3
 * specification: RSDP 2 with RSDT and XSDT; FADT 6.3 (276 bytes) with the
 * 32-bit and X_ fields both filled; FACS; MADT 5; a DSDT of revision 2
 * (64-bit integers) whose AML is emitted here.
 *
 * The DSDT has the PCI root bridge with its windows, a _PRT of static GSIs
 * (vmm programs the PIIX3's PIRQ routes before the kernel runs, so no link
 * devices), the ISA devices the machine has under the PIIX3's function 0,
 * \_S5 (piix_pm.c powers off on SLP_TYP 0) and \_PIC.
 *
 * Every byte goes through grow(), which refuses to pass cap: a build that
 * does not fit stops writing and returns 0.
 */
#include "acpi_tables.h"

#include <string.h>

#include "hw/chipset.h"
#include "util.h"

#define OEM_ID "VMM   "
#define OEM_TABLE_ID "VMMPC   "
#define CREATOR_ID "VMM "
#define OEM_REVISION 1
#define CREATOR_REVISION 1

#define HEADER_LEN 36
#define RSDP_LEN 36
#define RSDP_V1_LEN 20 /* what the first checksum covers */
#define FACS_LEN 64
#define FADT_LEN 276

#define RSDP_REVISION 2
#define RSDT_REVISION 1
#define XSDT_REVISION 1
#define FADT_REVISION 6
#define FADT_MINOR 3
#define MADT_REVISION 5
#define DSDT_REVISION 2 /* 2 and up: AML integers are 64 bits */
#define FACS_VERSION 2

#define LAPIC_ADDR 0xFEE00000u
#define PCI_CONFIG_PORT 0xCF8 /* CONFIG_ADDRESS, CONFIG_DATA and 0xCF9: 8 ports */
#define PIIX3_ADR 0x00010000u /* device 1, function 0 */

/* ---- The output buffer ---- */

struct out {
	uint8_t *buf;
	size_t cap, len;
	uint64_t base; /* guest-physical address of buf[0] */
	bool full;     /* something did not fit: the build fails */
};

/* n more bytes at the end, zeroed; NULL once anything has not fit. */
static uint8_t *grow(struct out *o, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return NULL;
	}
	uint8_t *p = o->buf + o->len;
	memset(p, 0, n);
	o->len += n;
	return p;
}

static void put8(struct out *o, uint8_t v)
{
	uint8_t *p = grow(o, 1);
	if (p)
		*p = v;
}

static void put_bytes(struct out *o, const void *src, size_t n)
{
	uint8_t *p = grow(o, n);
	if (p)
		memcpy(p, src, n);
}

/* Pads so that the next byte's guest-physical address is a multiple of a. */
static void align_to(struct out *o, unsigned a)
{
	size_t pad = (size_t)((a - (o->base + o->len) % a) % a);
	grow(o, pad);
}

static uint64_t addr_of(const struct out *o, size_t off)
{
	return o->base + off;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* ---- System description table headers ---- */

/* Header fields: signature 0, length 4, revision 8, checksum 9, OEM ID 10,
 * OEM table ID 16, OEM revision 24, creator ID 28, creator revision 32. */
static size_t table_begin(struct out *o, const char sig[4], uint8_t revision)
{
	align_to(o, 8);
	size_t start = o->len;
	uint8_t *h = grow(o, HEADER_LEN);
	if (h) {
		memcpy(h, sig, 4);
		h[8] = revision;
		memcpy(h + 10, OEM_ID, 6);
		memcpy(h + 16, OEM_TABLE_ID, 8);
		put_le32(h + 24, OEM_REVISION);
		memcpy(h + 28, CREATOR_ID, 4);
		put_le32(h + 32, CREATOR_REVISION);
	}
	return start;
}

/* The length and the checksum, once the table's last byte is in. */
static void table_end(struct out *o, size_t start)
{
	if (o->full)
		return;
	uint8_t *h = o->buf + start;
	size_t len = o->len - start;
	put_le32(h + 4, (uint32_t)len);
	h[9] = 0;
	h[9] = (uint8_t)-sum8(h, len);
}

/* ---- AML ---- */

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE 0x0A
#define AML_WORD 0x0B
#define AML_DWORD 0x0C
#define AML_QWORD 0x0E
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_METHOD 0x14
#define AML_DUAL_NAME 0x2E
#define AML_MULTI_NAME 0x2F
#define AML_EXT 0x5B
#define AML_EXT_DEVICE 0x82
#define AML_ROOT 0x5C

/* The smallest integer encoding of v. */
static void aml_int(struct out *o, uint64_t v)
{
	uint8_t b[9];
	unsigned n;

	if (v <= 1) {
		put8(o, v ? AML_ONE : AML_ZERO);
		return;
	}
	if (v <= 0xFF) {
		b[0] = AML_BYTE;
		n = 1;
	} else if (v <= 0xFFFF) {
		b[0] = AML_WORD;
		n = 2;
	} else if (v <= 0xFFFFFFFF) {
		b[0] = AML_DWORD;
		n = 4;
	} else {
		b[0] = AML_QWORD;
		n = 8;
	}
	for (unsigned i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * i));
	put_bytes(o, b, 1 + n);
}

/* A NameString from "\\A.B.C"-style text: an optional root, then segments
 * of up to four characters, padded with '_'. */
static void aml_name(struct out *o, const char *path)
{
	char segs[8][4];
	unsigned n = 0;

	if (*path == '\\') {
		put8(o, AML_ROOT);
		path++;
	}
	while (*path && n < 8) {
		size_t len = strcspn(path, ".");
		memset(segs[n], '_', 4);
		memcpy(segs[n], path, MIN(len, (size_t)4));
		n++;
		path += len;
		if (*path == '.')
			path++;
	}
	if (n == 2)
		put8(o, AML_DUAL_NAME);
	else if (n > 2) {
		put8(o, AML_MULTI_NAME);
		put8(o, (uint8_t)n);
	}
	put_bytes(o, segs, 4 * n);
}

/* Bytes a PkgLength takes for a body of 'body' bytes (it counts itself):
 * one byte up to 63, then a nibble and 1-3 more bytes; 0 if too long. */
static unsigned pkg_length_bytes(size_t body)
{
	if (body + 1 <= 0x3F)
		return 1;
	for (unsigned n = 2; n <= 4; n++)
		if (body + n < (size_t)1 << (4 + 8 * (n - 1)))
			return n;
	return 0;
}

/* Where a PkgLength goes: its body follows, and pkg_end() inserts it. */
static size_t pkg_begin(const struct out *o)
{
	return o->len;
}

/* Inserts the PkgLength of everything written since pkg_begin(), moving
 * the body up: its size is known only now. */
static void pkg_end(struct out *o, size_t start)
{
	if (o->full)
		return;
	size_t body = o->len - start;
	unsigned n = pkg_length_bytes(body);
	if (n == 0 || !grow(o, n)) {
		o->full = true;
		return;
	}
	uint8_t *p = o->buf + start;
	memmove(p + n, p, body);
	size_t total = body + n;
	if (n == 1) {
		p[0] = (uint8_t)total;
		return;
	}
	p[0] = (uint8_t)((n - 1) << 6 | (total & 0x0F));
	for (unsigned i = 1; i < n; i++)
		p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
}

static void aml_name_int(struct out *o, const char *name, uint64_t v)
{
	put8(o, AML_NAME);
	aml_name(o, name);
	aml_int(o, v);
}

/* "PNP0A03" as the 32-bit EISA ID: three letters of five bits each, then
 * four hex digits, stored big-endian in the integer's little-endian bytes. */
static uint32_t eisa_id(const char *id)
{
	unsigned vendor = (unsigned)(id[0] - '@') << 10 | (unsigned)(id[1] - '@') << 5 |
			  (unsigned)(id[2] - '@');
	unsigned product = 0;
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		product = product << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	return (vendor >> 8) | (vendor & 0xFF) << 8 | (product >> 8) << 16 | (product & 0xFF) << 24;
}

/* Device(name) {: returns what device_end() closes. */
static size_t device_begin(struct out *o, const char *name)
{
	put8(o, AML_EXT);
	put8(o, AML_EXT_DEVICE);
	size_t start = pkg_begin(o);
	aml_name(o, name);
	return start;
}

static void device_end(struct out *o, size_t start)
{
	pkg_end(o, start);
}

/* ---- Resource templates (ACPI 6.3, 6.4) ---- */

#define RT_MAX 256

struct rt {
	uint8_t b[RT_MAX];
	size_t len;
	bool over; /* a template longer than RT_MAX: the build fails */
};

static uint8_t *rt_grow(struct rt *r, size_t n)
{
	if (r->over || n > RT_MAX - r->len) {
		r->over = true;
		return NULL;
	}
	uint8_t *p = r->b + r->len;
	memset(p, 0, n);
	r->len += n;
	return p;
}

/* IO(Decode16, port, port, 1, len): a fixed range of ports. */
static void rt_io(struct rt *r, uint16_t port, uint8_t len)
{
	uint8_t *p = rt_grow(r, 8);
	if (!p)
		return;
	p[0] = 0x47;
	p[1] = 0x01; /* decodes 16 address bits */
	put_le16(p + 2, port);
	put_le16(p + 4, port);
	p[6] = 1;
	p[7] = len;
}

/* IRQNoFlags() {irq}: edge-triggered, active high, exclusive. */
static void rt_irq(struct rt *r, unsigned irq)
{
	uint8_t *p = rt_grow(r, 3);
	if (!p)
		return;
	p[0] = 0x22;
	put_le16(p + 1, (uint16_t)(1u << irq));
}

/* DMA(Compatibility, NotBusMaster, Transfer8) {channel} */
static void rt_dma(struct rt *r, unsigned channel)
{
	uint8_t *p = rt_grow(r, 3);
	if (!p)
		return;
	p[0] = 0x2A;
	p[1] = (uint8_t)(1u << channel);
	p[2] = 0x00;
}

/* Address space descriptors: resource type, then the type's flags. */
#define AS_MEMORY 0
#define AS_IO 1
#define AS_BUS 2
/* General flags: produced by the bridge, positive decode, min and max
 * fixed (so granularity 0 and length max - min + 1). */
#define AS_PRODUCER_FIXED 0x0C
#define AS_MEM_CACHEABLE_RW 0x03
#define AS_IO_ENTIRE_RANGE 0x03

/* WordBusNumber / WordIO: 16-bit fields after the tag, length and flags. */
static void rt_word(struct rt *r, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	uint8_t *p = rt_grow(r, 16);
	if (!p)
		return;
	p[0] = 0x88;
	put_le16(p + 1, 13);
	p[3] = type;
	p[4] = AS_PRODUCER_FIXED;
	p[5] = tflags;
	put_le16(p + 8, min);
	put_le16(p + 10, max);
	put_le16(p + 14, (uint16_t)(max - min + 1));
}

static void rt_dword_memory(struct rt *r, uint32_t min, uint32_t max)
{
	uint8_t *p = rt_grow(r, 26);
	if (!p)
		return;
	p[0] = 0x87;
	put_le16(p + 1, 23);
	p[3] = AS_MEMORY;
	p[4] = AS_PRODUCER_FIXED;
	p[5] = AS_MEM_CACHEABLE_RW;
	put_le32(p + 10, min);
	put_le32(p + 14, max);
	put_le32(p + 22, max - min + 1);
}

static void rt_qword_memory(struct rt *r, uint64_t min, uint64_t max)
{
	uint8_t *p = rt_grow(r, 46);
	if (!p)
		return;
	p[0] = 0x8A;
	put_le16(p + 1, 43);
	p[3] = AS_MEMORY;
	p[4] = AS_PRODUCER_FIXED;
	p[5] = AS_MEM_CACHEABLE_RW;
	put_le64(p + 14, min);
	put_le64(p + 22, max);
	put_le64(p + 38, max - min + 1);
}

/* Name(name, ResourceTemplate() {...}): the End Tag (checksum 0: "treat
 * as correct") closes it. */
static void aml_name_template(struct out *o, const char *name, struct rt *r)
{
	uint8_t *end = rt_grow(r, 2);
	if (!end || r->over) {
		o->full = true;
		return;
	}
	end[0] = 0x79;
	put8(o, AML_NAME);
	aml_name(o, name);
	put8(o, AML_BUFFER);
	size_t start = pkg_begin(o);
	aml_int(o, r->len);
	put_bytes(o, r->b, r->len);
	pkg_end(o, start);
}

/* ---- DSDT ---- */

/* A fixed ISA device: _HID, _UID when there are several, _STA (present,
 * enabled, shown, working) and its resources. */
static void isa_device(struct out *o, const char *name, const char *hid, unsigned uid,
		       struct rt *crs)
{
	size_t dev = device_begin(o, name);
	aml_name_int(o, "_HID", eisa_id(hid));
	if (uid)
		aml_name_int(o, "_UID", uid);
	aml_name_int(o, "_STA", 0x0F);
	aml_name_template(o, "_CRS", crs);
	device_end(o, dev);
}

static void isa_ps2(struct out *o)
{
	struct rt kbd = { .len = 0 }, mou = { .len = 0 };

	rt_io(&kbd, 0x60, 1);
	rt_io(&kbd, 0x64, 1);
	rt_irq(&kbd, 1);
	isa_device(o, "KBD", "PNP0303", 0, &kbd);
	rt_irq(&mou, 12);
	isa_device(o, "MOU", "PNP0F13", 0, &mou);
}

static void isa_serial(struct out *o, unsigned i)
{
	static const uint16_t port[4] = { 0x3F8, 0x2F8, 0x3E8, 0x2E8 };
	static const uint8_t irq[4] = { 4, 3, 4, 3 };
	static const char *const name[4] = { "COM1", "COM2", "COM3", "COM4" };
	struct rt crs = { .len = 0 };

	rt_io(&crs, port[i], 8);
	rt_irq(&crs, irq[i]);
	isa_device(o, name[i], "PNP0501", i + 1, &crs);
}

static void isa_rtc(struct out *o)
{
	struct rt crs = { .len = 0 };

	rt_io(&crs, 0x70, 2);
	rt_irq(&crs, 8);
	isa_device(o, "RTC", "PNP0B00", 0, &crs);
}

static void isa_fdc(struct out *o)
{
	struct rt crs = { .len = 0 };

	rt_io(&crs, 0x3F0, 6);
	rt_io(&crs, 0x3F7, 1);
	rt_irq(&crs, 6);
	rt_dma(&crs, 2);
	isa_device(o, "FDC", "PNP0700", 0, &crs);
}

/* Device(ISA): the PIIX3's function 0 (00:01.0), parent of the legacy
 * devices the machine has. */
static void isa_bridge(struct out *o, const struct acpi_pc_desc *d)
{
	size_t dev = device_begin(o, "ISA");
	aml_name_int(o, "_ADR", PIIX3_ADR);
	if (d->ps2)
		isa_ps2(o);
	for (unsigned i = 0; i < 4; i++)
		if (d->com[i])
			isa_serial(o, i);
	if (d->rtc)
		isa_rtc(o);
	if (d->fdc)
		isa_fdc(o);
	device_end(o, dev);
}

/* What the root bridge decodes: bus 0-255, the configuration ports, all
 * other I/O ports (ISA devices and the BAR window), the VGA window and the
 * BAR windows. */
static void pci0_crs(struct out *o, const struct acpi_pc_desc *d)
{
	struct rt crs = { .len = 0 };

	rt_word(&crs, AS_BUS, 0, 0x00, 0xFF);
	rt_io(&crs, PCI_CONFIG_PORT, 8);
	rt_word(&crs, AS_IO, AS_IO_ENTIRE_RANGE, 0x0000, PCI_CONFIG_PORT - 1);
	rt_word(&crs, AS_IO, AS_IO_ENTIRE_RANGE, PCI_CONFIG_PORT + 8, 0xFFFF);
	rt_dword_memory(&crs, 0xA0000, 0xBFFFF);
	rt_dword_memory(&crs, d->pci_mem32_start, d->pci_mem32_end);
	if (d->pci_mem64_start || d->pci_mem64_end)
		rt_qword_memory(&crs, d->pci_mem64_start, d->pci_mem64_end);
	aml_name_template(o, "_CRS", &crs);
}

/* _PRT: for every slot and pin, the GSI its PIRQ is routed to. */
static void pci0_prt(struct out *o, const struct acpi_pc_desc *d)
{
	put8(o, AML_NAME);
	aml_name(o, "_PRT");
	put8(o, AML_PACKAGE);
	size_t prt = pkg_begin(o);
	put8(o, 32 * 4);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			put8(o, AML_PACKAGE);
			size_t e = pkg_begin(o);
			put8(o, 4);
			aml_int(o, (uint64_t)slot << 16 | 0xFFFF);
			aml_int(o, pin);
			aml_int(o, 0); /* no link device: the next field is the GSI */
			/* ACPI numbers INTA 0, the swizzle 1 */
			aml_int(o, d->pirq_irq[piix3_pirq_of(slot, pin + 1)]);
			pkg_end(o, e);
		}
	}
	pkg_end(o, prt);
}

static void pci0(struct out *o, const struct acpi_pc_desc *d)
{
	size_t dev = device_begin(o, "PCI0");
	aml_name_int(o, "_HID", eisa_id("PNP0A03"));
	aml_name_int(o, "_UID", 0);
	aml_name_int(o, "_BBN", 0);
	pci0_crs(o, d);
	pci0_prt(o, d);
	isa_bridge(o, d);
	device_end(o, dev);
}

/* Name(_S5, Package(4) {0, 0, 0, 0}): SLP_TYP 0 is piix_pm.c's off. */
static void sleep_s5(struct out *o)
{
	put8(o, AML_NAME);
	aml_name(o, "_S5");
	put8(o, AML_PACKAGE);
	size_t pkg = pkg_begin(o);
	put8(o, 4);
	for (int i = 0; i < 4; i++)
		aml_int(o, 0);
	pkg_end(o, pkg);
}

/* Method(_PIC, 1) {}: the OS says PIC or APIC mode; the _PRT's GSIs are
 * the same ISA IRQ numbers in both. */
static void method_pic(struct out *o)
{
	put8(o, AML_METHOD);
	size_t m = pkg_begin(o);
	aml_name(o, "_PIC");
	put8(o, 1); /* one argument, not serialized */
	pkg_end(o, m);
}

static size_t build_dsdt(struct out *o, const struct acpi_pc_desc *d)
{
	size_t start = table_begin(o, "DSDT", DSDT_REVISION);
	put8(o, AML_SCOPE);
	size_t sb = pkg_begin(o);
	aml_name(o, "\\_SB");
	pci0(o, d);
	pkg_end(o, sb);
	sleep_s5(o);
	method_pic(o);
	table_end(o, start);
	return start;
}

/* ---- FACS, FADT ---- */

/* FACS: no checksum; the waking vectors and the global lock start at 0. */
static size_t build_facs(struct out *o)
{
	align_to(o, 64);
	size_t start = o->len;
	uint8_t *f = grow(o, FACS_LEN);
	if (f) {
		memcpy(f, "FACS", 4);
		put_le32(f + 4, FACS_LEN);
		f[32] = FACS_VERSION;
	}
	return start;
}

/* FADT field offsets (ACPI 6.3, table 5-34) */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_PM_PROFILE 45
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_ACPI_DISABLE 53
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208

#define PM1_EVT_LEN 4
#define PM1_CNT_LEN 2
#define PM_TMR_LEN 4
#define PM1_CNT_OFF 4
#define PM_TMR_OFF 8

/* C2 and C3 latencies above 100 and 1000 us: not supported. */
#define P_LVL2_NONE 0xFFF
#define P_LVL3_NONE 0xFFFF
#define CMOS_CENTURY 0x32

#define BOOT_LEGACY_DEVICES 0x0001
#define BOOT_8042 0x0002
#define BOOT_NO_CMOS_RTC 0x0020

#define FADT_F_WBINVD 0x00000001
#define FADT_F_PROC_C1 0x00000004
#define FADT_F_SLP_BUTTON 0x00000020 /* no fixed sleep button */
#define FADT_F_RTC_S4 0x00000080
#define FADT_F_RESET_REG_SUP 0x00000400

/* piix3.c's reset control register: SYS_RST | RST_CPU resets at once. */
#define RESET_PORT 0xCF9
#define RESET_VALUE 0x06

/* Generic Address Structure access sizes */
#define GAS_BYTE 1
#define GAS_WORD 2
#define GAS_DWORD 3

/* A Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *p, uint16_t port, uint8_t bits, uint8_t access)
{
	p[0] = 1; /* system I/O */
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	put_le64(p + 4, port);
}

/* One PM block: the 32-bit port field, its length, and the X_ GAS. */
static void fadt_pm_block(uint8_t *f, unsigned off32, unsigned len_off, unsigned xoff,
			  uint16_t port, uint8_t len, uint8_t access)
{
	put_le32(f + off32, port);
	f[len_off] = len;
	gas_io(f + xoff, port, (uint8_t)(len * 8), access);
}

static uint16_t boot_arch(const struct acpi_pc_desc *d)
{
	uint16_t v = BOOT_LEGACY_DEVICES;
	if (d->ps2)
		v |= BOOT_8042;
	if (!d->rtc)
		v |= BOOT_NO_CMOS_RTC;
	return v;
}

static void fadt_fill(uint8_t *f, const struct acpi_pc_desc *d, uint64_t facs, uint64_t dsdt)
{
	put_le32(f + FADT_FIRMWARE_CTRL, (uint32_t)facs);
	put_le32(f + FADT_DSDT, (uint32_t)dsdt);
	put_le64(f + FADT_X_FIRMWARE_CTRL, facs);
	put_le64(f + FADT_X_DSDT, dsdt);
	f[FADT_PM_PROFILE] = 0; /* unspecified */
	put_le16(f + FADT_SCI_INT, d->sci_irq);
	put_le32(f + FADT_SMI_CMD, d->smi_cmd);
	f[FADT_ACPI_ENABLE] = d->acpi_enable;
	f[FADT_ACPI_DISABLE] = d->acpi_disable;
	fadt_pm_block(f, FADT_PM1A_EVT_BLK, FADT_PM1_EVT_LEN, FADT_X_PM1A_EVT_BLK, d->pm_base,
		      PM1_EVT_LEN, GAS_WORD);
	fadt_pm_block(f, FADT_PM1A_CNT_BLK, FADT_PM1_CNT_LEN, FADT_X_PM1A_CNT_BLK,
		      (uint16_t)(d->pm_base + PM1_CNT_OFF), PM1_CNT_LEN, GAS_WORD);
	fadt_pm_block(f, FADT_PM_TMR_BLK, FADT_PM_TMR_LEN, FADT_X_PM_TMR_BLK,
		      (uint16_t)(d->pm_base + PM_TMR_OFF), PM_TMR_LEN, GAS_DWORD);
	put_le16(f + FADT_P_LVL2_LAT, P_LVL2_NONE);
	put_le16(f + FADT_P_LVL3_LAT, P_LVL3_NONE);
	f[FADT_CENTURY] = CMOS_CENTURY;
	put_le16(f + FADT_IAPC_BOOT_ARCH, boot_arch(d));
	put_le32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
					 FADT_F_RTC_S4 | FADT_F_RESET_REG_SUP);
	gas_io(f + FADT_RESET_REG, RESET_PORT, 8, GAS_BYTE);
	f[FADT_RESET_VALUE] = RESET_VALUE;
	f[FADT_MINOR_VERSION] = FADT_MINOR;
}

static size_t build_fadt(struct out *o, const struct acpi_pc_desc *d, size_t facs, size_t dsdt)
{
	size_t start = table_begin(o, "FACP", FADT_REVISION);
	if (grow(o, FADT_LEN - HEADER_LEN))
		fadt_fill(o->buf + start, d, addr_of(o, facs), addr_of(o, dsdt));
	table_end(o, start);
	return start;
}

/* ---- MADT ---- */

#define MADT_PCAT_COMPAT 1
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define LAPIC_ENABLED 1
#define ISO_CONFORMING 0x0000
#define ISO_LEVEL_HIGH 0x000D /* active high (01), level-triggered (11 << 2) */
/* A _PRT entry naming a GSI (no link device) means level, active low
 * (ACPI 6.x, "_PRT"); the PIRQ IRQs' overrides say the same, so Linux sees
 * one polarity per pin. (KVM's IOAPIC takes a line's level as asserted
 * either way.) */
#define ISO_LEVEL_LOW 0x000F
#define ALL_PROCESSORS 0xFF
#define NMI_LINT 1

static void madt_iso(struct out *o, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	uint8_t *p = grow(o, 10);
	if (!p)
		return;
	p[0] = MADT_ISO;
	p[1] = 10;
	p[2] = 0; /* ISA */
	p[3] = irq;
	put_le32(p + 4, gsi);
	put_le16(p + 8, flags);
}

/* The level-triggered ISA IRQs: the SCI and where the PIRQs go, each once. */
static bool irq_is_pirq(const struct acpi_pc_desc *d, unsigned irq)
{
	for (int i = 0; i < 4; i++)
		if (irq == d->pirq_irq[i])
			return true;
	return false;
}

static bool irq_is_level(const struct acpi_pc_desc *d, unsigned irq)
{
	return irq == d->sci_irq || irq_is_pirq(d, irq);
}

static void madt_cpus(struct out *o, const struct acpi_pc_desc *d)
{
	for (unsigned i = 0; i < d->ncpus; i++) {
		uint8_t *p = grow(o, 8);
		if (!p)
			return;
		p[0] = MADT_LAPIC;
		p[1] = 8;
		p[2] = (uint8_t)i; /* ACPI processor UID */
		p[3] = (uint8_t)d->apic_ids[i];
		put_le32(p + 4, LAPIC_ENABLED);
	}
}

static void madt_ioapic(struct out *o, const struct acpi_pc_desc *d)
{
	uint8_t *p = grow(o, 12);
	if (!p)
		return;
	p[0] = MADT_IOAPIC;
	p[1] = 12;
	p[2] = d->ioapic_id;
	put_le32(p + 4, d->ioapic_addr);
	put_le32(p + 8, 0); /* GSI base */
}

static void madt_nmi(struct out *o)
{
	uint8_t *p = grow(o, 6);
	if (!p)
		return;
	p[0] = MADT_LAPIC_NMI;
	p[1] = 6;
	p[2] = ALL_PROCESSORS;
	put_le16(p + 3, 0); /* conforming */
	p[5] = NMI_LINT;
}

static size_t build_madt(struct out *o, const struct acpi_pc_desc *d)
{
	size_t start = table_begin(o, "APIC", MADT_REVISION);
	uint8_t *p = grow(o, 8);
	if (p) {
		put_le32(p, LAPIC_ADDR);
		put_le32(p + 4, MADT_PCAT_COMPAT);
	}
	madt_cpus(o, d);
	madt_ioapic(o, d);
	madt_iso(o, 0, 2, ISO_CONFORMING); /* the PIT is on the IOAPIC's pin 2 */
	for (unsigned irq = 1; irq < 16; irq++)
		if (irq_is_level(d, irq))
			madt_iso(o, (uint8_t)irq, irq,
				 irq_is_pirq(d, irq) ? ISO_LEVEL_LOW : ISO_LEVEL_HIGH);
	madt_nmi(o);
	table_end(o, start);
	return start;
}

/* ---- RSDT, XSDT, RSDP ---- */

static size_t build_rsdt(struct out *o, const size_t *tables, unsigned n)
{
	size_t start = table_begin(o, "RSDT", RSDT_REVISION);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = grow(o, 4);
		if (p)
			put_le32(p, (uint32_t)addr_of(o, tables[i]));
	}
	table_end(o, start);
	return start;
}

static size_t build_xsdt(struct out *o, const size_t *tables, unsigned n)
{
	size_t start = table_begin(o, "XSDT", XSDT_REVISION);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = grow(o, 8);
		if (p)
			put_le64(p, addr_of(o, tables[i]));
	}
	table_end(o, start);
	return start;
}

/* RSDP: signature 0, checksum of the first 20 bytes 8, OEM ID 9, revision
 * 15, RSDT 16, length 20, XSDT 24, extended checksum 32. */
static size_t build_rsdp(struct out *o, size_t rsdt, size_t xsdt)
{
	align_to(o, 16);
	size_t start = o->len;
	uint8_t *p = grow(o, RSDP_LEN);
	if (!p)
		return start;
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, OEM_ID, 6);
	p[15] = RSDP_REVISION;
	put_le32(p + 16, (uint32_t)addr_of(o, rsdt));
	put_le32(p + 20, RSDP_LEN);
	put_le64(p + 24, addr_of(o, xsdt));
	p[8] = (uint8_t)-sum8(p, RSDP_V1_LEN);
	p[32] = (uint8_t)-sum8(p, RSDP_LEN);
	return start;
}

/* ---- The description ---- */

/* What the tables can say: xAPIC IDs in the Local APIC entries, IRQs the
 * PIIX3 routes, windows that are ranges, an I/O window clear of the
 * configuration ports. */
static bool desc_ok(const struct acpi_pc_desc *d)
{
	if (d->ncpus == 0 || d->ncpus > 255 || !d->apic_ids)
		return false;
	for (unsigned i = 0; i < d->ncpus; i++)
		if (d->apic_ids[i] >= 255)
			return false;
	/* an IRQ the PIIX3 can route a PIRQ to (and the SCI may use) */
	if (!piix3_irq_routable(d->sci_irq))
		return false;
	for (int i = 0; i < 4; i++)
		if (!piix3_irq_routable(d->pirq_irq[i]))
			return false;
	if (d->pci_mem32_start > d->pci_mem32_end)
		return false;
	if ((d->pci_mem64_start || d->pci_mem64_end) && d->pci_mem64_start > d->pci_mem64_end)
		return false;
	if (d->pci_io_start > d->pci_io_end)
		return false;
	return d->pci_io_end < PCI_CONFIG_PORT || d->pci_io_start >= PCI_CONFIG_PORT + 8;
}

size_t acpi_build(const struct acpi_pc_desc *d, uint64_t base, uint8_t *buf, size_t cap,
		  size_t *rsdp_off)
{
	struct out o = { .buf = buf, .cap = buf ? cap : 0, .base = base };

	if (!desc_ok(d))
		return 0;
	size_t facs = build_facs(&o);
	size_t dsdt = build_dsdt(&o, d);
	size_t fadt = build_fadt(&o, d, facs, dsdt);
	size_t madt = build_madt(&o, d);
	const size_t tables[] = { fadt, madt };
	size_t rsdt = build_rsdt(&o, tables, 2);
	size_t xsdt = build_xsdt(&o, tables, 2);
	size_t rsdp = build_rsdp(&o, rsdt, xsdt);
	/* The RSDT and the FADT's 32-bit fields point below 4 GiB. */
	if (o.full || base > UINT32_MAX || o.len > (uint64_t)UINT32_MAX + 1 - base)
		return 0;
	if (rsdp_off)
		*rsdp_off = rsdp;
	return o.len;
}
