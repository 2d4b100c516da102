// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 driver and block_open probing, on real files in a temporary
 * directory: allocation and reference data, the L2 cache under eviction,
 * refcount widths and table growth, backing reads and copy-on-write,
 * compressed clusters, zero clusters, and a corpus of malformed images
 * (each must fail with a message or an I/O error, never crash: ASan and
 * UBSan watch).
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "block.h"
#include "qcow2.h"
#include "util.h"
#include "vmdk.h"

static char dir[64];
static char err_unused[256];

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
	strcpy(dir, "/tmp/vmm-qcow2-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void mk(const char *name, uint64_t size, uint32_t cs, int version, unsigned rbits,
	       const char *backing, const char *bfmt)
{
	char err[256];
	struct qcow2_create_opts o = { .size = size, .cluster_size = cs, .version = version,
				       .refcount_bits = rbits, .backing_file = backing,
				       .backing_fmt = bfmt };
	int ret = qcow2_create(tpath(name), &o, err, sizeof(err));
	if (ret)
		fail_msg("create: %s", err);
}

static struct block_dev *op(const char *name, const char *fmt, bool ro, const struct block_opts *o)
{
	char err[256];
	struct block_dev *bd = block_open(tpath(name), fmt, ro, o, err, sizeof(err));
	if (!bd)
		fail_msg("open %s: %s", name, err);
	return bd;
}

static void expect_clean(const char *name)
{
	struct block_opts o = { .no_backing = true };
	struct block_dev *bd = op(name, "qcow2", true, &o);
	struct qcow2_check_result r;
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(qcow2_check(bd, 0, &r, log), 0);
	fclose(log);
	assert_int_equal(r.corruptions, 0);
	assert_int_equal(r.leaks, 0);
	block_close(bd);
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng = rng * 1103515245 + 12345;
	return rng >> 8;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* Random writes against a reference buffer, then reopen and compare. */
static void random_io_fmt(const char *name, const char *fmt, uint64_t size, unsigned nwrites,
			  unsigned maxlen, const struct block_opts *o)
{
	uint8_t *ref = xzalloc(size), *buf = xzalloc(maxlen), *got = xzalloc(size);
	struct block_dev *bd = op(name, fmt, false, o);

	assert_int_equal(bd->size, size);
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
	bd = op(name, NULL, true, NULL);
	assert_string_equal(bd->format, fmt);
	memset(got, 0, size);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, ref, size);
	block_close(bd);
	free(ref);
	free(buf);
	free(got);
}

static void random_io(const char *name, uint64_t size, unsigned nwrites, unsigned maxlen,
		      const struct block_opts *o)
{
	random_io_fmt(name, "qcow2", size, nwrites, maxlen, o);
}

static void test_alloc_rw_v3(void **state)
{
	mk("a.qcow2", 4 * MiB, 65536, 3, 16, NULL, NULL);
	random_io("a.qcow2", 4 * MiB, 300, 200000, NULL);
	expect_clean("a.qcow2");
}

/* Shrink frees what lies past the new end (no leak, no corruption), keeps
 * the rest, and a regrown image reads zeros there. 512-byte clusters give
 * many L2 tables, so whole tables and a partial one are released. */
static void test_shrink(void **state)
{
	uint64_t size = 2 * MiB, keep = 700 * KiB + 512;
	mk("sh.qcow2", size, 512, 3, 16, NULL, NULL);
	struct block_dev *bd = op("sh.qcow2", "qcow2", false, NULL);
	uint8_t *ref = xzalloc(size), *got = xzalloc(size);
	fill(ref, size, 3);
	assert_int_equal(block_pwrite(bd, ref, size, 0), 0);
	assert_int_equal(qcow2_shrink(bd, keep), 0);
	assert_int_equal(bd->size, keep);
	assert_int_equal(qcow2_grow(bd, size), 0);
	block_close(bd);
	expect_clean("sh.qcow2");
	bd = op("sh.qcow2", NULL, true, NULL);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, ref, keep);
	memset(ref, 0, size);
	assert_memory_equal(got + keep, ref, size - keep);
	block_close(bd);
	free(ref);
	free(got);
}

/* Guest discard on v3: whole clusters read as zeros and their host
 * clusters are free again (a new write reuses them: the file does not
 * grow); partial clusters keep their data; the image stays clean. v2:
 * a hint, the data stays. */
static void test_discard(void **state)
{
	enum { CS = 65536 };
	uint8_t *buf = malloc(8 * CS), *back = malloc(8 * CS);
	struct stat st;

	mk("d.qcow2", 1 * MiB, CS, 3, 16, NULL, NULL);
	struct block_dev *bd = op("d.qcow2", "qcow2", false, NULL);
	fill(buf, 8 * CS, 7);
	assert_int_equal(block_pwrite(bd, buf, 8 * CS, 0), 0);
	assert_int_equal(stat(tpath("d.qcow2"), &st), 0);
	off_t size0 = st.st_size;
	/* from mid-cluster 1 to mid-cluster 5: clusters 2-4 go */
	assert_int_equal(block_discard(bd, 4 * CS, CS + CS / 2), 0);
	assert_int_equal(block_pread(bd, back, 8 * CS, 0), 0);
	assert_memory_equal(back, buf, 2 * CS);
	for (unsigned i = 2 * CS; i < 5 * CS; i++)
		assert_int_equal(back[i], 0);
	assert_memory_equal(back + 5 * CS, buf + 5 * CS, 3 * CS);
	/* the freed clusters are reused */
	assert_int_equal(block_pwrite(bd, buf, 3 * CS, 8 * CS), 0);
	assert_int_equal(stat(tpath("d.qcow2"), &st), 0);
	assert_int_equal(st.st_size, size0);
	block_close(bd);
	expect_clean("d.qcow2");

	mk("d2.qcow2", 1 * MiB, CS, 2, 16, NULL, NULL);
	bd = op("d2.qcow2", "qcow2", false, NULL);
	assert_int_equal(block_pwrite(bd, buf, 4 * CS, 0), 0);
	assert_int_equal(block_discard(bd, 4 * CS, 0), 0);
	assert_int_equal(block_pread(bd, back, 4 * CS, 0), 0);
	assert_memory_equal(back, buf, 4 * CS);
	block_close(bd);
	expect_clean("d2.qcow2");
	free(buf);
	free(back);
}

static void test_alloc_rw_v2_small_clusters(void **state)
{
	mk("b.qcow2", 2 * MiB, 512, 2, 16, NULL, NULL);
	random_io("b.qcow2", 2 * MiB, 300, 5000, NULL);
	expect_clean("b.qcow2");
}

static void test_l2_cache_eviction(void **state)
{
	/* 512-byte clusters: one L2 table maps 32 KiB; a 2-table cache */
	struct block_opts o = { .l2_cache = 2 };
	mk("c.qcow2", 1 * MiB, 512, 3, 16, NULL, NULL);
	random_io("c.qcow2", 1 * MiB, 400, 3000, &o);
	expect_clean("c.qcow2");
}

static void test_refcount_widths(void **state)
{
	static const unsigned bits[] = { 1, 2, 4, 8, 32, 64 };
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++) {
		char name[32];
		snprintf(name, sizeof(name), "rc%u.qcow2", bits[i]);
		mk(name, 1 * MiB, 4096, 3, bits[i], NULL, NULL);
		random_io(name, 1 * MiB, 100, 20000, NULL);
		expect_clean(name);
	}
}

static void test_refcount_table_growth(void **state)
{
	/* 512-byte clusters, 64-bit refcounts: a refblock covers 64 clusters,
	 * the initial one-cluster table 64 blocks = 2 MiB; write 4 MiB */
	uint64_t size = 4 * MiB;
	uint8_t *buf = xzalloc(size), *got = xzalloc(size);
	mk("g.qcow2", size, 512, 3, 64, NULL, NULL);
	struct block_dev *bd = op("g.qcow2", "qcow2", false, NULL);
	fill(buf, size, 3);
	for (uint64_t off = 0; off < size; off += 64 * KiB)
		assert_int_equal(block_pwrite(bd, buf + off, 64 * KiB, off), 0);
	block_close(bd);
	bd = op("g.qcow2", "qcow2", true, NULL);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, buf, size);
	block_close(bd);
	expect_clean("g.qcow2");
	free(buf);
	free(got);
}

