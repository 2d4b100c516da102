// SPDX-License-Identifier: GPL-2.0-or-later
/* src/board/acpi_tables.c: the tables a firmware-less boot hands Linux.
 * Each is found the way the OS finds it (RSDP, then RSDT/XSDT, then the
 * FADT's pointers) at a base that is not 0, and checked field by field;
 * iasl, when installed, disassembles them all and compiles the DSDT back. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi_tables.h"
#include "util.h"

/* Not 64-byte aligned: the FACS must still land on a 64-byte address. */
#define BASE 0x7FFE0010ull
#define CAP 16384

static const uint32_t apic_ids[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

static struct acpi_pc_desc pc_desc(unsigned ncpus)
{
	return (struct acpi_pc_desc){
		.ncpus = ncpus,
		.apic_ids = apic_ids,
		.ioapic_addr = 0xFEC00000,
		.ioapic_id = (uint8_t)ncpus,
		.pm_base = 0x600,
		.sci_irq = 9,
		.smi_cmd = 0xB2,
		.acpi_enable = 0xF1,
		.acpi_disable = 0xF0,
		.pirq_irq = { 10, 10, 11, 11 },
		.pci_mem32_start = 0xC0000000,
		.pci_mem32_end = 0xFEBFFFFF,
		.pci_mem64_start = 0x800000000ull,
		.pci_mem64_end = 0xFFFFFFFFFull,
		.pci_io_start = 0xC000,
		.pci_io_end = 0xFFFF,
		.ps2 = true,
		.com = { true, true, false, false },
		.rtc = true,
		.fdc = true,
	};
}

struct built {
	uint8_t buf[CAP];
	size_t len, rsdp;
};

static void build(struct built *b, const struct acpi_pc_desc *d)
{
	memset(b->buf, 0xAA, sizeof(b->buf));
	b->rsdp = 12345;
	b->len = acpi_build(d, BASE, b->buf, sizeof(b->buf), &b->rsdp);
	assert_true(b->len > 0);
	assert_true(b->rsdp < b->len);
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* The table at guest address addr: inside the buffer, with the signature,
 * a length that fits, a zero checksum and the OEM fields. */
static const uint8_t *table(const struct built *b, uint64_t addr, const char *sig)
{
	assert_true(addr >= BASE && addr - BASE + 36 <= b->len);
	const uint8_t *t = b->buf + (addr - BASE);
	uint32_t len = get_le32(t + 4);
	assert_memory_equal(t, sig, 4);
	assert_true(len >= 36 && addr - BASE + len <= b->len);
	assert_int_equal(sum8(t, len), 0);
	assert_memory_equal(t + 10, "VMM   ", 6);
	assert_memory_equal(t + 16, "VMMPC   ", 8);
	assert_memory_equal(t + 28, "VMM ", 4);
	return t;
}

static const uint8_t *rsdp_of(const struct built *b)
{
	const uint8_t *r = b->buf + b->rsdp;
	assert_int_equal((BASE + b->rsdp) % 16, 0);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum8(r, 20), 0);
	assert_int_equal(sum8(r, 36), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(get_le32(r + 20), 36);
	assert_memory_equal(r + 9, "VMM   ", 6);
	return r;
}

/* The FADT, found through both the RSDT and the XSDT (which agree). */
static const uint8_t *fadt_of(const struct built *b)
{
	const uint8_t *r = rsdp_of(b);
	const uint8_t *rsdt = table(b, get_le32(r + 16), "RSDT");
	const uint8_t *xsdt = table(b, get_le64(r + 24), "XSDT");
	assert_int_equal(get_le32(rsdt + 4), 36 + 2 * 4);
	assert_int_equal(get_le32(xsdt + 4), 36 + 2 * 8);
	for (int i = 0; i < 2; i++)
		assert_true(get_le32(rsdt + 36 + 4 * i) == get_le64(xsdt + 36 + 8 * i));
	const uint8_t *fadt = table(b, get_le64(xsdt + 36), "FACP");
	table(b, get_le64(xsdt + 44), "APIC");
	return fadt;
}

static const uint8_t *madt_of(const struct built *b)
{
	const uint8_t *xsdt = table(b, get_le64(rsdp_of(b) + 24), "XSDT");
	return table(b, get_le64(xsdt + 44), "APIC");
}

static const uint8_t *dsdt_of(const struct built *b)
{
	return table(b, get_le64(fadt_of(b) + 140), "DSDT");
}

/* A system I/O Generic Address Structure. */
static void assert_gas_io(const uint8_t *g, uint64_t port, unsigned bits, unsigned access)
{
	assert_int_equal(g[0], 1);
	assert_int_equal(g[1], bits);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], access);
	assert_true(get_le64(g + 4) == port);
}

