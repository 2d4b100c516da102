// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Split virtqueues, device side (virtio 1.x, 2.7). Layout in guest memory:
 *
 *   descriptor table  16 bytes per entry: le64 addr, le32 len, le16 flags,
 *                     le16 next; 16-byte aligned
 *   driver area       le16 flags, le16 idx, le16 ring[size], le16 used_event
 *   device area       le16 flags, le16 idx, {le32 id, le32 len}[size],
 *                     le16 avail_event; 4-byte aligned
 *
 * The driver may rewrite any of it at any time, so each descriptor is read
 * once into locals and only those values are checked and used.
 */
#include "virtio.h"

#include <errno.h>
#include <string.h>

#include "util.h"

#define DESC_SIZE 16

static uint16_t ring_load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static void ring_store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

void virtq_reset(struct virtqueue *vq, const struct guest_mem *mem, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->size = max_size;
}

static uint64_t avail_bytes(uint16_t size)
{
	return 6 + 2 * (uint64_t)size;
}

static uint64_t used_bytes(uint16_t size)
{
	return 6 + 8 * (uint64_t)size;
}

int virtq_enable(struct virtqueue *vq)
{
	uint16_t n = vq->size;

	vq->ready = false;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	vq->desc = guest_ptr(vq->mem, vq->desc_gpa, (uint64_t)n * DESC_SIZE);
	vq->avail = guest_ptr(vq->mem, vq->avail_gpa, avail_bytes(n));
	vq->used = guest_ptr(vq->mem, vq->used_gpa, used_bytes(n));
	if (!vq->desc || !vq->avail || !vq->used)
		return -EINVAL;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->broken = false;
	vq->inflight = 0;
	vq->ready = true;
	return 0;
}

void virtq_set_legacy_pfn(struct virtqueue *vq, uint32_t pfn)
{
	uint64_t base = (uint64_t)pfn << 12;

	if (pfn == 0) {
		vq->ready = false;
		vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
		return;
	}
	vq->desc_gpa = base;
	vq->avail_gpa = base + (uint64_t)vq->size * DESC_SIZE;
	vq->used_gpa = (vq->avail_gpa + avail_bytes(vq->size) + 4095) & ~4095ULL;
	if (virtq_enable(vq) < 0)
		vq->broken = true;
}

static int broken(struct virtqueue *vq)
{
	vq->broken = true;
	return -EINVAL;
}

/* Walks the chain at 'head' into 'out'. Bounds: each table index below the
 * table's size, at most table-size descriptors per table (which also ends
 * any loop), one level of indirection, VIRTQ_MAX_CHAIN buffers in all, every
 * buffer non-empty and inside guest RAM, readable buffers before writable. */
static int walk_chain(struct virtqueue *vq, uint16_t head, struct virtq_iov *out)
{
	const uint8_t *table = vq->desc;
	uint32_t table_size = vq->size;
	uint32_t i = head, visited = 0;
	bool in_indirect = false;
	unsigned n = 0;

	out->n_out = out->n_in = 0;
	out->out_len = out->in_len = 0;
	out->head = head;
	for (;;) {
		if (i >= table_size || ++visited > table_size)
			return -EINVAL;
		const uint8_t *d = table + (size_t)i * DESC_SIZE;
		uint64_t addr = get_le64(d);
		uint32_t len = get_le32(d + 8);
		uint16_t flags = get_le16(d + 12);
		uint16_t next = get_le16(d + 14);

		if (flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect || in_indirect || (flags & VIRTQ_DESC_F_NEXT))
				return -EINVAL;
			if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > VIRTQ_MAX_CHAIN)
				return -EINVAL;
			table = guest_ptr(vq->mem, addr, len);
			if (!table)
				return -EINVAL;
			table_size = len / DESC_SIZE;
			in_indirect = true;
			i = 0;
			visited = 0;
			continue;
		}
		if (len == 0 || addr + len < addr || n == VIRTQ_MAX_CHAIN)
			return -EINVAL;
		void *p = guest_ptr(vq->mem, addr, len);
		if (!p)
			return -EINVAL;
		if (flags & VIRTQ_DESC_F_WRITE) {
			out->n_in++;
			out->in_len += len;
		} else {
			if (out->n_in)
				return -EINVAL;
			out->n_out++;
			out->out_len += len;
		}
		out->iov[n] = (struct iovec){ .iov_base = p, .iov_len = len };
		n++;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = next;
	}
}

