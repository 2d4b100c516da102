// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-balloon, written from the virtio 1.x specification (5.5).
 *
 * Inflate: each 32-bit PFN (4 KiB frames, whatever the guest's own page
 * size) names a page the driver gives up. A PFN whose page is not wholly
 * guest RAM is ignored, as real devices do; a page in RAM is released with
 * guest_mem_discard (MADV_DONTNEED on private guest RAM, MADV_REMOVE on a
 * shared memory backend, which punches the hole in its file), so the host
 * memory is freed at once and the page reads back as zeros if touched
 * again (KVM's MMU notifier drops its mapping). Adjacent pages go to
 * guest_mem_discard as one range. The chain is returned only after the release, so
 * the driver never sees an acknowledgement before the host dropped it.
 *
 * Deflate: the pages simply refault on the next guest access; the device
 * only counts them. VIRTIO_BALLOON_F_MUST_TELL_HOST is therefore not
 * offered: nothing here depends on being told before the guest reuses a
 * deflated page.
 *
 * Stats: the driver keeps one buffer of {le16 tag, le64 value} entries on
 * the stats queue. The device keeps the latest values and holds the
 * buffer; handing it back (virtio_balloon_request_stats) asks the driver
 * for fresh figures, which arrive as the next buffer. The first buffer
 * comes before DRIVER_OK; the transport looks at it when DRIVER_OK is set.
 *
 * Locking: everything runs under the transport lock: queue work on the
 * I/O thread, config writes on vCPUs, host requests from the main thread.
 */
#include "hw/virtio_balloon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "savestate.h"
#include "util.h"

#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS 2
#define NQUEUES 3
/* A stats buffer longer than this many entries is read up to here. */
#define MAX_STAT_ENTRIES 64

struct virtio_balloon {
	struct virtio_pci t;
	uint8_t config[VIRTIO_BALLOON_CONFIG_SIZE];
	struct virtq_iov scratch;
	virtio_balloon_changed_fn changed;
	void *opaque;
	bool can_release;   /* host pages are 4 KiB, so a PFN is one host page */

	uint32_t target;    /* num_pages, the host's; kept across resets */
	/* State, reset with the device. */
	uint32_t last_actual;
	bool stats_held;
	uint16_t stats_head;
	uint64_t stats[VIRTIO_BALLOON_NSTATS];
	uint32_t stats_valid;

	/* Counters, kept across resets. */
	uint64_t inflated, deflated, released, release_calls, bad_pfns, stats_updates;
	bool warned_madvise;
};

/* ---- page release -------------------------------------------------------- */

/* A run of adjacent host pages waiting for one madvise. It grows
 * downwards as well as upwards: Linux's driver pushes the pages it
 * allocates on a list and pops them off it to fill the PFN array, so
 * pages allocated in address order arrive in reverse, and with upward
 * runs only each one was a syscall of its own. */
struct run {
	uint8_t *start;
	size_t len;
};

static void run_flush(struct virtio_balloon *b, struct run *r)
{
	if (!r->len)
		return;
	int ret = guest_mem_discard(b->t.mem, r->start, r->len);
	b->release_calls++;
	if (ret == 0) {
		b->released += r->len / VIRTIO_BALLOON_PAGE;
		/* the pages read as zeros now: a change dirty logging must see */
		guest_mark_dirty_hva(b->t.mem, r->start, r->len);
	} else if (!b->warned_madvise) {
		b->warned_madvise = true;
		warn("virtio-balloon: cannot give guest RAM back to the host: %s", strerror(-ret));
	}
	r->len = 0;
}

static void one_pfn(struct virtio_balloon *b, unsigned q, uint32_t pfn, struct run *r)
{
	uint64_t gpa = (uint64_t)pfn << VIRTIO_BALLOON_PFN_SHIFT;
	uint8_t *p = guest_ptr(b->t.mem, gpa, VIRTIO_BALLOON_PAGE);

	if (!p) {
		b->bad_pfns++;
		return;
	}
	if (q == Q_DEFLATE) {
		b->deflated++;
		return;
	}
	b->inflated++;
	if (!b->can_release)
		return;
	if (r->len && p == r->start + r->len) {
		r->len += VIRTIO_BALLOON_PAGE;
		return;
	}
	if (r->len && (uintptr_t)p + VIRTIO_BALLOON_PAGE == (uintptr_t)r->start) {
		r->start = p;
		r->len += VIRTIO_BALLOON_PAGE;
		return;
	}
	run_flush(b, r);
	r->start = p;
	r->len = VIRTIO_BALLOON_PAGE;
}

/* The readable part of the chain is a PFN array; it may be split over
 * several buffers at any byte. A tail of fewer than 4 bytes is ignored. */
static void pfn_chain(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_balloon *b = t->dev;
	struct run run = { NULL, 0 };
	uint8_t part[4];
	unsigned have = 0;

	for (unsigned i = 0; i < iov->n_out; i++) {
		const uint8_t *p = iov->iov[i].iov_base;
		size_t n = iov->iov[i].iov_len;
		while (n) {
			if (have == 0 && n >= 4) {
				one_pfn(b, q, get_le32(p), &run);
				p += 4;
				n -= 4;
				continue;
			}
			part[have++] = *p++;
			n--;
			if (have == 4) {
				one_pfn(b, q, get_le32(part), &run);
				have = 0;
			}
		}
	}
	if (have)
		b->bad_pfns++;
	run_flush(b, &run);
	virtq_push(&t->vq[q], iov->head, 0);
	virtio_pci_notify_queue(t, q);
}

/* ---- statistics ---------------------------------------------------------- */

static void stats_release(struct virtio_balloon *b)
{
	if (!b->stats_held)
		return;
	b->stats_held = false;
	virtq_push(&b->t.vq[Q_STATS], b->stats_head, 0);
	virtio_pci_notify_queue(&b->t, Q_STATS);
}

static void stats_chain(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_balloon *b = t->dev;
	uint64_t n = MIN(iov->out_len / VIRTIO_BALLOON_STAT_SIZE, (uint64_t)MAX_STAT_ENTRIES);
	uint8_t e[VIRTIO_BALLOON_STAT_SIZE];

	(void)q;
	/* The driver keeps one buffer; a second one means it gave up on the
	 * first, which goes back unused. */
	stats_release(b);
	for (uint64_t i = 0; i < n; i++) {
		iov_to_buf(iov->iov, iov->n_out, i * VIRTIO_BALLOON_STAT_SIZE, e, sizeof(e));
		uint16_t tag = get_le16(e);
		if (tag < VIRTIO_BALLOON_NSTATS) {
			b->stats[tag] = get_le64(e + 2);
			b->stats_valid |= 1u << tag;
		}
	}
	b->stats_updates++;
	b->stats_held = true;
	b->stats_head = iov->head;
}

static void balloon_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_balloon *b = t->dev;

	if (q == Q_STATS)
		virtio_pci_drain(t, q, &b->scratch, stats_chain);
	else
		virtio_pci_drain(t, q, &b->scratch, pfn_chain);
}

