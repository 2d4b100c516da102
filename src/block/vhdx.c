// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VHDX (Hyper-V), read-only: enough to boot or convert a Hyper-V disk.
 * Written from Microsoft's published [MS-VHDX] specification, all
 * little-endian: the file identifier "vhdxfile" at 0; two 4 KiB headers
 * at 64 KiB and 128 KiB ("head", CRC-32C, sequence number, log GUID), the
 * valid one with the higher sequence number current; two 64 KiB region
 * tables at 192 KiB and 256 KiB ("regi", CRC-32C) locating the BAT and
 * the metadata region; the metadata table ("metadata") giving the block
 * size, the virtual disk size and the logical sector size; the BAT, one
 * 64-bit entry per payload block (state in bits 0-2, file offset in MiB
 * from bit 20) with a sector-bitmap entry after every chunk-ratio
 * payload entries.
 *
 * Refused at open, with a one-line reason: a log that needs replaying
 * (non-zero log GUID), differencing disks (HasParent), unknown required
 * regions or metadata items. Opening for writing is refused: use
 * -snapshot / readonly=on, or convert the image.
 *
 * Every value from the file is checked: both headers' and region tables'
 * checksums, every region and metadata item against the file and each
 * other, the BAT's size against its region, and each payload block at I/O
 * time against the file and the metadata (an entry pointing into the
 * first MiB, the BAT, the metadata or the log is an I/O error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "util.h"

#define VHDX_HEADER1 (64 * KiB)
#define VHDX_HEADER2 (128 * KiB)
#define VHDX_REGION1 (192 * KiB)
#define VHDX_REGION2 (256 * KiB)
#define VHDX_HEADER_BYTES (4 * KiB)
#define VHDX_REGION_BYTES (64 * KiB)
#define VHDX_MAX_REGIONS 2047
#define VHDX_MAX_METADATA 2047
#define VHDX_MAX_BAT (256 * MiB) /* bytes of BAT we read */

/* payload block states */
enum { PB_NOT_PRESENT = 0, PB_UNDEFINED = 1, PB_ZERO = 2, PB_UNMAPPED = 3,
       PB_FULLY_PRESENT = 6, PB_PARTIALLY_PRESENT = 7 };

/* GUIDs as stored (the first three fields little-endian) */
static const uint8_t GUID_BAT[16] = { 0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
				      0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
static const uint8_t GUID_METADATA[16] = { 0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
					   0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e };
static const uint8_t GUID_FILE_PARAMS[16] = { 0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
					      0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b };
static const uint8_t GUID_DISK_SIZE[16] = { 0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
					    0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 };
static const uint8_t GUID_LOGICAL_SECTOR[16] = { 0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09,
						 0x47, 0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa,
						 0xab, 0x5f };
/* items a reader may ignore here (HasParent covers the parent locator) */
static const uint8_t GUID_PHYSICAL_SECTOR[16] = { 0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71,
						  0x44, 0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51,
						  0xc5, 0x56 };
static const uint8_t GUID_PAGE83[16] = { 0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45,
					 0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46 };
static const uint8_t GUID_PARENT_LOCATOR[16] = { 0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d,
						 0x45, 0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34,
						 0xab, 0x0c };

/* Immutable once open (read-only): no lock. */
struct vhdx {
	int fd;
	uint64_t file_size;
	uint64_t block;         /* payload block size, bytes */
	uint64_t chunk_ratio;   /* payload blocks per sector-bitmap entry */
	uint64_t blocks;        /* payload blocks */
	uint64_t *bat;          /* host order, bat_entries of them */
	uint64_t bat_entries;
	/* metadata the payload may not overlap: BAT, metadata, log */
	uint64_t meta_off[3], meta_len[3];
};

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) over 'n' bytes,
 * with the 4 bytes at 'skip' taken as zero (the checksum field). */
static uint32_t crc32c(const uint8_t *p, size_t n, size_t skip)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		crc ^= i >= skip && i < skip + 4 ? 0 : p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The file offset of payload block 'bi''s data, 0 if it has none (reads
 * zeros), or -EIO for an entry that is invalid. */
