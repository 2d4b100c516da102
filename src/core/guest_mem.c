// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

#define BASE_PAGE (4 * KiB)
#define PREALLOC_MAX_THREADS 16
#define PREALLOC_BYTES_PER_THREAD (256 * MiB) /* below that one thread is as fast */

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

/* RAM mapped from 0; the rest goes from 4 GiB. */
static uint64_t ram_below_4g(uint64_t ram_size)
{
	return ram_size < LOW_RAM_LIMIT ? ram_size : PCI_HOLE_START_LARGE;
}

uint64_t guest_mem_ram_end(uint64_t ram_size)
{
	uint64_t below = ram_below_4g(ram_size);
	return below == ram_size ? ram_size : FOUR_GIB + ram_size - below;
}

static void layout(struct guest_mem *m)
{
	m->below_4g = ram_below_4g(m->ram_size);
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
	m->fd = -1;
	void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Let the host back guest RAM with huge pages where it can. */
	madvise(p, ram_size, MADV_HUGEPAGE);
	m->ram = p;
	m->ram_size = ram_size;
	m->page_size = BASE_PAGE;
	layout(m);
	return 0;
}

/* ---- backends ------------------------------------------------------------ */

static const char *const kind_names[] = {
	[RAM_BACKEND_RAM] = "memory-backend-ram",
	[RAM_BACKEND_FILE] = "memory-backend-file",
	[RAM_BACKEND_MEMFD] = "memory-backend-memfd",
};

/* "-object memory-backend-file,id=m" (or "-mem-path" for the legacy one)
 * as the start of every message about a backend. */
static void backend_name(const struct ram_backend *b, char *out, size_t size)
{
	if (b->id)
		snprintf(out, size, "-object %s,id=%s", kind_names[b->kind], b->id);
	else if (b->kind == RAM_BACKEND_FILE)
		snprintf(out, size, "-mem-path %s", b->mem_path);
	else
		snprintf(out, size, "-m");
}

/* A directory gets an unlinked temporary file of its own, as QEMU makes
 * one: nothing is left behind, whatever way vmm ends. */
static int open_in_dir(const char *dir)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/vmm_back_mem.XXXXXX", dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* The backend's file: an existing one as it is, a missing one created
 * (and kept, as QEMU keeps it), a directory's temporary one. */
static int open_backing_file(const char *path, bool *created)
{
	struct stat st;

	*created = false;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return open_in_dir(path);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		*created = fd >= 0;
	}
	return fd;
}

static int open_memfd(const struct ram_backend *b)
{
	unsigned flags = MFD_CLOEXEC | (b->seal ? MFD_ALLOW_SEALING : 0);

	if (b->hugetlb) {
		flags |= MFD_HUGETLB;
		/* MFD_HUGE_2MB and friends: log2 of the size in bits 26-31 */
		if (b->hugetlbsize)
			flags |= (unsigned)__builtin_ctzll(b->hugetlbsize) << MFD_HUGE_SHIFT;
	}
	return memfd_create(b->id ? b->id : "vmm-ram", flags);
}

/* The page size the file is mapped with: hugetlbfs's block size. */
static uint64_t backing_page_size(int fd)
{
	struct statfs fs;

	if (fd >= 0 && fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC)
		return (uint64_t)fs.f_bsize;
	return BASE_PAGE;
}

static void fmt_size(uint64_t v, char *out, size_t size)
{
	if (v >= GiB && v % GiB == 0)
		snprintf(out, size, "%llu GiB", (unsigned long long)(v / GiB));
	else if (v >= MiB && v % MiB == 0)
		snprintf(out, size, "%llu MiB", (unsigned long long)(v / MiB));
	else
		snprintf(out, size, "%llu KiB", (unsigned long long)(v / KiB));
}

/* The file gets the backend's size if it is empty; a smaller one is an
 * error (the guest would fault past its end), a larger one is mapped in
 * part. */
