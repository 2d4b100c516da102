// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Virtio PCI transport, transitional: modern (virtio 1.x 4.1.4, vendor
 * capabilities into BAR4) and legacy (4.1.4.8, I/O BAR0), MSI-X in BAR1
 * with INTx as the fallback, notifications through eventfds that KVM
 * signals (ioeventfd) and an I/O thread that epolls them.
 */
#include "hw/virtio_pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "savestate.h"
#include "util.h"
#include "sandbox.h"

#define CAP_MSIX 0x40
#define CAP_COMMON 0x4C
#define CAP_ISR 0x5C
#define CAP_DEVICE 0x6C
#define CAP_NOTIFY 0x7C
#define CAP_PCICFG 0x90 /* 20 bytes: the cap + pci_cfg_data[4] */
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
#define PCI_STATUS_CAP_LIST 0x10
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

#define BAR_LEGACY 0
#define BAR_MSIX 1
#define BAR_MODERN 4

/* The I/O thread's epoll keys: a queue's notify eventfd is q, the stop
 * eventfd VIRTIO_PCI_MAX_QUEUES, a descriptor watched for queue q
 * WATCH_KEY + q. */
#define WATCH_KEY 0x100

/* ---- interrupts --------------------------------------------------------- */

/* Both read t->msix_ctrl, the transport's copy of the MSI-X message
 * control word (taken under the lock when config space changes): config
 * space itself belongs to the PCI bus lock, which the I/O thread and the
 * completion threads do not hold. */
static bool msix_enabled(const struct virtio_pci *t)
{
	return t->msix_entries && (t->msix_ctrl & MSIX_CTRL_ENABLE);
}

static bool msix_masked(const struct virtio_pci *t, unsigned v)
{
	return (t->msix_ctrl & MSIX_CTRL_MASKALL) || (get_le32(t->msix_table + 16 * v + 12) & 1);
}

/* The irqfd path: the vector's MSI route follows its table entry (updated
 * lazily, at the first interrupt after the guest changed it, or when a
 * device asks for the vector's eventfd: virtio_pci_queue_irqfd), and an
 * interrupt is one eventfd write that KVM turns into the MSI. */
static int bind_irqfd(struct virtio_pci *t, unsigned v)
{
	const uint8_t *e = t->msix_table + 16 * v;
	int r;

	if (!t->host.msi_route || !t->host.irqfd)
		return -ENOSYS;
	if (t->msi_fd[v] < 0) {
		t->msi_fd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->msi_fd[v] < 0)
			return -errno;
	}
	if (t->msi_dirty[v] || t->msi_gsi[v] < 0) {
		r = t->host.msi_route(t->host.opaque, &t->msi_gsi[v], get_le64(e), get_le32(e + 8));
		if (r < 0)
			return r;
		t->msi_dirty[v] = false;
	}
	if (!t->msi_bound[v]) {
		r = t->host.irqfd(t->host.opaque, t->msi_fd[v], t->msi_gsi[v], true);
		if (r < 0)
			return r;
		t->msi_bound[v] = true;
	}
	return 0;
}