static void check_fadt(const struct built *b, const struct acpi_pc_desc *d)
{
	const uint8_t *f = fadt_of(b);

	assert_int_equal(get_le32(f + 4), 276);
	assert_int_equal(f[8], 6);
	/* FACS and DSDT: 32-bit and X_ fields alike */
	uint64_t facs = get_le64(f + 132);
	assert_true(get_le32(f + 36) == facs);
	assert_true(get_le32(f + 40) == get_le64(f + 140));
	assert_int_equal(facs % 64, 0);
	assert_true(facs >= BASE && facs - BASE + 64 <= b->len);
	const uint8_t *fc = b->buf + (facs - BASE);
	assert_memory_equal(fc, "FACS", 4);
	assert_int_equal(get_le32(fc + 4), 64);
	dsdt_of(b);

	assert_int_equal(get_le16(f + 46), d->sci_irq);
	assert_int_equal(get_le32(f + 48), d->smi_cmd);
	assert_int_equal(f[52], d->acpi_enable);
	assert_int_equal(f[53], d->acpi_disable);
	assert_int_equal(get_le32(f + 56), d->pm_base);
	assert_int_equal(get_le32(f + 64), d->pm_base + 4);
	assert_int_equal(get_le32(f + 76), d->pm_base + 8);
	assert_int_equal(get_le32(f + 80), 0); /* no GPE0 block */
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(f[91], 4);
	assert_int_equal(f[92], 0);
	assert_gas_io(f + 148, d->pm_base, 32, 2);
	assert_gas_io(f + 172, d->pm_base + 4, 16, 2);
	assert_gas_io(f + 208, d->pm_base + 8, 32, 3);
	assert_int_equal(get_le16(f + 96), 0xFFF);
	assert_int_equal(get_le16(f + 98), 0xFFFF);
	assert_int_equal(f[108], 0x32);
	assert_int_equal(get_le16(f + 109), d->ps2 ? 3 : 1);
	/* WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, RESET_REG_SUP; not PWR_BUTTON
	 * (a fixed feature), not TMR_VAL_EXT (24 bits) */
	assert_int_equal(get_le32(f + 112), 0x4A5);
	assert_gas_io(f + 116, 0xCF9, 8, 1);
	assert_int_equal(f[128], 0x06);
}

