// SPDX-License-Identifier: GPL-2.0-or-later
/* fw_cfg driven through the I/O bus at its real ports. */
#include "unit.h"
#include "bus_access.h"

#include <errno.h>
#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"
#include "hw/fw_cfg.h"
#include "savestate.h"
#include "util.h"

#define RAM_SIZE (64 * 1024)
#define GUARD 4096

struct fx {
	struct io_bus bus;
	struct guest_mem mem;
	uint8_t *host;  /* RAM_SIZE of guest RAM followed by a guard area */
	struct fw_cfg *f;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	x->host = malloc(RAM_SIZE + GUARD);
	memset(x->host, 0, RAM_SIZE);
	memset(x->host + RAM_SIZE, 0xA5, GUARD);
	guest_mem_init_buffer(&x->mem, x->host, RAM_SIZE);
	bus_init(&x->bus, "pio");
	x->f = fw_cfg_create(&x->mem);
	assert_int_equal(fw_cfg_map(x->f, &x->bus), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	for (unsigned i = 0; i < GUARD; i++)
		assert_int_equal(x->host[RAM_SIZE + i], 0xA5);
	fw_cfg_destroy(x->f);
	bus_destroy(&x->bus);
	free(x->host);
	free(x);
	return 0;
}

static void outw(struct fx *x, uint16_t port, uint16_t v) { bus_wr(&x->bus, port, v, 2); }
static void outl(struct fx *x, uint16_t port, uint32_t v) { bus_wr(&x->bus, port, v, 4); }
static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->bus, port, 1); }
static uint32_t inl(struct fx *x, uint16_t port) { return (uint32_t)bus_rd(&x->bus, port, 4); }

static void select_key(struct fx *x, uint16_t key) { outw(x, FW_CFG_PORT_SEL, key); }
static void read_data(struct fx *x, void *buf, size_t n)
{
	uint8_t *b = buf;
	for (size_t i = 0; i < n; i++)
		b[i] = inb(x, FW_CFG_PORT_DATA);
}

/* Writes a DMA descriptor at 'desc' and kicks it like SeaBIOS does. */
static uint32_t dma(struct fx *x, uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t acc[16];
	put_be32(acc, control);
	put_be32(acc + 4, len);
	put_be64(acc + 8, addr);
	memcpy(x->host + desc, acc, 16);
	outl(x, 0x514, __builtin_bswap32((uint32_t)(desc >> 32)));
	outl(x, 0x518, __builtin_bswap32((uint32_t)desc));
	return get_be32(x->host + desc);
}

static void test_signature_and_id(void **state)
{
	struct fx *x = *state;
	char sig[5] = { 0 };
	select_key(x, FW_CFG_SIGNATURE);
	read_data(x, sig, 4);
	assert_string_equal(sig, "QEMU");
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 0); /* past the end */

	uint8_t id[4];
	select_key(x, FW_CFG_ID);
	read_data(x, id, 4);
	assert_int_equal(get_le32(id), FW_CFG_VERSION | FW_CFG_VERSION_DMA);

	/* DMA port signature, byte by byte and as dwords. */
	char dsig[9] = { 0 };
	for (int i = 0; i < 8; i++)
		dsig[i] = (char)inb(x, 0x514 + i);
	assert_string_equal(dsig, "QEMU CFG");
	uint32_t hi = inl(x, 0x514), lo = inl(x, 0x518);
	assert_int_equal(__builtin_bswap32(hi), 0x51454d55);
	assert_int_equal(__builtin_bswap32(lo), 0x20434647);
}

static void test_unknown_key_and_reselect(void **state)
{
	struct fx *x = *state;
	select_key(x, 0x1234);
	for (int i = 0; i < 4; i++)
		assert_int_equal(inb(x, FW_CFG_PORT_DATA), 0);
	/* Reselecting restarts at offset 0. */
	select_key(x, FW_CFG_SIGNATURE);
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 'Q');
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 'E');
	select_key(x, FW_CFG_SIGNATURE);
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 'Q');
	/* Write-channel bit is ignored for reads; data writes are ignored. */
	select_key(x, FW_CFG_SIGNATURE | 0x4000);
	uint8_t junk = 0xEE;
	bus_write(&x->bus, FW_CFG_PORT_DATA, &junk, 1);
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 'Q');
	/* fw_cfg_reset puts the selector back to the signature. */
	select_key(x, FW_CFG_ID);
	fw_cfg_reset(x->f);
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 'Q');
}