/* ---- configuration and reset --------------------------------------------- */

static void note_actual(struct virtio_balloon *b)
{
	uint32_t actual = get_le32(b->config + 4);

	if (actual == b->last_actual)
		return;
	b->last_actual = actual;
	if (b->changed)
		b->changed(b->opaque);
}

static void balloon_config_write(struct virtio_pci *t, unsigned off, unsigned size)
{
	struct virtio_balloon *b = t->dev;

	/* num_pages is the host's: a driver write there is undone. */
	put_le32(b->config, b->target);
	if (off + size > 4)
		note_actual(b);
}

/* A reset device holds no pages: a rebooted guest owns all its RAM again
 * (the pages refault). The target stays, as the host set it. */
static void balloon_reset(struct virtio_pci *t)
{
	struct virtio_balloon *b = t->dev;

	b->stats_held = false; /* the rings are gone with the reset */
	memset(b->stats, 0, sizeof(b->stats));
	b->stats_valid = 0;
	put_le32(b->config + 4, 0);
	note_actual(b);
}

static const struct virtio_device_ops balloon_ops = {
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.config_write = balloon_config_write,
};

/* ---- host interface ------------------------------------------------------ */

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
	pthread_mutex_lock(&b->t.lock);
	if (b->target != pages) {
		b->target = pages;
		put_le32(b->config, pages);
		/* Before DRIVER_OK the driver reads the target when it starts. */
		if (b->t.status & VIRTIO_STATUS_DRIVER_OK)
			virtio_pci_config_changed(&b->t);
	}
	pthread_mutex_unlock(&b->t.lock);
}