static void write_raw(const char *name, const void *buf, size_t len)
{
	int fd = open(tpath(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void test_backing_reads_and_cow(void **state)
{
	uint64_t size = 1 * MiB;
	uint8_t *base = xzalloc(size), *got = xzalloc(size), *ref = xzalloc(size);
	fill(base, size, 9);
	write_raw("base.raw", base, size - 4096); /* shorter: the tail reads as zeros */
	memcpy(ref, base, size - 4096);
	mk("mid.qcow2", size, 4096, 3, 16, "base.raw", "raw");
	mk("top.qcow2", size, 65536, 3, 16, "mid.qcow2", NULL); /* format probed */
	struct block_dev *mid = op("mid.qcow2", "qcow2", false, NULL);
	uint8_t pat[100];
	memset(pat, 0xAB, sizeof(pat));
	assert_int_equal(block_pwrite(mid, pat, sizeof(pat), 5000), 0);
	memcpy(ref + 5000, pat, sizeof(pat));
	block_close(mid);
	struct block_dev *top = op("top.qcow2", "qcow2", false, NULL);
	assert_int_equal(block_pread(top, got, size, 0), 0);
	assert_memory_equal(got, ref, size);
	/* a partial write copies the rest of its cluster up from the chain */
	memset(pat, 0xCD, sizeof(pat));
	assert_int_equal(block_pwrite(top, pat, 10, 70000), 0);
	memcpy(ref + 70000, pat, 10);
	/* zeros over backing data: a v3 zero cluster */
	assert_int_equal(block_pwrite_zeroes(top, 65536, 131072), 0);
	memset(ref + 131072, 0, 65536);
	uint64_t n;
	assert_int_equal(block_status(top, 131072, 65536, &n), 1);
	assert_int_equal(block_status(top, 200000, 1000, &n), 0);
	assert_int_equal(block_pread(top, got, size, 0), 0);
	assert_memory_equal(got, ref, size);
	block_close(top);
	expect_clean("top.qcow2");
	expect_clean("mid.qcow2");
	free(base);
	free(got);
	free(ref);
}

static void test_compressed(void **state)
{
	uint64_t cs = 65536, size = 8 * cs;
	uint8_t *buf = xzalloc(size), *got = xzalloc(size);
	mk("z.qcow2", size, (uint32_t)cs, 3, 16, NULL, NULL);
	struct block_dev *bd = op("z.qcow2", "qcow2", false, NULL);
	for (uint64_t c = 0; c < 8; c++) {
		memset(buf + c * cs, (int)('a' + c), cs); /* compresses well */
		if (c == 5)
			for (uint64_t i = 0; i < cs; i++)
				buf[c * cs + i] = (uint8_t)rnd(); /* does not: written plain */
		assert_int_equal(qcow2_write_compressed(bd, c * cs, buf + c * cs), 0);
	}
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, buf, size);
	block_close(bd);
	expect_clean("z.qcow2");
	/* rewrite parts of compressed clusters: copy-on-write, refs dropped */
	bd = op("z.qcow2", "qcow2", false, NULL);
	memset(buf + cs + 100, 'X', 1000);
	assert_int_equal(block_pwrite(bd, buf + cs + 100, 1000, cs + 100), 0);
	memset(buf + 3 * cs, 'Y', cs);
	assert_int_equal(block_pwrite(bd, buf + 3 * cs, cs, 3 * cs), 0);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, buf, size);
	block_close(bd);
	expect_clean("z.qcow2");
	free(buf);
	free(got);
}

/* convert -c's two steps: clusters deflated on several threads, each
 * with its own (reused) stream, then written in order, give the same
 * file, byte for byte, as qcow2_write_compressed one at a time. */
struct deflate_job {
	struct block_dev *bd;
	const uint8_t *in;
	uint8_t *z;
	int *zlen;
	unsigned first, step, n;
	uint64_t cs;
	int ret; /* qcow2_deflater_new's (no cmocka asserts off the main thread) */
};

static void *deflate_thread(void *opaque)
{
	struct deflate_job *j = opaque;
	struct qcow2_deflater *d;
	if ((j->ret = qcow2_deflater_new(&d)) < 0)
		return NULL;
	for (unsigned c = j->first; c < j->n; c += j->step)
		j->zlen[c] = qcow2_deflate(d, j->bd, j->in + c * j->cs, j->z + c * j->cs);
	qcow2_deflater_free(d);
	return NULL;
}

static uint8_t *file_bytes(const char *name, size_t *len)
{
	FILE *f = fopen(tpath(name), "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	uint8_t *b = xzalloc(*len + 1);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void test_deflate_threads(void **state)
{
	enum { N = 40, THREADS = 4 };
	uint64_t cs = 65536;
	uint8_t *in = xzalloc(N * cs), *z = xzalloc(N * cs);
	int zlen[N];
	uint32_t x = 2463534242u; /* its own generator: rnd()'s sequence is the other tests' */
	/* text of varying redundancy, some random (stored plain), some runs */
	for (unsigned c = 0; c < N; c++)
		for (uint64_t i = 0; i < cs; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			in[c * cs + i] = c % 7 == 3 ? (uint8_t)x :
					 c % 5 == 1 ? (uint8_t)c :
					 (uint8_t)("abcdefgh"[(i * (c + 1) / 3 + x % 2) % 8]);
		}
	mk("seq.qcow2", N * cs, (uint32_t)cs, 3, 16, NULL, NULL);
	mk("par.qcow2", N * cs, (uint32_t)cs, 3, 16, NULL, NULL);
	struct block_dev *seq = op("seq.qcow2", "qcow2", false, NULL);
	struct block_dev *par = op("par.qcow2", "qcow2", false, NULL);
	for (unsigned c = 0; c < N; c++)
		assert_int_equal(qcow2_write_compressed(seq, c * cs, in + c * cs), 0);
	pthread_t th[THREADS];
	struct deflate_job jobs[THREADS];
	for (unsigned t = 0; t < THREADS; t++) {
		jobs[t] = (struct deflate_job){ .bd = par, .in = in, .z = z, .zlen = zlen,
						 .first = t, .step = THREADS, .n = N, .cs = cs };
		assert_int_equal(pthread_create(&th[t], NULL, deflate_thread, &jobs[t]), 0);
	}
	for (unsigned t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(jobs[t].ret, 0);
	}
	unsigned plain = 0;
	for (unsigned c = 0; c < N; c++) {
		assert_true(zlen[c] >= 0 && zlen[c] < (int)cs);
		plain += !zlen[c];
		assert_int_equal(qcow2_write_deflated(par, c * cs, in + c * cs, z + c * cs,
						      (size_t)zlen[c]), 0);
	}
	assert_int_equal(plain, 6); /* the random ones: c % 7 == 3 */
	/* a compressed length that cannot be: refused */
	assert_int_equal(qcow2_write_deflated(par, 0, in, z, cs), -EINVAL);
	assert_int_equal(qcow2_write_deflated(par, 100, in, z, 10), -EINVAL);
	block_close(seq);
	block_close(par);
	size_t ls, lp;
	uint8_t *bs = file_bytes("seq.qcow2", &ls), *bp = file_bytes("par.qcow2", &lp);
	assert_int_equal(ls, lp);
	assert_memory_equal(bs, bp, ls);
	expect_clean("par.qcow2");
	par = op("par.qcow2", "qcow2", true, NULL);
	uint8_t *got = xzalloc(N * cs);
	assert_int_equal(block_pread(par, got, N * cs, 0), 0);
	assert_memory_equal(got, in, N * cs);
	block_close(par);
	free(got);
	free(bs);
	free(bp);
	free(in);
	free(z);
}

static uint64_t file_be64(const char *name, uint64_t off)
{
	uint8_t b[8];
	int fd = open(tpath(name), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
	close(fd);
	return get_be64(b);
}

/* The host offset of guest cluster 'c' (compressed, 64 KiB clusters,
 * within the first L2 table). */
static uint64_t compressed_at(const char *name, uint64_t c)
{
	uint64_t l2 = file_be64(name, file_be64(name, 40)) & 0x00fffffffffffe00ULL;
	uint64_t e = file_be64(name, l2 + c * 8);
	assert_true(e & (1ULL << 62));
	return e & ((1ULL << (62 - (16 - 8))) - 1);
}

/* Compressed clusters are packed one after the other, across host
 * cluster boundaries (as qemu-img packs them): each starts where the one
 * before ended; the refcounts (one per compressed cluster touching a host
 * cluster) check clean. */
static void test_compressed_packing(void **state)
{
	enum { N = 24 };
	uint64_t cs = 65536;
	uint8_t *in = xzalloc(N * cs), *z = xzalloc(cs), *got = xzalloc(N * cs);
	size_t zlen[N];
	uint32_t x = 88172645u;
	mk("pk.qcow2", N * cs, (uint32_t)cs, 3, 16, NULL, NULL);
	struct block_dev *bd = op("pk.qcow2", "qcow2", false, NULL);
	struct qcow2_deflater *d;
	assert_int_equal(qcow2_deflater_new(&d), 0);
	for (unsigned c = 0; c < N; c++) {
		/* 16 letters at random: ~37 KiB deflated, so most straddle */
		for (uint64_t i = 0; i < cs; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			in[c * cs + i] = (uint8_t)('a' + x % 16);
		}
		int n = qcow2_deflate(d, bd, in + c * cs, z);
		assert_true(n > 0);
		zlen[c] = (size_t)n;
		assert_int_equal(qcow2_write_deflated(bd, c * cs, in + c * cs, z, zlen[c]), 0);
	}
	qcow2_deflater_free(d);
	assert_int_equal(block_pread(bd, got, N * cs, 0), 0);
	assert_memory_equal(got, in, N * cs);
	block_close(bd);
	expect_clean("pk.qcow2");
	unsigned straddle = 0;
	for (unsigned c = 0; c + 1 < N; c++) {
		uint64_t at = compressed_at("pk.qcow2", c);
		assert_int_equal(compressed_at("pk.qcow2", c + 1), at + zlen[c]);
		straddle += at / cs != (at + zlen[c] - 1) / cs;
	}
	assert_true(straddle >= N / 3);
	free(in);
	free(z);
	free(got);
}

/* A host cluster of the packing area that is freed (its one compressed
 * cluster rewritten) may be handed out for data: later compressed
 * clusters are not packed into it. */
static void test_compressed_area_freed(void **state)
{
	uint64_t cs = 65536;
	uint8_t *a = xzalloc(cs), *b = xzalloc(cs), *c = xzalloc(cs), *got = xzalloc(cs);
	memset(a, 'a', cs);
	memset(b, 'b', cs);
	for (uint64_t i = 0; i < cs; i++)
		c[i] = (uint8_t)(i * 131 + (i >> 7));
	mk("fr.qcow2", 8 * cs, (uint32_t)cs, 3, 16, NULL, NULL);
	struct block_dev *bd = op("fr.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_write_compressed(bd, 0, a), 0);
	/* A rewritten in place of its compressed form: its host cluster is
	 * free; C's new data cluster may be that one */
	memset(a, 'A', cs);
	assert_int_equal(block_pwrite(bd, a, cs, 0), 0);
	assert_int_equal(block_pwrite(bd, c, cs, 2 * cs), 0);
	assert_int_equal(qcow2_write_compressed(bd, cs, b), 0);
	uint8_t *want[3] = { a, b, c };
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(block_pread(bd, got, cs, i * cs), 0);
		assert_memory_equal(got, want[i], cs);
	}
	block_close(bd);
	expect_clean("fr.qcow2");
	free(a);
	free(b);
	free(c);
	free(got);
}

static void test_refcount_overflow(void **state)
{
	/* 1-bit refcounts cannot count two compressed clusters sharing a
	 * host cluster: a clean error, not a wrapped count */
	uint8_t *buf = xzalloc(65536);
	memset(buf, 'q', 65536);
	mk("o.qcow2", 4 * 65536, 65536, 3, 1, NULL, NULL);
	struct block_dev *bd = op("o.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_write_compressed(bd, 0, buf), 0);
	assert_int_equal(qcow2_write_compressed(bd, 65536, buf), -ERANGE);
	block_close(bd);
	free(buf);
}

static void test_probe_guard(void **state)
{
	uint8_t s0[1024] = { 0 }, q[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	write_raw("p.raw", s0, sizeof(s0));
	struct block_dev *bd = op("p.raw", NULL, false, NULL);
	assert_string_equal(bd->format, "raw");
	assert_int_equal(block_pwrite(bd, q, sizeof(q), 0), -EPERM);
	assert_int_equal(block_pwrite(bd, q + 1, 3, 1), 0); /* "FI\xfb" alone is harmless */
	assert_int_equal(block_pwrite(bd, q, sizeof(q), 512), 0); /* elsewhere: fine */
	block_close(bd);
	bd = op("p.raw", "raw", false, NULL);
	assert_int_equal(block_pwrite(bd, q, sizeof(q), 0), 0);
	block_close(bd);
	/* format=raw never takes it for qcow2, even with the magic now there */
	bd = op("p.raw", "raw", true, NULL);
	assert_string_equal(bd->format, "raw");
	assert_int_equal(bd->size, 1024);
	block_close(bd);
}

/* ---- malformed images --------------------------------------------------- */

static void patch(const char *name, uint64_t off, const void *b, size_t len)
{
	int fd = open(tpath(name), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void patch32(const char *name, uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put_be32(b, v);
	patch(name, off, b, 4);
}

static void patch64(const char *name, uint64_t off, uint64_t v)
{
	uint8_t b[8];
	put_be64(b, v);
	patch(name, off, b, 8);
}

static void expect_open_fails(const char *name, const char *needle)
{
	char err[256] = "";
	struct block_dev *bd = block_open(tpath(name), "qcow2", true, NULL, err, sizeof(err));
	if (bd)
		fail_msg("%s opened", name);
	assert_true(err[0]);
	assert_null(strchr(err, '\n'));
	if (needle && !strstr(err, needle))
		fail_msg("%s: '%s' lacks '%s'", name, err, needle);
}

/* A fresh 1 MiB image with 64 KiB clusters: header 0, reftable 1,
 * refblock 2, L1 3. */
static void fresh(const char *name)
{
	mk(name, 1 * MiB, 65536, 3, 16, NULL, NULL);
}

static void test_malformed_headers(void **state)
{
	uint8_t junk[50] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	write_raw("m0", junk, sizeof(junk));
	expect_open_fails("m0", "truncated");

	fresh("m1"); patch32("m1", 4, 4);                 expect_open_fails("m1", "version");
	fresh("m2"); patch32("m2", 20, 30);               expect_open_fails("m2", "cluster size");
	fresh("m3"); patch64("m3", 40, 1ULL << 40);       expect_open_fails("m3", "L1 table");
	fresh("m4"); patch64("m4", 40, 3 * 65536 + 8);    expect_open_fails("m4", "L1 table");
	fresh("m5"); patch32("m5", 36, 0xffffffff);       expect_open_fails("m5", "L1 table");
	fresh("m6"); patch64("m6", 24, 1ULL << 63);       expect_open_fails("m6", "too large");
	fresh("m7"); patch64("m7", 24, 1 * GiB);          expect_open_fails("m7", "too small");
	fresh("m8"); patch64("m8", 48, 1ULL << 50);       expect_open_fails("m8", "refcount table");
	fresh("m9"); patch32("m9", 56, 0x7fffffff);       expect_open_fails("m9", "refcount table");
	fresh("m10"); patch32("m10", 96, 7);              expect_open_fails("m10", "refcount order");
	fresh("m11"); patch64("m11", 72, 1ULL << 40);     expect_open_fails("m11", "feature");
	fresh("m12"); patch32("m12", 100, 0xfffffff8);    expect_open_fails("m12", "header length");
	fresh("m13"); patch32("m13", 32, 1);              expect_open_fails("m13", "encrypted");
	/* backing file name past the first cluster, and over-long */
	fresh("m14"); patch64("m14", 8, 65530); patch32("m14", 16, 100);
	expect_open_fails("m14", "backing file");
	fresh("m15"); patch64("m15", 8, 512); patch32("m15", 16, 5000);
	expect_open_fails("m15", "backing file");
	/* a header extension whose length runs off the cluster */
	fresh("m16"); patch32("m16", 112, 0x12345678); patch32("m16", 116, 0xfffffff0);
	expect_open_fails("m16", "extension");
	/* snapshots: table past EOF, absurd count */
	fresh("m17"); patch32("m17", 60, 1); patch64("m17", 64, 1ULL << 45);
	expect_open_fails("m17", "snapshot");
	fresh("m18"); patch32("m18", 60, 0x7fffffff); patch64("m18", 64, 65536);
	expect_open_fails("m18", "snapshot");
	/* an L1 entry that is not cluster aligned */
	fresh("m19"); patch64("m19", 3 * 65536, 0x8000000000010200ULL);
	expect_open_fails("m19", "unaligned");
	/* extended L2 / external data file */
	fresh("m20"); patch64("m20", 72, 16);             expect_open_fails("m20", "subclusters");
	fresh("m21"); patch64("m21", 72, 4);              expect_open_fails("m21", "external");
}

static void test_malformed_tables_at_io(void **state)
{
	uint8_t buf[4096];
	struct block_dev *bd;

	/* L1 points at an L2 table past EOF: reads fail with EIO */
	fresh("t1"); patch64("t1", 3 * 65536, (1ULL << 40) | (1ULL << 63));
	bd = op("t1", "qcow2", true, NULL);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), -EIO);
	block_close(bd);

	/* an L2 entry pointing past EOF, and one unaligned */
	fresh("t2");
	bd = op("t2", "qcow2", false, NULL);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 0), 0);
	block_close(bd);
	/* the L2 table is cluster 4, its data cluster 5 */
	patch64("t2", 4 * 65536, (1ULL << 45) | (1ULL << 63));
	patch64("t2", 4 * 65536 + 8, (5 * 65536 + 512) | (1ULL << 63));
	bd = op("t2", "qcow2", false, NULL);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 65536), -EIO);
	assert_int_equal(block_pwrite(bd, buf, 100, 65536 + 10), -EIO);
	block_close(bd);

	/* a compressed descriptor past EOF */
	fresh("t3");
	bd = op("t3", "qcow2", false, NULL);
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 0), 0);
	block_close(bd);
	patch64("t3", 4 * 65536, (1ULL << 62) | (1ULL << 50));
	bd = op("t3", "qcow2", true, NULL);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), -EIO);
	block_close(bd);

	/* garbage where compressed data should be */
	fresh("t4");
	bd = op("t4", "qcow2", false, NULL);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 0), 0);
	block_close(bd);
	patch64("t4", 4 * 65536, (1ULL << 62) | (5 * 65536));
	bd = op("t4", "qcow2", true, NULL);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), -EIO);
	block_close(bd);

	/* a refcount table entry past EOF: allocation fails cleanly */
	fresh("t5"); patch64("t5", 65536, 1ULL << 44);
	bd = op("t5", "qcow2", false, NULL);
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 0), -EIO);
	block_close(bd);
}