static void test_numbers(void **state)
{
	struct fx *x = *state;
	uint8_t b[8];
	fw_cfg_add_u16(x->f, FW_CFG_NB_CPUS, 4);
	fw_cfg_add_u32(x->f, 0x8002, 1);
	fw_cfg_add_u64(x->f, FW_CFG_RAM_SIZE, 0x123456789ULL);
	select_key(x, FW_CFG_NB_CPUS);
	read_data(x, b, 2);
	assert_int_equal(get_le16(b), 4);
	select_key(x, 0x8002);
	read_data(x, b, 4);
	assert_int_equal(get_le32(b), 1);
	select_key(x, FW_CFG_RAM_SIZE);
	read_data(x, b, 8);
	assert_true(get_le64(b) == 0x123456789ULL);
	/* Replacing a key. */
	fw_cfg_add_u16(x->f, FW_CFG_NB_CPUS, 2);
	select_key(x, FW_CFG_NB_CPUS);
	read_data(x, b, 2);
	assert_int_equal(get_le16(b), 2);
}

struct dirent_ { uint32_t size; uint16_t sel; char name[57]; };

static uint32_t read_dir(struct fx *x, struct dirent_ *out, uint32_t max)
{
	uint8_t cnt[4];
	select_key(x, FW_CFG_FILE_DIR);
	read_data(x, cnt, 4);
	uint32_t n = get_be32(cnt);
	for (uint32_t i = 0; i < n && i < max; i++) {
		uint8_t e[64];
		read_data(x, e, 64);
		out[i].size = get_be32(e);
		out[i].sel = get_be16(e + 4);
		assert_int_equal(get_be16(e + 6), 0);
		memcpy(out[i].name, e + 8, 56);
		out[i].name[56] = 0;
	}
	return n;
}

static void test_directory(void **state)
{
	struct fx *x = *state;
	struct dirent_ d[8];
	assert_int_equal(read_dir(x, d, 8), 0);

	static const char e820[40] = { 1, 2, 3 };
	assert_int_equal(fw_cfg_add_file(x->f, "etc/e820", e820, sizeof(e820)), 0);
	assert_int_equal(fw_cfg_add_file(x->f, "bootorder", "/pci@i0cf8/ide@1,1\n", 19), 0);
	assert_int_equal(fw_cfg_add_file(x->f, "etc/boot-fail-wait", "\x10\x27\0\0", 4), 0);
	assert_int_equal(fw_cfg_add_file(x->f, "etc/e820", e820, 4), -EEXIST);
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[79] = 0;
	assert_int_equal(fw_cfg_add_file(x->f, longname, "x", 1), -ENAMETOOLONG);

	assert_int_equal(read_dir(x, d, 8), 3);
	/* Sorted by name, selectors from 0x20 in that order. */
	assert_string_equal(d[0].name, "bootorder");
	assert_string_equal(d[1].name, "etc/boot-fail-wait");
	assert_string_equal(d[2].name, "etc/e820");
	assert_int_equal(d[0].sel, 0x20);
	assert_int_equal(d[1].sel, 0x21);
	assert_int_equal(d[2].sel, 0x22);
	assert_int_equal(d[0].size, 19);
	assert_int_equal(d[2].size, 40);

	/* Read a file through the data port using its directory selector. */
	char buf[20] = { 0 };
	select_key(x, d[0].sel);
	read_data(x, buf, 19);
	assert_string_equal(buf, "/pci@i0cf8/ide@1,1\n");
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 0);
	uint8_t w[4];
	select_key(x, d[1].sel);
	read_data(x, w, 4);
	assert_int_equal(get_le32(w), 10000);
}

static void test_dma_read_skip_select(void **state)
{
	struct fx *x = *state;
	uint8_t blob[300];
	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(fw_cfg_add_file(x->f, "etc/blob", blob, sizeof(blob)), 0);

	/* select + read the signature */
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (FW_CFG_SIGNATURE << 16),
			     4, 0x2000), 0);
	assert_memory_equal(x->host + 0x2000, "QEMU", 4);

	/* select the file, read 10, skip 90, read 10 */
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (0x20u << 16), 10, 0x3000), 0);
	assert_memory_equal(x->host + 0x3000, blob, 10);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SKIP, 90, 0), 0);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_READ, 10, 0x3100), 0);
	assert_memory_equal(x->host + 0x3100, blob + 100, 10);

	/* The data port continues from the DMA offset. */
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), blob[110]);

	/* Read past the end: the tail is zero-filled, no error. */
	memset(x->host + 0x4000, 0xCC, 64);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (0x20u << 16), 0, 0), 0);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SKIP, 290, 0), 0);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_READ, 32, 0x4000), 0);
	assert_memory_equal(x->host + 0x4000, blob + 290, 10);
	for (int i = 10; i < 32; i++)
		assert_int_equal(x->host[0x4000 + i], 0);
	assert_int_equal(x->host[0x4000 + 32], 0xCC);

	/* Unknown key reads zeros. */
	memset(x->host + 0x5000, 0xCC, 8);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (0x3333u << 16), 8, 0x5000), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(x->host[0x5000 + i], 0);

	/* The descriptor may also sit at a 64-bit-split address (high half 0). */
	assert_int_equal(dma(x, 0xFFF0, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (FW_CFG_ID << 16), 4, 0x100), 0);
	assert_int_equal(get_le32(x->host + 0x100), 3);
}

