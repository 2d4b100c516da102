/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The driver's side of a virtio-pci device, shared by the device unit
 * tests: guest RAM, the buses the function sits on, and what a modern
 * driver does through BAR4 and the split rings. A test embeds a struct
 * vfix in its own context and keeps only what is its device's own.
 *
 * Every queue q has its rings at one place in guest RAM (VFIX_DESC,
 * VFIX_AVAIL, VFIX_USED), so a test can look at them without being told;
 * the fixture remembers, per queue, the driver's next avail index and how
 * many used entries it has consumed.
 */
#ifndef VMM_TESTS_VIRTIO_FIXTURE_H
#define VMM_TESTS_VIRTIO_FIXTURE_H

#include "unit.h"
#include "bus_access.h"

#include <stdbool.h>
#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"
#include "hw/virtio_pci.h"
#include "pci.h"
#include "util.h"

#define VFIX_BAR4 0xFE000000ULL /* where the tests' firmware puts BAR4 */
#define VFIX_MAXQ 8             /* queues a test drives (the console: 6) */

/* Queue q's rings, 4 KiB each: enough for the sizes the tests choose. */
#define VFIX_DESC(q) (0x1000ULL + 0x3000ULL * (q))
#define VFIX_AVAIL(q) (VFIX_DESC(q) + 0x1000)
#define VFIX_USED(q) (VFIX_DESC(q) + 0x2000)

struct vfix {
	uint8_t *ram;
	bool own_ram; /* vfix_init allocated it; vfix_destroy frees it */
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct virtio_pci *t;           /* the device's transport, set by the test */
	uint8_t devfn;                  /* the function under test */
	uint64_t bar4;
	uint16_t qsize;                 /* the size the driver gives every queue */
	uint16_t avail_idx[VFIX_MAXQ];  /* the driver's next avail index */
	uint16_t used_seen[VFIX_MAXQ];  /* used entries the driver has consumed */
	int intx;                       /* the INTx line, as last set */
};

/* The interrupt controller's end of INTx: only the level matters here. */
static inline void vfix_set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	((struct vfix *)opaque)->intx = level;
}

/* A machine around 'ram' (size bytes, owned by the caller): guest memory,
 * port and memory buses, and a PCI bus whose INTx lands in f->intx. */
static inline void vfix_init_ram(struct vfix *f, uint8_t *ram, size_t size, uint8_t devfn,
				 uint16_t qsize)
{
	f->ram = ram;
	f->devfn = devfn;
	f->bar4 = VFIX_BAR4;
	f->qsize = qsize;
	guest_mem_init_buffer(&f->mem, ram, size);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci, &f->pio, &f->mmio);
	f->pci.set_intx = vfix_set_intx;
	f->pci.intx_opaque = f;
}

/* The same with zeroed RAM of its own. */
static inline void vfix_init(struct vfix *f, size_t size, uint8_t devfn, uint16_t qsize)
{
	uint8_t *ram = calloc(1, size);

	assert_non_null(ram);
	vfix_init_ram(f, ram, size, devfn, qsize);
	f->own_ram = true;
}

/* After the test destroyed its device (which unmaps itself from the buses). */
static inline void vfix_destroy(struct vfix *f)
{
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	if (f->own_ram)
		free(f->ram);
}

/* ---- accesses ---- */

static inline uint64_t vfix_mrd(struct vfix *f, uint64_t addr, unsigned size)
{
	return bus_rd(&f->mmio, addr, size);
}

static inline void vfix_mwr(struct vfix *f, uint64_t addr, uint64_t v, unsigned size)
{
	bus_wr(&f->mmio, addr, v, size);
}

static inline uint64_t vfix_iord(struct vfix *f, uint64_t port, unsigned size)
{
	return bus_rd(&f->pio, port, size);
}

static inline void vfix_iowr(struct vfix *f, uint64_t port, uint64_t v, unsigned size)
{
	bus_wr(&f->pio, port, v, size);
}

static inline uint32_t vfix_cfg_rd(struct vfix *f, unsigned off, unsigned size)
{
	return pci_config_read(&f->pci, f->devfn, off, size);
}