static void test_backing_loops(void **state)
{
	char err[256];
	mk("loop-a.qcow2", 1 * MiB, 65536, 3, 16, "loop-b.qcow2", "qcow2");
	mk("loop-b.qcow2", 1 * MiB, 65536, 3, 16, "loop-a.qcow2", "qcow2");
	expect_open_fails("loop-a.qcow2", "deeper");
	mk("self.qcow2", 1 * MiB, 65536, 3, 16, "self.qcow2", NULL);
	expect_open_fails("self.qcow2", "deeper");
	/* a long but legal chain opens; one past the limit does not */
	write_raw("chain0", "x", 1);
	for (int i = 1; i <= BLOCK_MAX_CHAIN + 1; i++) {
		char n[32], b[32];
		snprintf(n, sizeof(n), "chain%d", i);
		snprintf(b, sizeof(b), "chain%d", i - 1);
		mk(n, 65536, 65536, 3, 16, b, i == 1 ? "raw" : "qcow2");
	}
	struct block_dev *bd = block_open(tpath("chain16"), NULL, true, NULL, err, sizeof(err));
	assert_non_null(bd);
	block_close(bd);
	expect_open_fails("chain17", "deeper");
	/* a missing backing file */
	mk("orphan.qcow2", 1 * MiB, 65536, 3, 16, "nonexistent.raw", "raw");
	expect_open_fails("orphan.qcow2", "nonexistent");
	/* an unknown backing format */
	mk("badfmt.qcow2", 1 * MiB, 65536, 3, 16, "chain0", "parallels");
	expect_open_fails("badfmt.qcow2", "format");
}

