// SPDX-License-Identifier: GPL-2.0-or-later
/* The raw block layer on real files: cache modes (O_DIRECT with bounce
 * buffers and read-modify-write, O_DSYNC, unsafe flush), discard and
 * write-zeroes freeing blocks. Files live in /var/tmp (a disk file system:
 * O_DIRECT and holes must work there). */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "util.h"

#define SIZE (256 * 1024)

static char path[64];
static uint8_t ref[SIZE];

static int setup(void **state)
{
	strcpy(path, "/var/tmp/vmm-unit-block-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < SIZE; i++)
		ref[i] = (uint8_t)(i * 13 + (i >> 12));
	assert_int_equal(write(fd, ref, SIZE), SIZE);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static struct block_dev *open_cache(enum block_cache cache)
{
	char err[256];
	struct block_opts o = { .cache = cache };
	struct block_dev *bd = block_open(path, "raw", false, &o, err, sizeof(err));
	if (!bd)
		fail_msg("open cache=%s: %s", block_cache_name(cache), err);
	return bd;
}

static void check_file(void)
{
	static uint8_t buf[SIZE];
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, SIZE, 0), SIZE);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, SIZE);
	close(fd);
	assert_memory_equal(buf, ref, SIZE);
}

static void test_cache_parse(void **state)
{
	assert_int_equal(block_cache_parse("writeback"), BLOCK_CACHE_WRITEBACK);
	assert_int_equal(block_cache_parse("none"), BLOCK_CACHE_NONE);
	assert_int_equal(block_cache_parse("writethrough"), BLOCK_CACHE_WRITETHROUGH);
	assert_int_equal(block_cache_parse("directsync"), BLOCK_CACHE_DIRECTSYNC);
	assert_int_equal(block_cache_parse("unsafe"), BLOCK_CACHE_UNSAFE);
	assert_int_equal(block_cache_parse("fast"), -1);
}

/* cache=none: the file is O_DIRECT; unaligned buffers, offsets and lengths
 * still work (bounced), and the data is in the file. */
static void test_cache_none(void **state)
{
	struct block_dev *bd = open_cache(BLOCK_CACHE_NONE);
	int fl = fcntl(bd->fd, F_GETFL);
	uint8_t *buf = malloc(20000);

	assert_true(fl & O_DIRECT);
	assert_true(bd->align == 512 || bd->align == 4096);
	/* aligned and unaligned reads */
	void *al = NULL;
	assert_int_equal(posix_memalign(&al, 4096, 8192), 0);
	assert_int_equal(block_pread(bd, al, 8192, 4096), 0);
	assert_memory_equal(al, ref + 4096, 8192);
	assert_int_equal(block_pread(bd, buf + 1, 1000, 77), 0);
	assert_memory_equal(buf + 1, ref + 77, 1000);
	/* unaligned writes, one inside a block, one across several */
	for (unsigned i = 0; i < 20000; i++)
		buf[i] = (uint8_t)(0xC3 ^ i);
	assert_int_equal(block_pwrite(bd, buf + 3, 100, 5000), 0);
	memcpy(ref + 5000, buf + 3, 100);
	assert_int_equal(block_pwrite(bd, buf + 1, 12345, 30001), 0);
	memcpy(ref + 30001, buf + 1, 12345);
	/* the last bytes of the file: rounding must not grow it */
	assert_int_equal(block_pwrite(bd, buf, 700, SIZE - 700), 0);
	memcpy(ref + SIZE - 700, buf, 700);
	assert_int_equal(block_flush(bd), 0);
	block_close(bd);
	free(al);
	free(buf);
	check_file();
}

/* The bounce helpers with a 4 KiB alignment forced, on a file whose size
 * is not a multiple of it: read-modify-write of the partial blocks, and
 * the file keeps its size. */
static void test_bounce_4k(void **state)
{
	int fd = open(path, O_RDWR | O_DIRECT);
	uint8_t buf[3000];

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SIZE - 1000), 0);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 3);
	assert_int_equal(fd_pwrite_al(fd, 4096, buf, 512, 512), 0);
	memcpy(ref + 512, buf, 512);
	assert_int_equal(fd_pwrite_al(fd, 4096, buf, 900, SIZE - 1900), 0);
	memcpy(ref + SIZE - 1900, buf, 900);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, SIZE - 1000);
	uint8_t back[3000];
	assert_int_equal(fd_pread_al(fd, 4096, back, 3000, SIZE - 3000), 0);
	memset(ref + SIZE - 1000, 0, 1000); /* past EOF: zeros */
	assert_memory_equal(back, ref + SIZE - 3000, 3000);
	assert_int_equal(fd_pread_al(fd, 4096, back, 512, 512), 0);
	assert_memory_equal(back, buf, 512);
	/* an aligned direct read across EOF: short, the rest zeros */
	void *al = NULL;
	assert_int_equal(posix_memalign(&al, 4096, 8192), 0);
	memset(al, 0xEE, 8192);
	assert_int_equal(fd_pread_al(fd, 512, al, 8192, SIZE - 8192), 0);
	assert_memory_equal(al, ref + SIZE - 8192, 8192);
	free(al);
	assert_int_equal(ftruncate(fd, SIZE), 0);
	close(fd);
	check_file();
}