static inline void vfix_cfg_wr(struct vfix *f, unsigned off, uint32_t v, unsigned size)
{
	pci_config_write(&f->pci, f->devfn, off, v, size);
}

/* The common configuration structure (VIRTIO_COMMON_* offsets) in BAR4. */
static inline uint64_t vfix_common_rd(struct vfix *f, unsigned off, unsigned size)
{
	return vfix_mrd(f, f->bar4 + VIRTIO_PCI_COMMON_OFF + off, size);
}

static inline void vfix_common_wr(struct vfix *f, unsigned off, uint64_t v, unsigned size)
{
	vfix_mwr(f, f->bar4 + VIRTIO_PCI_COMMON_OFF + off, v, size);
}

/* The device-specific configuration in BAR4. */
static inline uint64_t vfix_devcfg_rd(struct vfix *f, unsigned off, unsigned size)
{
	return vfix_mrd(f, f->bar4 + VIRTIO_PCI_DEVICE_OFF + off, size);
}

static inline void vfix_devcfg_wr(struct vfix *f, unsigned off, uint64_t v, unsigned size)
{
	vfix_mwr(f, f->bar4 + VIRTIO_PCI_DEVICE_OFF + off, v, size);
}

/* The ISR byte; reading it acknowledges (and lowers INTx). */
static inline uint8_t vfix_isr(struct vfix *f)
{
	return (uint8_t)vfix_mrd(f, f->bar4 + VIRTIO_PCI_ISR_OFF, 1);
}

/* The guest writes q to queue q's notify address. */
static inline void vfix_notify(struct vfix *f, unsigned q)
{
	vfix_mwr(f, f->bar4 + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, q, 2);
}

/* ---- a modern driver ---- */

/* Firmware's part: BAR4 (and the legacy I/O BAR0 if 'iobase') placed,
 * decoding and bus mastering on. */
static inline void vfix_place_bars(struct vfix *f, uint16_t iobase)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	if (iobase) {
		vfix_cfg_wr(f, PCI_BAR0, iobase, 4);
		cmd |= PCI_COMMAND_IO;
	}
	vfix_cfg_wr(f, PCI_BAR0 + 16, (uint32_t)f->bar4, 4);
	vfix_cfg_wr(f, PCI_BAR0 + 20, (uint32_t)(f->bar4 >> 32), 4);
	vfix_cfg_wr(f, PCI_COMMAND, cmd, 2);
}

static inline uint8_t vfix_status(struct vfix *f)
{
	return (uint8_t)vfix_common_rd(f, VIRTIO_COMMON_STATUS, 1);
}

static inline void vfix_set_status(struct vfix *f, uint8_t v)
{
	vfix_common_wr(f, VIRTIO_COMMON_STATUS, v, 1);
}

static inline uint64_t vfix_device_features(struct vfix *f)
{
	vfix_common_wr(f, VIRTIO_COMMON_DFSELECT, 0, 4);
	uint64_t lo = vfix_common_rd(f, VIRTIO_COMMON_DF, 4);
	vfix_common_wr(f, VIRTIO_COMMON_DFSELECT, 1, 4);
	return lo | vfix_common_rd(f, VIRTIO_COMMON_DF, 4) << 32;
}

static inline void vfix_set_features(struct vfix *f, uint64_t features)
{
	vfix_common_wr(f, VIRTIO_COMMON_GFSELECT, 0, 4);
	vfix_common_wr(f, VIRTIO_COMMON_GF, (uint32_t)features, 4);
	vfix_common_wr(f, VIRTIO_COMMON_GFSELECT, 1, 4);
	vfix_common_wr(f, VIRTIO_COMMON_GF, (uint32_t)(features >> 32), 4);
}

/* ACKNOWLEDGE and DRIVER, the features, FEATURES_OK: the device must keep
 * that bit, or it refused the features (virtio 1.x, 3.1.1). A driver that
 * starts over resets (status 0) first. */
static inline void vfix_negotiate(struct vfix *f, uint64_t features)
{
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	vfix_set_status(f, st);
	vfix_set_features(f, features);
	vfix_set_status(f, st | VIRTIO_STATUS_FEATURES_OK);
	assert_true(vfix_status(f) & VIRTIO_STATUS_FEATURES_OK);
}