static void test_dma_errors(void **state)
{
	struct fx *x = *state;
	assert_int_equal(fw_cfg_add_file(x->f, "etc/ro", "0123456789", 10), 0);
	uint8_t snapshot[RAM_SIZE];
	uint32_t r;

	/* Destination past the end of RAM. */
	memcpy(snapshot, x->host, RAM_SIZE);
	r = dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (0x20u << 16), 10, RAM_SIZE - 4);
	assert_true(r & FW_CFG_DMA_ERROR);
	assert_memory_equal(x->host + RAM_SIZE - 4, snapshot + RAM_SIZE - 4, 4);

	/* Huge length / wrapping address. */
	r = dma(x, 0x1000, FW_CFG_DMA_READ, 0xFFFFFFFF, 0x10);
	assert_true(r & FW_CFG_DMA_ERROR);
	r = dma(x, 0x1000, FW_CFG_DMA_READ, 16, 0xFFFFFFFFFFFFFFF8ULL);
	assert_true(r & FW_CFG_DMA_ERROR);
	r = dma(x, 0x1000, FW_CFG_DMA_READ, 16, 0x100000000ULL);
	assert_true(r & FW_CFG_DMA_ERROR);

	/* Write to a read-only file and to a numbered key. */
	memcpy(x->host + 0x2000, "abcd", 4);
	r = dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE | (0x20u << 16), 4, 0x2000);
	assert_true(r & FW_CFG_DMA_ERROR);
	r = dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE | (FW_CFG_SIGNATURE << 16), 4, 0x2000);
	assert_true(r & FW_CFG_DMA_ERROR);
	char back[10];
	assert_int_equal(fw_cfg_read_file(x->f, "etc/ro", back, sizeof(back)), 10);
	assert_memory_equal(back, "0123456789", 10);
	select_key(x, FW_CFG_SIGNATURE);
	assert_int_equal(inb(x, FW_CFG_PORT_DATA), 'Q');

	/* Descriptor outside RAM: nothing happens, nothing is written. */
	memcpy(snapshot, x->host, RAM_SIZE);
	outl(x, 0x514, 0);
	outl(x, 0x518, __builtin_bswap32(RAM_SIZE - 8));
	assert_memory_equal(x->host, snapshot, RAM_SIZE);

	/* A later good request still works (high half was reset). */
	r = dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (0x20u << 16), 10, 0x3000);
	assert_int_equal(r, 0);
	assert_memory_equal(x->host + 0x3000, "0123456789", 10);
}

static int writes_seen;
static void on_write(void *opaque, const char *name, uint32_t off, uint32_t len, const uint8_t *d)
{
	writes_seen++;
	assert_string_equal(name, "etc/rw");
	assert_int_equal(off, 2);
	assert_int_equal(len, 3);
	assert_memory_equal(d, "XYZ", 3);
}

static void test_dma_write(void **state)
{
	struct fx *x = *state;
	assert_int_equal(fw_cfg_add_file_writable(x->f, "etc/rw", "........", 8, on_write, NULL), 0);
	memcpy(x->host + 0x2000, "XYZ", 3);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP | (0x20u << 16), 2, 0), 0);
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_WRITE, 3, 0x2000), 0);
	assert_int_equal(writes_seen, 1);
	char back[8];
	assert_int_equal(fw_cfg_read_file(x->f, "etc/rw", back, sizeof(back)), 8);
	assert_memory_equal(back, "..XYZ...", 8);
	/* Writing past the end fails and changes nothing. */
	assert_true(dma(x, 0x1000, FW_CFG_DMA_WRITE, 4, 0x2000) & FW_CFG_DMA_ERROR);
	assert_int_equal(writes_seen, 1);
	assert_int_equal(fw_cfg_read_file(x->f, "etc/rw", back, sizeof(back)), 8);
	assert_memory_equal(back, "..XYZ...", 8);
}

