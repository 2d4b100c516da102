// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The image formats beside qcow2 and vmdk (src/block/qcow.c, vdi.c,
 * vpc.c, refused_formats.c), on real files in a temporary directory:
 * random writes against a reference buffer then reopen (probed) for qcow,
 * VDI dynamic and fixed, VHD dynamic and fixed; a qcow overlay's
 * copy-on-write of partial clusters; a zlib-compressed qcow cluster read
 * and partly rewritten; VHDX and QED recognised and refused, never raw;
 * probing's sector-0 guard for the new signatures; and a corpus of
 * malformed images built in the test (every header field the drivers
 * check, tables past the end of the file, table entries pointing into
 * metadata or past the file at I/O time): each a one-line error or -EIO,
 * never a crash (ASan and UBSan watch).
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "block.h"
#include "qcow.h"
#include "util.h"
#include "vdi.h"
#include "vpc.h"

static char dir[64];

static char *tpath(const char *name)
{
	static char buf[4][256];
	static int i;
	char *p = buf[i++ & 3];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static int setup(void **state)
{
	strcpy(dir, "/tmp/vmm-formats-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct block_dev *op(const char *name, const char *fmt, bool ro)
{
	char err[256];
	struct block_opts o = { .no_barriers = true };
	struct block_dev *bd = block_open(tpath(name), fmt, ro, &o, err, sizeof(err));
	if (!bd)
		fail_msg("open %s: %s", name, err);
	return bd;
}

static uint32_t rng = 4242;
static uint32_t rnd(void)
{
	rng = rng * 1103515245 + 12345;
	return rng >> 8;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

/* Random writes against a reference, read back, reopen probed (or with
 * 'reopen_fmt'), read back again. */
static void random_io(const char *name, const char *fmt, const char *reopen_fmt,
		      unsigned nwrites, unsigned maxlen)
{
	struct block_dev *bd = op(name, fmt, false);
	uint64_t size = bd->size;
	uint8_t *ref = xzalloc(size), *buf = xzalloc(maxlen), *got = xzalloc(size);

	for (unsigned i = 0; i < nwrites; i++) {
		uint64_t len = 1 + rnd() % maxlen, off = rnd() % (size - len + 1);
		fill(buf, len, (uint8_t)i);
		memcpy(ref + off, buf, len);
		assert_int_equal(block_pwrite(bd, buf, len, off), 0);
	}
	assert_int_equal(block_flush(bd), 0);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, ref, size);
	block_close(bd);
	bd = op(name, reopen_fmt, true);
	assert_string_equal(bd->format, fmt);
	assert_int_equal(bd->size, size);
	memset(got, 0x55, size);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, ref, size);
	block_close(bd);
	free(ref);
	free(buf);
	free(got);
}

static void test_qcow_rw(void **state)
{
	char err[256];
	assert_int_equal(qcow_create(tpath("a.qcow"), 5 * MiB + 1000, NULL, err, sizeof(err)), 0);
	random_io("a.qcow", "qcow", NULL, 300, 20000);
	struct block_dev *bd = op("a.qcow", NULL, true);
	assert_int_equal(bd->size, 5 * MiB + 1024); /* whole sectors */
	assert_int_equal(bd->cluster_size, 4096);
	block_close(bd);
}

static void test_qcow_overlay_cow(void **state)
{
	char err[256];
	uint8_t *base = xzalloc(2 * MiB), got[3000], buf[1000];
	fill(base, 2 * MiB, 9);
	int fd = open(tpath("base.raw"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(pwrite(fd, base, 2 * MiB, 0), 2 * MiB);
	close(fd);
	assert_int_equal(qcow_create(tpath("ov.qcow"), 2 * MiB, "base.raw", err, sizeof(err)), 0);
	struct block_dev *bd = op("ov.qcow", "qcow", false);
	assert_true(block_has_backing(bd));
	assert_string_equal(qcow_backing_name(bd), "base.raw");
	/* 1000 bytes inside a 512-byte-cluster run: the clusters' other
	 * bytes come from the base */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 700), 0);
	memcpy(base + 700, buf, sizeof(buf));
	uint64_t n;
	assert_int_equal(block_status(bd, 1024, 512, &n), 1);
	assert_int_equal(block_status(bd, 1 * MiB, 512, &n), 0);
	block_close(bd);
	bd = op("ov.qcow", NULL, true);
	assert_int_equal(block_pread(bd, got, sizeof(got), 0), 0);
	assert_memory_equal(got, base, sizeof(got));
	block_close(bd);
	free(base);
}

/* A qcow image whose cluster 0 is zlib-compressed (raw deflate), as
 * qemu-io's write -c makes one: entry = bit 63 | length << (63 - bits) |
 * offset. */
static void make_compressed_qcow(const char *name, uint8_t *plain)
{
	char err[256];
	assert_int_equal(qcow_create(tpath(name), 1 * MiB, NULL, err, sizeof(err)), 0);
	uint8_t l2[4096] = { 0 }, comp[8192];
	for (int i = 0; i < 4096; i++)
		plain[i] = (uint8_t)("vmm qcow compressed "[i % 20]);
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = plain;
	z.avail_in = 4096;
	z.next_out = comp;
	z.avail_out = sizeof(comp);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	uint64_t clen = sizeof(comp) - z.avail_out;
	deflateEnd(&z);
	/* file: header 48, L1 at 48 (1 entry, 512 bytes); L2 at 4096, data 8192+100 */
	uint64_t coff = 8192 + 100;
	put_be64(l2, (1ULL << 63) | clen << (63 - 12) | coff);
	int fd = open(tpath(name), O_RDWR);
	uint8_t l1[8];
	put_be64(l1, 4096);
	assert_int_equal(pwrite(fd, l1, 8, 48), 8);
	assert_int_equal(pwrite(fd, l2, sizeof(l2), 4096), (ssize_t)sizeof(l2));
	assert_int_equal(pwrite(fd, comp, clen, (off_t)coff), (ssize_t)clen);
	close(fd);
}

static void test_qcow_compressed(void **state)
{
	uint8_t plain[4096], got[4096];
	make_compressed_qcow("c.qcow", plain);
	struct block_dev *bd = op("c.qcow", NULL, false);
	assert_int_equal(block_pread(bd, got, sizeof(got), 0), 0);
	assert_memory_equal(got, plain, sizeof(got));
	/* part of it rewritten: the cluster becomes plain, the rest kept */
	memset(plain + 10, 0xab, 20);
	assert_int_equal(block_pwrite(bd, plain + 10, 20, 10), 0);
	block_close(bd);
	bd = op("c.qcow", NULL, true);
	assert_int_equal(block_pread(bd, got, sizeof(got), 0), 0);
	assert_memory_equal(got, plain, sizeof(got));
	block_close(bd);
}

static void test_vdi_rw(void **state)
{
	char err[256];
	assert_int_equal(vdi_create(tpath("d.vdi"), 7 * MiB + 512, false, err, sizeof(err)), 0);
	random_io("d.vdi", "vdi", NULL, 300, 300000);
	assert_int_equal(vdi_create(tpath("f.vdi"), 3 * MiB, true, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(tpath("f.vdi"), &st), 0);
	assert_int_equal(st.st_size, 1024 + 3 * MiB);
	random_io("f.vdi", "vdi", NULL, 100, 300000);
	assert_int_equal(stat(tpath("f.vdi"), &st), 0);
	assert_int_equal(st.st_size, 1024 + 3 * MiB); /* fixed: nothing appended */
}

static void test_vpc_rw(void **state)
{
	char err[256];
	assert_int_equal(vpc_create(tpath("d.vpc"), 9 * MiB, false, false, err, sizeof(err)), 0);
	random_io("d.vpc", "vpc", NULL, 300, 300000);
	/* fixed: probed as raw (as QEMU), so reopened with the format given */
	assert_int_equal(vpc_create(tpath("f.vpc"), 3 * MiB, true, false, err, sizeof(err)), 0);
	random_io("f.vpc", "vpc", "vpc", 100, 100000);
	struct block_dev *bd = op("f.vpc", NULL, true);
	assert_string_equal(bd->format, "raw");
	block_close(bd);
	/* force_size: exactly the size asked for; otherwise the CHS rounding */
	assert_int_equal(vpc_create(tpath("s.vpc"), 100 * MiB, false, true, err, sizeof(err)), 0);
	bd = op("s.vpc", NULL, true);
	assert_int_equal(bd->size, 100 * MiB);
	block_close(bd);
	assert_int_equal(vpc_create(tpath("c.vpc"), 100 * MiB, false, false, err, sizeof(err)), 0);
	bd = op("c.vpc", NULL, true);
	assert_int_equal(bd->size, 1004ULL * 12 * 17 * 512); /* qemu-img's 104865792 */
	block_close(bd);
}

static void test_refused_formats(void **state)
{
	static const struct { const char *name; const char magic[9]; const char *fmt; } f[] = {
		{ "x.qed", "QED\0", "qed" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		uint8_t b[4096] = { 0 };
		memcpy(b, f[i].magic, 8);
		int fd = open(tpath(f[i].name), O_RDWR | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(pwrite(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
		close(fd);
		assert_string_equal(block_probe(b, sizeof(b)), f[i].fmt);
		for (int given = 0; given < 2; given++) {
			char err[256] = "";
			struct block_dev *bd = block_open(tpath(f[i].name), given ? f[i].fmt : NULL,
							  false, NULL, err, sizeof(err));
			assert_null(bd);
			assert_non_null(strstr(err, "not supported"));
			assert_null(strchr(err, '\n'));
		}
	}
}

/* A probed raw image may not have another format's signature written
 * into sector 0 (the guest would turn its disk into a container). */
static void test_probe_guard(void **state)
{
	int fd = open(tpath("r.img"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(ftruncate(fd, 1 * MiB), 0);
	close(fd);
	struct block_dev *bd = op("r.img", NULL, false);
	assert_string_equal(bd->format, "raw");
	uint8_t s0[512] = { 0 };
	memcpy(s0, "conectix", 8);
	assert_int_equal(block_pwrite(bd, s0, 512, 0), -EPERM);
	memset(s0, 0, sizeof(s0));
	put_le32(s0 + 64, 0xbeda107f);
	assert_int_equal(block_pwrite(bd, s0, 512, 0), -EPERM);
	memset(s0, 0, sizeof(s0));
	memcpy(s0, "QFI\xfb\0\0\0\1", 8);
	assert_int_equal(block_pwrite(bd, s0, 512, 0), -EPERM);
	block_close(bd);
}

/* ---- malformed images --------------------------------------------------- */

static void patch(const char *name, uint64_t off, const void *b, size_t len)
{
	int fd = open(tpath(name), O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void be32_at(const char *name, uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put_be32(b, v);
	patch(name, off, b, 4);
}

static void be64_at(const char *name, uint64_t off, uint64_t v)
{
	uint8_t b[8];
	put_be64(b, v);
	patch(name, off, b, 8);
}

static void le32_at(const char *name, uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	patch(name, off, b, 4);
}

static void le64_at(const char *name, uint64_t off, uint64_t v)
{
	uint8_t b[8];
	put_le64(b, v);
	patch(name, off, b, 8);
}

static void expect_open_fails(const char *name, const char *fmt, const char *needle)
{
	char err[256] = "";
	struct block_dev *bd = block_open(tpath(name), fmt, false, NULL, err, sizeof(err));
	if (bd)
		fail_msg("%s opened as %s", name, bd->format);
	assert_true(err[0]);
	assert_null(strchr(err, '\n'));
	if (needle && !strstr(err, needle))
		fail_msg("%s: '%s' lacks '%s'", name, err, needle);
}

/* Opens (it must), then a read and a write of 'off' fail with -EIO. */
static void expect_io_fails(const char *name, const char *fmt, uint64_t off)
{
	uint8_t b[512] = { 1 };
	struct block_dev *bd = op(name, fmt, false);
	assert_int_equal(block_pread(bd, b, sizeof(b), off), -EIO);
	assert_int_equal(block_pwrite(bd, b, sizeof(b), off), -EIO);
	block_close(bd);
}

static void qcow_fresh(const char *name)
{
	char err[256];
	assert_int_equal(qcow_create(tpath(name), 4 * MiB, NULL, err, sizeof(err)), 0);
}

static void test_qcow_malformed(void **state)
{
	uint8_t junk[64] = { 0 };

	patch("q0", 0, "QFI\xfb\0\0\0\1", 8); /* truncated header */
	expect_open_fails("q0", "qcow", "truncated");
	qcow_fresh("q1"); be32_at("q1", 36, 1);            expect_open_fails("q1", "qcow", "encrypted");
	qcow_fresh("q2"); patch("q2", 32, "\x08", 1);      expect_open_fails("q2", "qcow", "cluster size");
	qcow_fresh("q3"); patch("q3", 32, "\x11", 1);      expect_open_fails("q3", "qcow", "cluster size");
	qcow_fresh("q4"); patch("q4", 33, "\x05", 1);      expect_open_fails("q4", "qcow", "L2");
	qcow_fresh("q5"); be64_at("q5", 24, 1ULL << 62);   expect_open_fails("q5", "qcow", "too large");
	/* an L1 table past the end of the file, unaligned, or over the header */
	qcow_fresh("q6"); be64_at("q6", 40, 1ULL << 40);   expect_open_fails("q6", "qcow", "L1");
	qcow_fresh("q7"); be64_at("q7", 40, 52);           expect_open_fails("q7", "qcow", "L1");
	qcow_fresh("q8"); be64_at("q8", 40, 0);            expect_open_fails("q8", "qcow", "L1");
	/* a size whose L1 table the file cannot hold */
	qcow_fresh("q9"); be64_at("q9", 24, 1ULL << 45);   expect_open_fails("q9", "qcow", "L1");
	/* backing file name past the end, over-long, inside the header, NUL */
	qcow_fresh("q10"); be64_at("q10", 8, 1 << 20); be32_at("q10", 16, 10);
	expect_open_fails("q10", "qcow", "backing");
	qcow_fresh("q11"); be64_at("q11", 8, 48); be32_at("q11", 16, 5000);
	expect_open_fails("q11", "qcow", "backing");
	qcow_fresh("q12"); be64_at("q12", 8, 8); be32_at("q12", 16, 4);
	expect_open_fails("q12", "qcow", "backing");
	qcow_fresh("q13"); be64_at("q13", 8, 600); be32_at("q13", 16, 4);
	patch("q13", 600, junk, sizeof(junk));
	expect_open_fails("q13", "qcow", "backing");
	/* an L2 table over the header or past the end of the file */
	qcow_fresh("q14"); be64_at("q14", 48, 8);          expect_open_fails("q14", "qcow", "L2");
	qcow_fresh("q15"); be64_at("q15", 48, 1ULL << 40); expect_open_fails("q15", "qcow", "L2");
	/* qcow2's driver does not take a version 1 file */
	qcow_fresh("q16");
	expect_open_fails("q16", "qcow2", "version");

	/* at I/O time: data clusters over the metadata, unaligned, past the
	 * end; compressed clusters past the end or not inflating */
	static const uint64_t bad[] = {
		0, /* placeholder: entry 0 is "unallocated", skipped */
		16, 4096 + 8, 1ULL << 40,
		(1ULL << 63) | (100ULL << 51) | (1ULL << 40),
		(1ULL << 63) | (100ULL << 51) | 8192,
		(1ULL << 63) | (0ULL << 51) | 8192,
	};
	for (size_t i = 1; i < ARRAY_SIZE(bad); i++) {
		char name[16];
		uint8_t l2[4096] = { 0 }, l1[8];
		snprintf(name, sizeof(name), "qio%zu", i);
		qcow_fresh(name);
		put_be64(l2, bad[i]);
		put_be64(l1, 4096);
		patch(name, 4096, l2, sizeof(l2));
		memset(l2, 0x5a, sizeof(l2));
		patch(name, 8192, l2, sizeof(l2)); /* garbage where a compressed cluster sits */
		patch(name, 48, l1, 8);
		expect_io_fails(name, "qcow", 0);
	}
}

static void vdi_fresh(const char *name, bool fixed)
{
	char err[256];
	assert_int_equal(vdi_create(tpath(name), 4 * MiB, fixed, err, sizeof(err)), 0);
}

static void test_vdi_malformed(void **state)
{
	vdi_fresh("v0", false); le32_at("v0", 68, 0x00010000); expect_open_fails("v0", "vdi", "version");
	vdi_fresh("v1", false); le32_at("v1", 76, 4);       expect_open_fails("v1", "vdi", "type");
	vdi_fresh("v2", false); patch("v2", 440, "\x01", 1); expect_open_fails("v2", "vdi", "differencing");
	vdi_fresh("v3", false); le32_at("v3", 360, 4096);   expect_open_fails("v3", "vdi", "sector size");
	vdi_fresh("v4", false); le32_at("v4", 376, 3 * MiB); expect_open_fails("v4", "vdi", "block size");
	vdi_fresh("v5", false); le32_at("v5", 380, 512);    expect_open_fails("v5", "vdi", "block size");
	vdi_fresh("v6", false); le32_at("v6", 384, 0xffffffff); expect_open_fails("v6", "vdi", "block count");
	vdi_fresh("v7", false); le64_at("v7", 368, 5 * MiB); expect_open_fails("v7", "vdi", "disk size");
	vdi_fresh("v8", false); le32_at("v8", 388, 5);      expect_open_fails("v8", "vdi", "allocated");
	vdi_fresh("v9", false); le32_at("v9", 340, 1 << 30); expect_open_fails("v9", "vdi", "block map");
	vdi_fresh("v10", false); le32_at("v10", 340, 100);  expect_open_fails("v10", "vdi", "block map");
	vdi_fresh("v11", false); le32_at("v11", 344, 512);  expect_open_fails("v11", "vdi", "block map");
	vdi_fresh("v12", false); le32_at("v12", 340, 0);    expect_open_fails("v12", "vdi", "block map");
	/* at I/O time: an entry past the block count, or past the file */
	vdi_fresh("v13", false); le32_at("v13", 512, 4);    expect_io_fails("v13", "vdi", 0);
	vdi_fresh("v14", false); le32_at("v14", 512, 3);    expect_io_fails("v14", "vdi", 0);
	/* every data slot "in use" by another entry: a new block has no room */
	vdi_fresh("v15", false); le32_at("v15", 516, 3);
	le32_at("v15", 520, 3);
	struct block_dev *bd = op("v15", "vdi", false);
	uint8_t b[512] = { 7 };
	assert_int_equal(block_pwrite(bd, b, sizeof(b), 0), -ENOSPC);
	block_close(bd);
}

static void vpc_fresh(const char *name, bool fixed)
{
	char err[256];
	assert_int_equal(vpc_create(tpath(name), 4 * MiB, fixed, false, err, sizeof(err)), 0);
}

/* Recomputes the footer checksum at 'off' (0: the dynamic disk's copy). */
static void vpc_sum(const char *name, uint64_t off)
{
	uint8_t f[512];
	int fd = open(tpath(name), O_RDWR);
	assert_int_equal(pread(fd, f, 512, (off_t)off), 512);
	memset(f + 64, 0, 4);
	uint32_t sum = 0;
	for (int i = 0; i < 512; i++)
		sum += f[i];
	put_be32(f + 64, ~sum);
	assert_int_equal(pwrite(fd, f, 512, (off_t)off), 512);
	close(fd);
}

static void test_vpc_malformed(void **state)
{
	struct stat st;

	patch("p0", 0, "conectix", 8);                      expect_open_fails("p0", "vpc", "truncated");
	vpc_fresh("p1", false); patch("p1", 100, "X", 1);   expect_open_fails("p1", "vpc", "checksum");
	vpc_fresh("p2", false); be32_at("p2", 60, 4); vpc_sum("p2", 0);
	expect_open_fails("p2", "vpc", "differencing");
	vpc_fresh("p3", false); be32_at("p3", 60, 7); vpc_sum("p3", 0);
	expect_open_fails("p3", "vpc", "type");
	/* dynamic header past the end, over the footer copy, wrong cookie */
	vpc_fresh("p4", false); be64_at("p4", 16, 1ULL << 40); vpc_sum("p4", 0);
	expect_open_fails("p4", "vpc", "dynamic header");
	vpc_fresh("p5", false); be64_at("p5", 16, 0); vpc_sum("p5", 0);
	expect_open_fails("p5", "vpc", "dynamic header");
	vpc_fresh("p6", false); patch("p6", 512, "cxsparsf", 8);
	expect_open_fails("p6", "vpc", "dynamic header");
	/* block size, BAT place and size */
	vpc_fresh("p7", false); be32_at("p7", 512 + 32, 3 * MiB); expect_open_fails("p7", "vpc", "block size");
	vpc_fresh("p8", false); be64_at("p8", 512 + 16, 1ULL << 40); expect_open_fails("p8", "vpc", "allocation table");
	vpc_fresh("p9", false); be64_at("p9", 512 + 16, 600); expect_open_fails("p9", "vpc", "allocation table");
	vpc_fresh("p10", false); be32_at("p10", 512 + 28, 0xffffffff); expect_open_fails("p10", "vpc", "allocation table");
	vpc_fresh("p11", false); be32_at("p11", 512 + 28, 1); expect_open_fails("p11", "vpc", "too small");
	/* a size past the VHD limit (current size, by a Hyper-V creator) */
	vpc_fresh("p12", false); patch("p12", 28, "win ", 4); be64_at("p12", 48, 1ULL << 50);
	vpc_sum("p12", 0);
	expect_open_fails("p12", "vpc", "too large");
	/* fixed: a disk size larger than the file */
	vpc_fresh("p13", true);
	assert_int_equal(stat(tpath("p13"), &st), 0);
	uint64_t foot = (uint64_t)st.st_size - 512;
	patch("p13", foot + 28, "win ", 4);
	be64_at("p13", foot + 48, 1ULL << 30);
	vpc_sum("p13", foot);
	expect_open_fails("p13", "vpc", "shorter");
	/* no footer anywhere */
	vpc_fresh("p14", true);
	patch("p14", foot, "XXXXXXXX", 8);
	expect_open_fails("p14", "vpc", "footer");
	/* at I/O time: BAT entries into the footer copy, the dynamic header,
	 * the BAT, or past the end of the file */
	static const uint32_t bad[] = { 0, 1, 3, 4, 0x7fffffff };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char name[16];
		snprintf(name, sizeof(name), "pio%zu", i);
		vpc_fresh(name, false);
		be32_at(name, 1536, bad[i]);
		expect_io_fails(name, "vpc", 0);
	}
}

static void test_vdi_check(void **state)
{
	char err[256];
	uint8_t b[512] = { 9 };
	FILE *log = fopen("/dev/null", "w");

	assert_int_equal(vdi_create(tpath("k.vdi"), 4 * MiB, false, err, sizeof(err)), 0);
	struct block_dev *bd = op("k.vdi", "vdi", false);
	assert_int_equal(block_pwrite(bd, b, sizeof(b), 1 * MiB), 0);
	assert_int_equal(vdi_check(bd, log), 0);
	block_close(bd);
	le32_at("k.vdi", 512, 7);          /* block 0 -> data block 7 of 4 */
	bd = op("k.vdi", "vdi", true);
	assert_int_equal(vdi_check(bd, log), 1);
	block_close(bd);
	le32_at("k.vdi", 512, 0);          /* block 0 shares block 1's data */
	le32_at("k.vdi", 520, 0xfffffff0); /* and an entry past every index */
	bd = op("k.vdi", "vdi", true);
	assert_int_equal(vdi_check(bd, log), 3); /* shared, past, count */
	block_close(bd);
	fclose(log);
}

/* ---- VHDX (read-only), built here: header at 64 KiB and 128 KiB, region
 * tables at 192/256 KiB, BAT region at 1 MiB, metadata region at 2 MiB,
 * 1 MiB payload blocks from 3 MiB; a 3 MiB disk: block 0 data, block 1
 * zero, block 2 not present. */

static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

static void vhdx_seal(uint8_t *b, size_t n)
{
	put_le32(b + 4, 0);
	put_le32(b + 4, crc32c_ref(b, n));
}

static const uint8_t G_BAT[16] = { 0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
				   0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
static const uint8_t G_MD[16] = { 0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
				  0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e };
static const uint8_t G_PARAMS[16] = { 0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
				      0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b };
static const uint8_t G_SIZE[16] = { 0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
				    0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 };
static const uint8_t G_LSS[16] = { 0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
				   0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f };

struct vhdx_spec {
	uint32_t block, sector, flags;
	uint64_t size;
	uint64_t bat[3];
	bool log_dirty, bad_header1, bad_header2, unknown_region, unknown_item;
	uint64_t bat_off, md_off;
};

static void vhdx_build(const char *name, const struct vhdx_spec *v)
{
	int fd = open(tpath(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t *b = xzalloc(64 * KiB);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * MiB), 0);
	memcpy(b, "vhdxfile", 8);
	assert_int_equal(pwrite(fd, b, 512, 0), 512);
	for (int i = 0; i < 2; i++) { /* headers: sequence 1 and 2 */
		memset(b, 0, 4096);
		memcpy(b, "head", 4);
		put_le64(b + 8, (uint64_t)i + 1);
		if (v->log_dirty)
			b[48] = 1;
		put_le16(b + 66, 1);
		vhdx_seal(b, 4096);
		if ((i == 0 && v->bad_header1) || (i == 1 && v->bad_header2))
			b[100] ^= 1;
		assert_int_equal(pwrite(fd, b, 4096, (off_t)(64 * KiB * (i + 1))), 4096);
	}
	memset(b, 0, 64 * KiB);
	memcpy(b, "regi", 4);
	put_le32(b + 8, v->unknown_region ? 3 : 2);
	memcpy(b + 16, G_BAT, 16);
	put_le64(b + 32, v->bat_off ? v->bat_off : 1 * MiB);
	put_le32(b + 40, 1 * MiB);
	memcpy(b + 48, G_MD, 16);
	put_le64(b + 64, v->md_off ? v->md_off : 2 * MiB);
	put_le32(b + 72, 1 * MiB);
	memset(b + 80, 0x42, 16); /* an unknown region, required */
	put_le64(b + 96, 3 * MiB);
	put_le32(b + 104, 1 * MiB);
	put_le32(b + 108, 1);
	vhdx_seal(b, 64 * KiB);
	assert_int_equal(pwrite(fd, b, 64 * KiB, 192 * KiB), 64 * KiB);
	assert_int_equal(pwrite(fd, b, 64 * KiB, 256 * KiB), 64 * KiB);
	/* metadata: table, then the items at 64 KiB into the region */
	memset(b, 0, 64 * KiB);
	memcpy(b, "metadata", 8);
	put_le16(b + 10, v->unknown_item ? 4 : 3);
	const uint8_t *ids[] = { G_PARAMS, G_SIZE, G_LSS };
	const uint32_t lens[] = { 8, 8, 4 };
	for (int i = 0; i < 3; i++) {
		memcpy(b + 32 + i * 32, ids[i], 16);
		put_le32(b + 32 + i * 32 + 16, 64 * KiB + (uint32_t)i * 16);
		put_le32(b + 32 + i * 32 + 20, lens[i]);
		put_le32(b + 32 + i * 32 + 24, 4);
	}
	memset(b + 128, 0x37, 16);
	put_le32(b + 128 + 16, 64 * KiB + 48);
	put_le32(b + 128 + 20, 4);
	put_le32(b + 128 + 24, 4); /* required */
	assert_int_equal(pwrite(fd, b, 64 * KiB, 2 * MiB), 64 * KiB);
	uint8_t items[64] = { 0 };
	put_le32(items, v->block);
	put_le32(items + 4, v->flags);
	put_le64(items + 16, v->size);
	put_le32(items + 32, v->sector);
	assert_int_equal(pwrite(fd, items, sizeof(items), 2 * MiB + 64 * KiB), (ssize_t)sizeof(items));
	uint8_t bat[24];
	for (int i = 0; i < 3; i++)
		put_le64(bat + i * 8, v->bat[i]);
	assert_int_equal(pwrite(fd, bat, sizeof(bat), 1 * MiB), (ssize_t)sizeof(bat));
	memset(b, 0xd7, 4096);
	assert_int_equal(pwrite(fd, b, 4096, 3 * MiB), 4096);
	close(fd);
	free(b);
}

static const struct vhdx_spec vhdx_good = {
	.block = 1 * MiB, .sector = 512, .size = 3 * MiB,
	.bat = { (3ULL << 20) | 6, 2, 0 },
};

static void test_vhdx_read(void **state)
{
	uint8_t *got = xzalloc(3 * MiB), *want = xzalloc(3 * MiB);
	char err[256] = "";
	vhdx_build("g.vhdx", &vhdx_good);
	struct block_dev *bd = op("g.vhdx", NULL, true);
	assert_string_equal(bd->format, "vhdx");
	assert_int_equal(bd->size, 3 * MiB);
	assert_int_equal(bd->cluster_size, 1 * MiB);
	memset(want, 0xd7, 4096);
	assert_int_equal(block_pread(bd, got, 3 * MiB, 0), 0);
	assert_memory_equal(got, want, 3 * MiB);
	assert_int_equal(block_pwrite(bd, got, 512, 0), -EROFS);
	uint64_t n;
	struct block_map m;
	assert_int_equal(block_map(bd, 0, 3 * MiB, &n, &m), 0);
	assert_true(m.data && m.has_offset && m.offset == 3 * MiB && n == 1 * MiB);
	block_close(bd);
	/* written: refused in one line; the other header is used when one is bad */
	assert_null(block_open(tpath("g.vhdx"), NULL, false, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "read-only"));
	struct vhdx_spec v = vhdx_good;
	v.bad_header2 = true;
	vhdx_build("h.vhdx", &v);
	bd = op("h.vhdx", "vhdx", true);
	block_close(bd);
	free(got);
	free(want);
}

static void vhdx_bad(const char *name, struct vhdx_spec v, const char *needle)
{
	char err[256] = "";
	vhdx_build(name, &v);
	struct block_dev *bd = block_open(tpath(name), "vhdx", true, NULL, err, sizeof(err));
	if (bd)
		fail_msg("%s opened", name);
	assert_null(strchr(err, '\n'));
	if (!strstr(err, needle))
		fail_msg("%s: '%s' lacks '%s'", name, err, needle);
}

static void test_vhdx_malformed(void **state)
{
	struct vhdx_spec v = vhdx_good;
	v.log_dirty = true;                vhdx_bad("x1", v, "log");
	v = vhdx_good; v.bad_header1 = v.bad_header2 = true; vhdx_bad("x2", v, "header");
	v = vhdx_good; v.unknown_region = true; vhdx_bad("x3", v, "region");
	v = vhdx_good; v.unknown_item = true;   vhdx_bad("x4", v, "metadata");
	v = vhdx_good; v.flags = 2;             vhdx_bad("x5", v, "differencing");
	v = vhdx_good; v.block = 3 * MiB;       vhdx_bad("x6", v, "block size");
	v = vhdx_good; v.block = 512 * KiB;     vhdx_bad("x7", v, "block size");
	v = vhdx_good; v.sector = 1024;         vhdx_bad("x8", v, "sector size");
	v = vhdx_good; v.size = 1ULL << 62;     vhdx_bad("x9", v, "disk size");
	/* a disk larger than the 1 MiB BAT region can map */
	v = vhdx_good; v.size = 1ULL << 40; v.block = 1 * MiB; vhdx_bad("x10", v, "BAT");
	v = vhdx_good; v.bat_off = 64 * MiB;    vhdx_bad("x11", v, "region");
	v = vhdx_good; v.bat_off = 2 * MiB;     vhdx_bad("x12", v, "overlap");
	v = vhdx_good; v.md_off = 12345;        vhdx_bad("x13", v, "region");
	/* at I/O time: entries into the BAT, the metadata, the first MiB,
	 * past the end of the file, partially present, unknown state */
	static const uint64_t bad[] = { (1ULL << 20) | 6, (2ULL << 20) | 6, 6,
					(1000ULL << 20) | 6, (3ULL << 20) | 7, (3ULL << 20) | 5 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char name[16];
		uint8_t b[512];
		snprintf(name, sizeof(name), "xio%zu", i);
		v = vhdx_good;
		v.bat[0] = bad[i];
		vhdx_build(name, &v);
		struct block_dev *bd = op(name, "vhdx", true);
		assert_int_equal(block_pread(bd, b, sizeof(b), 0), -EIO);
		assert_int_equal(block_pread(bd, b, sizeof(b), 2 * MiB), 0); /* not present */
		block_close(bd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qcow_rw),
		cmocka_unit_test(test_qcow_overlay_cow),
		cmocka_unit_test(test_qcow_compressed),
		cmocka_unit_test(test_vdi_rw),
		cmocka_unit_test(test_vpc_rw),
		cmocka_unit_test(test_refused_formats),
		cmocka_unit_test(test_probe_guard),
		cmocka_unit_test(test_qcow_malformed),
		cmocka_unit_test(test_vdi_malformed),
		cmocka_unit_test(test_vpc_malformed),
		cmocka_unit_test(test_vdi_check),
		cmocka_unit_test(test_vhdx_read),
		cmocka_unit_test(test_vhdx_malformed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