static void vmdk_hdr(uint8_t *h, uint32_t version, uint32_t flags, uint64_t cap, uint64_t grain,
		     uint32_t gtes, uint64_t gd)
{
	memset(h, 0, 512);
	memcpy(h, "KDMV", 4);
	put_le32(h + 4, version);
	put_le32(h + 8, flags);
	put_le64(h + 12, cap);
	put_le64(h + 20, grain);
	put_le32(h + 44, gtes);
	put_le64(h + 56, gd);
}

static void expect_vmdk_fails(const uint8_t *img, size_t len, const char *needle)
{
	char err[256] = "";
	write_raw("bad.vmdk", img, len);
	struct block_dev *bd = block_open(tpath("bad.vmdk"), NULL, true, NULL, err, sizeof(err));
	if (bd)
		fail_msg("bad vmdk opened (%s)", needle);
	if (!strstr(err, needle))
		fail_msg("'%s' lacks '%s'", err, needle);
}

static void test_vmdk_malformed(void **state)
{
	uint8_t img[4096] = { 0 };
	vmdk_hdr(img, 9, 0, 2048, 128, 512, 1);
	expect_vmdk_fails(img, sizeof(img), "version");
	vmdk_hdr(img, 1, 1u << 16, 2048, 128, 512, 1);
	expect_vmdk_fails(img, sizeof(img), "compressed");
	vmdk_hdr(img, 1, 0, 2048, 100, 512, 1);
	expect_vmdk_fails(img, sizeof(img), "grain size");
	vmdk_hdr(img, 1, 0, 2048, 128, 0, 1);
	expect_vmdk_fails(img, sizeof(img), "grain table");
	vmdk_hdr(img, 1, 0, 1ULL << 60, 128, 512, 1);
	expect_vmdk_fails(img, sizeof(img), "too large");
	vmdk_hdr(img, 1, 0, 1ULL << 40, 8, 1, 1);
	expect_vmdk_fails(img, sizeof(img), "grain directory");
	vmdk_hdr(img, 1, 0, 2048, 128, 512, 1ULL << 50);
	expect_vmdk_fails(img, sizeof(img), "grain directory");
	expect_vmdk_fails((const uint8_t *)"KDMV", 4, "truncated");
	/* a grain table and a grain past EOF: read errors, not crashes */
	vmdk_hdr(img, 1, 0, 2048, 128, 512, 1);
	put_le32(img + 512, 1000000); /* GD[0] -> GT far away */
	write_raw("gt.vmdk", img, sizeof(img));
	char err[256];
	uint8_t buf[512];
	struct block_dev *bd = block_open(tpath("gt.vmdk"), "vmdk", true, NULL, err, sizeof(err));
	assert_non_null(bd);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), -EIO);
	block_close(bd);
	put_le32(img + 512, 2);                 /* GT at sector 2 */
	put_le32(img + 1024, 0x7fffffff);       /* grain 0 far away */
	write_raw("gt.vmdk", img, sizeof(img));
	bd = block_open(tpath("gt.vmdk"), "vmdk", true, NULL, err, sizeof(err));
	assert_non_null(bd);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 128 * 512), 0); /* unallocated */
	block_close(bd);
	/* writable: the far-away grain stays an error, a new grain works */
	bd = block_open(tpath("gt.vmdk"), "vmdk", false, NULL, err, sizeof(err));
	assert_non_null(bd);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 128 * 512 + 512), 0);
	uint8_t back[1024];
	assert_int_equal(block_pread(bd, back, sizeof(back), 128 * 512), 0);
	assert_true(!back[0] && !back[511] && back[512] == 0xab && back[1023] == 0xab);
	block_close(bd);
	/* descriptors: unknown extent type, missing file, no extents, parent */
	const char *d1 = "# Disk DescriptorFile\nRW 100 VMFS \"x.bin\"\n";
	expect_vmdk_fails((const uint8_t *)d1, strlen(d1), "not supported");
	const char *d2 = "# Disk DescriptorFile\nRW 100 FLAT \"missing-flat.bin\" 0\n";
	expect_vmdk_fails((const uint8_t *)d2, strlen(d2), "missing-flat.bin");
	const char *d3 = "# Disk DescriptorFile\nversion=1\n";
	expect_vmdk_fails((const uint8_t *)d3, strlen(d3), "no extents");
	const char *d4 = "# Disk DescriptorFile\nparentCID=1234abcd\nRW 8 ZERO\n";
	expect_vmdk_fails((const uint8_t *)d4, strlen(d4), "parent");
	const char *d5 = "# Disk DescriptorFile\nRW 8 ZERO\nRW 8 FLAT \"gt.vmdk\" 0\n";
	write_raw("ok.vmdk", d5, strlen(d5));
	bd = block_open(tpath("ok.vmdk"), NULL, true, NULL, err, sizeof(err));
	assert_non_null(bd);
	assert_int_equal(bd->size, 16 * 512);
	uint8_t two[1024];
	assert_int_equal(block_pread(bd, two, sizeof(two), 7 * 512), 0);
	assert_memory_equal(two + 512, "KDMV", 4);
	block_close(bd);
}

