// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Crash-test writer: random 4 KiB-block writes through the block layer
 * to a qcow2 image, each block stamped with its write's sequence number.
 * Logs "W seq block count" before each write and "F seq" once a flush
 * covering every write up to seq has returned; tests/img/test_crash.py
 * kills it with SIGKILL at random points and checks the image.
 *   usage: img-writer IMAGE FIRST_SEQ SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "util.h"

#define BLK 4096

int main(int argc, char **argv)
{
	char err[256];
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: img-writer IMAGE FIRST_SEQ SEED [FORMAT]\n");
		return 2;
	}
	uint64_t seq = strtoull(argv[2], NULL, 0);
	srandom((unsigned)strtoul(argv[3], NULL, 0));
	struct block_dev *bd = block_open(argv[1], argc == 5 ? argv[4] : "qcow2", false, NULL, err, sizeof(err));
	if (!bd) {
		fprintf(stderr, "img-writer: %s\n", err);
		return 1;
	}
	uint64_t nblocks = bd->size / BLK;
	uint8_t *buf = malloc(16 * BLK);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;; seq++) {
		uint64_t count = 1 + (uint64_t)random() % 16;
		uint64_t blk = (uint64_t)random() % (nblocks - count + 1);
		for (uint64_t b = 0; b < count; b++)
			for (unsigned w = 0; w < BLK / 8; w++)
				put_le64(buf + b * BLK + w * 8, seq << 24 | (blk + b));
		printf("W %llu %llu %llu\n", (unsigned long long)seq, (unsigned long long)blk,
		       (unsigned long long)count);
		if (block_pwrite(bd, buf, count * BLK, blk * BLK) < 0) {
			fprintf(stderr, "img-writer: write failed\n");
			return 1;
		}
		if (seq % 8 == 7) {
			if (block_flush(bd) < 0) {
				fprintf(stderr, "img-writer: flush failed\n");
				return 1;
			}
			printf("F %llu\n", (unsigned long long)seq);
		}
	}
}