/* MADT entries by type; checks every entry's length and the ISOs. */
static void check_madt(const struct built *b, const struct acpi_pc_desc *d)
{
	const uint8_t *m = madt_of(b);
	uint32_t len = get_le32(m + 4);
	unsigned count[5] = { 0 };
	unsigned next_cpu = 0;
	bool iso_seen[16] = { false };

	assert_int_equal(get_le32(m + 36), 0xFEE00000);
	assert_int_equal(get_le32(m + 40), 1);
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = m + off;
		assert_true(e[1] >= 2 && off + e[1] <= len);
		assert_true(e[0] < 5 && e[0] != 3);
		count[e[0]]++;
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], next_cpu);
			assert_int_equal(e[3], d->apic_ids[next_cpu]);
			assert_int_equal(get_le32(e + 4), 1);
			next_cpu++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], d->ioapic_id);
			assert_int_equal(get_le32(e + 4), d->ioapic_addr);
			assert_int_equal(get_le32(e + 8), 0);
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			assert_true(e[3] < 16 && !iso_seen[e[3]]);
			iso_seen[e[3]] = true;
			if (e[3] == 0) {
				assert_int_equal(get_le32(e + 4), 2);
				assert_int_equal(get_le16(e + 8), 0);
			} else {
				assert_int_equal(get_le32(e + 4), e[3]);
				/* the SCI active high; the PIRQs' IRQs active
				 * low, as their static _PRT entries say */
				bool pirq = e[3] == 10 || e[3] == 11;
				assert_int_equal(get_le16(e + 8), pirq ? 0x000F : 0x000D);
			}
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xFF);
			assert_int_equal(get_le16(e + 3), 0);
			assert_int_equal(e[5], 1);
			break;
		}
		off += e[1];
	}
	assert_int_equal(count[0], d->ncpus);
	assert_int_equal(count[1], 1);
	assert_int_equal(count[4], 1);
	/* IRQ 0, and 9, 10, 11 (the SCI and the PIRQs) each once */
	assert_int_equal(count[2], 4);
	assert_true(iso_seen[0] && iso_seen[9] && iso_seen[10] && iso_seen[11]);
}

static void test_one_cpu(void **state)
{
	static struct built b;
	struct acpi_pc_desc d = pc_desc(1);

	build(&b, &d);
	check_fadt(&b, &d);
	check_madt(&b, &d);
}

static void test_eight_cpus(void **state)
{
	static struct built b;
	struct acpi_pc_desc d = pc_desc(8);

	static const uint32_t ids[8] = { 0, 1, 2, 3, 4, 9, 6, 7 }; /* not the indices */
	d.apic_ids = ids;
	build(&b, &d);
	check_fadt(&b, &d);
	check_madt(&b, &d);
	/* eight Local APIC entries more than one CPU's... */
	static struct built one;
	struct acpi_pc_desc d1 = pc_desc(1);
	build(&one, &d1);
	assert_int_equal(get_le32(madt_of(&b) + 4), get_le32(madt_of(&one) + 4) + 7 * 8);
	/* ... and the same DSDT */
	const uint8_t *x = dsdt_of(&b), *y = dsdt_of(&one);
	assert_int_equal(get_le32(x + 4), get_le32(y + 4));
	assert_memory_equal(x + 36, y + 36, get_le32(x + 4) - 36);
}

/* ---- a little AML reading, for the _PRT ---- */

static size_t pkg_length(const uint8_t *p, size_t *value)
{
	unsigned follow = p[0] >> 6;
	if (!follow) {
		*value = p[0] & 0x3F;
		return 1;
	}
	size_t v = p[0] & 0x0F;
	for (unsigned i = 1; i <= follow; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	*value = v;
	return 1 + follow;
}

static size_t aml_integer(const uint8_t *p, uint64_t *v)
{
	static const unsigned size[] = { [0x0A] = 1, [0x0B] = 2, [0x0C] = 4, [0x0E] = 8 };
	if (p[0] == 0x00 || p[0] == 0x01) {
		*v = p[0];
		return 1;
	}
	assert_true(p[0] < 0x0F && size[p[0]]);
	*v = 0;
	for (unsigned i = 0; i < size[p[0]]; i++)
		*v |= (uint64_t)p[1 + i] << (8 * i);
	return 1 + size[p[0]];
}

/* The PkgLength of the Package Name(_PRT, ...) holds, in the DSDT. */
static const uint8_t *find_prt(const uint8_t *dsdt)
{
	uint32_t len = get_le32(dsdt + 4);
	const uint8_t *hit = memmem(dsdt, len, "\x08_PRT\x12", 6);
	assert_non_null(hit);
	assert_null(memmem(hit + 5, len - (size_t)(hit + 5 - dsdt), "_PRT", 4));
	return hit + 6;
}

/* 32 slots x 4 pins, each {slot << 16 | 0xFFFF, pin, 0, GSI}, the GSI the
 * ISA IRQ that piix3.c's swizzle sends the pin's PIRQ to. */
static void test_prt(void **state)
{
	static struct built b;
	struct acpi_pc_desc d = pc_desc(2);
	d.pirq_irq[0] = 10, d.pirq_irq[1] = 11, d.pirq_irq[2] = 5, d.pirq_irq[3] = 7;
	build(&b, &d);

	size_t total;
	const uint8_t *dsdt = dsdt_of(&b), *start = find_prt(dsdt);
	const uint8_t *p = start + pkg_length(start, &total);
	assert_true(total >= 0x40); /* the long PkgLength form */
	assert_true(start + total <= dsdt + get_le32(dsdt + 4));
	assert_int_equal(*p++, 128);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 1; pin <= 4; pin++) {
			size_t elen;
			uint64_t v[4];
			assert_int_equal(*p++, 0x12);
			const uint8_t *e = p;
			p += pkg_length(p, &elen);
			assert_int_equal(*p++, 4);
			for (int i = 0; i < 4; i++)
				p += aml_integer(p, &v[i]);
			assert_int_equal(p - e, elen);
			assert_true(v[0] == ((uint64_t)slot << 16 | 0xFFFF));
			assert_true(v[1] == pin - 1);
			assert_true(v[2] == 0);
			assert_true(v[3] == d.pirq_irq[(slot + pin - 2) & 3]);
		}
	}
	/* the package ends where its PkgLength says, after entry 128 */
	assert_ptr_equal(p, start + total);
	/* and the MADT makes each of those IRQs level-triggered */
	const uint8_t *m = madt_of(&b);
	unsigned isos = 0;
	for (uint32_t off = 44; off < get_le32(m + 4); off += m[off + 1])
		isos += m[off] == 2;
	assert_int_equal(isos, 1 + 5); /* 0; 5, 7, 9, 10, 11 */
}

