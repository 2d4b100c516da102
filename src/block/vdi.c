// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VDI (VirtualBox Disk Image), version 1.1, dynamic and fixed ("static"):
 * read, write and create. Written from the format's published layout, all
 * little-endian: a 64-byte text line, the signature 0xbeda107f at byte 64,
 * version 0x00010001, then the header (image type at 76: 1 dynamic, 2
 * fixed; block map offset at 340 and data offset at 344; sector size at
 * 360; disk size at 368; block size at 376, extra data per block at 380;
 * blocks in the image at 384, allocated at 388; image, snapshot, link
 * and parent UUIDs from 392). The block map gives each block of the disk
 * its index in the data area, 0xffffffff (never written) or 0xfffffffe
 * (discarded): both read as zeros. Differencing images (a parent UUID)
 * and undo images are refused.
 *
 * Every value from the file is checked before use; a map entry that is
 * not a valid block index or points past the end of the file is an I/O
 * error for that request.
 *
 * Crash safety: a new block is written whole (its unwritten part zero)
 * and made durable before the map entry that points to it, then the
 * header's allocated count; a kill leaves at worst an unreferenced block
 * at the end (which the next allocation reuses).
 */
#include "vdi.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define VDI_SIGNATURE 0xbeda107fU
#define VDI_VERSION 0x00010001U
#define VDI_DYNAMIC 1
#define VDI_FIXED 2
#define VDI_UNALLOCATED 0xfffffffeU /* this and 0xffffffff: zeros */
#define VDI_HEADER_BYTES 512
#define VDI_MAX_BLOCKS (64U * 1024 * 1024) /* a 256 MiB map at most */
#define VDI_TEXT "<<< QEMU VM Virtual Disk Image >>>\n"

enum {
	H_SIGNATURE = 64, H_VERSION = 68, H_SIZE = 72, H_TYPE = 76, H_FLAGS = 80,
	H_BMAP = 340, H_DATA = 344, H_SECTOR = 360, H_DISK = 368, H_BLOCK = 376,
	H_EXTRA = 380, H_BLOCKS = 384, H_ALLOCATED = 388, H_UUID = 392, H_UUID_SNAP = 408,
	H_UUID_LINK = 424, H_UUID_PARENT = 440,
};

struct vdi {
	pthread_mutex_t lock;
	int fd;
	bool barriers;
	uint64_t block;        /* bytes */
	uint64_t bmap_off, data_off;
	uint32_t blocks;       /* entries in the map */
	uint32_t next;         /* data-area index the next new block takes */
	uint32_t allocated;    /* the header's count */
	uint32_t *bmap;        /* host order */
	uint64_t file_size;
	uint8_t *zero_block;   /* a new block's contents being built */
};

static bool entry_unallocated(uint32_t e)
{
	return e >= VDI_UNALLOCATED;
}

/* Byte offset of data-area block 'e' in the file, checked: 0 if invalid. */
static uint64_t block_offset(const struct vdi *s, uint32_t e)
{
	if (e >= s->blocks)
		return 0;
	uint64_t off = s->data_off + (uint64_t)e * s->block;
	return off < s->file_size ? off : 0;
}

static int vdi_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	struct vdi *s = bd->state;
	uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t bi = offset / s->block, o = offset % s->block, n = MIN(len, s->block - o);
		uint32_t e = bi < s->blocks ? s->bmap[bi] : VDI_UNALLOCATED;
		if (entry_unallocated(e)) {
			memset(p, 0, n);
		} else {
			uint64_t at = block_offset(s, e);
			/* a block cut short by the end of the file reads zeros there */
			ret = at ? fd_pread_full(s->fd, p, n, at + o) : -EIO;
		}
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int barrier(struct vdi *s)
{
	return s->barriers && fdatasync(s->fd) < 0 ? -errno : 0;
}

static int put_le32_at(int fd, uint32_t v, uint64_t off)
{
	uint8_t le[4];
	put_le32(le, v);
	return fd_pwrite_full(fd, le, sizeof(le), off);
}

/* Gives disk block 'bi' a data block holding [o, o+n) of 'buf', zeros
 * elsewhere: block first, durable, then its map entry and the count. */
