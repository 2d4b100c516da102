// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_cfg: QEMU's firmware configuration interface, I/O port flavour.
 * Written from the interface description (selector/data/DMA registers,
 * directory layout, DMA access structure); see include/hw/fw_cfg.h.
 */
#include "hw/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

#define KEY_WRITE_CHANNEL 0x4000

struct fw_item {
	uint16_t key;            /* numbered items; files: assigned selector */
	uint8_t *data;
	uint32_t len;
	bool borrowed;           /* data is the caller's, not freed here */
	bool writable;
	fw_cfg_write_cb on_write;
	void *opaque;
	char name[FW_CFG_MAX_FILE_PATH]; /* files only */
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	struct io_region sel_region, dma_region;

	struct fw_item *items;   /* numbered keys, unsorted */
	size_t nitems;
	struct fw_item *files;   /* sorted by name; selector = FILE_FIRST + index */
	size_t nfiles;

	uint16_t selector;
	uint32_t offset;
	uint64_t dma_addr;
	bool no_dma;
};

/* ---- item table -------------------------------------------------------- */

static struct fw_item *find_item(struct fw_cfg *f, uint16_t key)
{
	key &= (uint16_t)~KEY_WRITE_CHANNEL;
	if (key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + f->nfiles)
		return &f->files[key - FW_CFG_FILE_FIRST];
	for (size_t i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

static struct fw_item *item_for_key_locked(struct fw_cfg *f, uint16_t key)
{
	key &= (uint16_t)~KEY_WRITE_CHANNEL;
	struct fw_item *it = NULL;
	for (size_t i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			it = &f->items[i];
	if (!it) {
		f->items = realloc(f->items, (f->nitems + 1) * sizeof(*f->items));
		if (!f->items)
			die("out of memory");
		it = &f->items[f->nitems++];
		memset(it, 0, sizeof(*it));
		it->key = key;
	}
	if (!it->borrowed)
		free(it->data);
	it->data = NULL;
	it->borrowed = false;
	return it;
}

static void set_item_locked(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
	struct fw_item *it = item_for_key_locked(f, key);
	it->data = xzalloc(len ? len : 1);
	if (len)
		memcpy(it->data, data, len);
	it->len = len;
}

/* Rebuilds key 0x19 from the sorted file table. */
static void rebuild_dir_locked(struct fw_cfg *f)
{
	uint32_t len = 4 + (uint32_t)f->nfiles * 64;
	uint8_t *dir = xzalloc(len);

	put_be32(dir, (uint32_t)f->nfiles);
	for (size_t i = 0; i < f->nfiles; i++) {
		uint8_t *e = dir + 4 + i * 64;
		f->files[i].key = (uint16_t)(FW_CFG_FILE_FIRST + i);
		put_be32(e, f->files[i].len);
		put_be16(e + 4, f->files[i].key);
		/* e[6..7] reserved, zero */
		memcpy(e + 8, f->files[i].name, FW_CFG_MAX_FILE_PATH);
	}
	set_item_locked(f, FW_CFG_FILE_DIR, dir, len);
	free(dir);
}

static int add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len,
		    bool writable, fw_cfg_write_cb cb, void *opaque)
{
	size_t nlen = strlen(name);
	if (!nlen)
		return -EINVAL;
	if (nlen >= FW_CFG_MAX_FILE_PATH)
		return -ENAMETOOLONG;

	pthread_mutex_lock(&f->lock);
	size_t pos = 0;
	while (pos < f->nfiles) {
		int c = strcmp(f->files[pos].name, name);
		if (c == 0) {
			pthread_mutex_unlock(&f->lock);
			return -EEXIST;
		}
		if (c > 0)
			break;
		pos++;
	}
	if (FW_CFG_FILE_FIRST + f->nfiles + 1 >= KEY_WRITE_CHANNEL) {
		pthread_mutex_unlock(&f->lock);
		return -ENOSPC;
	}
	f->files = realloc(f->files, (f->nfiles + 1) * sizeof(*f->files));
	if (!f->files)
		die("out of memory");
	memmove(&f->files[pos + 1], &f->files[pos], (f->nfiles - pos) * sizeof(*f->files));
	f->nfiles++;

	struct fw_item *it = &f->files[pos];
	memset(it, 0, sizeof(*it));
	memcpy(it->name, name, nlen);
	it->data = xzalloc(len ? len : 1);
	if (len && data)
		memcpy(it->data, data, len);
	it->len = len;
	it->writable = writable;
	it->on_write = cb;
	it->opaque = opaque;
	rebuild_dir_locked(f);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* ---- public setters ----------------------------------------------------- */

void fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
	uint16_t k = key & (uint16_t)~KEY_WRITE_CHANNEL;
	if (k == FW_CFG_FILE_DIR || (k >= FW_CFG_FILE_FIRST && k < KEY_WRITE_CHANNEL)) {
		warn("fw_cfg: key 0x%04x is reserved for files", key);
		return;
	}
	pthread_mutex_lock(&f->lock);
	set_item_locked(f, key, data, len);
	pthread_mutex_unlock(&f->lock);
}

void fw_cfg_add_bytes_borrowed(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
	uint16_t k = key & (uint16_t)~KEY_WRITE_CHANNEL;
	if (k == FW_CFG_FILE_DIR || (k >= FW_CFG_FILE_FIRST && k < KEY_WRITE_CHANNEL) || !data) {
		fw_cfg_add_bytes(f, key, data, data ? len : 0);
		return;
	}
	pthread_mutex_lock(&f->lock);
	struct fw_item *it = item_for_key_locked(f, key);
	it->data = (uint8_t *)data; /* read-only: numbered items have no write channel */
	it->len = len;
	it->borrowed = true;
	pthread_mutex_unlock(&f->lock);
}

void fw_cfg_add_u16(struct fw_cfg *f, uint16_t key, uint16_t value)
{
	uint8_t b[2];
	put_le16(b, value);
	fw_cfg_add_bytes(f, key, b, sizeof(b));
}

void fw_cfg_add_u32(struct fw_cfg *f, uint16_t key, uint32_t value)
{
	uint8_t b[4];
	put_le32(b, value);
	fw_cfg_add_bytes(f, key, b, sizeof(b));
}

void fw_cfg_add_u64(struct fw_cfg *f, uint16_t key, uint64_t value)
{
	uint8_t b[8];
	put_le64(b, value);
	fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len)
{
	return add_file(f, name, data, len, false, NULL, NULL);
}

int fw_cfg_add_file_writable(struct fw_cfg *f, const char *name, const void *data,
			     uint32_t len, fw_cfg_write_cb on_write, void *opaque)
{
	return add_file(f, name, data, len, true, on_write, opaque);
}

int64_t fw_cfg_read_file(struct fw_cfg *f, const char *name, void *buf, uint32_t max)
{
	int64_t ret = -ENOENT;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nfiles; i++) {
		if (strcmp(f->files[i].name, name) == 0) {
			if (buf)
				memcpy(buf, f->files[i].data, MIN(max, f->files[i].len));
			ret = f->files[i].len;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

/* ---- guest interface ---------------------------------------------------- */

static uint8_t data_read_locked(struct fw_cfg *f)
{
	struct fw_item *it = find_item(f, f->selector);
	if (!it || f->offset >= it->len)
		return 0;
	return it->data[f->offset++];
}

/* Runs the DMA access structure at f->dma_addr. */
static void dma_run_locked(struct fw_cfg *f)
{
	uint8_t acc[16];
	uint64_t acc_addr = f->dma_addr;

	f->dma_addr = 0;
	if (!guest_read(f->mem, acc_addr, acc, sizeof(acc))) {
		debug("fw_cfg: DMA descriptor at 0x%llx is not RAM", (unsigned long long)acc_addr);
		return; /* nowhere to report the error */
	}
	uint32_t control = get_be32(acc);
	uint32_t length = get_be32(acc + 4);
	uint64_t addr = get_be64(acc + 8);
	bool error = false;

	if (control & FW_CFG_DMA_SELECT) {
		f->selector = (uint16_t)(control >> 16);
		f->offset = 0;
	}
	struct fw_item *it = find_item(f, f->selector);
	uint32_t avail = (it && f->offset < it->len) ? it->len - f->offset : 0;

	if (control & FW_CFG_DMA_READ) {
		uint8_t *dst = length ? guest_ptr(f->mem, addr, length) : NULL;
		if (length && !dst) {
			error = true;
		} else if (length) {
			uint32_t n = MIN(avail, length);
			if (n)
				memcpy(dst, it->data + f->offset, n);
			if (n < length)
				memset(dst + n, 0, length - n); /* past the end reads 0 */
			guest_mark_dirty(f->mem, addr, length);
			f->offset += n;
		}
	} else if (control & FW_CFG_DMA_WRITE) {
		const uint8_t *src = length ? guest_ptr(f->mem, addr, length) : NULL;
		if (!it || !it->writable || length > avail || (length && !src)) {
			error = true;
		} else if (length) {
			memcpy(it->data + f->offset, src, length);
			if (it->on_write)
				it->on_write(it->opaque, it->name, f->offset, length,
					     it->data + f->offset);
			f->offset += length;
		}
	} else if (control & FW_CFG_DMA_SKIP) {
		f->offset += MIN(avail, length);
	}

	uint8_t done[4];
	put_be32(done, error ? FW_CFG_DMA_ERROR : 0);
	guest_write(f->mem, acc_addr, done, sizeof(done));
}

static uint64_t sel_read(void *opaque, uint64_t offset, unsigned size)
{
	struct fw_cfg *f = opaque;
	if (offset != 1 || size != 1)
		return 0; /* the selector is write-only */
	pthread_mutex_lock(&f->lock);
	uint8_t v = data_read_locked(f);
	pthread_mutex_unlock(&f->lock);
	return v;
}

static void sel_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct fw_cfg *f = opaque;
	if (offset != 0 || size != 2)
		return; /* data-port writes are ignored, as on current QEMU */
	pthread_mutex_lock(&f->lock);
	f->selector = (uint16_t)value;
	f->offset = 0;
	pthread_mutex_unlock(&f->lock);
}

static const struct io_ops sel_ops = {
	.read = sel_read, .write = sel_write, .min_size = 1, .max_size = 2,
};

static uint64_t dma_read(void *opaque, uint64_t offset, unsigned size)
{
	/* The signature, byte i at port 0x514 + i. */
	static const char sig[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };
	uint64_t v = 0;
	for (unsigned i = 0; i < size && offset + i < 8; i++)
		v |= (uint64_t)(uint8_t)sig[offset + i] << (8 * i);
	return v;
}

static uint32_t bswap32_(uint32_t v)
{
	return __builtin_bswap32(v);
}

static void dma_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct fw_cfg *f = opaque;
	if (size != 4)
		return;
	/* The guest stores big-endian halves; the bus hands us the bytes as a
	 * little-endian number, so swap them back. */
	uint32_t half = bswap32_((uint32_t)value);
	pthread_mutex_lock(&f->lock);
	if (offset == 0) {
		f->dma_addr = (uint64_t)half << 32 | (f->dma_addr & 0xffffffffu);
	} else if (offset == 4) {
		f->dma_addr = (f->dma_addr & ~0xffffffffULL) | half;
		dma_run_locked(f);
	}
	pthread_mutex_unlock(&f->lock);
}

static const struct io_ops dma_ops = {
	.read = dma_read, .write = dma_write, .min_size = 1, .max_size = 4,
};

/* ---- lifecycle ------------------------------------------------------------ */

struct fw_cfg *fw_cfg_create(const struct guest_mem *mem)
{
	struct fw_cfg *f = xzalloc(sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->mem = mem;
	io_region_init(&f->sel_region, "fw_cfg", &sel_ops, f, 2);
	io_region_init(&f->dma_region, "fw_cfg-dma", &dma_ops, f, 8);

	fw_cfg_add_bytes(f, FW_CFG_SIGNATURE, "QEMU", 4);
	fw_cfg_add_u32(f, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	pthread_mutex_lock(&f->lock);
	rebuild_dir_locked(f);
	pthread_mutex_unlock(&f->lock);
	return f;
}

void fw_cfg_disable_dma(struct fw_cfg *f)
{
	f->no_dma = true;
	fw_cfg_add_u32(f, FW_CFG_ID, FW_CFG_VERSION);
}

int fw_cfg_map(struct fw_cfg *f, struct io_bus *pio)
{
	int ret = bus_map(pio, &f->sel_region, FW_CFG_PORT_SEL);
	if (ret || f->no_dma)
		return ret;
	ret = bus_map(pio, &f->dma_region, FW_CFG_PORT_DMA);
	if (ret)
		bus_unmap(pio, &f->sel_region);
	return ret;
}

void fw_cfg_reset(struct fw_cfg *f)
{
	pthread_mutex_lock(&f->lock);
	f->selector = 0;
	f->offset = 0;
	f->dma_addr = 0;
	pthread_mutex_unlock(&f->lock);
}

void fw_cfg_destroy(struct fw_cfg *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nitems; i++)
		if (!f->items[i].borrowed)
			free(f->items[i].data);
	for (size_t i = 0; i < f->nfiles; i++)
		free(f->files[i].data);
	free(f->items);
	free(f->files);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- saved state ----------------------------------------------------------
 * The guest's position (selector, offset, the DMA address's latched high
 * half) and the contents of the files the guest may write. Everything else
 * is the machine's configuration, which the loading side builds the same;
 * a writable file the stream names must exist here with the same size.
 * DMA runs synchronously inside the guest's write: nothing is in flight. */
#define FW_CFG_STATE_VERSION 1

void fw_cfg_save(struct fw_cfg *f, struct ss_writer *w, uint32_t instance)
{
	uint32_t n = 0;

	pthread_mutex_lock(&f->lock);
	ss_section_begin(w, "fw_cfg", instance, FW_CFG_STATE_VERSION);
	ss_put_u16(w, "selector", f->selector);
	ss_put_u32(w, "offset", f->offset);
	ss_put_u64(w, "dma_addr", f->dma_addr);
	for (size_t i = 0; i < f->nfiles; i++)
		n += f->files[i].writable;
	ss_put_array(w, "file", n);
	n = 0;
	for (size_t i = 0; i < f->nfiles; i++) {
		const struct fw_item *it = &f->files[i];
		if (!it->writable)
			continue;
		ss_put_elem_begin(w, "file", n++);
		ss_put_bytes(w, "name", it->name, strlen(it->name));
		ss_put_bytes(w, "data", it->data, it->len);
		ss_put_elem_end(w);
	}
	ss_section_end(w);
	pthread_mutex_unlock(&f->lock);
}

/* The writable file of that name, or NULL. */
static struct fw_item *find_writable(struct fw_cfg *f, const char *name)
{
	for (size_t i = 0; i < f->nfiles; i++)
		if (f->files[i].writable && !strcmp(f->files[i].name, name))
			return &f->files[i];
	return NULL;
}

bool fw_cfg_load(struct fw_cfg *f, struct ss_reader *r, uint32_t instance)
{
	uint16_t selector = 0;
	uint32_t offset = 0, nfiles = 0;
	uint64_t dma_addr = 0;
	struct { struct fw_item *it; uint8_t *data; } *loaded = NULL;
	bool ok = false;

	pthread_mutex_lock(&f->lock);
	if (!ss_section_open(r, "fw_cfg", instance, 1, FW_CFG_STATE_VERSION, NULL))
		goto out;
	ss_get_u16(r, "selector", &selector);
	ss_get_u32(r, "offset", &offset);
	ss_get_u64(r, "dma_addr", &dma_addr);
	ss_get_array(r, "file", (uint32_t)f->nfiles, &nfiles);
	loaded = xzalloc((nfiles + 1) * sizeof(*loaded));
	for (uint32_t i = 0; i < nfiles && ss_ok(r); i++) {
		char name[FW_CFG_MAX_FILE_PATH] = { 0 };
		size_t len = 0;
		ss_get_elem_begin(r, "file", i);
		ss_get_bytes_max(r, "name", name, sizeof(name) - 1, &len);
		struct fw_item *it = ss_ok(r) ? find_writable(f, name) : NULL;
		if (ss_ok(r) && !it)
			ss_fail(r, "saved state: fw_cfg: no writable file \"%s\" here", name);
		for (uint32_t j = 0; j < i && it; j++)
			if (loaded[j].it == it)
				ss_fail(r, "saved state: fw_cfg: file \"%s\" twice", name);
		if (ss_ok(r)) {
			loaded[i].it = it;
			loaded[i].data = xzalloc(it->len ? it->len : 1);
			ss_get_bytes(r, "data", loaded[i].data, it->len); /* never resized */
		}
		ss_get_elem_end(r);
	}
	if (!ss_section_close(r))
		goto out;
	struct fw_item *sel = find_item(f, selector);
	if (offset > (sel ? sel->len : 0)) {
		ss_fail(r, "saved state: fw_cfg: offset %u past item 0x%x's end", offset, selector);
		goto out;
	}
	f->selector = selector;
	f->offset = offset;
	f->dma_addr = dma_addr;
	for (uint32_t i = 0; i < nfiles; i++) {
		struct fw_item *it = loaded[i].it;
		memcpy(it->data, loaded[i].data, it->len);
		if (it->on_write) /* its owner sees the contents, as after a guest write */
			it->on_write(it->opaque, it->name, 0, it->len, it->data);
	}
	ok = true;
out:
	for (uint32_t i = 0; loaded && i < nfiles; i++)
		free(loaded[i].data);
	free(loaded);
	pthread_mutex_unlock(&f->lock);
	return ok;
}