/* vmdk write paths: random writes against a reference, reopen; sparse
 * (including a grain table allocated on demand) and flat. */
static void vmdk_random_io(const char *name, uint64_t size, enum vmdk_subformat sub)
{
	char err[256];
	assert_int_equal(vmdk_create(tpath(name), size, sub, err, sizeof(err)), 0);
	random_io_fmt(name, "vmdk", size, 300, 200000, NULL);
}

static void test_vmdk_write(void **state)
{
	vmdk_random_io("w.vmdk", 40 * MiB + 4096, VMDK_MONOLITHIC_SPARSE);
	vmdk_random_io("f.vmdk", 5 * MiB, VMDK_MONOLITHIC_FLAT);
	/* directory entry 1 cleared: the next write there allocates a table */
	uint8_t h[512];
	int fd = open(tpath("w.vmdk"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	uint64_t gd = get_le64(h + 56), rgd = get_le64(h + 48);
	uint8_t z[4] = { 0 };
	assert_int_equal(pwrite(fd, z, 4, (off_t)(gd * 512 + 4)), 4);
	assert_int_equal(pwrite(fd, z, 4, (off_t)(rgd * 512 + 4)), 4);
	close(fd);
	struct block_dev *bd = op("w.vmdk", "vmdk", false, NULL);
	uint8_t in[4096], outb[4096];
	fill(in, sizeof(in), 9);
	assert_int_equal(block_pwrite(bd, in, sizeof(in), 33 * MiB), 0);
	block_close(bd);
	bd = op("w.vmdk", "vmdk", true, NULL);
	assert_int_equal(block_pread(bd, outb, sizeof(outb), 33 * MiB), 0);
	assert_memory_equal(in, outb, sizeof(in));
	assert_int_equal(block_pread(bd, outb, sizeof(outb), 34 * MiB), 0);
	assert_true(!outb[0] && !outb[4095]); /* the rest of the new table: zeros */
	block_close(bd);
	/* writes past a ZERO extent or into RDONLY extents fail cleanly */
	const char *d = "# Disk DescriptorFile\nRW 8 ZERO\nRDONLY 8 FLAT \"f-flat.vmdk\" 0\n";
	write_raw("ro.vmdk", d, strlen(d));
	bd = op("ro.vmdk", NULL, false, NULL);
	assert_int_equal(block_pwrite(bd, in, 512, 0), -EIO);
	assert_int_equal(block_pwrite(bd, in, 512, 8 * 512), -EIO);
	block_close(bd);
	assert_int_not_equal(vmdk_create(tpath("huge.vmdk"), 4ULL << 40, VMDK_MONOLITHIC_SPARSE,
					 err_unused, sizeof(err_unused)), 0);
}

struct thr {
	struct block_dev *bd;
	unsigned id;
	int err;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	uint8_t buf[6000], got[6000];
	/* each thread owns every fourth 64 KiB slice; writes straddle clusters */
	for (unsigned i = 0; i < 200 && !t->err; i++) {
		uint64_t slice = (i * 4 + t->id) % 64;
		uint64_t off = slice * 65536 + (i * 977) % (65536 - sizeof(buf));
		memset(buf, (int)(t->id * 50 + i), sizeof(buf));
		if (block_pwrite(t->bd, buf, sizeof(buf), off) ||
		    block_pread(t->bd, got, sizeof(got), off) || memcmp(buf, got, sizeof(buf)))
			t->err = 1;
	}
	return NULL;
}

/* ---- the VM state area (savevm) ---- */

static uint64_t peek64(const char *name, uint64_t off)
{
	uint8_t b[8];
	int fd = open(tpath(name), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
	close(fd);
	return get_be64(b);
}

/* The clusters the active tree allocates, as check counts them. */
static uint64_t allocated_clusters(const char *name)
{
	struct block_opts o = { .no_backing = true };
	struct block_dev *bd = op(name, "qcow2", true, &o);
	struct qcow2_check_result r;
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(qcow2_check(bd, 0, &r, log), 0);
	fclose(log);
	block_close(bd);
	return r.allocated_clusters;
}

static void expect_zeros(const uint8_t *p, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			fail_msg("%s: byte %zu is %u", what, i, p[i]);
}

/* A VM state written in odd pieces reads back whole, the snapshot that
 * takes it records its size and clock, the active image lets it go (reads
 * zeros), applying the snapshot brings the disk back and the VM state
 * reads through the snapshot's tree, never the active one's (which
 * allocates only the disk's clusters); the image stays clean throughout.
 * 512-byte clusters: the area spans many L1 entries past the disk's, so
 * the active L1 grows. */
static void vmstate_roundtrip(const char *name, uint32_t cs)
{
	const size_t vlen = 300 * KiB + 123;
	uint8_t *ref = xzalloc(vlen), *got = xzalloc(vlen), disk[4096], dgot[4096];
	struct qcow2_vm_snapshot vm = { vlen, 1234567890ULL };
	struct qcow2_snapshot_info *sn;
	struct block_dev *bd;

	mk(name, 1 * MiB, cs, 3, 16, NULL, NULL);
	bd = op(name, "qcow2", false, NULL);
	fill(ref, vlen, 9);
	fill(disk, sizeof(disk), 1);
	assert_int_equal(block_pwrite(bd, disk, sizeof(disk), 8192), 0);
	for (size_t pos = 0, n; pos < vlen; pos += n) {
		size_t piece = 1 + rnd() % 70000; /* once: MIN evaluates its arguments twice */
		n = MIN(vlen - pos, piece);
		assert_int_equal(qcow2_vmstate_write(bd, ref + pos, n, pos), 0);
	}
	assert_int_equal(qcow2_vmstate_read(bd, got, vlen, 0), 0);
	assert_memory_equal(got, ref, vlen);
	assert_int_equal(qcow2_snapshot_create_vm(bd, "s", &vm), 0);
	assert_int_equal(qcow2_vmstate_read(bd, got, vlen, 0), 0);
	/* the active area is empty now */
	expect_zeros(got, vlen, "the active VM state after the snapshot");
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", got, vlen, 0), 0);
	assert_memory_equal(got, ref, vlen);
	fill(disk, sizeof(disk), 2);
	assert_int_equal(block_pwrite(bd, disk, sizeof(disk), 8192), 0);
	block_close(bd);
	expect_clean(name);
	uint64_t disk_clusters = allocated_clusters(name);

	bd = op(name, "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_list(bd, &sn), 1);
	assert_int_equal(sn[0].vm_state_size, vlen);
	assert_int_equal(sn[0].vm_clock_nsec, 1234567890ULL);
	free(sn);
	assert_int_equal(qcow2_snapshot_apply(bd, "s"), 0);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", got, vlen, 0), 0);
	assert_memory_equal(got, ref, vlen);
	/* in pieces, and by ID, as loadvm's stream reads it */
	memset(got, 0, vlen);
	for (size_t pos = 0, n; pos < vlen; pos += n) {
		n = MIN(vlen - pos, (size_t)4096 + 17);
		assert_int_equal(qcow2_snapshot_vmstate_read(bd, "1", got + pos, n, pos), 0);
	}
	assert_memory_equal(got, ref, vlen);
	/* the active tree did not take the VM state */
	assert_int_equal(qcow2_vmstate_read(bd, got, vlen, 0), 0);
	expect_zeros(got, vlen, "the active VM state after apply");
	fill(disk, sizeof(disk), 1);
	assert_int_equal(block_pread(bd, dgot, sizeof(dgot), 8192), 0);
	assert_memory_equal(dgot, disk, sizeof(disk));
	block_close(bd);
	expect_clean(name);
	assert_int_equal(allocated_clusters(name), disk_clusters);
	bd = op(name, "qcow2", false, NULL);
	/* a second snapshot over the first one's applied state, then the
	 * first deleted: still clean, the second still whole */
	vm.vm_state_size = 4096;
	assert_int_equal(qcow2_vmstate_write(bd, ref, 4096, 0), 0);
	assert_int_equal(qcow2_snapshot_create_vm(bd, "t", &vm), 0);
	assert_int_equal(qcow2_snapshot_delete(bd, "s"), 0);
	assert_int_equal(qcow2_snapshot_apply(bd, "t"), 0);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "t", got, 4096, 0), 0);
	assert_memory_equal(got, ref, 4096);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", got, 4096, 0), -ENOENT);
	/* past what may be mapped: refused, nothing touched */
	assert_int_equal(qcow2_vmstate_write(bd, ref, 10, QCOW2_VMSTATE_MAX - 5), -EFBIG);
	assert_int_equal(qcow2_vmstate_read(bd, got, 10, UINT64_MAX - 5), -EFBIG);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "t", got, 10, UINT64_MAX - 5), -EFBIG);
	block_close(bd);
	expect_clean(name);
	assert_int_equal(allocated_clusters(name), disk_clusters);
	/* read-only: no writes */
	bd = op(name, "qcow2", true, NULL);
	assert_int_equal(qcow2_vmstate_write(bd, ref, 10, 0), -EROFS);
	block_close(bd);
	free(ref);
	free(got);
}

