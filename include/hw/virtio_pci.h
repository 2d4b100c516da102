/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Virtio over PCI, transitional (virtio 1.x, 4.1): one PCI function that a
 * modern driver finds through its vendor capabilities and a legacy driver
 * through I/O BAR0.
 *
 *   BAR0  I/O, legacy registers + device config
 *   BAR1  memory, MSI-X table (0x000) and PBA (0x800)
 *   BAR4  64-bit memory: common cfg 0x0000, ISR 0x1000, device cfg 0x2000,
 *         notify 0x3000 (queue q at 4*q)
 *
 * Threads: register accesses run on the vCPU that made them; queue work
 * runs on the device's I/O thread, woken through one eventfd per queue
 * that KVM signals directly (ioeventfd on the notify address), so a
 * notification costs no exit to user space. Everything in the transport is
 * serialised by 'lock'; device callbacks run with it held.
 */
#ifndef VMM_HW_VIRTIO_PCI_H
#define VMM_HW_VIRTIO_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "pci.h"
#include "virtio.h"

#define VIRTIO_PCI_MAX_QUEUES 18 /* virtio-serial: 8 ports + control, 2 queues each */
#define VIRTIO_MSI_NO_VECTOR 0xFFFF
#define VIRTIO_PCI_MAX_CONFIG 256 /* device configuration bytes a saved state may hold */

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5

#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2

/* BAR4 layout. */
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_BAR4_SIZE 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x800

/* Legacy BAR0 registers. */
#define VIRTIO_LEGACY_HOST_FEATURES 0
#define VIRTIO_LEGACY_GUEST_FEATURES 4
#define VIRTIO_LEGACY_QUEUE_PFN 8
#define VIRTIO_LEGACY_QUEUE_SIZE 12
#define VIRTIO_LEGACY_QUEUE_SEL 14
#define VIRTIO_LEGACY_QUEUE_NOTIFY 16
#define VIRTIO_LEGACY_STATUS 18
#define VIRTIO_LEGACY_ISR 19
#define VIRTIO_LEGACY_CONFIG_VECTOR 20
#define VIRTIO_LEGACY_QUEUE_VECTOR 22

/* Common configuration structure offsets. */
#define VIRTIO_COMMON_DFSELECT 0
#define VIRTIO_COMMON_DF 4
#define VIRTIO_COMMON_GFSELECT 8
#define VIRTIO_COMMON_GF 12
#define VIRTIO_COMMON_MSIX 16
#define VIRTIO_COMMON_NUMQ 18
#define VIRTIO_COMMON_STATUS 20
#define VIRTIO_COMMON_CFGGEN 21
#define VIRTIO_COMMON_Q_SELECT 22
#define VIRTIO_COMMON_Q_SIZE 24
#define VIRTIO_COMMON_Q_MSIX 26
#define VIRTIO_COMMON_Q_ENABLE 28
#define VIRTIO_COMMON_Q_NOFF 30
#define VIRTIO_COMMON_Q_DESCLO 32
#define VIRTIO_COMMON_Q_DESCHI 36
#define VIRTIO_COMMON_Q_AVAILLO 40
#define VIRTIO_COMMON_Q_AVAILHI 44
#define VIRTIO_COMMON_Q_USEDLO 48
#define VIRTIO_COMMON_Q_USEDHI 52
#define VIRTIO_COMMON_SIZE 56

struct virtio_pci;

/* What the machine provides: MSI delivery and KVM ioeventfds. */
struct virtio_host {
	/* Sends one MSI message; NULL: MSI-X is not offered. */
	void (*send_msi)(void *opaque, uint64_t addr, uint32_t data);
	/* (De)assigns an ioeventfd for guest writes of 'len' bytes at 'addr'
	 * (port I/O if 'pio'; 'datamatch' >= 0 matches the value). 0 or -errno. */
	int (*ioeventfd)(void *opaque, uint64_t addr, unsigned len, bool pio, int datamatch, int fd,
			 bool assign);
	/* Optional fast path, KVM irqfd: sets the MSI message of route *gsi
	 * (allocating it if *gsi < 0), and binds an eventfd to a route. A
	 * vector then fires with one eventfd write. 0 or -errno. */
	int (*msi_route)(void *opaque, int *gsi, uint64_t addr, uint32_t data);
	int (*irqfd)(void *opaque, int fd, int gsi, bool assign);
	void *opaque;
	/* Queue work on an I/O thread; false runs it on the thread that wrote
	 * the notify register (unit tests, deterministic). */
	bool io_thread;
};