static int fire_irqfd(struct virtio_pci *t, unsigned v)
{
	uint64_t one = 1;
	int r = bind_irqfd(t, v);

	if (r < 0)
		return r;
	return write(t->msi_fd[v], &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static void msix_fire(struct virtio_pci *t, unsigned v)
{
	const uint8_t *e = t->msix_table + 16 * v;

	if (msix_masked(t, v)) {
		t->msix_pending |= 1ULL << v;
		return;
	}
	t->msix_pending &= ~(1ULL << v);
	t->interrupts++;
	if (fire_irqfd(t, v) == 0)
		return;
	if (t->host.send_msi)
		t->host.send_msi(t->host.opaque, get_le64(e), get_le32(e + 8));
}

/* After a system reset the VM is new: its routes and irqfds are gone. */
static void msix_forget_routes(struct virtio_pci *t)
{
	for (unsigned v = 0; v <= VIRTIO_PCI_MAX_QUEUES; v++) {
		t->msi_gsi[v] = -1;
		t->msi_bound[v] = false;
		t->msi_dirty[v] = true;
	}
}

static void msix_deliver_pending(struct virtio_pci *t)
{
	if (!msix_enabled(t))
		return;
	for (unsigned v = 0; v < t->msix_entries; v++)
		if ((t->msix_pending & (1ULL << v)) && !msix_masked(t, v))
			msix_fire(t, v);
}

int virtio_pci_queue_irqfd(struct virtio_pci *t, unsigned q)
{
	uint16_t v = q < t->nqueues ? t->queue_vector[q] : VIRTIO_MSI_NO_VECTOR;

	if (!msix_enabled(t) || v >= t->msix_entries || msix_masked(t, v) || bind_irqfd(t, v) < 0)
		return -1;
	return t->msi_fd[v];
}

static void state_changed(struct virtio_pci *t)
{
	if (t->ops->state_changed)
		t->ops->state_changed(t);
}

static void raise_interrupt(struct virtio_pci *t, uint16_t vector, uint8_t isr_bit)
{
	if (msix_enabled(t)) {
		if (vector < t->msix_entries)
			msix_fire(t, vector);
		return;
	}
	t->isr |= isr_bit;
	t->interrupts++;
	pci_set_irq(&t->pci, 1);
}

void virtio_pci_notify_queue(struct virtio_pci *t, unsigned q)
{
	if (q < t->nqueues && virtq_should_notify(&t->vq[q]))
		raise_interrupt(t, t->queue_vector[q], VIRTIO_ISR_QUEUE);
}

void virtio_pci_config_changed(struct virtio_pci *t)
{
	t->config_gen++;
	raise_interrupt(t, t->config_vector, VIRTIO_ISR_CONFIG);
}

void virtio_pci_set_needs_reset(struct virtio_pci *t)
{
	if (t->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	warn("%s: the driver broke a virtqueue; device needs reset", t->pci.name);
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_pci_config_changed(t);
}

bool virtio_pci_has_feature(const struct virtio_pci *t, unsigned bit)
{
	return (t->guest_features >> bit) & 1;
}

int virtio_pci_pop(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtqueue *vq = &t->vq[q];

	for (;;) {
		int r = virtq_pop(vq, iov);
		if (r > 0)
			return 1;
		if (r < 0) {
			virtio_pci_set_needs_reset(t);
			return -1;
		}
		/* Empty: ask to be notified, and look again for a chain that
		 * came before the request was visible. */
		if (!virtq_arm_notify(vq))
			return 0;
	}
}

void virtio_pci_drain(struct virtio_pci *t, unsigned q, struct virtq_iov *scratch,
		      void (*fn)(struct virtio_pci *t, unsigned q, struct virtq_iov *iov))
{
	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	while (virtio_pci_pop(t, q, scratch) > 0)
		fn(t, q, scratch);
}

/* ---- reset and feature negotiation -------------------------------------- */

static void reset_queues(struct virtio_pci *t)
{
	for (unsigned q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++) {
		virtq_reset(&t->vq[q], t->mem, t->max_queue_size);
		t->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	}
}

static void device_reset(struct virtio_pci *t)
{
	if (t->ops->reset)
		t->ops->reset(t);
	reset_queues(t);
	t->guest_features = 0;
	t->dfselect = t->gfselect = 0;
	t->status = 0;
	t->isr = 0;
	t->queue_sel = 0;
	t->config_vector = VIRTIO_MSI_NO_VECTOR;
	t->msix_pending = 0;
	pci_set_irq(&t->pci, 0);
}

static void queue_apply_features(struct virtio_pci *t, struct virtqueue *vq)
{
	vq->event_idx = virtio_pci_has_feature(t, VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = virtio_pci_has_feature(t, VIRTIO_RING_F_INDIRECT_DESC);
}

void virtio_pci_schedule(struct virtio_pci *t, unsigned q)
{
	uint64_t one = 1;

	/* One write until the thread has read it: a backend delivering a
	 * burst of frames would otherwise make a syscall per frame. */
	if (q >= t->nqueues || !t->thread_running || t->notify_fd[q] < 0 ||
	    atomic_exchange(&t->scheduled[q], true))
		return;
	if (write(t->notify_fd[q], &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the thread */
	}
}

/* Gets queue q processed: on the I/O thread when there is one, else here. */
static void run_queue(struct virtio_pci *t, unsigned q)
{
	uint64_t one = 1;

	if (t->thread_running && !t->vcpu_queue[q]) {
		if (write(t->notify_fd[q], &one, sizeof(one)) < 0) {
			/* a saturated counter still wakes the thread */
		}
		return;
	}
	if (t->vq[q].ready && !t->quiesced && !t->external[q] && t->ops->queue_notify)
		t->ops->queue_notify(t, q);
}

static void kick(struct virtio_pci *t, unsigned q)
{
	if (q >= t->nqueues)
		return;
	t->notifies++;
	run_queue(t, q);
}

static void set_status(struct virtio_pci *t, uint8_t v, bool legacy)
{
	if (v == 0) {
		device_reset(t);
		return;
	}
	if (!legacy && (v & VIRTIO_STATUS_FEATURES_OK) &&
	    !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Refuse a subset we do not offer, or a modern driver without
		 * VERSION_1: FEATURES_OK then reads back clear. */
		if ((t->guest_features & ~t->host_features) ||
		    !virtio_pci_has_feature(t, VIRTIO_F_VERSION_1))
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	bool starting = (v & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_DRIVER_OK);
	t->status = (uint8_t)(v | (t->status & VIRTIO_STATUS_NEEDS_RESET));
	/* A notify before DRIVER_OK was ignored (the device must not use the
	 * rings yet), but Linux fills receive and stats queues and kicks them
	 * before it sets DRIVER_OK: look at every enabled queue now. */
	if (starting)
		for (unsigned q = 0; q < t->nqueues; q++)
			if (t->vq[q].ready)
				run_queue(t, q);
	state_changed(t);
}

/* ---- device configuration ------------------------------------------------ */

static uint64_t config_read(struct virtio_pci *t, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		if (off + i < t->config_len)
			v |= (uint64_t)t->config[off + i] << (8 * i);
	return v;
}

static void config_write(struct virtio_pci *t, uint64_t off, uint64_t v, unsigned size)
{
	if (!range_ok(off, size, t->config_len) || !t->ops->config_write)
		return;
	for (unsigned i = 0; i < size; i++)
		t->config[off + i] = (uint8_t)(v >> (8 * i));
	t->ops->config_write(t, (unsigned)off, size);
}

/* ---- the selected queue ------------------------------------------------- */

/* The queue QUEUE_SEL names, or NULL when it names none. Lock held: the
 * index is read once here, checked, and *q is the copy the caller indexes
 * per-queue arrays with. Never check t->queue_sel before taking the lock
 * and use it after: another vCPU may write QUEUE_SEL in between. */
static struct virtqueue *selected_queue(struct virtio_pci *t, unsigned *q)
{
	unsigned sel = t->queue_sel;

	*q = sel;
	return sel < t->nqueues ? &t->vq[sel] : NULL;
}

/* ---- modern: common configuration ---------------------------------------- */

static uint64_t common_read(struct virtio_pci *t, uint64_t off, unsigned size)
{
	unsigned sel;
	struct virtqueue *vq = selected_queue(t, &sel);

	switch (off) {
	case VIRTIO_COMMON_DFSELECT: return t->dfselect;
	case VIRTIO_COMMON_DF:
		return t->dfselect < 2 ? (uint32_t)(t->host_features >> (32 * t->dfselect)) : 0;
	case VIRTIO_COMMON_GFSELECT: return t->gfselect;
	case VIRTIO_COMMON_GF:
		return t->gfselect < 2 ? (uint32_t)(t->guest_features >> (32 * t->gfselect)) : 0;
	case VIRTIO_COMMON_MSIX: return t->config_vector;
	case VIRTIO_COMMON_NUMQ: return t->nqueues;
	case VIRTIO_COMMON_STATUS: return t->status;
	case VIRTIO_COMMON_CFGGEN: return t->config_gen;
	case VIRTIO_COMMON_Q_SELECT: return sel;
	case VIRTIO_COMMON_Q_SIZE: return vq ? vq->size : 0;
	case VIRTIO_COMMON_Q_MSIX: return vq ? t->queue_vector[sel] : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_COMMON_Q_ENABLE: return vq ? vq->ready : 0;
	case VIRTIO_COMMON_Q_NOFF: return vq ? sel : 0;
	case VIRTIO_COMMON_Q_DESCLO: return vq ? (uint32_t)vq->desc_gpa : 0;
	case VIRTIO_COMMON_Q_DESCHI: return vq ? (uint32_t)(vq->desc_gpa >> 32) : 0;
	case VIRTIO_COMMON_Q_AVAILLO: return vq ? (uint32_t)vq->avail_gpa : 0;
	case VIRTIO_COMMON_Q_AVAILHI: return vq ? (uint32_t)(vq->avail_gpa >> 32) : 0;
	case VIRTIO_COMMON_Q_USEDLO: return vq ? (uint32_t)vq->used_gpa : 0;
	case VIRTIO_COMMON_Q_USEDHI: return vq ? (uint32_t)(vq->used_gpa >> 32) : 0;
	}
	(void)size;
	return 0;
}

static uint16_t check_vector(struct virtio_pci *t, uint64_t v)
{
	return v < t->msix_entries ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void set_half(uint64_t *reg, uint64_t v, bool high)
{
	if (high)
		*reg = (*reg & 0xFFFFFFFFull) | (uint64_t)(uint32_t)v << 32;
	else
		*reg = (*reg & ~0xFFFFFFFFull) | (uint32_t)v;
}

static void common_write(struct virtio_pci *t, uint64_t off, uint64_t v, unsigned size)
{
	unsigned sel;
	struct virtqueue *vq = selected_queue(t, &sel);
	bool can_set = vq && !vq->ready;

	(void)size;
	switch (off) {
	case VIRTIO_COMMON_DFSELECT: t->dfselect = (uint32_t)v; break;
	case VIRTIO_COMMON_GFSELECT: t->gfselect = (uint32_t)v; break;
	case VIRTIO_COMMON_GF:
		if (t->gfselect < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned sh = 32 * t->gfselect;
			t->guest_features = (t->guest_features & ~(0xFFFFFFFFull << sh)) |
					    ((v & 0xFFFFFFFFull) << sh);
		}
		break;
	case VIRTIO_COMMON_MSIX: t->config_vector = check_vector(t, v); break;
	case VIRTIO_COMMON_STATUS: set_status(t, (uint8_t)v, false); break;
	case VIRTIO_COMMON_Q_SELECT: t->queue_sel = (uint16_t)v; break;
	case VIRTIO_COMMON_Q_SIZE:
		/* A power of two up to the maximum; anything else is ignored. */
		if (can_set && v && v <= t->max_queue_size && !(v & (v - 1)))
			vq->size = (uint16_t)v;
		break;
	case VIRTIO_COMMON_Q_MSIX:
		if (vq) {
			t->queue_vector[sel] = check_vector(t, v);
			state_changed(t);
		}
		break;
	case VIRTIO_COMMON_Q_ENABLE:
		if (can_set && v == 1) {
			queue_apply_features(t, vq);
			if (virtq_enable(vq) < 0) {
				vq->broken = true;
				virtio_pci_set_needs_reset(t);
			}
		}
		break;
	case VIRTIO_COMMON_Q_DESCLO: case VIRTIO_COMMON_Q_DESCHI:
		if (can_set)
			set_half(&vq->desc_gpa, v, off == VIRTIO_COMMON_Q_DESCHI);
		break;
	case VIRTIO_COMMON_Q_AVAILLO: case VIRTIO_COMMON_Q_AVAILHI:
		if (can_set)
			set_half(&vq->avail_gpa, v, off == VIRTIO_COMMON_Q_AVAILHI);
		break;
	case VIRTIO_COMMON_Q_USEDLO: case VIRTIO_COMMON_Q_USEDHI:
		if (can_set)
			set_half(&vq->used_gpa, v, off == VIRTIO_COMMON_Q_USEDHI);
		break;
	}
}

static uint64_t modern_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_pci *t = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_COMMON_SIZE) {
		v = common_read(t, off, size);
	} else if (off >= VIRTIO_PCI_ISR_OFF && off < VIRTIO_PCI_DEVICE_OFF) {
		if (off == VIRTIO_PCI_ISR_OFF) {
			/* Reading the ISR acknowledges the interrupt. */
			v = t->isr;
			t->isr = 0;
			pci_set_irq(&t->pci, 0);
		}
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		v = config_read(t, off - VIRTIO_PCI_DEVICE_OFF, size);
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}

static void modern_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct virtio_pci *t = opaque;

	pthread_mutex_lock(&t->lock);
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_COMMON_SIZE)
		common_write(t, off, v, size);
	else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF)
		config_write(t, off - VIRTIO_PCI_DEVICE_OFF, v, size);
	else if (off >= VIRTIO_PCI_NOTIFY_OFF && (off - VIRTIO_PCI_NOTIFY_OFF) % VIRTIO_PCI_NOTIFY_MULT == 0)
		kick(t, (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT));
	pthread_mutex_unlock(&t->lock);
}

static const struct io_ops modern_ops = {
	.read = modern_read, .write = modern_write, .min_size = 1, .max_size = 4,
};

/* ---- legacy I/O BAR0 ---------------------------------------------------- */

static unsigned legacy_config_off(const struct virtio_pci *t)
{
	return msix_enabled(t) ? 24 : 20;
}

/* Both legacy paths look at QUEUE_SEL and the MSI-X enable bit only
 * inside the lock: a vCPU writing QUEUE_SEL (or MSI-X control) between a
 * check outside and a use inside would index past queue_vector[]. */
static uint64_t legacy_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_pci *t = opaque;
	uint64_t v = 0;
	unsigned sel;

	pthread_mutex_lock(&t->lock);
	struct virtqueue *vq = selected_queue(t, &sel);
	unsigned cfg = legacy_config_off(t);
	if (off >= cfg) {
		v = config_read(t, off - cfg, size);
	} else {
		switch (off) {
		case VIRTIO_LEGACY_HOST_FEATURES: v = (uint32_t)t->host_features; break;
		case VIRTIO_LEGACY_GUEST_FEATURES: v = (uint32_t)t->guest_features; break;
		case VIRTIO_LEGACY_QUEUE_PFN: v = vq ? (uint32_t)(vq->desc_gpa >> 12) : 0; break;
		case VIRTIO_LEGACY_QUEUE_SIZE: v = vq ? vq->size : 0; break;
		case VIRTIO_LEGACY_QUEUE_SEL: v = sel; break;
		case VIRTIO_LEGACY_STATUS: v = t->status; break;
		case VIRTIO_LEGACY_ISR:
			v = t->isr;
			t->isr = 0;
			pci_set_irq(&t->pci, 0);
			break;
		case VIRTIO_LEGACY_CONFIG_VECTOR: v = t->config_vector; break;
		case VIRTIO_LEGACY_QUEUE_VECTOR:
			v = vq ? t->queue_vector[sel] : VIRTIO_MSI_NO_VECTOR;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}

static void legacy_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct virtio_pci *t = opaque;
	unsigned sel;

	pthread_mutex_lock(&t->lock);
	struct virtqueue *vq = selected_queue(t, &sel);
	unsigned cfg = legacy_config_off(t);
	if (off >= cfg) {
		config_write(t, off - cfg, v, size);
	} else {
		switch (off) {
		case VIRTIO_LEGACY_GUEST_FEATURES:
			/* Legacy drivers see and set only the low 32 bits. */
			t->guest_features = v & (uint32_t)t->host_features;
			state_changed(t);
			break;
		case VIRTIO_LEGACY_QUEUE_PFN:
			if (vq) {
				queue_apply_features(t, vq);
				virtq_set_legacy_pfn(vq, (uint32_t)v);
				if (vq->broken)
					virtio_pci_set_needs_reset(t);
				state_changed(t);
			}
			break;
		case VIRTIO_LEGACY_QUEUE_SEL: t->queue_sel = (uint16_t)v; break;
		case VIRTIO_LEGACY_QUEUE_NOTIFY: kick(t, (unsigned)v); break;
		case VIRTIO_LEGACY_STATUS: set_status(t, (uint8_t)v, true); break;
		case VIRTIO_LEGACY_CONFIG_VECTOR: t->config_vector = check_vector(t, v); break;
		case VIRTIO_LEGACY_QUEUE_VECTOR:
			if (vq) {
				t->queue_vector[sel] = check_vector(t, v);
				state_changed(t);
			}
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

static const struct io_ops legacy_ops = {
	.read = legacy_read, .write = legacy_write, .min_size = 1, .max_size = 4,
};

/* ---- MSI-X table and PBA (BAR1) ------------------------------------------ */

static uint64_t msix_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_pci *t = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (off < 16ull * t->msix_entries) {
		v = get_le32(t->msix_table + (off & ~3ull));
	} else if (off >= VIRTIO_PCI_MSIX_PBA_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF + 8) {
		v = (uint32_t)(t->msix_pending >> (8 * (off - VIRTIO_PCI_MSIX_PBA_OFF)));
	}
	pthread_mutex_unlock(&t->lock);
	(void)size;
	return v;
}

static void msix_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct virtio_pci *t = opaque;

	(void)size;
	pthread_mutex_lock(&t->lock);
	if (off < 16ull * t->msix_entries) {
		uint8_t *p = t->msix_table + (off & ~3ull);
		if ((off & 15) == 12)
			v &= 1; /* only the mask bit of vector control is writable */
		else if (get_le32(p) != (uint32_t)v)
			t->msi_dirty[off / 16] = true;
		put_le32(p, (uint32_t)v);
		msix_deliver_pending(t);
		state_changed(t);
	}
	pthread_mutex_unlock(&t->lock);
}

static const struct io_ops msix_ops = {
	.read = msix_read, .write = msix_write, .min_size = 4, .max_size = 4,
};

/* ---- PCI configuration hooks --------------------------------------------- */

/* The VIRTIO_PCI_CAP_PCI_CFG window (4.1.4.9): the driver sets bar (must be
 * 4 here), offset and length (1, 2 or 4, aligned) in the capability, then
 * accesses pci_cfg_data, which reaches BAR4 at that offset. */
static bool pcicfg_target(struct virtio_pci *t, uint64_t *off, unsigned *len)
{
	const uint8_t *c = t->pci.config + CAP_PCICFG;
	*off = get_le32(c + 8);
	*len = get_le32(c + 12);
	return c[4] == BAR_MODERN && (*len == 1 || *len == 2 || *len == 4) &&
	       *off % *len == 0 && *off + *len <= VIRTIO_PCI_BAR4_SIZE;
}

static void pci_config_reading(struct pci_device *d, unsigned off, unsigned size)
{
	struct virtio_pci *t = d->opaque;
	uint64_t boff;
	unsigned len;

	if (off >= CAP_PCICFG + 20 || off + size <= CAP_PCICFG + 16 || !pcicfg_target(t, &boff, &len))
		return;
	uint64_t v = modern_read(t, boff, len);
	put_le32(d->config + CAP_PCICFG + 16, (uint32_t)v);
}

static void pci_config_written(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
	struct virtio_pci *t = d->opaque;
	uint64_t boff;
	unsigned len;

	if (off >= CAP_PCICFG + 16 && off < CAP_PCICFG + 20 && pcicfg_target(t, &boff, &len))
		modern_write(t, boff, get_le32(d->config + CAP_PCICFG + 16) & (len == 4 ? ~0u : (1u << (8 * len)) - 1), len);

	if (off < CAP_MSIX + 4 && off + size > CAP_MSIX + 2) {
		/* Called under the PCI bus lock, which owns config space. */
		uint16_t ctrl = pci_get_word(d, CAP_MSIX + 2);
		pthread_mutex_lock(&t->lock);
		t->msix_ctrl = ctrl;
		msix_deliver_pending(t);
		if (msix_enabled(t))
			pci_set_irq(&t->pci, 0);
		state_changed(t);
		pthread_mutex_unlock(&t->lock);
	}
	(void)val;
}

static void ioev_update(struct virtio_pci *t, int kind, uint64_t base)
{
	if (!t->host.ioeventfd)
		return;
	for (unsigned q = 0; q < t->nqueues; q++) {
		if (t->ioev_on[q][kind]) {
			if (kind == 0)
				t->host.ioeventfd(t->host.opaque, t->ioev_addr[q][0], 2, false, -1,
						  t->notify_fd[q], false);
			else
				t->host.ioeventfd(t->host.opaque, t->ioev_addr[q][1], 2, true, (int)q,
						  t->notify_fd[q], false);
			t->ioev_on[q][kind] = false;
		}
		if (base == PCI_BAR_UNMAPPED || !t->thread_running || t->vcpu_queue[q])
			continue;
		uint64_t addr = kind == 0 ? base + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q
					  : base + VIRTIO_LEGACY_QUEUE_NOTIFY;
		int r = t->host.ioeventfd(t->host.opaque, addr, 2, kind == 1, kind == 1 ? (int)q : -1,
					  t->notify_fd[q], true);
		if (r == 0) {
			t->ioev_addr[q][kind] = addr;
			t->ioev_on[q][kind] = true;
		} else {
			debug("%s: ioeventfd at %#llx: %s (notify by exit)", t->pci.name,
			      (unsigned long long)addr, strerror(-r));
		}
	}
}

static void bar_moved(struct pci_device *d, int bar, uint64_t addr)
{
	struct virtio_pci *t = d->opaque;

	if (bar == BAR_MODERN)
		ioev_update(t, 0, addr);
	else if (bar == BAR_LEGACY)
		ioev_update(t, 1, addr);
}

static void pci_reset(struct pci_device *d)
{
	struct virtio_pci *t = d->opaque;

	uint16_t ctrl = pci_get_word(d, CAP_MSIX + 2); /* config space is back at reset */
	pthread_mutex_lock(&t->lock);
	t->msix_ctrl = ctrl;
	device_reset(t);
	msix_forget_routes(t);
	memset(t->msix_table, 0, sizeof(t->msix_table));
	for (unsigned v = 0; v < t->msix_entries; v++)
		put_le32(t->msix_table + 16 * v + 12, 1); /* masked */
	pthread_mutex_unlock(&t->lock);
}

/* ---- capabilities -------------------------------------------------------- */

static void add_vendor_cap(struct virtio_pci *t, unsigned at, unsigned next, uint8_t type,
			   uint32_t offset, uint32_t length, unsigned len)
{
	uint8_t *c = t->pci.config + at;

	c[0] = PCI_CAP_ID_VNDR;
	c[1] = (uint8_t)next;
	c[2] = (uint8_t)len;
	c[3] = type;
	c[4] = BAR_MODERN;
	put_le32(c + 8, offset);
	put_le32(c + 12, length);
}

void virtio_pci_init(struct virtio_pci *t, const char *name, uint16_t type, uint32_t class_code,
		     const struct guest_mem *mem, const struct virtio_host *host,
		     const struct virtio_device_ops *ops, void *dev, uint64_t device_features,
		     unsigned nqueues, uint16_t queue_size, uint8_t *config, unsigned config_len)
{
	struct pci_device *d = &t->pci;
	static const uint16_t transitional_id[] = {
		[VIRTIO_ID_NET] = 0x1000, [VIRTIO_ID_BLOCK] = 0x1001,
		[VIRTIO_ID_BALLOON] = 0x1002, [VIRTIO_ID_CONSOLE] = 0x1003,
		[VIRTIO_ID_RNG] = 0x1005,
	};

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->mem = mem;
	if (host)
		t->host = *host;
	t->ops = ops;
	t->dev = dev;
	t->type = type;
	t->nqueues = (uint16_t)MIN(nqueues, VIRTIO_PCI_MAX_QUEUES);
	t->max_queue_size = queue_size;
	t->config = config;
	t->config_len = config_len;
	t->host_features = device_features | 1ULL << VIRTIO_F_VERSION_1 |
			   1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << VIRTIO_RING_F_EVENT_IDX;
	t->msix_entries = t->host.send_msi || (t->host.msi_route && t->host.irqfd)
				  ? t->nqueues + 1u : 0;
	t->epoll_fd = t->stop_fd = -1;
	for (unsigned q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		t->notify_fd[q] = -1;
	for (unsigned v = 0; v <= VIRTIO_PCI_MAX_QUEUES; v++)
		t->msi_fd[v] = -1;
	msix_forget_routes(t);
	reset_queues(t);
	t->config_vector = VIRTIO_MSI_NO_VECTOR;

	pci_device_init(d, name, 0x1af4,
			type < ARRAY_SIZE(transitional_id) && transitional_id[type]
				? transitional_id[type] : (uint16_t)(0x1040 + type),
			class_code, 0);
	d->opaque = t;
	pci_set_word(d, PCI_SUBSYSTEM_ID, type);
	pci_device_set_interrupt_pin(d, 1);
	d->config_write = pci_config_written;
	d->config_read = pci_config_reading;
	d->bar_moved = bar_moved;
	d->reset = pci_reset;

	unsigned legacy_size = 24 + config_len;
	pci_device_set_bar(d, BAR_LEGACY, PCI_BAR_IO, false, legacy_size, &legacy_ops, t);
	pci_device_set_bar(d, BAR_MODERN, PCI_BAR_MEM64, true, VIRTIO_PCI_BAR4_SIZE, &modern_ops, t);

	/* Capabilities: nothing above the header is writable except MSI-X control. */
	memset(d->wmask + 0x40, 0, sizeof(d->wmask) - 0x40);
	d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	unsigned first = CAP_COMMON;
	if (t->msix_entries) {
		pci_device_set_bar(d, BAR_MSIX, PCI_BAR_MEM32, false, 0x1000, &msix_ops, t);
		d->config[CAP_MSIX] = PCI_CAP_ID_MSIX;
		d->config[CAP_MSIX + 1] = CAP_COMMON;
		pci_set_word(d, CAP_MSIX + 2, (uint16_t)(t->msix_entries - 1));
		pci_set_long(d, CAP_MSIX + 4, BAR_MSIX);
		pci_set_long(d, CAP_MSIX + 8, VIRTIO_PCI_MSIX_PBA_OFF | BAR_MSIX);
		d->wmask[CAP_MSIX + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
		first = CAP_MSIX;
		for (unsigned v = 0; v < t->msix_entries; v++)
			put_le32(t->msix_table + 16 * v + 12, 1);
	}
	d->config[PCI_CAPABILITY_LIST] = (uint8_t)first;
	add_vendor_cap(t, CAP_COMMON, CAP_ISR, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
		       VIRTIO_COMMON_SIZE, 16);
	add_vendor_cap(t, CAP_ISR, CAP_DEVICE, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 4, 16);
	add_vendor_cap(t, CAP_DEVICE, CAP_NOTIFY, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
		       MAX(config_len, 4u), 16);
	add_vendor_cap(t, CAP_NOTIFY, CAP_PCICFG, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
		       VIRTIO_PCI_NOTIFY_MULT * t->nqueues, 20);
	put_le32(d->config + CAP_NOTIFY + 16, VIRTIO_PCI_NOTIFY_MULT);
	add_vendor_cap(t, CAP_PCICFG, 0, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 20);
	d->config[CAP_PCICFG + 4] = 0;
	/* bar, offset, length and data are the driver's to write. */
	d->wmask[CAP_PCICFG + 4] = 0xFF;
	memset(d->wmask + CAP_PCICFG + 8, 0xFF, 12);
}

/* ---- I/O thread ---------------------------------------------------------- */

/* One readiness event on the I/O thread: queue q's notify, or a watched
 * descriptor's for q (no counter to read: it is edge-triggered). */
static void io_event(struct virtio_pci *t, unsigned q, bool watched)
{
	uint64_t count;

	if (!watched) {
		if (read(t->notify_fd[q], &count, sizeof(count)) < 0)
			return;
		/* After the read, before the work: what was scheduled until
		 * now is done below, anything later writes again. */
		atomic_store(&t->scheduled[q], false);
	}
	/* Quiesced: the work waits; virtio_pci_resume looks at every ready
	 * queue again (a watched descriptor's edge included). */
	pthread_mutex_lock(&t->lock);
	if (t->external[q]) {
		/* Handed over after epoll_wait returned: the notify was its
		 * new reader's, so it gets it back. */
		uint64_t one = 1;
		if (!watched && write(t->notify_fd[q], &one, sizeof(one)) < 0) {
			/* a saturated counter still wakes it */
		}
	} else if (t->vq[q].ready && !t->quiesced && t->ops->queue_notify) {
		t->ops->queue_notify(t, q);
	}
	pthread_mutex_unlock(&t->lock);
}

static void *io_thread(void *opaque)
{
	struct virtio_pci *t = opaque;
	struct epoll_event ev[2 * VIRTIO_PCI_MAX_QUEUES + 1];

	sandbox_thread_start(SANDBOX_IO);

	for (;;) {
		int n = epoll_wait(t->epoll_fd, ev, (int)ARRAY_SIZE(ev), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			warn("%s: epoll_wait: %s", t->pci.name, strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			unsigned key = ev[i].data.u32;
			if (key == VIRTIO_PCI_MAX_QUEUES) {
				/* Stopped: the device is destroyed, at vmm's exit.
				 * No glibc per-thread clean-up (util.h). */
				thread_exit_raw();
				return NULL;
			}
			if (key >= WATCH_KEY)
				io_event(t, key - WATCH_KEY, true);
			else
				io_event(t, key, false);
		}
	}
}

int virtio_pci_watch_fd(struct virtio_pci *t, unsigned q, int fd, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = WATCH_KEY + q };

	if (q >= t->nqueues || fd < 0)
		return -EINVAL;
	if (!t->thread_running)
		return 0;
	if (epoll_ctl(t->epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
		return -errno;
	return 0;
}

int virtio_pci_hand_over(struct virtio_pci *t, unsigned q, bool external)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = q };

	if (q >= t->nqueues)
		return -1;
	if (external == t->external[q])
		return t->notify_fd[q];
	if (!t->thread_running) {
		/* No I/O thread (stopped at exit, or none in unit tests): a
		 * queue can come back, none can be handed over. */
		if (external)
			return -1;
		t->external[q] = false;
		return t->notify_fd[q];
	}
	if (epoll_ctl(t->epoll_fd, external ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, t->notify_fd[q],
		      &ev) < 0)
		return -1;
	t->external[q] = external;
	if (!external)
		run_queue(t, q);
	return t->notify_fd[q];
}

int virtio_pci_start(struct virtio_pci *t, struct pci_bus *bus, uint8_t devfn)
{
	if (t->host.io_thread) {
		t->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->epoll_fd < 0 || t->stop_fd < 0)
			return -errno;
		for (unsigned q = 0; q <= t->nqueues; q++) {
			int fd = t->stop_fd;
			if (q < t->nqueues) {
				fd = t->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
				if (fd < 0)
					return -errno;
			}
			struct epoll_event ev = {
				.events = EPOLLIN,
				.data.u32 = q < t->nqueues ? q : VIRTIO_PCI_MAX_QUEUES,
			};
			if (epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
				return -errno;
		}
		if (pthread_create(&t->thread, NULL, io_thread, t) != 0)
			return -EAGAIN;
		t->thread_running = true;
	}
	return pci_register(bus, &t->pci, devfn);
}

void virtio_pci_stop(struct virtio_pci *t)
{
	uint64_t one = 1;

	if (t->thread_running) {
		if (write(t->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail short of a saturated counter */
		}
		pthread_join(t->thread, NULL);
		t->thread_running = false;
	}
	pthread_mutex_lock(&t->lock);
	if (t->ops->reset)
		t->ops->reset(t);
	pthread_mutex_unlock(&t->lock);
	for (unsigned q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		if (t->notify_fd[q] >= 0)
			close(t->notify_fd[q]);
	for (unsigned v = 0; v <= VIRTIO_PCI_MAX_QUEUES; v++) {
		if (t->msi_fd[v] < 0)
			continue;
		if (t->msi_bound[v] && t->host.irqfd)
			t->host.irqfd(t->host.opaque, t->msi_fd[v], t->msi_gsi[v], false);
		close(t->msi_fd[v]);
		t->msi_fd[v] = -1;
	}
	if (t->epoll_fd >= 0)
		close(t->epoll_fd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	t->epoll_fd = t->stop_fd = -1;
}

/* ---- saved state ----------------------------------------------------------
 * Configuration space (BARs, MSI-X control), the transport registers, the
 * device configuration bytes, the MSI-X table and pending bits, and each
 * queue's layout and indices. Requests in flight are not saved: the device
 * must have completed them (quiesced) first, and a save that finds one
 * fails. KVM's MSI routes take the loaded table entries at their next use
 * (a route this VM has keeps its GSI and irqfd); ioeventfds follow the
 * BARs as they are mapped. */
#define VIRTIO_STATE_VERSION 1

static void queue_save(struct ss_writer *w, const struct virtqueue *vq, uint16_t vector)
{
	ss_put_u16(w, "size", vq->size);
	ss_put_bool(w, "ready", vq->ready);
	ss_put_bool(w, "broken", vq->broken);
	ss_put_u64(w, "desc", vq->desc_gpa);
	ss_put_u64(w, "avail", vq->avail_gpa);
	ss_put_u64(w, "used", vq->used_gpa);
	ss_put_u16(w, "last_avail", vq->last_avail);
	ss_put_u16(w, "used_idx", vq->used_idx);
	ss_put_u16(w, "signalled_used", vq->signalled_used);
	ss_put_bool(w, "signalled_valid", vq->signalled_valid);
	ss_put_u16(w, "vector", vector);
}

void virtio_pci_save(struct virtio_pci *t, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&t->lock);
	for (unsigned q = 0; q < t->nqueues; q++)
		if (t->vq[q].inflight)
			ss_writer_fail(w, "saved state: %s queue %u has %u requests in flight: "
				       "quiesce the device first", t->pci.name, q, t->vq[q].inflight);
	ss_section_begin(w, t->pci.name, instance, VIRTIO_STATE_VERSION);
	pci_config_put(w, &t->pci);
	ss_put_u64(w, "host_features", t->host_features);
	ss_put_u64(w, "guest_features", t->guest_features);
	ss_put_u32(w, "dfselect", t->dfselect);
	ss_put_u32(w, "gfselect", t->gfselect);
	ss_put_u8(w, "status", t->status);
	ss_put_u8(w, "isr", t->isr);
	ss_put_u8(w, "config_gen", t->config_gen);
	ss_put_u16(w, "queue_sel", t->queue_sel);
	ss_put_u16(w, "config_vector", t->config_vector);
	ss_put_bytes(w, "config", t->config, t->config_len);
	ss_put_bytes(w, "msix_table", t->msix_table, 16u * t->msix_entries);
	ss_put_u64(w, "msix_pending", t->msix_pending);
	ss_put_array(w, "vq", t->nqueues);
	for (unsigned q = 0; q < t->nqueues; q++) {
		ss_put_elem_begin(w, "vq", q);
		queue_save(w, &t->vq[q], t->queue_vector[q]);
		ss_put_elem_end(w);
	}
	ss_section_end(w);
	pthread_mutex_unlock(&t->lock);
}

/* What a load installs, read and checked first. */
struct virtio_saved {
	uint8_t cfg[256];
	uint64_t guest_features, msix_pending;
	uint32_t dfselect, gfselect;
	uint8_t status, isr, config_gen;
	uint16_t queue_sel, config_vector;
	uint8_t config[VIRTIO_PCI_MAX_CONFIG];
	uint8_t msix_table[sizeof(((struct virtio_pci *)0)->msix_table)];
	struct virtqueue vq[VIRTIO_PCI_MAX_QUEUES];
	uint16_t queue_vector[VIRTIO_PCI_MAX_QUEUES];
};

static bool vector_ok(const struct virtio_pci *t, uint16_t v)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < t->msix_entries;
}

static void queue_get(struct ss_reader *r, struct virtio_pci *t, struct virtqueue *vq,
		      uint16_t *vector, unsigned q)
{
	bool ready = false, broken = false;
	virtq_reset(vq, t->mem, t->max_queue_size);
	ss_get_u16(r, "size", &vq->size);
	ss_get_bool(r, "ready", &ready);
	ss_get_bool(r, "broken", &broken);
	ss_get_u64(r, "desc", &vq->desc_gpa);
	ss_get_u64(r, "avail", &vq->avail_gpa);
	ss_get_u64(r, "used", &vq->used_gpa);
	uint16_t last_avail = 0, used_idx = 0, signalled = 0;
	bool signalled_valid = false;
	ss_get_u16(r, "last_avail", &last_avail);
	ss_get_u16(r, "used_idx", &used_idx);
	ss_get_u16(r, "signalled_used", &signalled);
	ss_get_bool(r, "signalled_valid", &signalled_valid);
	ss_get_u16(r, "vector", vector);
	if (!ss_ok(r))
		return;
	if (!vq->size || vq->size > t->max_queue_size || (vq->size & (vq->size - 1)) ||
	    !vector_ok(t, *vector)) {
		ss_fail(r, "saved state: %s queue %u: size %u or vector %u out of range", t->pci.name,
			q, vq->size, *vector);
		return;
	}
	/* The rings must lie in guest RAM, as when the driver enabled them. */
	if (ready && !broken && virtq_enable(vq) < 0) {
		ss_fail(r, "saved state: %s queue %u: rings outside guest RAM", t->pci.name, q);
		return;
	}
	vq->ready = ready;
	vq->broken = broken;
	vq->last_avail = last_avail;
	vq->used_idx = used_idx;
	vq->signalled_used = signalled;
	vq->signalled_valid = signalled_valid;
}

static bool transport_get(struct ss_reader *r, struct virtio_pci *t, struct virtio_saved *v)
{
	uint64_t host_features = 0;
	size_t config_len = 0, table_len = 0;
	uint32_t n = 0;

	pci_config_get(r, &t->pci, v->cfg);
	ss_get_u64(r, "host_features", &host_features);
	ss_get_u64(r, "guest_features", &v->guest_features);
	ss_get_u32(r, "dfselect", &v->dfselect);
	ss_get_u32(r, "gfselect", &v->gfselect);
	ss_get_u8(r, "status", &v->status);
	ss_get_u8(r, "isr", &v->isr);
	ss_get_u8(r, "config_gen", &v->config_gen);
	ss_get_u16(r, "queue_sel", &v->queue_sel);
	ss_get_u16(r, "config_vector", &v->config_vector);
	ss_get_bytes_max(r, "config", v->config, sizeof(v->config), &config_len);
	ss_get_bytes_max(r, "msix_table", v->msix_table, sizeof(v->msix_table), &table_len);
	ss_get_u64(r, "msix_pending", &v->msix_pending);
	ss_get_array(r, "vq", VIRTIO_PCI_MAX_QUEUES, &n);
	if (!ss_ok(r))
		return false;
	if (host_features != t->host_features || n != t->nqueues || config_len != t->config_len ||
	    table_len != 16u * t->msix_entries)
		return ss_fail(r, "saved state: %s: features, queues, configuration or MSI-X "
			       "table differ from this device's", t->pci.name);
	if ((v->guest_features & ~t->host_features) || v->isr > 3 ||
	    !vector_ok(t, v->config_vector) ||
	    (v->msix_pending >> t->msix_entries) != 0)
		return ss_fail(r, "saved state: %s: register values out of range", t->pci.name);
	for (unsigned q = 0; q < n && ss_ok(r); q++) {
		ss_get_elem_begin(r, "vq", q);
		queue_get(r, t, &v->vq[q], &v->queue_vector[q], q);
		ss_get_elem_end(r);
	}
	return ss_ok(r);
}

bool virtio_pci_load(struct virtio_pci *t, struct ss_reader *r, uint32_t instance)
{
	struct virtio_saved *v = xzalloc(sizeof(*v));

	if (ss_section_open(r, t->pci.name, instance, 1, VIRTIO_STATE_VERSION, NULL)) {
		pthread_mutex_lock(&t->lock);
		transport_get(r, t, v);
		pthread_mutex_unlock(&t->lock);
		ss_section_close(r);
	}
	if (!ss_ok(r)) {
		free(v);
		return false;
	}
	pci_config_apply(&t->pci, v->cfg); /* BARs, and with them the ioeventfds */
	pthread_mutex_lock(&t->lock);
	t->msix_ctrl = pci_get_word(&t->pci, CAP_MSIX + 2);
	t->guest_features = v->guest_features;
	t->dfselect = v->dfselect;
	t->gfselect = v->gfselect;
	t->status = v->status;
	t->isr = v->isr;
	t->config_gen = v->config_gen;
	t->queue_sel = v->queue_sel;
	t->config_vector = v->config_vector;
	if (t->config_len)
		memcpy(t->config, v->config, t->config_len);
	memcpy(t->msix_table, v->msix_table, 16u * t->msix_entries);
	t->msix_pending = v->msix_pending;
	/* The same VM (loadvm), or one whose routes a reset already forgot
	 * (or that has none yet: -incoming): a route that exists keeps its
	 * GSI and irqfd and takes the loaded table entry at its next use. A
	 * new GSI for a bound eventfd would be refused (KVM_IRQFD: EBUSY). */
	for (unsigned e = 0; e <= VIRTIO_PCI_MAX_QUEUES; e++)
		t->msi_dirty[e] = true;
	for (unsigned q = 0; q < t->nqueues; q++) {
		t->vq[q] = v->vq[q];
		queue_apply_features(t, &t->vq[q]);
		t->queue_vector[q] = v->queue_vector[q];
	}
	pci_set_irq(&t->pci, !msix_enabled(t) && (t->isr & (VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG)));
	pthread_mutex_unlock(&t->lock);
	free(v);
	return true;
}

void virtio_pci_quiesce(struct virtio_pci *t)
{
	/* The I/O thread processes a queue only under the lock, after
	 * looking at the flag: once it is set here, no pass starts, and the
	 * one that may have been running has ended. */
	pthread_mutex_lock(&t->lock);
	t->quiesced = true;
	state_changed(t);
	pthread_mutex_unlock(&t->lock);
}

bool virtio_pci_quiesced(struct virtio_pci *t)
{
	return t->quiesced;
}

void virtio_pci_resume(struct virtio_pci *t)
{
	pthread_mutex_lock(&t->lock);
	t->quiesced = false;
	state_changed(t);
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		for (unsigned q = 0; q < t->nqueues; q++)
			if (t->vq[q].ready && !t->vq[q].broken)
				run_queue(t, q);
	pthread_mutex_unlock(&t->lock);
}
