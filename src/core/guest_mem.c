// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

#define PCI_HOLE_START_LARGE 0xC0000000ULL
#define LOW_RAM_LIMIT 0xE0000000ULL
#define VGA_WINDOW_START 0xA0000ULL
#define VGA_WINDOW_END 0xC0000ULL
#define FOUR_GIB 0x100000000ULL

static void add_block(struct guest_mem *m, uint64_t gpa, uint64_t size, uint8_t *hva)
{
	if (size)
		m->blocks[m->nblocks++] = (struct mem_block){ gpa, size, hva };
}

static void layout(struct guest_mem *m)
{
	m->below_4g = m->ram_size < LOW_RAM_LIMIT ? m->ram_size : PCI_HOLE_START_LARGE;
	m->above_4g = m->ram_size - m->below_4g;
	m->nblocks = 0;
	/* The legacy VGA window is never RAM (i440FX SMRAM overlay). */
	if (m->below_4g > VGA_WINDOW_END) {
		add_block(m, 0, VGA_WINDOW_START, m->ram);
		add_block(m, VGA_WINDOW_END, m->below_4g - VGA_WINDOW_END, m->ram + VGA_WINDOW_END);
	} else {
		add_block(m, 0, MIN(m->below_4g, VGA_WINDOW_START), m->ram);
	}
	add_block(m, FOUR_GIB, m->above_4g, m->ram + m->below_4g);
}

int guest_mem_init(struct guest_mem *m, uint64_t ram_size)
{
	memset(m, 0, sizeof(*m));
	void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Let the host back guest RAM with huge pages where it can. */
	madvise(p, ram_size, MADV_HUGEPAGE);
	m->ram = p;
	m->ram_size = ram_size;
	layout(m);
	return 0;
}

void guest_mem_init_buffer(struct guest_mem *m, void *buf, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->ram = buf;
	m->ram_size = size;
	m->below_4g = size;
	add_block(m, 0, size, buf);
}

void guest_mem_destroy(struct guest_mem *m)
{
	if (m->ram)
		munmap(m->ram, m->ram_size);
	memset(m, 0, sizeof(*m));
}

void *guest_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nblocks; i++) {
		const struct mem_block *b = &m->blocks[i];
		if (gpa >= b->gpa && range_ok(gpa - b->gpa, len, b->size))
			return b->hva + (gpa - b->gpa);
	}
	return NULL;
}

bool guest_read(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len)
{
	const void *p = guest_ptr(m, gpa, len);
	if (!p)
		return false;
	memcpy(buf, p, len);
	return true;
}

bool guest_write(const struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	void *p = guest_ptr(m, gpa, len);
	if (!p)
		return false;
	memcpy(p, buf, len);
	guest_mark_dirty(m, gpa, len);
	return true;
}

void guest_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (m->hooks && m->hooks->mark_dirty && len)
		m->hooks->mark_dirty(m->hooks_opaque, gpa, len);
}

void guest_mark_dirty_hva(const struct guest_mem *m, const void *hva, uint64_t len)
{
	const uint8_t *p = hva;

	if (!m->hooks || !len)
		return;
	for (unsigned i = 0; i < m->nblocks; i++) {
		const struct mem_block *b = &m->blocks[i];
		if (p >= b->hva && range_ok((uint64_t)(p - b->hva), len, b->size)) {
			guest_mark_dirty(m, b->gpa + (uint64_t)(p - b->hva), len);
			return;
		}
	}
}

void *guest_ptr_write(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	void *p = guest_ptr(m, gpa, len);

	if (p && m->hooks && m->hooks->writable && !m->hooks->writable(m->hooks_opaque, gpa, len))
		return NULL;
	return p;
}