struct virtio_device_ops {
	/* Work on queue q is available. Called with the transport lock held. */
	void (*queue_notify)(struct virtio_pci *t, unsigned q);
	/* The driver reset the device: drop every request in flight (waiting
	 * for running ones). Called with the lock held. */
	void (*reset)(struct virtio_pci *t);
	/* A write to the device configuration (already stored in config[]). */
	void (*config_write)(struct virtio_pci *t, unsigned off, unsigned size);
	/* The driver wrote the status, or an MSI-X vector or its control, or
	 * the transport was quiesced or resumed: for a device whose queues
	 * may run elsewhere (virtio-net's vhost), to decide again. Lock held. */
	void (*state_changed)(struct virtio_pci *t);
};

struct virtio_pci {
	struct pci_device pci;
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	struct virtio_host host;
	const struct virtio_device_ops *ops;
	void *dev;                 /* the device model */
	uint16_t type;             /* VIRTIO_ID_* */

	uint64_t host_features, guest_features;
	uint32_t dfselect, gfselect;
	uint8_t status, isr, config_gen;
	uint16_t queue_sel, nqueues, max_queue_size;
	struct virtqueue vq[VIRTIO_PCI_MAX_QUEUES];
	uint16_t queue_vector[VIRTIO_PCI_MAX_QUEUES];
	uint16_t config_vector;
	uint8_t *config;           /* device configuration, owned by the device */
	unsigned config_len;

	/* MSI-X: one vector per queue plus one for configuration changes. */
	unsigned msix_entries;
	uint16_t msix_ctrl;        /* copy of the capability's message control */
	uint8_t msix_table[16 * (VIRTIO_PCI_MAX_QUEUES + 1)];
	uint64_t msix_pending;
	int msi_gsi[VIRTIO_PCI_MAX_QUEUES + 1];   /* KVM route per vector, or -1 */
	int msi_fd[VIRTIO_PCI_MAX_QUEUES + 1];    /* its irqfd, or -1 */
	bool msi_bound[VIRTIO_PCI_MAX_QUEUES + 1];
	bool msi_dirty[VIRTIO_PCI_MAX_QUEUES + 1]; /* table entry changed since */

	/* Notification path. */
	int notify_fd[VIRTIO_PCI_MAX_QUEUES];
	/* virtio_pci_schedule wrote notify_fd[q] since the I/O thread last read it */
	atomic_bool scheduled[VIRTIO_PCI_MAX_QUEUES];
	/* Processed on the thread that wrote the notify (a vCPU's exit, no
	 * ioeventfd), never the I/O thread: a queue whose commands do what
	 * the I/O thread may not (virtio-net's control queue hands queue
	 * pairs to vhost-net). Set by the device before virtio_pci_start. */
	bool vcpu_queue[VIRTIO_PCI_MAX_QUEUES];
	/* Served outside vmm (virtio_pci_hand_over): the I/O thread leaves
	 * the queue's notify eventfd to its new reader. Under lock. */
	bool external[VIRTIO_PCI_MAX_QUEUES];
	uint64_t ioev_addr[VIRTIO_PCI_MAX_QUEUES][2]; /* [0] modern MMIO, [1] legacy port */
	bool ioev_on[VIRTIO_PCI_MAX_QUEUES][2];
	int epoll_fd, stop_fd;
	pthread_t thread;
	bool thread_running;
	/* Paused (virtio_pci_quiesce): no queue is processed until
	 * virtio_pci_resume; notifies and scheduled work wait. Under lock. */
	bool quiesced;
	uint64_t notifies, interrupts; /* statistics */
};

/* Builds the PCI function; the device then calls virtio_pci_start(). */
void virtio_pci_init(struct virtio_pci *t, const char *name, uint16_t type, uint32_t class_code,
		     const struct guest_mem *mem, const struct virtio_host *host,
		     const struct virtio_device_ops *ops, void *dev, uint64_t device_features,
		     unsigned nqueues, uint16_t queue_size, uint8_t *config, unsigned config_len);