static void test_vmstate_roundtrip(void **state)
{
	vmstate_roundtrip("vs64k.qcow2", 65536);
	vmstate_roundtrip("vs512.qcow2", 512);
}

/* Snapshot tables and trees that lie: apply and the VM state reads fail
 * with an error, never read or allocate past what the file holds. */
static void test_vmstate_hostile(void **state)
{
	struct qcow2_vm_snapshot vm = { 65536, 1 };
	uint8_t buf[65536];
	struct block_dev *bd;
	uint64_t table;

	fill(buf, sizeof(buf), 4);
	mk("vh.qcow2", 1 * MiB, 65536, 3, 16, NULL, NULL);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_vmstate_write(bd, buf, sizeof(buf), 0), 0);
	assert_int_equal(qcow2_snapshot_create_vm(bd, "s", &vm), 0);
	block_close(bd);
	table = peek64("vh.qcow2", 64);
	assert_true(table != 0);
	uint64_t l1 = peek64("vh.qcow2", table);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cp %s %s", tpath("vh.qcow2"), tpath("good.qcow2"));
	assert_int_equal(system(cmd), 0);

	/* the snapshot's L1 table past the end of the file */
	patch64("vh.qcow2", table, 1ULL << 45);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_apply(bd, "s"), -EINVAL);
	block_close(bd);
	/* an absurd L1 size (would be a 32 GiB table) */
	patch64("vh.qcow2", table, l1);
	patch32("vh.qcow2", table + 8, 0xffffffff);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_apply(bd, "s"), -EINVAL);
	block_close(bd);
	/* an L1 entry of the VM state pointing at an L2 table past EOF:
	 * apply leaves the VM state to the snapshot, its read fails */
	snprintf(cmd, sizeof(cmd), "cp %s %s", tpath("good.qcow2"), tpath("vh.qcow2"));
	assert_int_equal(system(cmd), 0);
	patch64("vh.qcow2", l1 + 8, 1ULL << 44);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_apply(bd, "s"), 0);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", buf, sizeof(buf), 0), -EIO);
	block_close(bd);
	/* its VM state's data cluster moved past EOF */
	snprintf(cmd, sizeof(cmd), "cp %s %s", tpath("good.qcow2"), tpath("vh.qcow2"));
	assert_int_equal(system(cmd), 0);
	uint64_t l2 = peek64("vh.qcow2", l1 + 8) & 0x00fffffffffffe00ULL;
	assert_true(l2 != 0);
	patch64("vh.qcow2", l2, (1ULL << 44) | (1ULL << 63));
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", buf, sizeof(buf), 0), -EIO);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", buf, 100, QCOW2_VMSTATE_MAX),
			 -EFBIG);
	block_close(bd);
	/* the snapshot's L1 table past the end of the file, its size absurd,
	 * its disk size absurd: refused before anything is read */
	snprintf(cmd, sizeof(cmd), "cp %s %s", tpath("good.qcow2"), tpath("vh.qcow2"));
	assert_int_equal(system(cmd), 0);
	patch64("vh.qcow2", table, 1ULL << 45);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", buf, 100, 0), -EINVAL);
	block_close(bd);
	patch64("vh.qcow2", table, l1);
	patch32("vh.qcow2", table + 8, 0xffffffff);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", buf, 100, 0), -EINVAL);
	block_close(bd);
	snprintf(cmd, sizeof(cmd), "cp %s %s", tpath("good.qcow2"), tpath("vh.qcow2"));
	assert_int_equal(system(cmd), 0);
	/* the extra data (its size at +36) holds the disk size at +48 */
	assert_true((peek64("vh.qcow2", table + 32) & 0xffffffff) >= 16);
	patch64("vh.qcow2", table + 48, UINT64_MAX);
	bd = op("vh.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_snapshot_vmstate_read(bd, "s", buf, 100, 0), -EFBIG);
	block_close(bd);
}

static void test_threads(void **state)
{
	mk("mt.qcow2", 4 * MiB, 4096, 3, 16, NULL, NULL);
	struct block_dev *bd = op("mt.qcow2", "qcow2", false, NULL);
	pthread_t th[4];
	struct thr t[4];
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct thr){ .bd = bd, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].err, 0);
	}
	block_close(bd);
	expect_clean("mt.qcow2");
}