static int size_backing_file(int fd, const struct ram_backend *b, const char *who, char *err,
			     size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return set_err(err, errlen, "%s: cannot stat its backing store: %s", who,
			       strerror(errno));
	if (!S_ISREG(st.st_mode))
		return 0; /* a device node: mapped as it is */
	if (st.st_size > 0 && (uint64_t)st.st_size < b->size)
		return set_err(err, errlen, "%s: backing store size 0x%llx does not match 'size' "
			       "option 0x%llx", who, (unsigned long long)st.st_size,
			       (unsigned long long)b->size);
	if (st.st_size == 0 && ftruncate(fd, (off_t)b->size) < 0)
		return set_err(err, errlen, "%s: cannot size its backing store to %llu bytes: %s",
			       who, (unsigned long long)b->size, strerror(errno));
	return 0;
}

static int backend_fd(const struct ram_backend *b, const char *who, bool *created, char *err,
		      size_t errlen)
{
	int fd;

	*created = false;
	if (b->kind == RAM_BACKEND_RAM)
		return -1;
	if (b->kind == RAM_BACKEND_MEMFD) {
		fd = open_memfd(b);
		if (fd < 0)
			set_err(err, errlen, "%s: cannot create a memfd%s: %s", who,
				b->hugetlb ? " of huge pages" : "", strerror(errno));
		return fd;
	}
	fd = open_backing_file(b->mem_path, created);
	if (fd < 0)
		set_err(err, errlen, "%s: can't open backing store %s for guest RAM: %s", who,
			b->mem_path, strerror(errno));
	return fd;
}

/* A failed start leaves no file it created behind. */
static void close_backend_fd(int fd, const struct ram_backend *b, bool created)
{
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(b->mem_path);
}

int guest_mem_init_backend(struct guest_mem *m, const struct ram_backend *b, char *err,
			   size_t errlen)
{
	char who[512], ps[32];
	bool created;
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	backend_name(b, who, sizeof(who));
	if (!b->size)
		return set_err(err, errlen, "%s: can't create backend with size 0", who);
	int fd = backend_fd(b, who, &created, err, errlen);
	if (fd < 0 && b->kind != RAM_BACKEND_RAM)
		return -1;
	uint64_t page = backing_page_size(fd);
	if (b->size % page) {
		fmt_size(page, ps, sizeof(ps));
		set_err(err, errlen, "%s: size %llu is not a multiple of the page size of its "
			"backing (%s)", who, (unsigned long long)b->size, ps);
		goto fail;
	}
	if (fd >= 0 && size_backing_file(fd, b, who, err, errlen) < 0)
		goto fail;
	if (b->kind == RAM_BACKEND_MEMFD && b->seal &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		set_err(err, errlen, "%s: cannot seal the memfd: %s", who, strerror(errno));
		goto fail;
	}
	/* reserve=on (a backend's default): swap, or huge pages, are set
	 * aside at mmap, so too few huge pages is this error now rather
	 * than a SIGBUS in the guest; off (-m's own RAM): untouched RAM
	 * costs nothing. */
	int flags = (b->share ? MAP_SHARED : MAP_PRIVATE) | (b->reserve ? 0 : MAP_NORESERVE);
	if (fd < 0)
		flags |= MAP_ANONYMOUS;
	void *p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED) {
		set_err(err, errlen, "%s: cannot map %llu MiB of guest RAM: %s", who,
			(unsigned long long)(b->size / MiB), strerror(errno));
		goto fail;
	}
	m->ram = p;
	m->ram_size = b->size;
	m->fd = fd;
	m->fd_open = fd >= 0;
	m->page_size = page;
	m->shared = b->share;
	m->discard_data = b->kind == RAM_BACKEND_FILE && b->discard_data;
	/* KSM and transparent huge pages work on private anonymous memory */
	if (fd < 0 && !b->share)
		madvise(p, b->size, MADV_HUGEPAGE);
	if (b->merge)
		madvise(p, b->size, MADV_MERGEABLE);
	if (!b->dump)
		madvise(p, b->size, MADV_DONTDUMP);
	if (b->prealloc) {
		ret = guest_mem_prealloc(p, b->size, page, b->prealloc_threads);
		if (ret < 0) {
			set_err(err, errlen, "%s: cannot preallocate %llu MiB of guest RAM: %s", who,
				(unsigned long long)(b->size / MiB), strerror(-ret));
			m->discard_data = false;
			guest_mem_destroy(m);
			if (created)
				unlink(b->mem_path);
			return -1;
		}
	}
	layout(m);
	return 0;
fail:
	close_backend_fd(fd, b, created);
	return -1;
}

