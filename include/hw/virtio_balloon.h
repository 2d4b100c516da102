/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-balloon (virtio 1.x, 5.5): the host sets a target balloon size
 * (config num_pages, in 4 KiB pages); the driver gives pages up on the
 * inflate queue and takes them back on the deflate queue, and reports how
 * many it holds in config 'actual'. Inflated pages are released on the host
 * (guest_mem_discard: MADV_DONTNEED, or MADV_REMOVE on shared memory); deflated ones
 * simply refault. The statistics queue carries the guest's memory figures.
 *
 * Queues: 0 inflateq, 1 deflateq, 2 statsq (VIRTIO_BALLOON_F_STATS_VQ).
 */
#ifndef VMM_HW_VIRTIO_BALLOON_H
#define VMM_HW_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/virtio_pci.h"

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2

#define VIRTIO_BALLOON_PFN_SHIFT 12
#define VIRTIO_BALLOON_PAGE (1u << VIRTIO_BALLOON_PFN_SHIFT)
#define VIRTIO_BALLOON_CONFIG_SIZE 8 /* le32 num_pages, le32 actual */
#define VIRTIO_BALLOON_QUEUE_SIZE 128
#define VIRTIO_BALLOON_STAT_SIZE 10  /* le16 tag, le64 value */
#define VIRTIO_BALLOON_NSTATS 10     /* tags 0..9 (swap in .. hugetlb failures) */

/* Called when the driver changed 'actual', with the transport lock held, on
 * whatever thread wrote the config (a vCPU) or reset the device. It must
 * not block nor call back into the device: the machine only notes it. */
typedef void (*virtio_balloon_changed_fn)(void *opaque);

struct virtio_balloon_info {
	uint32_t target_pages;   /* num_pages: what the host asked for */
	uint32_t actual_pages;   /* what the driver says it holds */
	uint64_t inflated, deflated; /* valid PFNs received on each queue */
	uint64_t released;       /* pages given back to the host kernel */
	uint64_t release_calls;  /* madvise calls that gave them back */
	uint64_t bad_pfns;       /* PFNs outside guest RAM, and stray bytes / 4 */
	uint64_t stats_updates;  /* stats buffers received */
	uint64_t stats[VIRTIO_BALLOON_NSTATS];
	uint32_t stats_valid;    /* bit t: stats[t] was reported */
	bool stats_held;         /* the device holds the driver's stats buffer */
};

struct virtio_balloon;

struct virtio_balloon *virtio_balloon_create(struct pci_bus *bus, uint8_t devfn,
					     const struct guest_mem *mem,
					     const struct virtio_host *host, bool deflate_on_oom,
					     virtio_balloon_changed_fn changed, void *opaque);
struct virtio_pci *virtio_balloon_transport(struct virtio_balloon *b);
void virtio_balloon_destroy(struct virtio_balloon *b);

/* Host side, any thread but the device's own callbacks. Sets the target
 * balloon size in pages (a configuration change interrupt once the driver
 * runs). */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages);
void virtio_balloon_get_info(struct virtio_balloon *b, struct virtio_balloon_info *out);
/* Hands the held stats buffer back to the driver, which refills it with
 * fresh figures and returns it. False when no buffer is held. */
bool virtio_balloon_request_stats(struct virtio_balloon *b);
/* Name of a stats tag for 'info balloon' (NULL for unknown tags). */
const char *virtio_balloon_stat_name(unsigned tag);

/* Saved state (section "virtio-balloon"): gives the held statistics
 * buffer back to the driver, then saves the transport (hw/virtio_pci.h);
 * the load takes the target and actual size from the device configuration. */
struct ss_writer;
struct ss_reader;
void virtio_balloon_save(struct virtio_balloon *b, struct ss_writer *w, uint32_t instance);
bool virtio_balloon_load(struct virtio_balloon *b, struct ss_reader *r, uint32_t instance);

#endif