int virtq_pop(struct virtqueue *vq, struct virtq_iov *out)
{
	if (vq->broken)
		return -EINVAL;
	if (!vq->ready)
		return 0;
	uint16_t avail_idx = ring_load16(vq->avail + 2);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return broken(vq);
	/* A driver has at most 'size' chains out: each needs a head that is
	 * free. More means it republished a head the device still holds, and
	 * a device that went on popping would hold (and its model allocate
	 * for) one request per avail entry, without limit. Stop here: the
	 * queue is broken and the transport sets DEVICE_NEEDS_RESET, the
	 * virtio 1.x way for a device to say the driver broke the protocol
	 * (2.1.2), as QEMU does ("Virtqueue size exceeded"). */
	if (vq->inflight >= vq->size)
		return broken(vq);
	uint16_t head = get_le16(vq->avail + 4 + 2 * (size_t)(vq->last_avail % vq->size));
	if (walk_chain(vq, head, out) < 0)
		return broken(vq);
	vq->last_avail++;
	vq->inflight++;
	return 1;
}

/* The device wrote the used ring: dirty logging sees it (KVM logs only
 * what vCPUs write). The whole ring: it is at most a few pages. */
static void used_ring_written(struct virtqueue *vq)
{
	guest_mark_dirty(vq->mem, vq->used_gpa, 6 + 8 * (uint64_t)vq->size);
}

void virtq_mark_written(struct virtqueue *vq, const struct iovec *iov, unsigned n, uint64_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		uint64_t chunk = MIN((uint64_t)iov[i].iov_len, len);
		guest_mark_dirty_hva(vq->mem, iov[i].iov_base, chunk);
		len -= chunk;
	}
}

void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (!vq->ready)
		return;
	uint8_t *e = vq->used + 4 + 8 * (size_t)(vq->used_idx % vq->size);
	put_le32(e, head);
	put_le32(e + 4, written);
	vq->used_idx++;
	ring_store16(vq->used + 2, vq->used_idx);
	used_ring_written(vq);
	if (vq->inflight)
		vq->inflight--;
}

void virtq_take_over(struct virtqueue *vq, uint16_t last_avail)
{
	if (!vq->ready)
		return;
	vq->last_avail = last_avail;
	vq->used_idx = ring_load16(vq->used + 2);
	ring_store16(vq->used, 0); /* flags: notify us again */
	used_ring_written(vq);
	vq->signalled_valid = false;
	vq->inflight = 0;
}

bool virtq_should_notify(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	/* Our used->idx store must be visible before we read the driver's
	 * suppression state, or both sides may decide the other will act. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t event = ring_load16(vq->avail + 4 + 2 * (size_t)vq->size);
		uint16_t old = vq->signalled_used, now = vq->used_idx;
		bool valid = vq->signalled_valid;
		vq->signalled_used = now;
		vq->signalled_valid = true;
		if (!valid)
			return true;
		/* Interrupt when 'event' lies in (old, now]. */
		return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
	}
	return !(ring_load16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool virtq_arm_notify(struct virtqueue *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	if (vq->event_idx) {
		ring_store16(vq->used + 4 + 8 * (size_t)vq->size, vq->last_avail);
		used_ring_written(vq);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ring_load16(vq->avail + 2) != vq->last_avail;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = MIN(iov[i].iov_len - skip, len - done);
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = MIN(iov[i].iov_len - skip, len - done);
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

size_t iov_cut(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *out,
	       unsigned *nout)
{
	size_t done = 0;

	*nout = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = MIN(iov[i].iov_len - skip, len - done);
		out[(*nout)++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, chunk };
		done += chunk;
		skip = 0;
	}
	return done;
}

void virtq_unpop(struct virtqueue *vq, unsigned n)
{
	vq->last_avail = (uint16_t)(vq->last_avail - n);
	vq->inflight = (uint16_t)(vq->inflight >= n ? vq->inflight - n : 0);
}

void virtq_push_many(struct virtqueue *vq, const uint16_t *heads, const uint32_t *written,
		     unsigned n)
{
	if (!vq->ready)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = vq->used + 4 + 8 * (size_t)((uint16_t)(vq->used_idx + i) % vq->size);
		put_le32(e, heads[i]);
		put_le32(e + 4, written[i]);
	}
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	ring_store16(vq->used + 2, vq->used_idx);
	used_ring_written(vq);
	vq->inflight = (uint16_t)(vq->inflight >= n ? vq->inflight - n : 0);
}

bool virtq_arm_notify_at(struct virtqueue *vq, uint16_t idx)
{
	if (!vq->ready || vq->broken)
		return false;
	if (vq->event_idx) {
		ring_store16(vq->used + 4 + 8 * (size_t)vq->size, idx);
		used_ring_written(vq);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ring_load16(vq->avail + 2) != idx;
}
