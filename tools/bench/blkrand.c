// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Random-I/O load for the virtio-blk benchmark, run inside the guest (and
 * on the L1 host for its own figure): THREADS threads each issue one
 * BS-byte pread or pwrite at a time at random BS-aligned offsets of FILE
 * for SECONDS, so THREADS is the queue depth. O_DIRECT unless "buffered".
 * Built static (gcc -static) so the kit's busybox guest can run it.
 *
 *   blkrand FILE read|write SECONDS THREADS [BS] [direct|buffered] [MAXBYTES]
 *
 * Prints "blkrand OP qd=N ops=N secs=S iops=N" or "blkrand error ...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fd;
static int writing;
static size_t bs;
static uint64_t blocks;
static double stop_at;
static volatile int failed;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: cheap, per thread, good enough for offsets */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void *run(void *arg)
{
	uint64_t seed = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1), ops = 0;
	void *buf;

	if (posix_memalign(&buf, 4096, bs))
		return NULL;
	memset(buf, 0x5A ^ (int)(uintptr_t)arg, bs);
	while (!failed) {
		for (int i = 0; i < 16; i++) {
			off_t off = (off_t)(next_rand(&seed) % blocks * bs);
			ssize_t n = writing ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);
			if (n != (ssize_t)bs) {
				fprintf(stderr, "blkrand error %s at %lld: %s\n", writing ? "pwrite" : "pread",
					(long long)off, n < 0 ? strerror(errno) : "short");
				failed = 1;
				break;
			}
			ops++;
		}
		if (now() >= stop_at)
			break;
	}
	free(buf);
	return (void *)(uintptr_t)ops;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: blkrand FILE read|write SECONDS THREADS [BS] "
				"[direct|buffered] [MAXBYTES]\n");
		return 2;
	}
	writing = !strcmp(argv[2], "write");
	double secs = atof(argv[3]);
	int threads = atoi(argv[4]);
	bs = argc > 5 ? (size_t)atol(argv[5]) : 4096;
	int direct = !(argc > 6 && !strcmp(argv[6], "buffered"));
	uint64_t max = argc > 7 ? (uint64_t)atoll(argv[7]) : 0;
	if (threads < 1 || threads > 64 || bs < 512 || bs % 512) {
		fprintf(stderr, "blkrand error bad arguments\n");
		return 2;
	}
	fd = open(argv[1], (writing ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		fprintf(stderr, "blkrand error open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct stat st;
	uint64_t size = 0;
	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode))
		ioctl(fd, BLKGETSIZE64, &size);
	else
		size = (uint64_t)st.st_size;
	if (max && size > max)
		size = max;
	blocks = size / bs;
	if (!blocks) {
		fprintf(stderr, "blkrand error %s is too small\n", argv[1]);
		return 1;
	}
	pthread_t t[64];
	double t0 = now();
	stop_at = t0 + secs;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i);
	uint64_t ops = 0;
	for (int i = 0; i < threads; i++) {
		void *r;
		pthread_join(t[i], &r);
		ops += (uintptr_t)r;
	}
	double dt = now() - t0;
	if (failed)
		return 1;
	printf("blkrand %s qd=%d ops=%llu secs=%.2f iops=%.0f\n", argv[2], threads,
	       (unsigned long long)ops, dt, ops / dt);
	return 0;
}