static int64_t block_data(const struct vhdx *s, uint64_t bi)
{
	uint64_t idx = bi + bi / s->chunk_ratio;
	if (idx >= s->bat_entries)
		return -EIO;
	uint64_t e = s->bat[idx], state = e & 7, off = (e >> 20) * MiB;
	switch (state) {
	case PB_NOT_PRESENT: case PB_UNDEFINED: case PB_ZERO: case PB_UNMAPPED:
		return 0;
	case PB_FULLY_PRESENT:
		break;
	default:
		return -EIO; /* partially present: differencing only; or garbage */
	}
	if (off < 1 * MiB || !range_ok(off, s->block, s->file_size))
		return -EIO;
	for (int i = 0; i < 3; i++)
		if (overlaps(off, s->block, s->meta_off[i], s->meta_len[i]))
			return -EIO;
	return (int64_t)off;
}

static int vhdx_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	struct vhdx *s = bd->state;
	uint8_t *p = buf;
	int ret = 0;

	while (len && !ret) {
		uint64_t bi = offset / s->block, o = offset % s->block, n = MIN(len, s->block - o);
		int64_t at = block_data(s, bi);
		if (at < 0)
			ret = (int)at;
		else if (!at)
			memset(p, 0, n);
		else
			ret = fd_pread_full(s->fd, p, n, (uint64_t)at + o);
		p += n;
		offset += n;
		len -= n;
	}
	return ret;
}

static int vhdx_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	return -EROFS;
}

static int vhdx_flush(struct block_dev *bd)
{
	return 0;
}

static int vhdx_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		    struct block_map *m)
{
	struct vhdx *s = bd->state;
	uint64_t done = 0, next = 0;
	int kind = -1;

	while (done < len) {
		uint64_t off = offset + done, o = off % s->block, n = MIN(len - done, s->block - o);
		int64_t at = block_data(s, off / s->block);
		int k = at > 0;
		if (kind >= 0 && (k != kind || (k && (uint64_t)at + o != next)))
			break;
		if (kind < 0 && k) {
			m->has_offset = true;
			m->offset = (uint64_t)at + o;
		}
		kind = k;
		next = (k ? (uint64_t)at : 0) + o + n;
		done += n;
	}
	m->allocated = true;
	m->data = kind == 1;
	m->zero = kind != 1;
	*pnum = done;
	return 0;
}

static int vhdx_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	struct block_map m;
	vhdx_map(bd, offset, len, pnum, &m);
	return m.data;
}

static void vhdx_free(struct vhdx *s)
{
	free(s->bat);
	free(s);
}

static void vhdx_close(struct block_dev *bd)
{
	close(bd->fd);
	vhdx_free(bd->state);
}

static const struct block_driver vhdx_driver = {
	.name = "vhdx",
	.pread = vhdx_pread,
	.pwrite = vhdx_pwrite,
	.flush = vhdx_flush,
	.close = vhdx_close,
	.status = vhdx_status,
	.map = vhdx_map,
};

/* The current header: the valid one with the higher sequence number. */
static int read_header(struct vhdx *s, uint8_t *h, char *err, size_t errlen)
{
	uint8_t a[VHDX_HEADER_BYTES], b[VHDX_HEADER_BYTES];
	bool ok_a = fd_pread_full(s->fd, a, sizeof(a), VHDX_HEADER1) == 0 &&
		    !memcmp(a, "head", 4) && crc32c(a, sizeof(a), 4) == get_le32(a + 4);
	bool ok_b = fd_pread_full(s->fd, b, sizeof(b), VHDX_HEADER2) == 0 &&
		    !memcmp(b, "head", 4) && crc32c(b, sizeof(b), 4) == get_le32(b + 4);
	if (!ok_a && !ok_b) {
		snprintf(err, errlen, "vhdx: no valid header (signature or checksum)");
		return -EINVAL;
	}
	memcpy(h, ok_a && (!ok_b || get_le64(a + 8) >= get_le64(b + 8)) ? a : b, VHDX_HEADER_BYTES);
	static const uint8_t zero[16];
	if (memcmp(h + 48, zero, 16)) {
		snprintf(err, errlen, "vhdx log needs replaying (open the image in Hyper-V or "
			 "qemu-img first)");
		return -ENOTSUP;
	}
	if (get_le16(h + 66) != 1) {
		snprintf(err, errlen, "vhdx version %u is not supported", get_le16(h + 66));
		return -ENOTSUP;
	}
	s->meta_len[2] = get_le32(h + 68);
	s->meta_off[2] = get_le64(h + 72);
	if (!range_ok(s->meta_off[2], s->meta_len[2], s->file_size)) {
		snprintf(err, errlen, "vhdx log is past the end of the file");
		return -EINVAL;
	}
	return 0;
}