/* ---- preallocation ------------------------------------------------------- */

struct prealloc_part {
	uint8_t *start;
	uint64_t len, page;
	int err;
};

/* One thread's share: the kernel populates it in one call where it can
 * (MADV_POPULATE_WRITE, Linux 5.14), else a write to each page does. */
static void *prealloc_part(void *opaque)
{
	struct prealloc_part *pp = opaque;

	pp->err = 0;
	if (madvise(pp->start, pp->len, MADV_POPULATE_WRITE) == 0)
		return NULL;
	if (errno != EINVAL) {
		pp->err = errno;
		return NULL;
	}
	for (uint64_t off = 0; off < pp->len; off += pp->page) {
		volatile uint8_t *b = pp->start + off;
		*b = *b; /* a write that keeps the file's contents */
	}
	return NULL;
}

unsigned guest_mem_prealloc_threads(uint64_t size, unsigned requested)
{
	if (requested)
		return MIN(requested, (unsigned)PREALLOC_MAX_THREADS);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t by_size = size / PREALLOC_BYTES_PER_THREAD;
	uint64_t n = MIN(by_size, (uint64_t)(cpus > 0 ? cpus : 1));
	n = MIN(n, (uint64_t)PREALLOC_MAX_THREADS);
	return n ? (unsigned)n : 1;
}

int guest_mem_prealloc(uint8_t *p, uint64_t size, uint64_t page_size, unsigned threads)
{
	struct prealloc_part parts[PREALLOC_MAX_THREADS];
	pthread_t tids[PREALLOC_MAX_THREADS];
	unsigned n = guest_mem_prealloc_threads(size, threads), started = 0;
	uint64_t pages = size / page_size, per = pages / n, extra = pages % n, at = 0;
	int ret = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t len = (per + (i < extra)) * page_size;
		parts[i] = (struct prealloc_part){ p + at, len, page_size, 0 };
		at += len;
	}
	/* the last part on this thread: one thread needs no other */
	for (unsigned i = 0; i + 1 < n; i++) {
		if (pthread_create(&tids[i], NULL, prealloc_part, &parts[i]) != 0)
			break;
		started++;
	}
	for (unsigned i = started; i < n; i++)
		prealloc_part(&parts[i]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < n; i++)
		if (parts[i].err && !ret)
			ret = -parts[i].err;
	return ret;
}

int guest_mem_discard(const struct guest_mem *m, void *hva, uint64_t len)
{
	/* A shared page lives in the file: only taking it out of the file
	 * (MADV_REMOVE punches the hole) frees it and makes it read zeros. */
	if (madvise(hva, len, m->shared ? MADV_REMOVE : MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

void guest_mem_init_buffer(struct guest_mem *m, void *buf, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->ram = buf;
	m->ram_size = size;
	m->fd = -1;
	m->page_size = BASE_PAGE;
	m->below_4g = size;
	add_block(m, 0, size, buf);
}

void guest_mem_destroy(struct guest_mem *m)
{
	if (m->ram) {
		/* discard-data=on: the file's pages are not worth writing back */
		if (m->discard_data)
			madvise(m->ram, m->ram_size, MADV_REMOVE);
		munmap(m->ram, m->ram_size);
	}
	if (m->fd_open)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

int guest_mem_add_named(struct guest_mem *m, const struct named_ram *r)
{
	if (m->nnamed >= GUEST_MEM_MAX_NAMED || !r->size || r->size % BASE_PAGE ||
	    !memchr(r->name, 0, sizeof(r->name)) || !r->name[0] || guest_mem_named(m, r->name))
		return -1;
	m->named[m->nnamed++] = *r;
	return 0;
}

void guest_mem_remove_named(struct guest_mem *m, const uint8_t *hva)
{
	for (unsigned i = 0; i < m->nnamed; i++)
		if (m->named[i].hva == hva) {
			memmove(&m->named[i], &m->named[i + 1],
				(m->nnamed - i - 1) * sizeof(m->named[0]));
			m->nnamed--;
			return;
		}
}

const struct named_ram *guest_mem_named(const struct guest_mem *m, const char *name)
{
	for (unsigned i = 0; i < m->nnamed; i++)
		if (!strncmp(m->named[i].name, name, sizeof(m->named[i].name)))
			return &m->named[i];
	return NULL;
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