void virtio_balloon_get_info(struct virtio_balloon *b, struct virtio_balloon_info *out)
{
	pthread_mutex_lock(&b->t.lock);
	*out = (struct virtio_balloon_info){
		.target_pages = b->target,
		.actual_pages = b->last_actual,
		.inflated = b->inflated,
		.deflated = b->deflated,
		.released = b->released,
		.release_calls = b->release_calls,
		.bad_pfns = b->bad_pfns,
		.stats_updates = b->stats_updates,
		.stats_valid = b->stats_valid,
		.stats_held = b->stats_held,
	};
	memcpy(out->stats, b->stats, sizeof(out->stats));
	pthread_mutex_unlock(&b->t.lock);
}

bool virtio_balloon_request_stats(struct virtio_balloon *b)
{
	pthread_mutex_lock(&b->t.lock);
	/* Not while paused: the buffer goes back into the used ring. */
	bool held = b->stats_held && (b->t.status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(b->t.status & VIRTIO_STATUS_NEEDS_RESET) && !virtio_pci_quiesced(&b->t);
	if (held)
		stats_release(b);
	pthread_mutex_unlock(&b->t.lock);
	return held;
}

const char *virtio_balloon_stat_name(unsigned tag)
{
	/* The names QEMU's HMP used when it printed them. */
	static const char *const names[VIRTIO_BALLOON_NSTATS] = {
		"mem_swapped_in", "mem_swapped_out", "major_page_faults", "minor_page_faults",
		"free_mem", "total_mem", "available_mem", "disk_caches",
		"htlb_pgalloc", "htlb_pgfail",
	};
	return tag < VIRTIO_BALLOON_NSTATS ? names[tag] : NULL;
}

struct virtio_balloon *virtio_balloon_create(struct pci_bus *bus, uint8_t devfn,
					     const struct guest_mem *mem,
					     const struct virtio_host *host, bool deflate_on_oom,
					     virtio_balloon_changed_fn changed, void *opaque)
{
	struct virtio_balloon *b = xzalloc(sizeof(*b));
	uint64_t features = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;

	if (deflate_on_oom)
		features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	b->changed = changed;
	b->opaque = opaque;
	b->can_release = sysconf(_SC_PAGESIZE) == VIRTIO_BALLOON_PAGE;
	/* PCI class "other" (0xFF), as QEMU's virtio-balloon-pci. */
	virtio_pci_init(&b->t, "virtio-balloon", VIRTIO_ID_BALLOON, 0x00FF00, mem, host,
			&balloon_ops, b, features, NQUEUES, VIRTIO_BALLOON_QUEUE_SIZE, b->config,
			sizeof(b->config));
	if (virtio_pci_start(&b->t, bus, devfn) < 0) {
		virtio_balloon_destroy(b);
		return NULL;
	}
	return b;
}

struct virtio_pci *virtio_balloon_transport(struct virtio_balloon *b)
{
	return &b->t;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	virtio_pci_stop(&b->t);
	free(b);
}

/* Saved state: the statistics buffer the device holds is given back to
 * the driver first (as at every statistics request: the driver refills it
 * and offers it again), so no request is in flight; then the transport.
 * The host's target and the guest's actual size are in the device
 * configuration, which the transport saves; the statistics values are the
 * host's cache and are asked for again. Call before guest RAM and KVM's
 * state are saved: giving the buffer back writes the used ring and may
 * interrupt the guest. */
void virtio_balloon_save(struct virtio_balloon *b, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&b->t.lock);
	stats_release(b);
	pthread_mutex_unlock(&b->t.lock);
	virtio_pci_save(&b->t, w, instance);
}

bool virtio_balloon_load(struct virtio_balloon *b, struct ss_reader *r, uint32_t instance)
{
	if (!virtio_pci_load(&b->t, r, instance))
		return false;
	pthread_mutex_lock(&b->t.lock);
	b->target = get_le32(b->config);
	b->last_actual = get_le32(b->config + 4);
	pthread_mutex_unlock(&b->t.lock);
	return true;
}