/* Every cap below what the tables need: 0, and no byte past cap (the
 * buffers are exactly cap bytes on the heap, where ASan watches). */
static void test_cap_too_small(void **state)
{
	struct acpi_pc_desc d = pc_desc(8);
	static struct built b;
	build(&b, &d);

	size_t rsdp = 777;
	assert_int_equal(acpi_build(&d, BASE, NULL, 0, &rsdp), 0);
	for (size_t cap = 0; cap < b.len; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1);
		assert_non_null(buf);
		assert_int_equal(acpi_build(&d, BASE, buf, cap, &rsdp), 0);
		free(buf);
	}
	assert_int_equal(rsdp, 777);
	/* exactly enough, and more: the same bytes */
	uint8_t *buf = malloc(b.len);
	assert_int_equal(acpi_build(&d, BASE, buf, b.len, &rsdp), b.len);
	assert_int_equal(rsdp, b.rsdp);
	assert_memory_equal(buf, b.buf, b.len);
	free(buf);
}

/* What the tables cannot say is refused, not half-said. */
static void test_refused(void **state)
{
	static uint8_t buf[CAP];
	size_t rsdp;
	struct acpi_pc_desc d;

	d = pc_desc(0);
	assert_int_equal(acpi_build(&d, BASE, buf, CAP, &rsdp), 0);
	d = pc_desc(2);
	d.apic_ids = (const uint32_t[2]){ 0, 255 };
	assert_int_equal(acpi_build(&d, BASE, buf, CAP, &rsdp), 0);
	d = pc_desc(2);
	d.pirq_irq[2] = 0;
	assert_int_equal(acpi_build(&d, BASE, buf, CAP, &rsdp), 0);
	d = pc_desc(2);
	d.sci_irq = 2;
	assert_int_equal(acpi_build(&d, BASE, buf, CAP, &rsdp), 0);
	d = pc_desc(2);
	d.pci_io_start = 0x0C00;
	assert_int_equal(acpi_build(&d, BASE, buf, CAP, &rsdp), 0);
	d = pc_desc(2);
	d.pci_mem32_start = d.pci_mem32_end + 1;
	assert_int_equal(acpi_build(&d, BASE, buf, CAP, &rsdp), 0);
	d = pc_desc(2);
	assert_int_equal(acpi_build(&d, 0x100000000ull, buf, CAP, &rsdp), 0);
	assert_int_equal(acpi_build(&d, 0xFFFFFF00ull, buf, CAP, &rsdp), 0);
	/* no 64-bit window: no QWordMemory, fewer bytes */
	size_t with = acpi_build(&d, BASE, buf, CAP, &rsdp);
	d.pci_mem64_start = d.pci_mem64_end = 0;
	size_t without = acpi_build(&d, BASE, buf, CAP, &rsdp);
	assert_true(without > 0 && without < with);
}