static int loads_seen;
static void on_load_write(void *opaque, const char *name, uint32_t off, uint32_t len,
			  const uint8_t *d)
{
	loads_seen++;
	assert_int_equal(off, 0);
	assert_int_equal(len, 8);
}

static void save_to(struct fw_cfg *f, struct ss_writer *w)
{
	ss_writer_init(w);
	fw_cfg_save(f, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Save mid-read of a file with a guest-written file; load into a fresh
 * fw_cfg with the same configuration; save again: the same bytes; the
 * data port goes on where it was, the written file's contents came along
 * and its owner was told. */
static void test_save_load(void **state)
{
	struct fx *x = *state, *y;
	struct ss_writer w1, w2;
	struct ss_reader r;
	char buf[8];

	assert_int_equal(fw_cfg_add_file(x->f, "etc/ro", "abcdefghij", 10), 0);
	assert_int_equal(fw_cfg_add_file_writable(x->f, "etc/rw", "........", 8, NULL, NULL), 0);
	memcpy(x->host + 0x2000, "QRS", 3);
	/* etc/ro is 0x20, etc/rw 0x21 (sorted by name) */
	assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE | (0x21u << 16), 3,
			     0x2000), 0);
	select_key(x, 0x20);
	read_data(x, buf, 4);
	assert_memory_equal(buf, "abcd", 4);
	outl(x, 0x514, 0x78563412); /* a latched high half of the DMA address */
	save_to(x->f, &w1);

	setup((void **)&y);
	assert_int_equal(fw_cfg_add_file(y->f, "etc/ro", "abcdefghij", 10), 0);
	assert_int_equal(fw_cfg_add_file_writable(y->f, "etc/rw", "........", 8, on_load_write,
						  NULL), 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(fw_cfg_load(y->f, &r, 0));
	ss_reader_close(&r);
	assert_int_equal(loads_seen, 1);
	save_to(y->f, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	read_data(y, buf, 6);
	assert_memory_equal(buf, "efghij", 6);
	assert_int_equal(fw_cfg_read_file(y->f, "etc/rw", buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "QRS.....", 8);
	teardown((void **)&y);
	ss_writer_free(&w2);

	/* A machine without that writable file: refused, nothing changed. */
	setup((void **)&y);
	assert_int_equal(fw_cfg_add_file(y->f, "etc/ro", "abcdefghij", 10), 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_false(fw_cfg_load(y->f, &r, 0));
	assert_non_null(strstr(r.err, "no writable file \"etc/rw\""));
	ss_reader_close(&r);
	select_key(y, 0x20);
	read_data(y, buf, 2);
	assert_memory_equal(buf, "ab", 2);
	teardown((void **)&y);
	ss_writer_free(&w1);
}

/* The traditional interface only: ID says so, 0x514 is not decoded, and
 * the legacy kernel keys read through the data port. */
static void test_without_dma(void **state)
{
	struct io_bus bus;
	struct guest_mem mem;
	uint8_t ram[4096] = { 0 };
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	bus_init(&bus, "pio");
	struct fw_cfg *f = fw_cfg_create(&mem);
	fw_cfg_disable_dma(f);
	assert_int_equal(fw_cfg_map(f, &bus), 0);
	fw_cfg_add_u32(f, FW_CFG_SETUP_SIZE, 0x1234);

	uint16_t key = FW_CFG_ID;
	uint8_t b[4];
	bus_write(&bus, FW_CFG_PORT_SEL, &key, 2);
	for (int i = 0; i < 4; i++)
		bus_read(&bus, FW_CFG_PORT_DATA, &b[i], 1);
	assert_int_equal(get_le32(b), FW_CFG_VERSION);
	key = FW_CFG_SETUP_SIZE;
	bus_write(&bus, FW_CFG_PORT_SEL, &key, 2);
	for (int i = 0; i < 4; i++)
		bus_read(&bus, FW_CFG_PORT_DATA, &b[i], 1);
	assert_int_equal(get_le32(b), 0x1234);
	uint32_t sig = 0;
	bus_read(&bus, FW_CFG_PORT_DMA, &sig, 4);
	assert_int_equal(sig, 0xFFFFFFFF);   /* nothing there */
	fw_cfg_destroy(f);
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key_and_reselect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_read_skip_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test(test_without_dma),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