static void test_writethrough_unsafe(void **state)
{
	struct block_dev *bd = open_cache(BLOCK_CACHE_WRITETHROUGH);
	assert_true(fcntl(bd->fd, F_GETFL) & O_DSYNC);
	assert_false(fcntl(bd->fd, F_GETFL) & O_DIRECT);
	assert_int_equal(bd->align, 1);
	assert_int_equal(block_pwrite(bd, "abc", 3, 10), 0);
	memcpy(ref + 10, "abc", 3);
	block_close(bd);
	bd = open_cache(BLOCK_CACHE_DIRECTSYNC);
	assert_true(fcntl(bd->fd, F_GETFL) & O_DSYNC);
	assert_true(fcntl(bd->fd, F_GETFL) & O_DIRECT);
	block_close(bd);
	bd = open_cache(BLOCK_CACHE_UNSAFE);
	assert_int_equal(block_flush(bd), 0);
	assert_int_equal(bd->cache, BLOCK_CACHE_UNSAFE);
	block_close(bd);
	check_file();
}

static blkcnt_t blocks(void)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, SIZE);
	return st.st_blocks;
}

/* Discard punches a hole: zeros, fewer blocks; write-zeroes with unmap
 * does too, without it the range stays allocated. */
static void test_discard(void **state)
{
	struct block_dev *bd = open_cache(BLOCK_CACHE_WRITEBACK);
	blkcnt_t b0 = blocks();

	assert_int_equal(block_discard(bd, 64 * 1024, 64 * 1024), 0);
	memset(ref + 64 * 1024, 0, 64 * 1024);
	assert_true(blocks() <= b0 - 128);
	check_file();
	blkcnt_t b1 = blocks();
	assert_int_equal(block_write_zeroes(bd, 32 * 1024, 0, false), 0);
	memset(ref, 0, 32 * 1024);
	assert_int_equal(blocks(), b1);
	assert_int_equal(lseek(bd->fd, 0, SEEK_DATA), 0);
	assert_int_equal(block_write_zeroes(bd, 32 * 1024, 192 * 1024, true), 0);
	memset(ref + 192 * 1024, 0, 32 * 1024);
	assert_true(blocks() <= b1 - 64);
	check_file();
	/* out of range, read-only */
	assert_int_equal(block_discard(bd, 4096, SIZE), -EINVAL);
	block_close(bd);
	char err[128];
	bd = block_open(path, "raw", true, NULL, err, sizeof(err));
	assert_non_null(bd);
	assert_int_equal(block_discard(bd, 4096, 0), -EROFS);
	assert_null(block_async_fd(bd, 0, 512, true) >= 0 ? bd : NULL);
	assert_true(block_async_fd(bd, 0, 512, false) >= 0);
	block_close(bd);
	/* discard=ignore: the data stays */
	struct block_opts o = { .discard_ignore = true };
	bd = block_open(path, "raw", false, &o, err, sizeof(err));
	assert_non_null(bd);
	blkcnt_t b2 = blocks();
	assert_int_equal(block_discard(bd, 4096, 32 * 1024), 0);
	assert_int_equal(blocks(), b2);
	block_close(bd);
	check_file();
	/* a probed raw image: sector 0 writes stay with the block layer */
	bd = block_open(path, NULL, false, NULL, err, sizeof(err));
	assert_non_null(bd);
	assert_int_equal(block_async_fd(bd, 0, 512, true), -1);
	assert_true(block_async_fd(bd, 512, 512, true) >= 0);
	block_close(bd);
}

/* QEMU's image locks between two opens of one image (the same rules as
 * between processes: OFD locks belong to the open file description). */
static struct block_dev *open_lock(bool ro, bool share, char *err)
{
	struct block_opts o = { .force_share = share };
	return block_open(path, "raw", ro, &o, err, 256);
}

static void test_image_locks(void **state)
{
	char err[256];
	struct block_dev *w = open_lock(false, false, err), *x;
	assert_non_null(w);
	/* a second writer: the first shares no write */
	assert_null(open_lock(false, false, err));
	assert_non_null(strstr(err, "Failed to get \"write\" lock\nIs another process using "
				    "the image ["));
	/* a reader would refuse to share write with the writer */
	assert_null(open_lock(true, false, err));
	assert_non_null(strstr(err, "Failed to get shared \"write\" lock"));
	/* -U: a reader that shares everything */
	x = open_lock(true, true, err);
	assert_non_null(x);
	block_close(x);
	block_close(w);
	/* readers share; a writer is refused while one reads */
	struct block_dev *r1 = open_lock(true, false, err), *r2 = open_lock(true, false, err);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_null(open_lock(false, false, err));
	assert_non_null(strstr(err, "Failed to get \"write\" lock"));
	block_close(r1);
	block_close(r2);
	/* all gone with the closes */
	w = open_lock(false, false, err);
	assert_non_null(w);
	block_close(w);
}