static void test_create_limits(void **state)
{
	char err[256];
	struct qcow2_create_opts o = { .size = 1ULL << 62 };
	assert_true(qcow2_create(tpath("huge.qcow2"), &o, err, sizeof(err)) < 0);
	o.size = MiB;
	o.cluster_size = 3000;
	assert_true(qcow2_create(tpath("odd.qcow2"), &o, err, sizeof(err)) < 0);
	o.cluster_size = 0;
	o.refcount_bits = 12;
	assert_true(qcow2_create(tpath("odd.qcow2"), &o, err, sizeof(err)) < 0);
}

/* qcow2_amend: refcount widths changed back and forth on an image with a
 * snapshot, writes through the same open image afterwards (the new
 * structures are in use at once), a width too narrow for a shared cluster
 * refused untouched, and a downgrade that turns zero clusters into what
 * v2 reads the same, then an upgrade again. */
static void amend_width(struct block_dev *bd, unsigned bits, int want)
{
	char err[256];
	struct qcow2_amend_opts o = { .lazy_refcounts = -1, .refcount_bits = bits };
	assert_int_equal(qcow2_amend(bd, &o, err, sizeof(err)), want);
}

static void test_amend(void **state)
{
	const uint64_t size = 2 * MiB;
	uint8_t *ref = xzalloc(size), *got = xzalloc(size), buf[5000];
	struct qcow2_info qi;
	char err[256];

	mk("am.qcow2", size, 4096, 3, 16, NULL, NULL);
	struct block_dev *bd = op("am.qcow2", "qcow2", false, NULL);
	for (unsigned i = 0; i < 200; i++) {
		uint64_t off = rnd() % (size - sizeof(buf));
		fill(buf, sizeof(buf), (uint8_t)i);
		memcpy(ref + off, buf, sizeof(buf));
		assert_int_equal(block_pwrite(bd, buf, sizeof(buf), off), 0);
	}
	assert_int_equal(qcow2_snapshot_create(bd, "s"), 0);
	static const unsigned widths[] = { 2, 64, 8, 32, 4 };
	for (size_t w = 0; w < ARRAY_SIZE(widths); w++) {
		amend_width(bd, widths[w], 0);
		uint64_t off = rnd() % (size - sizeof(buf));
		fill(buf, sizeof(buf), (uint8_t)(w + 77));
		memcpy(ref + off, buf, sizeof(buf));
		assert_int_equal(block_pwrite(bd, buf, sizeof(buf), off), 0);
		assert_int_equal(block_flush(bd), 0);
		qcow2_get_info(bd, &qi);
		assert_int_equal(qi.refcount_bits, widths[w]);
	}
	/* one bit cannot count the clusters the snapshot shares */
	amend_width(bd, 1, -EINVAL);
	assert_int_equal(qcow2_snapshot_delete(bd, "s"), 0);
	amend_width(bd, 1, 0);
	amend_width(bd, 16, 0);
	/* zero clusters, then compat=0.10 */
	assert_int_equal(block_pwrite_zeroes(bd, 64 * 1024, 256 * 1024), 0);
	memset(ref + 256 * 1024, 0, 64 * 1024);
	struct qcow2_amend_opts down = { .version = 2, .lazy_refcounts = -1 };
	assert_int_equal(qcow2_amend(bd, &down, err, sizeof(err)), 0);
	block_close(bd);
	expect_clean("am.qcow2");
	bd = op("am.qcow2", "qcow2", false, NULL);
	qcow2_get_info(bd, &qi);
	assert_int_equal(qi.version, 2);
	assert_int_equal(block_pread(bd, got, size, 0), 0);
	assert_memory_equal(got, ref, size);
	/* lazy refcounts need v3: refused; with compat=1.1 taken */
	struct qcow2_amend_opts lazy = { .lazy_refcounts = 1 };
	assert_int_equal(qcow2_amend(bd, &lazy, err, sizeof(err)), -EINVAL);
	lazy.version = 3;
	assert_int_equal(qcow2_amend(bd, &lazy, err, sizeof(err)), 0);
	qcow2_get_info(bd, &qi);
	assert_true(qi.version == 3 && qi.lazy_refcounts);
	block_close(bd);
	expect_clean("am.qcow2");
	free(ref);
	free(got);
}

/* Preallocation: every cluster mapped (qcow2_map: data at a host
 * offset), the refcounts exact (check clean, no leaks), reads zero, and
 * writes land in place (the file does not grow). Small clusters and wide
 * refcounts need refcount blocks between the tables and, with 512-byte
 * clusters, a refcount table larger than one cluster. */
static void test_preallocation(void **state)
{
	static const struct { uint64_t size; uint32_t cs; unsigned rbits; int version; } cases[] = {
		{ 10 << 20, 65536, 16, 3 }, { 8 << 20, 4096, 16, 3 }, { 3 << 20, 512, 16, 3 },
		{ 2 << 20, 512, 64, 3 }, { 1 << 20, 1024, 1, 3 }, { 5000000, 65536, 16, 2 },
	};
	static const enum qcow2_prealloc modes[] = { QCOW2_PREALLOC_METADATA,
						     QCOW2_PREALLOC_FALLOC, QCOW2_PREALLOC_FULL };
	uint8_t *buf = xzalloc(1 << 20), *zero = xzalloc(1 << 20);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
			char err[256];
			struct qcow2_create_opts o = { .size = cases[i].size, .cluster_size = cases[i].cs,
						       .refcount_bits = cases[i].rbits,
						       .version = cases[i].version,
						       .prealloc = modes[m] };
			assert_int_equal(qcow2_create(tpath("pre.qcow2"), &o, err, sizeof(err)), 0);
			expect_clean("pre.qcow2");
			struct block_dev *bd = op("pre.qcow2", "qcow2", false, NULL);
			struct stat st0, st1;
			assert_int_equal(fstat(bd->fd, &st0), 0);
			for (uint64_t off = 0; off < bd->size;) {
				uint64_t n;
				struct block_map bm;
				assert_int_equal(block_map(bd, off, bd->size - off, &n, &bm), 0);
				assert_true(bm.allocated && bm.data && bm.has_offset);
				off += n;
			}
			uint64_t n = MIN(bd->size, 1 << 20);
			assert_int_equal(block_pread(bd, buf, n, bd->size - n), 0);
			assert_memory_equal(buf, zero, n);
			fill(buf, n, (uint8_t)i);
			assert_int_equal(block_pwrite(bd, buf, n, 0), 0);
			assert_int_equal(block_pwrite(bd, buf, 777, bd->size - 777), 0);
			assert_int_equal(fstat(bd->fd, &st1), 0);
			assert_int_equal(st0.st_size, st1.st_size);
			block_close(bd);
			expect_clean("pre.qcow2");
		}
	}
	free(buf);
	free(zero);
}

/* Persistent bitmaps through qcow2_bitmap_change under ASan: add at two
 * granularities, merge one into the other, read the bits back (also
 * after reopening), clear, remove; the image stays clean (vmm's check
 * counts the bitmap clusters) and a damaged directory fails the open. */
