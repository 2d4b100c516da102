/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration stream (src/core/migstream.c): what one vmm sends another
 * (or a file) to move a machine: a header naming the machine's shape, guest
 * RAM as page chunks, the saved state of every device and vCPU (the
 * include/savestate.h stream, whole), and an end marker.
 * docs/architecture.md, "Migration", gives the layout.
 *
 * Every section carries its type, its length and a CRC-32, and the reader
 * knows each type's largest length, so a truncated, corrupt or hostile
 * stream is refused with one line before anything of that section is used:
 * a RAM chunk is written to guest memory only after its checksum, its
 * bounds and its page kinds have been checked. Both ends move bytes
 * through a callback, so the format runs in unit tests and the fuzzer on a
 * buffer, and in vmm on a file, a pipe or a socket.
 */
#ifndef VMM_MIGSTREAM_H
#define VMM_MIGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

#define MIG_MAGIC "VMMMIGR\n"
/* 2: device RAM blocks (video memory) as sections of their own; 1 (still
 * read): guest RAM only, a VGA's memory inside its device state. */
#define MIG_VERSION 2
#define MIG_HEADER_LEN 32
#define MIG_PAGE_SIZE 4096u
#define MIG_CHUNK_PAGES 256u /* pages per RAM section: 1 MiB of data at most */
#define MIG_ERR_MAX 256

/* Page kinds inside a RAM section. */
enum mig_page_kind {
	MIG_PAGE_ZERO = 0, /* all zero: no data follows */
	MIG_PAGE_DATA = 1, /* 4096 bytes follow */
	MIG_PAGE_SKIP = 2, /* not sent in this chunk (clean in a dirty round) */
};

/* What the header says about the machine; the destination's must agree. */
struct mig_header {
	uint64_t ram_size;
	uint32_t ncpus;
};

/* Moves 'len' bytes; 0, or -1 (the stream is broken: a short read is the
 * end of the stream). */
typedef int (*mig_write_fn)(void *opaque, const void *buf, size_t len);
typedef int (*mig_read_fn)(void *opaque, void *buf, size_t len);

struct mig_stats {
	uint64_t bytes;       /* stream bytes sent or received */
	uint64_t zero_pages;  /* QEMU's "duplicate" */
	uint64_t data_pages;  /* QEMU's "normal" */
	uint64_t ram_sections;
};

struct mig_out {
	mig_write_fn write;
	void *opaque;
	uint8_t *chunk;      /* one RAM section being built */
	struct mig_stats stats;
	bool failed;
	char err[MIG_ERR_MAX];
};

/* ---- sending ---- */
/* 0, or -1 with out->err (out of memory). */
int mig_out_init(struct mig_out *out, mig_write_fn write, void *opaque);
void mig_out_free(struct mig_out *out);
int mig_out_header(struct mig_out *out, const struct mig_header *h);
/* Pages [gpa, gpa + npages * 4096) of guest RAM, in sections of up to
 * MIG_CHUNK_PAGES; with 'dirty' (bit dirty_first + i: page i of the range)
 * only the set pages, the others as MIG_PAGE_SKIP (a chunk of none is not
 * sent). The
 * range must be guest RAM (guest_ptr). Each page is copied before it is
 * checksummed, so a vCPU writing it meanwhile cannot make the section
 * corrupt (the next dirty round sends it again). */
int mig_out_ram(struct mig_out *out, const struct guest_mem *mem, uint64_t gpa,
		uint64_t npages, const uint64_t *dirty, uint64_t dirty_first);
/* The named block 'r' (guest_mem's named[]), in sections of up to
 * MIG_CHUNK_PAGES; with 'dirty' (bit i: page i of the block) only those. */
int mig_out_named(struct mig_out *out, const struct named_ram *r, const uint64_t *dirty);
/* Every RAM block of 'mem', all pages, then its named blocks. */
int mig_out_all_ram(struct mig_out *out, const struct guest_mem *mem);
/* The saved-state stream (devices, KVM), then the end marker. */
int mig_out_state(struct mig_out *out, const void *state, size_t len);
int mig_out_end(struct mig_out *out);

/* ---- receiving ---- */
struct mig_in {
	mig_read_fn read;
	void *opaque;
	struct mig_stats stats;
	uint32_t version;    /* the stream's, once its header is read */
	char err[MIG_ERR_MAX];
};

/* Reads a whole stream: the header (checked against 'expect'), RAM into
 * 'mem' (a named block into mem's block of that name and size), the state section into *state (heap, the caller frees it, *len
 * its size), up to the end marker, which must be the last byte the source
 * sends (nothing is read after it). 0, or -1 with in->err (one line, no
 * "vmm:" prefix); on error *state is NULL and guest RAM may hold some of
 * the stream's pages. */
int mig_in_load(struct mig_in *in, struct guest_mem *mem, const struct mig_header *expect,
		uint8_t **state, size_t *len);

#endif