/* Finds the BAT and metadata regions in a valid region table. */
static int read_regions(struct vhdx *s, uint64_t *bat_off, uint64_t *bat_len, uint64_t *md_off,
			uint64_t *md_len, char *err, size_t errlen)
{
	uint8_t *r = xzalloc(VHDX_REGION_BYTES);
	int ret = -EINVAL;
	bool found_bat = false, found_md = false;

	for (int copy = 0; copy < 2; copy++) {
		uint64_t at = copy ? VHDX_REGION2 : VHDX_REGION1;
		if (fd_pread_full(s->fd, r, VHDX_REGION_BYTES, at) == 0 && !memcmp(r, "regi", 4) &&
		    crc32c(r, VHDX_REGION_BYTES, 4) == get_le32(r + 4))
			break;
		if (copy) {
			snprintf(err, errlen, "vhdx: no valid region table");
			goto out;
		}
	}
	uint32_t count = get_le32(r + 8);
	if (count > VHDX_MAX_REGIONS) {
		snprintf(err, errlen, "vhdx region table has too many entries");
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = r + 16 + i * 32;
		uint64_t off = get_le64(e + 16), len = get_le32(e + 24);
		bool required = get_le32(e + 28) & 1;
		if (off < 1 * MiB || off % MiB || len % MiB || !range_ok(off, len, s->file_size)) {
			snprintf(err, errlen, "vhdx region %u is invalid or past the end of the file",
				 i);
			goto out;
		}
		if (!memcmp(e, GUID_BAT, 16) && !found_bat) {
			*bat_off = off;
			*bat_len = len;
			found_bat = true;
		} else if (!memcmp(e, GUID_METADATA, 16) && !found_md) {
			*md_off = off;
			*md_len = len;
			found_md = true;
		} else if (required) {
			snprintf(err, errlen, "vhdx has an unknown required region");
			ret = -ENOTSUP;
			goto out;
		}
	}
	if (!found_bat || !found_md || overlaps(*bat_off, *bat_len, *md_off, *md_len)) {
		snprintf(err, errlen, "vhdx lacks its BAT or metadata region (or they overlap)");
		goto out;
	}
	ret = 0;
out:
	free(r);
	return ret;
}

/* Reads one metadata item of exactly 'len' bytes into 'out'. */
static int metadata_item(struct vhdx *s, const uint8_t *table, uint64_t md_off, uint64_t md_len,
			 const uint8_t *guid, void *out, uint32_t len)
{
	uint16_t count = get_le16(table + 10);
	if (count > VHDX_MAX_METADATA)
		return -EINVAL;
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *e = table + 32 + i * 32;
		if (memcmp(e, guid, 16))
			continue;
		uint32_t off = get_le32(e + 16), l = get_le32(e + 20);
		if (l != len || off < VHDX_REGION_BYTES || !range_ok(off, l, md_len))
			return -EINVAL;
		return fd_pread_full(s->fd, out, len, md_off + off);
	}
	return -ENOENT;
}