static void test_bitmaps(void **state)
{
	char err[1200];
	uint8_t *bits, src[64] = { 0 };
	uint64_t gran;
	mk("bm.qcow2", 8 << 20, 512, 3, 16, NULL, NULL);
	struct block_dev *bd = op("bm.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "a", 0, NULL, 0, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "b", 512, NULL, 0, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "a", 0, NULL, 0, err,
					     sizeof(err)), -EEXIST);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "c", 1000, NULL, 0, err,
					     sizeof(err)), -EINVAL);
	/* a source at 128 KiB: bits 0 and 9 (bytes 0-128K and 1152K-1280K) */
	src[0] = 1;
	src[1] = 2;
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_MERGE, "a", 0, src, 128 << 10, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_read(bd, "a", &bits, &gran), 0);
	assert_int_equal(gran, 4096); /* the default: 4 KiB over 512-byte clusters */
	for (uint64_t k = 0; k < (8 << 20) / 4096; k++)
		assert_int_equal(!!(bits[k / 8] & (1u << (k % 8))),
				 k < 32 || (k >= 288 && k < 320));
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_MERGE, "b", 0, bits, gran, err,
					     sizeof(err)), 0);
	free(bits);
	block_close(bd);
	expect_clean("bm.qcow2");
	bd = op("bm.qcow2", "qcow2", true, NULL);
	struct qcow2_bitmap_info *list;
	assert_int_equal(qcow2_bitmap_list(bd, &list), 2);
	assert_string_equal(list[1].name, "b");
	assert_int_equal(list[1].granularity, 512);
	assert_true(list[0].autom && !list[0].in_use);
	free(list);
	assert_int_equal(qcow2_bitmap_read(bd, "b", &bits, &gran), 0);
	assert_int_equal(bits[0], 0xff);
	assert_int_equal(bits[(1152 << 10) / 512 / 8], 0xff);
	assert_int_equal(bits[(1280 << 10) / 512 / 8], 0);
	free(bits);
	block_close(bd);
	bd = op("bm.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_CLEAR, "b", 0, NULL, 0, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_REMOVE, "a", 0, NULL, 0, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_REMOVE, "a", 0, NULL, 0, err,
					     sizeof(err)), -ENOENT);
	block_close(bd);
	expect_clean("bm.qcow2");
	/* a directory entry's table size off by one: the open fails */
	bd = op("bm.qcow2", "qcow2", true, NULL);
	block_close(bd);
	int fd = open(tpath("bm.qcow2"), O_RDWR);
	uint8_t h[512];
	assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	uint32_t off = get_be32(h + 100);
	while (get_be32(h + off) != 0x23852875)
		off += 8 + ((get_be32(h + off + 4) + 7) & ~7u);
	uint64_t dir_off = get_be64(h + off + 8 + 16);
	uint8_t e[12];
	assert_int_equal(pread(fd, e, sizeof(e), (off_t)dir_off), (ssize_t)sizeof(e));
	put_be32(e + 8, get_be32(e + 8) + 1);
	assert_int_equal(pwrite(fd, e, sizeof(e), (off_t)dir_off), (ssize_t)sizeof(e));
	close(fd);
	assert_null(block_open(tpath("bm.qcow2"), "qcow2", true, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "bitmap"));
}

/* The bitmaps as another reader sees them now (sharing the locks): each
 * in use or not, and which 64 KiB bits of "on" are set (a mask of the
 * first 64). */
static void expect_bitmaps(const char *name, bool in_use, uint64_t on_mask)
{
	struct block_opts o = { .force_share = true };
	struct block_dev *bd = op(name, "qcow2", true, &o);
	struct qcow2_bitmap_info *list;
	uint8_t *bits;
	uint64_t gran, got = 0;
	assert_int_equal(qcow2_bitmap_list(bd, &list), 2);
	assert_int_equal(list[0].in_use, in_use);
	assert_int_equal(list[1].in_use, in_use);
	free(list);
	assert_int_equal(qcow2_bitmap_read(bd, "on", &bits, &gran), 0);
	for (unsigned k = 0; k < 64; k++)
		got |= (uint64_t)!!(bits[k / 8] & (1u << (k % 8))) << k;
	free(bits);
	assert_int_equal(got, on_mask);
	assert_int_equal(qcow2_bitmap_read(bd, "off", &bits, &gran), 0);
	for (unsigned k = 0; k < 16; k++)
		assert_int_equal(bits[k], 0);
	free(bits);
	block_close(bd);
}

/* A writable open maintains the bitmaps: its first write marks them in
 * use in the file, writes, zero writes and discards set the enabled
 * one's bits, close stores them and clears the flag; a migration's
 * inactivation stores them at once and activation tracks again; an
 * inactive open (-incoming) tracks nothing and its first write drops the
 * autoclear bit (they were all cleared at every writable open before). */
static void test_bitmap_tracking(void **state)
{
	char err[256];
	uint8_t buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	mk("bt.qcow2", 8 << 20, 65536, 3, 16, NULL, NULL);
	struct block_dev *bd = op("bt.qcow2", "qcow2", false, NULL);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "on", 65536, NULL, 0, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "off", 65536, NULL, 0, err,
					     sizeof(err)), 0);
	assert_int_equal(qcow2_bitmap_change(bd, QCOW2_BITMAP_DISABLE, "off", 0, NULL, 0, err,
					     sizeof(err)), 0);
	block_close(bd);
	bd = op("bt.qcow2", "qcow2", false, NULL);
	expect_bitmaps("bt.qcow2", false, 0);
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 1 << 20), 0);
	expect_bitmaps("bt.qcow2", true, 0);
	assert_int_equal(block_pwrite_zeroes(bd, 2 << 16, 2 << 20), 0);
	block_unlock_chain(bd);
	expect_bitmaps("bt.qcow2", false, 1ULL << 16 | 3ULL << 32);
	assert_int_equal(block_lock_chain(bd, err, sizeof(err)), 0);
	assert_int_equal(block_discard(bd, 1 << 16, 3 << 20), 0);
	expect_bitmaps("bt.qcow2", true, 1ULL << 16 | 3ULL << 32);
	block_close(bd);
	expect_bitmaps("bt.qcow2", false, 1ULL << 16 | 3ULL << 32 | 1ULL << 48);
	expect_clean("bt.qcow2");
	struct block_opts inactive = { .no_lock = true };
	bd = op("bt.qcow2", "qcow2", false, &inactive);
	assert_int_equal(block_lock_chain(bd, err, sizeof(err)), 0);
	assert_int_equal(block_pwrite(bd, buf, sizeof(buf), 5 << 20), 0);
	block_close(bd);
	bd = op("bt.qcow2", "qcow2", true, NULL);
	struct qcow2_bitmap_info *list;
	assert_int_equal(qcow2_bitmap_list(bd, &list), 0);
	free(list);
	block_close(bd);
}

/* 512-byte clusters over a backing file: the optional feature name table
 * gives way (it overran the header buffer: ASan); a name too long for
 * the first cluster is refused. */
static void test_small_cluster_header(void **state)
{
	char err[256], name[600];
	mk("hb-base.qcow2", 1 << 20, 512, 3, 16, NULL, NULL);
	mk("hb.qcow2", 1 << 20, 512, 3, 16, "hb-base.qcow2", "qcow2");
	struct block_dev *bd = op("hb.qcow2", "qcow2", true, NULL);
	struct qcow2_info qi;
	qcow2_get_info(bd, &qi);
	assert_string_equal(qi.backing_file, "hb-base.qcow2");
	assert_string_equal(qi.backing_fmt, "qcow2");
	block_close(bd);
	expect_clean("hb.qcow2");
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	struct qcow2_create_opts o = { .size = 1 << 20, .cluster_size = 512, .backing_file = name,
				       .backing_fmt = "qcow2" };
	assert_true(qcow2_create(tpath("hb2.qcow2"), &o, err, sizeof(err)) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_rw_v3),
		cmocka_unit_test(test_alloc_rw_v2_small_clusters),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_l2_cache_eviction),
		cmocka_unit_test(test_refcount_widths),
		cmocka_unit_test(test_refcount_table_growth),
		cmocka_unit_test(test_backing_reads_and_cow),
		cmocka_unit_test(test_compressed),
		cmocka_unit_test(test_refcount_overflow),
		cmocka_unit_test(test_probe_guard),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_malformed_tables_at_io),
		cmocka_unit_test(test_backing_loops),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_deflate_threads),
		cmocka_unit_test(test_compressed_packing),
		cmocka_unit_test(test_compressed_area_freed),
		cmocka_unit_test(test_vmdk_malformed),
		cmocka_unit_test(test_vmdk_write),
		cmocka_unit_test(test_create_limits),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_vmstate_roundtrip),
		cmocka_unit_test(test_vmstate_hostile),
		cmocka_unit_test(test_amend),
		cmocka_unit_test(test_preallocation),
		cmocka_unit_test(test_bitmaps),
		cmocka_unit_test(test_bitmap_tracking),
		cmocka_unit_test(test_small_cluster_header),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
