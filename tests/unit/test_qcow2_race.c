// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 reads of compressed clusters from many threads at once, as
 * vmm-img convert and compare make them (src/core/ordered_pool.c): the
 * inflate runs outside the driver's lock, in slots of its own. More
 * readers than slots (some wait for one), reads that start and end
 * inside clusters and span several, and a writer that replaces
 * compressed clusters meanwhile (each free makes the kept decompressed
 * clusters stale). Every read returns, per cluster, the data before or
 * after the write, never a mix or an error; the image stays clean. Also
 * in RACE_TESTS (tests/unit/tsan.mk): ThreadSanitizer watches the slots.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "qcow2.h"
#include "util.h"

#define CS 4096u
#define NCL 256u             /* clusters in the image */
#define STABLE (NCL / 2)     /* clusters [0, STABLE) are never written */
#define READERS 12           /* more than the driver's 8 slots */
#define ROUNDS 400

static char dir[64], path[128];

/* Cluster c's bytes, generation g (0: as compressed at first): runs of
 * 64 equal bytes, so they compress. */
static uint8_t pattern(unsigned g, uint64_t c, uint64_t i)
{
	return (uint8_t)(c * 7 + g * 101 + i / 64);
}

struct reader {
	struct block_dev *bd;
	uint32_t seed;
	int err;
	char why[160];
};

static uint32_t next_rnd(uint32_t *s)
{
	*s = *s * 1103515245 + 12345;
	return *s >> 8;
}

/* Every cluster the read covers holds generation 0 or 1 (stable ones 0). */
static int check_read(const uint8_t *got, uint64_t off, uint64_t len, char *why, size_t whylen)
{
	for (uint64_t c = off / CS; c * CS < off + len; c++) {
		uint64_t lo = MAX(off, c * CS), hi = MIN(off + len, (c + 1) * CS);
		for (unsigned g = 0; g < 2; g++) {
			uint64_t i = lo;
			while (i < hi && got[i - off] == pattern(g, c, i % CS))
				i++;
			if (i == hi)
				goto next;
			if (g == 1 || c < STABLE) {
				snprintf(why, whylen, "cluster %llu byte %llu: %u", (unsigned long long)c,
					 (unsigned long long)(i % CS), got[i - off]);
				return -1;
			}
		}
next:;
	}
	return 0;
}

typedef int read_check_fn(const uint8_t *got, uint64_t off, uint64_t len, char *why,
			  size_t whylen);

/* ROUNDS reads of 1 to max_len bytes at random offsets, each checked. */
static void read_rounds(struct reader *r, uint64_t max_len, read_check_fn *check)
{
	uint8_t *got = xzalloc(max_len);

	for (unsigned k = 0; k < ROUNDS && !r->err; k++) {
		uint64_t len = 1 + next_rnd(&r->seed) % max_len;
		uint64_t off = next_rnd(&r->seed) % (NCL * CS - len + 1);
		int ret = block_pread(r->bd, got, len, off);
		if (ret < 0) {
			snprintf(r->why, sizeof(r->why), "pread at %llu: %d", (unsigned long long)off,
				 ret);
			r->err = 1;
		} else if (check(got, off, len, r->why, sizeof(r->why)) < 0) {
			r->err = 1;
		}
	}
	free(got);
}

static void *reader_main(void *arg)
{
	read_rounds(arg, 3 * CS, check_read);
	return NULL;
}

struct writer {
	struct block_dev *bd;
	int err;
};

/* Generation 1 over the unstable clusters, whole ones: each write
 * allocates a plain cluster and frees the compressed one. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[CS];

	for (uint64_t c = NCL - 1; c >= STABLE && !w->err; c--) {
		for (uint64_t i = 0; i < CS; i++)
			buf[i] = pattern(1, c, i);
		if (block_pwrite(w->bd, buf, CS, c * CS) < 0)
			w->err = 1;
	}
	return NULL;
}

/* A 256-cluster image, every cluster generation 0, compressed or plain. */
static struct block_dev *make_image(bool compressed)
{
	char err[256];
	struct qcow2_create_opts o = { .size = NCL * CS, .cluster_size = CS, .version = 3,
				       .refcount_bits = 16 };
	uint8_t buf[CS];