/* Registers at 'devfn' and starts the I/O thread if the host wants one. */
int virtio_pci_start(struct virtio_pci *t, struct pci_bus *bus, uint8_t devfn);
void virtio_pci_stop(struct virtio_pci *t);

/* Device side, with the lock held: interrupt for queue q if the driver wants
 * one; configuration changed; the queue or device is broken. */
void virtio_pci_notify_queue(struct virtio_pci *t, unsigned q);
void virtio_pci_config_changed(struct virtio_pci *t);
void virtio_pci_set_needs_reset(struct virtio_pci *t);
bool virtio_pci_has_feature(const struct virtio_pci *t, unsigned bit);
/* From any thread, without the lock: have queue q processed on the I/O
 * thread (a backend with new data for the guest). Without an I/O thread
 * (unit tests) this does nothing; the next guest notify processes it. */
void virtio_pci_schedule(struct virtio_pci *t, unsigned q);
/* A descriptor the device reads on the I/O thread for queue q (virtio-
 * net's tap): each time it turns readable (edge-triggered) q is processed
 * as on a notify, under the lock, and not while quiesced or handed over;
 * so the device must read it until it would block, or process q again
 * later itself. on=false stops watching. 0 or -errno. Without an I/O
 * thread (unit tests) nothing is watched: q runs on notifies only. */
int virtio_pci_watch_fd(struct virtio_pci *t, unsigned q, int fd, bool on);
/* The next chain of queue q: 1 popped into iov; 0 the queue is empty and
 * the driver has been asked to notify (EVENT_IDX re-armed); -1 the queue
 * is broken and the device now needs reset. */
int virtio_pci_pop(struct virtio_pci *t, unsigned q, struct virtq_iov *iov);
/* Pops every available chain of queue q, calling 'fn' for each, until the
 * queue is empty (re-arming EVENT_IDX); a broken queue sets NEEDS_RESET. */
void virtio_pci_drain(struct virtio_pci *t, unsigned q, struct virtq_iov *scratch,
		      void (*fn)(struct virtio_pci *t, unsigned q, struct virtq_iov *iov));

/* Queue q served by someone else (the kernel's vhost, which then reads the
 * notify eventfd, returned) or by the device again (its state brought
 * back by the caller first; the queue is looked at once). Lock held; -1
 * if it cannot be (handing over needs the I/O thread). */
int virtio_pci_hand_over(struct virtio_pci *t, unsigned q, bool external);
/* An eventfd that raises queue q's MSI-X vector through KVM (irqfd, its
 * route made from the table entry now), or -1: MSI-X off, no vector, the
 * vector masked, or no irqfd. Lock held. */
int virtio_pci_queue_irqfd(struct virtio_pci *t, unsigned q);

/* Saved state of the transport and its queues (a section named after the
 * PCI function, e.g. "virtio-blk", include/savestate.h). Requests in
 * flight are not saved: the device completes them first (quiesce); a save
 * that finds one fails with a clear error. virtio_pci_load checks every
 * value (features, vectors, queue sizes, rings inside guest RAM) before it
 * changes the transport; false (reason in r->err) leaves it as it was.
 * Guest RAM must be in place before a load (the rings are mapped). */
struct ss_writer;
struct ss_reader;
void virtio_pci_save(struct virtio_pci *t, struct ss_writer *w, uint32_t instance);
bool virtio_pci_load(struct virtio_pci *t, struct ss_reader *r, uint32_t instance);
/* Pause (and for saving state): from now on no queue is processed, so
 * the I/O thread no longer touches guest memory; a notify or a backend's
 * scheduled work waits for virtio_pci_resume. Work already handed to a
 * device's own threads (virtio-blk's requests) is the device's to finish:
 * its quiesce waits for it after this. */
void virtio_pci_quiesce(struct virtio_pci *t);
bool virtio_pci_quiesced(struct virtio_pci *t); /* lock held */
/* Ends a quiesce, and after a load, when the VM runs again: the device
 * looks at every ready queue (buffers the driver made available, or
 * notified, meanwhile or before the save; a device's own pending work,
 * such as virtio-serial's control messages or frames a backend delivered
 * during the pause). A load itself does no device work, so saving right
 * after a load gives the same bytes. */
void virtio_pci_resume(struct virtio_pci *t);

#endif
