// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the incoming side of migration (src/core/migstream.c):
 * the input is a migration stream, read into a 64 KiB guest through the
 * same read callback a socket or file would be behind. A stream
 * that loads has its state section opened as a saved-state stream too
 * (src/core/savestate.c). Any crash, sanitizer report, leak or hang is a
 * bug; a clean error is fine.
 *
 * The header and every section carry checksums, so random mutations mostly
 * stop there: for an input whose first byte is 'F' the target first writes
 * the expected machine shape into the header and recomputes the header's
 * and every section's checksum, so the fuzzer reaches the section parser,
 * the RAM bounds and the page kinds.
 *
 *   FUZZ_WRITE_SEEDS=DIR fuzz_migstream   writes valid streams as seeds
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"
#include "migstream.h"
#include "savestate.h"
#include "util.h"

#define RAM_PAGES 16
#define RAM_SIZE (RAM_PAGES * MIG_PAGE_SIZE)
#define NCPUS 1

struct input {
	const uint8_t *data;
	size_t len, pos;
};

static int input_read(void *opaque, void *buf, size_t n)
{
	struct input *in = opaque;
	if (n > in->len - in->pos)
		return -1;
	memcpy(buf, in->data + in->pos, n);
	in->pos += n;
	return 0;
}

/* The header's shape and checksum, then each section's checksum, as far
 * as the layout can be followed. */
static void fix_checksums(uint8_t *p, size_t len)
{
	if (len < MIG_HEADER_LEN)
		return;
	memcpy(p, MIG_MAGIC, 8);
	put_le32(p + 8, MIG_VERSION);
	put_le32(p + 12, NCPUS);
	put_le64(p + 16, RAM_SIZE);
	put_le32(p + 24, MIG_PAGE_SIZE);
	put_le32(p + 28, ss_crc32(p, 28));
	size_t at = MIG_HEADER_LEN;
	while (len - at >= 8) {
		uint32_t n = get_le32(p + at + 4);
		if (n > len - at - 8 || len - at - 8 - n < 4)
			return;
		put_le32(p + at + 8 + n, ss_crc32(p + at, 8 + (size_t)n));
		at += 8 + (size_t)n + 4;
	}
}

/* A device's named block (video memory) beside RAM: block sections land
 * there, checked against its name and size. */
#define VRAM_PAGES 4
static void add_vram(struct guest_mem *mem)
{
	static uint8_t vram[VRAM_PAGES * MIG_PAGE_SIZE] __attribute__((aligned(4096)));
	struct named_ram r = { .name = "vga.vram@02.0", .hva = vram, .size = sizeof(vram) };

	if (guest_mem_add_named(mem, &r) < 0)
		abort();
}

static void load(const uint8_t *data, size_t len)
{
	static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
	struct guest_mem mem;
	struct input in = { data, len, 0 };
	struct mig_in m = { .read = input_read, .opaque = &in };
	const struct mig_header expect = { RAM_SIZE, NCPUS };
	uint8_t *state;
	size_t state_len;

	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	add_vram(&mem);
	if (mig_in_load(&m, &mem, &expect, &state, &state_len) < 0) {
		if (state || !m.err[0] || strchr(m.err, '\n'))
			abort(); /* an error is one line, and hands out nothing */
		return;
	}
	struct ss_reader r;
	if (ss_reader_open(&r, state, state_len) == 0)
		(void)ss_unclaimed_section(&r);
	ss_reader_close(&r);
	free(state);
}

/* ---- seeds ---- */

struct outbuf {
	uint8_t data[65536];
	size_t len;
};

static int out_write(void *opaque, const void *buf, size_t n)
{
	struct outbuf *o = opaque;
	if (n > sizeof(o->data) - o->len)
		return -1;
	memcpy(o->data + o->len, buf, n);
	o->len += n;
	return 0;
}

static void write_seed(const char *dir, const char *name, const uint8_t *p, size_t len,
		       bool fixup)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s%s", dir, fixup ? "F-" : "", name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	if (fixup)
		fputc('F', f);
	fwrite(p, 1, len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
	static struct outbuf o;
	struct guest_mem mem;
	struct mig_out out;
	struct ss_writer w;
	const struct mig_header h = { RAM_SIZE, NCPUS };

	/* a few data pages, the rest zero */
	for (size_t i = 0; i < 3 * MIG_PAGE_SIZE; i++)
		ram[MIG_PAGE_SIZE + i] = (uint8_t)(i * 13);
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	add_vram(&mem);
	ss_writer_init(&w);
	ss_section_begin(&w, "demo", 0, 1);
	ss_put_u32(&w, "value", 42);
	ss_section_end(&w);
	if (ss_writer_finish(&w) < 0 || mig_out_init(&out, out_write, &o) < 0)
		exit(1);
	mig_out_header(&out, &h);
	mig_out_all_ram(&out, &mem);
	/* a dirty round of two pages */
	uint64_t dirty = 0x6;
	mig_out_ram(&out, &mem, 0, RAM_PAGES, &dirty, 0);
	mig_out_named(&out, &mem.named[0], &dirty);
	mig_out_state(&out, w.buf, w.len);
	mig_out_end(&out);
	if (out.failed)
		exit(1);
	write_seed(dir, "stream", o.data, o.len, false);
	write_seed(dir, "stream", o.data, o.len, true);
	mig_out_free(&out);
	ss_writer_free(&w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_WRITE_SEEDS")) {
		write_seeds(getenv("FUZZ_WRITE_SEEDS"));
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] == 'F') {
		uint8_t *copy = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
		memcpy(copy, data + 1, size - 1);
		fix_checksums(copy, size - 1);
		load(copy, size - 1);
		free(copy);
		return 0;
	}
	load(data, size);
	return 0;
}