static inline void vfix_driver_ok(struct vfix *f)
{
	vfix_set_status(f, vfix_status(f) | VIRTIO_STATUS_DRIVER_OK);
}

/* Gives queue q fresh, zeroed rings of f->qsize entries and enables it;
 * the driver's indexes for it start over. Returns the size the device
 * offered, for the test to check. */
static inline uint16_t vfix_queue_setup(struct vfix *f, unsigned q)
{
	assert_true(q < VFIX_MAXQ);
	memset(f->ram + VFIX_DESC(q), 0, 0x3000);
	f->avail_idx[q] = f->used_seen[q] = 0;
	vfix_common_wr(f, VIRTIO_COMMON_Q_SELECT, q, 2);
	uint16_t offered = (uint16_t)vfix_common_rd(f, VIRTIO_COMMON_Q_SIZE, 2);
	vfix_common_wr(f, VIRTIO_COMMON_Q_SIZE, f->qsize, 2);
	vfix_common_wr(f, VIRTIO_COMMON_Q_DESCLO, (uint32_t)VFIX_DESC(q), 4);
	vfix_common_wr(f, VIRTIO_COMMON_Q_DESCHI, 0, 4);
	vfix_common_wr(f, VIRTIO_COMMON_Q_AVAILLO, (uint32_t)VFIX_AVAIL(q), 4);
	vfix_common_wr(f, VIRTIO_COMMON_Q_AVAILHI, 0, 4);
	vfix_common_wr(f, VIRTIO_COMMON_Q_USEDLO, (uint32_t)VFIX_USED(q), 4);
	vfix_common_wr(f, VIRTIO_COMMON_Q_USEDHI, 0, 4);
	vfix_common_wr(f, VIRTIO_COMMON_Q_ENABLE, 1, 2);
	return offered;
}

/* ---- the split rings ---- */

/* Descriptor i of queue q's table. */
static inline void vfix_set_desc(struct vfix *f, unsigned q, unsigned i, uint64_t addr,
				 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = f->ram + VFIX_DESC(q) + 16 * i;
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Puts chain 'head' in the next avail slot of q, not yet visible. */
static inline void vfix_avail_push(struct vfix *f, unsigned q, uint16_t head)
{
	uint8_t *avail = f->ram + VFIX_AVAIL(q);
	put_le16(avail + 4 + 2 * (f->avail_idx[q] % f->qsize), head);
	f->avail_idx[q]++;
}

/* Makes what was pushed visible: the index goes last, with release order,
 * because a device with an I/O thread reads the ring concurrently (x86 is
 * little-endian, so the native store is the ring's byte order). */
static inline void vfix_avail_publish(struct vfix *f, unsigned q)
{
	__atomic_store_n((uint16_t *)(void *)(f->ram + VFIX_AVAIL(q) + 2), f->avail_idx[q],
			 __ATOMIC_RELEASE);
}

/* One chain offered and the queue notified. */
static inline void vfix_offer(struct vfix *f, unsigned q, uint16_t head)
{
	vfix_avail_push(f, q, head);
	vfix_avail_publish(f, q);
	vfix_notify(f, q);
}

/* The device's used index of q (acquire: it may be another thread's). */
static inline uint16_t vfix_used_idx(struct vfix *f, unsigned q)
{
	return __atomic_load_n((uint16_t *)(void *)(f->ram + VFIX_USED(q) + 2), __ATOMIC_ACQUIRE);
}

/* The n-th used entry ever of q (the ring wraps every f->qsize). */
static inline uint32_t vfix_used_id(struct vfix *f, unsigned q, unsigned n)
{
	return get_le32(f->ram + VFIX_USED(q) + 4 + 8 * (n % f->qsize));
}

static inline uint32_t vfix_used_len(struct vfix *f, unsigned q, unsigned n)
{
	return get_le32(f->ram + VFIX_USED(q) + 4 + 8 * (n % f->qsize) + 4);
}

/* Chains the device returned on q since last asked. */
static inline unsigned vfix_used_new(struct vfix *f, unsigned q)
{
	uint16_t idx = vfix_used_idx(f, q);
	unsigned n = (uint16_t)(idx - f->used_seen[q]);
	f->used_seen[q] = idx;
	return n;
}

#endif