static int allocate(struct vdi *s, uint64_t bi, const uint8_t *buf, uint64_t o, uint64_t n)
{
	if (s->next >= s->blocks)
		return -ENOSPC; /* every map slot taken: a corrupt count */
	uint32_t e = s->next;
	uint64_t at = s->data_off + (uint64_t)e * s->block;
	memset(s->zero_block, 0, s->block);
	memcpy(s->zero_block + o, buf, n);
	int ret = fd_pwrite_full(s->fd, s->zero_block, s->block, at);
	if (!ret)
		ret = barrier(s);
	if (!ret)
		ret = put_le32_at(s->fd, e, s->bmap_off + bi * 4);
	if (!ret)
		ret = put_le32_at(s->fd, s->allocated + 1, H_ALLOCATED);
	if (ret)
		return ret;
	s->bmap[bi] = e;
	s->next++;
	s->allocated++;
	s->file_size = MAX(s->file_size, at + s->block);
	return 0;
}

static int vdi_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct vdi *s = bd->state;
	const uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t bi = offset / s->block, o = offset % s->block, n = MIN(len, s->block - o);
		if (bi >= s->blocks) {
			ret = -EIO;
			break;
		}
		uint32_t e = s->bmap[bi];
		if (entry_unallocated(e)) {
			ret = allocate(s, bi, p, o, n);
		} else {
			uint64_t at = block_offset(s, e);
			ret = at ? fd_pwrite_full(s->fd, p, n, at + o) : -EIO;
		}
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int vdi_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	struct vdi *s = bd->state;
	uint64_t bi = offset / s->block;

	pthread_mutex_lock(&s->lock);
	bool allocated = bi < s->blocks && !entry_unallocated(s->bmap[bi]);
	pthread_mutex_unlock(&s->lock);
	*pnum = MIN(len, s->block - offset % s->block);
	return allocated;
}

/* A block holds data at its place in the data area, or reads zeros (no
 * backing file: still this layer's answer). */
static int vdi_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		   struct block_map *m)
{
	struct vdi *s = bd->state;
	uint64_t done = 0, next = 0;
	int kind = -1;

	pthread_mutex_lock(&s->lock);
	while (done < len) {
		uint64_t off = offset + done, bi = off / s->block, o = off % s->block;
		uint64_t n = MIN(len - done, s->block - o);
		uint32_t e = bi < s->blocks ? s->bmap[bi] : VDI_UNALLOCATED;
		uint64_t at = entry_unallocated(e) ? 0 : block_offset(s, e);
		int k = at != 0;
		if (kind >= 0 && (k != kind || (k && at + o != next)))
			break;
		if (kind < 0 && k) {
			m->has_offset = true;
			m->offset = at + o;
		}
		kind = k;
		next = at + o + n;
		done += n;
	}
	pthread_mutex_unlock(&s->lock);
	m->allocated = true;
	m->data = kind == 1;
	m->zero = kind != 1;
	/* a block's data passes through to the file: a hole there (a fixed
	 * image is sparse) reads zeros, as qemu-img map says */
	*pnum = kind == 1 ? fd_hole_run(s->fd, m->offset, done, &m->zero) : done;
	return 0;
}