	unlink(path);
	assert_int_equal(qcow2_create(path, &o, err, sizeof(err)), 0);
	struct block_dev *bd = block_open(path, "qcow2", false, NULL, err, sizeof(err));
	assert_non_null(bd);
	for (uint64_t c = 0; c < NCL; c++) {
		for (uint64_t i = 0; i < CS; i++)
			buf[i] = pattern(0, c, i);
		if (compressed)
			assert_int_equal(qcow2_write_compressed(bd, c * CS, buf), 0);
		else
			assert_int_equal(block_pwrite(bd, buf, CS, c * CS), 0);
	}
	return bd;
}

static _Atomic bool readers_done;

/* READERS readers and one writer at once; the writer is told when every
 * reader is done (a writer that loops until then needs it). */
static void race(struct block_dev *bd, void *(*reader)(void *), void *(*writer)(void *),
		 uint32_t seed)
{
	pthread_t th[READERS + 1];
	struct reader r[READERS];
	struct writer w = { .bd = bd };

	atomic_store(&readers_done, false);
	for (unsigned i = 0; i < READERS; i++) {
		r[i] = (struct reader){ .bd = bd, .seed = seed + i * 77 };
		assert_int_equal(pthread_create(&th[i], NULL, reader, &r[i]), 0);
	}
	assert_int_equal(pthread_create(&th[READERS], NULL, writer, &w), 0);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&readers_done, true);
	pthread_join(th[READERS], NULL);
	for (unsigned i = 0; i < READERS; i++)
		if (r[i].err)
			fail_msg("reader %u: %s", i, r[i].why);
	assert_int_equal(w.err, 0);
}

/* Afterwards: the stable half at generation 0, the rest at 1; the image
 * closes, and check finds no error, no leak and `compressed` compressed
 * clusters. */
static void expect_final_and_clean(struct block_dev *bd, uint64_t compressed)
{
	char err[256];
	uint8_t *all = xzalloc(NCL * CS);

	assert_int_equal(block_pread(bd, all, NCL * CS, 0), 0);
	for (uint64_t c = 0; c < NCL; c++)
		for (uint64_t i = 0; i < CS; i++)
			if (all[c * CS + i] != pattern(c >= STABLE, c, i))
				fail_msg("cluster %llu byte %llu after the run", (unsigned long long)c,
					 (unsigned long long)i);
	free(all);
	block_close(bd);
	bd = block_open(path, "qcow2", true, NULL, err, sizeof(err));
	assert_non_null(bd);
	struct qcow2_check_result cr;
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(qcow2_check(bd, 0, &cr, log), 0);
	fclose(log);
	assert_int_equal(cr.corruptions, 0);
	assert_int_equal(cr.leaks, 0);
	assert_int_equal(cr.compressed_clusters, compressed);
	block_close(bd);
}

static void test_compressed_reads_in_parallel(void **state)
{
	struct block_dev *bd = make_image(true);
	race(bd, reader_main, writer_main, 1000);
	expect_final_and_clean(bd, STABLE);
}

/* Plain clusters, read outside the lock: the writer discards a pair of
 * unstable clusters and writes generation 1 back in the other order, so
 * each takes the host cluster the other had (the allocator hands out the
 * lowest free one), pass after pass while 12 readers read long runs.
 * Every read returns each cluster's own bytes (either generation, or
 * zeroes while discarded) and the image stays clean; under TSan
 * (RACE_TESTS) this is the locking's check. The interleaving that would
 * return another cluster's bytes is rare here: the next test makes it. */
static void *plain_writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[CS];

	/* pass after pass until the readers are done: the clusters of each
	 * pair change places every time */
	do
	for (uint64_t c = NCL - 1; c > STABLE && !w->err; c -= 2) {
		if (block_discard(w->bd, 2 * CS, (c - 1) * CS) < 0)
			w->err = 1;
		for (uint64_t k = 0; k < 2 && !w->err; k++) {
			uint64_t cl = c - k; /* c first: it takes c-1's old place */
			for (uint64_t i = 0; i < CS; i++)
				buf[i] = pattern(1, cl, i);
			if (block_pwrite(w->bd, buf, CS, cl * CS) < 0)
				w->err = 1;
		}
	}
	while (!atomic_load(&readers_done) && !w->err);
	return NULL;
}

/* A discarded cluster reads as zeroes for a moment: accepted besides
 * generations 0 and 1. */