/* A migration's hand-over (issue 18): a qcow2 overlay over the raw file,
 * opened without locks as -incoming does, takes its own writer's locks
 * and its backing file's reader's with block_lock_chain and drops them
 * with block_unlock_chain; a chain that cannot be locked whole is left
 * with none. */
static void test_lock_chain_handover(void **state)
{
	char top[80], err[256];
	const struct block_format *qcow2 = block_format_find("qcow2");
	struct block_dev *bd, *x;

	snprintf(top, sizeof(top), "%s.qcow2", path);
	assert_non_null(qcow2);
	assert_int_equal(qcow2->create_overlay(top, SIZE, path, "raw", err, sizeof(err)), 0);
	bd = block_open(top, "qcow2", false, &(struct block_opts){ .no_lock = true }, err,
			sizeof(err));
	assert_non_null(bd);
	assert_non_null(block_backing(bd));
	/* inactive: another writer of either file is welcome */
	x = block_open(top, "qcow2", false, NULL, err, sizeof(err));
	assert_non_null(x);
	block_close(x);
	x = open_lock(false, false, err);
	assert_non_null(x);
	block_close(x);
	/* active: the overlay is written, its backing file read */
	assert_int_equal(block_lock_chain(bd, err, sizeof(err)), 0);
	assert_null(block_open(top, "qcow2", true, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "Failed to get shared \"write\" lock"));
	assert_null(open_lock(false, false, err));
	assert_non_null(strstr(err, "Failed to get \"write\" lock"));
	x = open_lock(true, false, err); /* readers share the backing file */
	assert_non_null(x);
	block_close(x);
	assert_int_equal(block_lock_chain(bd, err, sizeof(err)), 0); /* held: nothing to do */
	/* inactive again */
	block_unlock_chain(bd);
	x = block_open(top, "qcow2", false, NULL, err, sizeof(err));
	assert_non_null(x);
	block_close(x);
	/* another writer holds the backing file: the chain is refused and
	 * the overlay's locks, taken first, are dropped again */
	x = open_lock(false, false, err);
	assert_non_null(x);
	assert_int_equal(block_lock_chain(bd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Is another process using the image ["));
	assert_non_null(strstr(err, path));
	block_close(x);
	x = block_open(top, "qcow2", false, NULL, err, sizeof(err));
	assert_non_null(x);
	block_close(x);
	block_close(bd);
	unlink(top);
}

/* query-blockstats' figures: counted where the guest's I/O enters the
 * block layer, failures apart, the furthest write end kept. */
static void test_stats(void **state)
{
	uint8_t *mem = calloc(1, 64 * 1024), buf[4096] = { 0 };
	struct block_dev *bd = block_open_memory(mem, 64 * 1024, false);
	struct block_stats_snapshot st;

	block_stats_get(bd, &st);
	assert_int_equal(st.rd_operations + st.wr_operations + st.flush_operations, 0);
	assert_int_equal(st.idle_time_ns, -1);
	assert_int_equal(block_pread(bd, buf, 1024, 0), 0);
	assert_int_equal(block_pread(bd, buf, 512, 4096), 0);
	assert_int_equal(block_pwrite(bd, buf, 2048, 8192), 0);
	assert_int_equal(block_pwrite(bd, buf, 512, 512), 0);
	assert_int_equal(block_flush(bd), 0);
	assert_int_equal(block_pread(bd, buf, 512, 64 * 1024), -EINVAL); /* out of range: refused before the driver, not counted */
	block_account(bd, BLOCK_ACCT_READ, 0, 4096, 10, false);
	block_account(bd, BLOCK_ACCT_WRITE, 0, 512, 10, true);
	block_stats_get(bd, &st);
	assert_int_equal(st.rd_operations, 3);
	assert_int_equal(st.rd_bytes, 1024 + 512 + 4096);
	assert_int_equal(st.wr_operations, 2);
	assert_int_equal(st.wr_bytes, 2048 + 512);
	assert_int_equal(st.failed_wr_operations, 1);
	assert_int_equal(st.failed_rd_operations, 0);
	assert_int_equal(st.flush_operations, 1);
	assert_int_equal(st.wr_highest_offset, 8192 + 2048);
	assert_true(st.idle_time_ns >= 0);
	assert_true(st.rd_total_time_ns >= 10);
	block_close(bd);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_parse),
		cmocka_unit_test(test_stats),
		cmocka_unit_test_setup_teardown(test_cache_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writethrough_unsafe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_chain_handover, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