static int vdi_flush(struct block_dev *bd)
{
	struct vdi *s = bd->state;
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

static void vdi_free(struct vdi *s)
{
	free(s->bmap);
	free(s->zero_block);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void vdi_close(struct block_dev *bd)
{
	close(bd->fd);
	vdi_free(bd->state);
}

static const struct block_driver vdi_driver = {
	.name = "vdi",
	.pread = vdi_pread,
	.pwrite = vdi_pwrite,
	.flush = vdi_flush,
	.close = vdi_close,
	.status = vdi_status,
	.map = vdi_map,
};

bool block_is_vdi(const struct block_dev *bd)
{
	return bd && bd->drv == &vdi_driver;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks header 'h' of a file of s->file_size bytes; fills 's'. */
static int parse_header(struct vdi *s, const uint8_t *h, uint64_t *disk, char *err,
			size_t errlen)
{
	uint32_t type = get_le32(h + H_TYPE), version = get_le32(h + H_VERSION);
	uint32_t block = get_le32(h + H_BLOCK);

	if (get_le32(h + H_SIGNATURE) != VDI_SIGNATURE) {
		snprintf(err, errlen, "not a vdi image");
		return -EINVAL;
	}
	if (version != VDI_VERSION) {
		snprintf(err, errlen, "unsupported vdi version %u.%u", version >> 16,
			 version & 0xffff);
		return -ENOTSUP;
	}
	if (type != VDI_DYNAMIC && type != VDI_FIXED) {
		snprintf(err, errlen, "vdi image type %u (undo or differencing) is not supported",
			 type);
		return -ENOTSUP;
	}
	if (!all_zero(h + H_UUID_LINK, 16) || !all_zero(h + H_UUID_PARENT, 16)) {
		snprintf(err, errlen, "differencing vdi images are not supported");
		return -ENOTSUP;
	}
	if (get_le32(h + H_SECTOR) != 512) {
		snprintf(err, errlen, "vdi sector size %u is not supported",
			 get_le32(h + H_SECTOR));
		return -ENOTSUP;
	}
	if (block < 512 || block > 256 * MiB || (block & (block - 1)) || get_le32(h + H_EXTRA)) {
		snprintf(err, errlen, "vdi block size %u (extra data %u) is not supported",
			 block, get_le32(h + H_EXTRA));
		return -ENOTSUP;
	}
	s->block = block;
	s->bmap_off = get_le32(h + H_BMAP);
	s->data_off = get_le32(h + H_DATA);
	s->blocks = get_le32(h + H_BLOCKS);
	s->allocated = get_le32(h + H_ALLOCATED);
	*disk = get_le64(h + H_DISK);
	if (s->blocks > VDI_MAX_BLOCKS || *disk > (uint64_t)s->blocks * s->block ||
	    s->allocated > s->blocks) {
		snprintf(err, errlen, "vdi disk size, block count or allocated count is invalid");
		return -EINVAL;
	}
	if (s->bmap_off % 512 || s->data_off % 512 || s->bmap_off < VDI_HEADER_BYTES ||
	    s->bmap_off + (uint64_t)s->blocks * 4 > s->data_off ||
	    !range_ok(s->bmap_off, (uint64_t)s->blocks * 4, s->file_size)) {
		snprintf(err, errlen, "vdi block map is invalid or past the end of the file");
		return -EINVAL;
	}
	return 0;
}

static int read_bmap(struct vdi *s, char *err, size_t errlen)
{
	s->bmap = xzalloc(MAX(1, (size_t)s->blocks) * 4);
	if (fd_pread_full(s->fd, s->bmap, (size_t)s->blocks * 4, s->bmap_off) < 0) {
		snprintf(err, errlen, "cannot read the vdi block map");
		return -EIO;
	}
	/* new blocks go after every block in use, whatever the count says */
	s->next = s->allocated;
	for (uint32_t i = 0; i < s->blocks; i++) {
		s->bmap[i] = get_le32(&s->bmap[i]);
		if (!entry_unallocated(s->bmap[i]) && s->bmap[i] >= s->next)
			s->next = s->bmap[i] + 1;
	}
	return 0;
}

static struct block_dev *vdi_open(int fd, const char *path, bool read_only,
				  const struct block_opts *opts, unsigned depth, bool untrusted,
				  char *err, size_t errlen)
{
	struct vdi *s = xzalloc(sizeof(*s));
	uint8_t h[VDI_HEADER_BYTES];
	struct stat st;
	uint64_t disk;

	pthread_mutex_init(&s->lock, NULL);
	s->fd = fd;
	s->barriers = !(opts && opts->no_barriers);
	if (fstat(fd, &st) < 0 || fd_pread_full(fd, h, sizeof(h), 0) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	if (s->file_size < VDI_HEADER_BYTES) {
		snprintf(err, errlen, "vdi header is truncated");
		goto fail;
	}
	if (opts && opts->snapshot) {
		snprintf(err, errlen, "vdi images have no internal snapshots here");
		goto fail;
	}
	if (parse_header(s, h, &disk, err, errlen) < 0 || read_bmap(s, err, errlen) < 0)
		goto fail;
	s->zero_block = xzalloc(s->block);
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &vdi_driver;
	bd->format = "vdi";
	bd->path = xstrdup(path);
	bd->size = disk;
	bd->read_only = read_only;
	bd->fd = fd;
	bd->state = s;
	bd->cluster_size = (uint32_t)s->block;
	return bd;
fail:
	vdi_free(s);
	return NULL;
}

uint64_t vdi_check(struct block_dev *bd, FILE *log)
{
	struct vdi *s = bd->state;
	uint32_t *owner = xzalloc(MAX(1, (size_t)s->blocks) * 4), allocated = 0;
	uint64_t errors = 0;

	pthread_mutex_lock(&s->lock);
	memset(owner, 0xff, (size_t)s->blocks * 4);
	for (uint32_t i = 0; i < s->blocks; i++) {
		uint32_t e = s->bmap[i];
		if (entry_unallocated(e))
			continue;
		if (e >= s->blocks) {
			fprintf(log, "ERROR: block %u points to data block %u, past the image's %u\n",
				i, e, s->blocks);
			errors++;
			continue;
		}
		if (owner[e] != UINT32_MAX) {
			fprintf(log, "ERROR: blocks %u and %u share data block %u\n", owner[e], i, e);
			errors++;
		} else {
			owner[e] = i;
		}
		allocated++;
	}
	if (allocated != s->allocated) {
		fprintf(log, "ERROR: the header counts %u allocated blocks, the block map %u\n",
			s->allocated, allocated);
		errors++;
	}
	pthread_mutex_unlock(&s->lock);
	free(owner);
	return errors;
}

/* ---- creation ------------------------------------------------------------ */

/* A random (version 4) UUID, stored as VirtualBox stores it: the first
 * three fields little-endian. */
static void new_uuid(uint8_t *u)
{
	if (getrandom(u, 16, 0) != 16) {
		for (int i = 0; i < 16; i++)
			u[i] = (uint8_t)(random() >> 8);
	}
	u[7] = (uint8_t)((u[7] & 0x0f) | 0x40); /* version 4, in the LE third field */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* variant */
}

int vdi_create(const char *path, uint64_t size, bool fixed, char *err, size_t errlen)
{
	const uint64_t block = 1 * MiB;
	uint8_t h[VDI_HEADER_BYTES] = { 0 };

	size = (size + 511) / 512 * 512;
	uint64_t blocks = (size + block - 1) / block;
	if (blocks > VDI_MAX_BLOCKS) {
		snprintf(err, errlen, "vdi image size is too large");
		return -1;
	}
	uint64_t bmap_bytes = (blocks * 4 + 511) / 512 * 512;
	uint64_t data_off = VDI_HEADER_BYTES + bmap_bytes;
	memcpy(h, VDI_TEXT, strlen(VDI_TEXT));
	put_le32(h + H_SIGNATURE, VDI_SIGNATURE);
	put_le32(h + H_VERSION, VDI_VERSION);
	put_le32(h + H_SIZE, 0x180);
	put_le32(h + H_TYPE, fixed ? VDI_FIXED : VDI_DYNAMIC);
	put_le32(h + H_BMAP, VDI_HEADER_BYTES);
	put_le32(h + H_DATA, (uint32_t)data_off);
	put_le32(h + H_SECTOR, 512);
	put_le64(h + H_DISK, size);
	put_le32(h + H_BLOCK, (uint32_t)block);
	put_le32(h + H_BLOCKS, (uint32_t)blocks);
	put_le32(h + H_ALLOCATED, fixed ? (uint32_t)blocks : 0);
	new_uuid(h + H_UUID);
	new_uuid(h + H_UUID_SNAP);

	uint8_t *bmap = xzalloc(MAX(1, bmap_bytes));
	for (uint64_t i = 0; i < blocks; i++)
		put_le32(bmap + i * 4, fixed ? (uint32_t)i : 0xffffffffU);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok = fd >= 0 && fd_pwrite_full(fd, h, sizeof(h), 0) == 0 &&
		 fd_pwrite_full(fd, bmap, bmap_bytes, VDI_HEADER_BYTES) == 0 &&
		 ftruncate(fd, (off_t)(data_off + (fixed ? blocks * block : 0))) == 0 &&
		 fdatasync(fd) == 0;
	free(bmap);
	if (!ok)
		snprintf(err, errlen, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* ---- the block layer's table entry (src/block/block_formats.c) ---------- */

static bool vdi_probe(const uint8_t *buf, size_t len)
{
	return len >= H_SIGNATURE + 4 && get_le32(buf + H_SIGNATURE) == VDI_SIGNATURE;
}

const struct block_format vdi_format = {
	.name = "vdi",
	.probe = vdi_probe,
	.open = vdi_open,
	.o_direct = false,
};