static int read_metadata(struct vhdx *s, uint64_t md_off, uint64_t md_len, uint64_t *size,
			 char *err, size_t errlen)
{
	uint8_t *t = xzalloc(VHDX_REGION_BYTES), params[8], vsize[8], lss[4];
	int ret = -EINVAL;

	if (md_len < VHDX_REGION_BYTES ||
	    fd_pread_full(s->fd, t, VHDX_REGION_BYTES, md_off) < 0 || memcmp(t, "metadata", 8)) {
		snprintf(err, errlen, "vhdx metadata table is missing");
		goto out;
	}
	/* an unknown item the reader is required to understand */
	uint16_t count = get_le16(t + 10);
	for (uint16_t i = 0; i < count && i < VHDX_MAX_METADATA; i++) {
		const uint8_t *e = t + 32 + i * 32;
		bool known = !memcmp(e, GUID_FILE_PARAMS, 16) || !memcmp(e, GUID_DISK_SIZE, 16) ||
			     !memcmp(e, GUID_LOGICAL_SECTOR, 16) ||
			     !memcmp(e, GUID_PHYSICAL_SECTOR, 16) || !memcmp(e, GUID_PAGE83, 16) ||
			     !memcmp(e, GUID_PARENT_LOCATOR, 16);
		if (!known && (get_le32(e + 24) & 4)) { /* IsRequired */
			snprintf(err, errlen, "vhdx has an unknown required metadata item");
			ret = -ENOTSUP;
			goto out;
		}
	}
	if (metadata_item(s, t, md_off, md_len, GUID_FILE_PARAMS, params, 8) < 0 ||
	    metadata_item(s, t, md_off, md_len, GUID_DISK_SIZE, vsize, 8) < 0 ||
	    metadata_item(s, t, md_off, md_len, GUID_LOGICAL_SECTOR, lss, 4) < 0) {
		snprintf(err, errlen, "vhdx metadata items are missing or invalid");
		goto out;
	}
	uint32_t block = get_le32(params), flags = get_le32(params + 4);
	uint32_t sector = get_le32(lss);
	*size = get_le64(vsize);
	if (flags & 2) {
		snprintf(err, errlen, "differencing vhdx images are not supported");
		ret = -ENOTSUP;
		goto out;
	}
	if (block < 1 * MiB || block > 256 * MiB || (block & (block - 1)) ||
	    (sector != 512 && sector != 4096) || *size > 64ULL * 1024 * GiB || *size % sector) {
		snprintf(err, errlen, "vhdx block size %u, sector size %u or disk size %llu is "
			 "invalid", block, sector, (unsigned long long)*size);
		goto out;
	}
	s->block = block;
	s->chunk_ratio = (8ULL * MiB * sector) / block;
	s->blocks = (*size + block - 1) / block;
	ret = 0;
out:
	free(t);
	return ret;
}

static int read_bat(struct vhdx *s, uint64_t bat_off, uint64_t bat_len, char *err,
		    size_t errlen)
{
	s->bat_entries = s->blocks ? s->blocks + (s->blocks - 1) / s->chunk_ratio : 0;
	if (s->bat_entries * 8 > bat_len || s->bat_entries * 8 > VHDX_MAX_BAT) {
		snprintf(err, errlen, "vhdx BAT region is too small for the disk");
		return -EINVAL;
	}
	s->bat = xzalloc(MAX(1, s->bat_entries) * 8);
	if (fd_pread_full(s->fd, s->bat, s->bat_entries * 8, bat_off) < 0) {
		snprintf(err, errlen, "cannot read the vhdx BAT");
		return -EIO;
	}
	for (uint64_t i = 0; i < s->bat_entries; i++)
		s->bat[i] = get_le64(&s->bat[i]);
	return 0;
}

static struct block_dev *vhdx_open(int fd, const char *path, bool read_only,
				   const struct block_opts *opts, unsigned depth, bool untrusted,
				   char *err, size_t errlen)
{
	struct vhdx *s = xzalloc(sizeof(*s));
	uint8_t *h = xzalloc(VHDX_HEADER_BYTES);
	uint64_t bat_off = 0, bat_len = 0, md_off = 0, md_len = 0, size = 0;
	struct stat st;

	s->fd = fd;
	if (!read_only) {
		snprintf(err, errlen, "vhdx images are read-only here (use -snapshot or "
			 "readonly=on, or convert the image)");
		goto fail;
	}
	if (opts && opts->snapshot) {
		snprintf(err, errlen, "vhdx images have no internal snapshots");
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	if (s->file_size < 1 * MiB) {
		snprintf(err, errlen, "vhdx image is truncated");
		goto fail;
	}
	if (read_header(s, h, err, errlen) < 0 ||
	    read_regions(s, &bat_off, &bat_len, &md_off, &md_len, err, errlen) < 0 ||
	    read_metadata(s, md_off, md_len, &size, err, errlen) < 0 ||
	    read_bat(s, bat_off, bat_len, err, errlen) < 0)
		goto fail;
	s->meta_off[0] = bat_off;
	s->meta_len[0] = bat_len;
	s->meta_off[1] = md_off;
	s->meta_len[1] = md_len;
	free(h);
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &vhdx_driver;
	bd->format = "vhdx";
	bd->path = xstrdup(path);
	bd->size = size;
	bd->read_only = true;
	bd->fd = fd;
	bd->state = s;
	bd->cluster_size = (uint32_t)s->block;
	return bd;
fail:
	free(h);
	vhdx_free(s);
	return NULL;
}

static bool vhdx_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "vhdxfile", 8);
}

const struct block_format vhdx_format = {
	.name = "vhdx",
	.probe = vhdx_probe,
	.open = vhdx_open,
	.o_direct = false,
};