/* ---- iasl ---- */

#define IASL "/usr/bin/iasl"

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[1 << 18];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	return text;
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void dump_table(const struct built *b, const char *dir, const char *file, uint64_t addr,
		       size_t len)
{
	write_file(dir, file, b->buf + (addr - BASE), len);
}

/* Writes each table as iasl -d reads them, one per file (not the RSDP,
 * which this iasl does not disassemble from a file). */
static void dump_tables(const struct built *b, const char *dir)
{
	const uint8_t *r = b->buf + b->rsdp, *f = fadt_of(b);
	const uint8_t *xsdt = b->buf + (get_le64(r + 24) - BASE);
	dump_table(b, dir, "rsdt.dat", get_le32(r + 16), get_le32(b->buf + get_le32(r + 16) - BASE + 4));
	dump_table(b, dir, "xsdt.dat", get_le64(r + 24), get_le32(xsdt + 4));
	dump_table(b, dir, "facp.dat", get_le64(xsdt + 36), get_le32(f + 4));
	dump_table(b, dir, "apic.dat", get_le64(xsdt + 44), get_le32(madt_of(b) + 4));
	dump_table(b, dir, "facs.dat", get_le64(f + 132), 64);
	dump_table(b, dir, "dsdt.dat", get_le64(f + 140), get_le32(dsdt_of(b) + 4));
}

/* iasl's own word on the tables: each disassembles, and the DSDT's source
 * compiles back without errors. VMM_ACPI_DUMP=DIR keeps the files there. */
static void test_iasl(void **state)
{
	if (access(IASL, X_OK) != 0) {
		print_message("skipped: no %s (Debian: acpica-tools)\n", IASL);
		skip();
	}
	static struct built b;
	struct acpi_pc_desc d = pc_desc(2);
	d.com[2] = d.com[3] = true;
	build(&b, &d);

	char tmp[] = "/tmp/vmm-acpi-XXXXXX";
	const char *keep = getenv("VMM_ACPI_DUMP");
	const char *dir = keep;
	if (keep)
		mkdir(keep, 0755);
	else
		assert_non_null(dir = mkdtemp(tmp));
	dump_tables(&b, dir);

	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && for t in rsdt xsdt facp apic facs dsdt; do " IASL
		 " -d $t.dat >$t.log 2>&1 || exit 1; done && " IASL " -p recompiled dsdt.dsl >tc.log 2>&1",
		 dir);
	int rc = run(cmd);
	if (rc != 0)
		print_message("%s", read_text(dir, "tc.log"));
	assert_int_equal(rc, 0);
	const char *log = read_text(dir, "tc.log");
	assert_non_null(strstr(log, "Compilation successful. 0 Errors"));

	const char *dsl = read_text(dir, "dsdt.dsl");
	assert_non_null(strstr(dsl, "EisaId (\"PNP0A03\")"));
	assert_non_null(strstr(dsl, "Name (_PRT, Package (0x80)"));
	assert_non_null(strstr(dsl, "Name (_S5, Package (0x04)"));
	assert_non_null(strstr(dsl, "Method (_PIC, 1"));
	assert_non_null(strstr(dsl, "QWordMemory"));
	assert_non_null(strstr(dsl, "EisaId (\"PNP0501\")"));
	const char *madt = read_text(dir, "apic.dsl");
	assert_non_null(strstr(madt, "Interrupt Source Override"));
	if (!keep) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(run(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_eight_cpus),
		cmocka_unit_test(test_prt),
		cmocka_unit_test(test_cap_too_small),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_iasl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