static int check_plain_read(const uint8_t *got, uint64_t off, uint64_t len, char *why,
			    size_t whylen)
{
	for (uint64_t c = off / CS; c * CS < off + len; c++) {
		uint64_t lo = MAX(off, c * CS), hi = MIN(off + len, (c + 1) * CS);
		bool zero = c >= STABLE;
		for (uint64_t i = lo; i < hi && zero; i++)
			zero = !got[i - off];
		if (!zero && check_read(got + (lo - off), lo, hi - lo, why, whylen) < 0)
			return -1;
	}
	return 0;
}

/* Long reads (runs of contiguous clusters are one pread), so that a
 * pread outside the lock often overlaps the writer's swaps. */
#define PLAIN_MAX_READ (64 * CS)

static void *plain_reader_main(void *arg)
{
	read_rounds(arg, PLAIN_MAX_READ, check_plain_read);
	return NULL;
}

static void test_plain_reads_in_parallel(void **state)
{
	struct block_dev *bd = make_image(false);
	race(bd, plain_reader_main, plain_writer_main, 5000);
	expect_final_and_clean(bd, 0);
}

/* Deterministic: the reader's pread (outside the lock) stops in the
 * middle, at a page fault on its buffer that a userfaultfd holds, and
 * the writer swaps two clusters' places right then. Cluster 1 is being
 * read from the host cluster that cluster 2 takes over: the bytes that
 * pread copies are cluster 2's. The free in between makes the reader
 * look cluster 1 up again, and it gets cluster 1's new bytes. */
struct swap_at_fault {
	struct block_dev *bd;
	int uffd;
	void *page;
	int err;
};

static void *swap_main(void *arg)
{
	struct swap_at_fault *a = arg;
	uint8_t buf[CS];

	if (block_discard(a->bd, 2 * CS, 1 * CS) < 0)
		a->err = 2;
	for (uint64_t c = 2; c >= 1 && !a->err; c--) { /* 2 first: it takes 1's place */
		for (uint64_t i = 0; i < CS; i++)
			buf[i] = pattern(1, c, i);
		if (block_pwrite(a->bd, buf, CS, c * CS) < 0)
			a->err = 3;
	}
	return NULL;
}

static void *swap_at_fault_main(void *arg)
{
	struct swap_at_fault *a = arg;
	struct pollfd pfd = { .fd = a->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, 10000) != 1 || read(a->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT) {
		a->err = 1; /* the read never faulted: nothing was tested */
		return NULL;
	}
	/* A reader that kept the driver's lock through its pread holds the
	 * swap up: after 5 s the fault is let go, and the swap ends later. */
	pthread_t th;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	bool joined = !pthread_create(&th, NULL, swap_main, a) && !pthread_timedjoin_np(th, NULL,
											  &until);
	if (!joined && !a->err)
		a->err = 5;
	struct uffdio_zeropage z = { .range = { (uintptr_t)a->page, CS } };
	if (ioctl(a->uffd, UFFDIO_ZEROPAGE, &z) < 0 && !a->err)
		a->err = 4;
	if (!joined)
		pthread_join(th, NULL);
	return NULL;
}

static void test_plain_read_overtaken_by_a_swap(void **state)
{
	long pagesz = sysconf(_SC_PAGESIZE);

	assert_int_equal(pagesz, CS);
	struct block_dev *bd = make_image(false);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		fail_msg("userfaultfd: %s (the test needs it, as root)", strerror(errno));
	struct uffdio_api api = { .api = UFFD_API };
	assert_int_equal(ioctl(uffd, UFFDIO_API, &api), 0);
	uint8_t *page = mmap(NULL, CS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(page != MAP_FAILED);
	struct uffdio_register reg = { .range = { (uintptr_t)page, CS },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	assert_int_equal(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

	struct swap_at_fault a = { .bd = bd, .uffd = uffd, .page = page };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, swap_at_fault_main, &a), 0);
	assert_int_equal(block_pread(bd, page, CS, 1 * CS), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.err, 0);
	for (uint64_t i = 0; i < CS; i++)
		if (page[i] != pattern(1, 1, i))
			fail_msg("byte %llu of cluster 1: %u, not its own new data (%u); cluster 2's "
				 "is %u", (unsigned long long)i, page[i], pattern(1, 1, i),
				 pattern(1, 2, i));
	munmap(page, CS);
	close(uffd);
	block_close(bd);
	unlink(path);
}

static int setup(void **state)
{
	strcpy(dir, "/tmp/vmm-qcow2-race-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/z.qcow2", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compressed_reads_in_parallel),
		cmocka_unit_test(test_plain_reads_in_parallel),
		cmocka_unit_test(test_plain_read_overtaken_by_a_swap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
