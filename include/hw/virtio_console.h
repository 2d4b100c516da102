/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-serial (virtio 1.x, 5.3, device ID 3) with VIRTIO_CONSOLE_F_MULTIPORT:
 * up to VIRTIO_CONSOLE_MAX_PORTS ports, each a console (hvc in Linux) or a
 * named port (/dev/vportNpM), each on its own chardev.
 *
 * Queues: port 0 receive/transmit 0/1, control receive/transmit 2/3, port
 * n >= 1 at 2n+2 / 2n+3.
 */
#ifndef VMM_HW_VIRTIO_CONSOLE_H
#define VMM_HW_VIRTIO_CONSOLE_H

#include "chardev.h"
#include "hw/virtio_pci.h"

#define VIRTIO_CONSOLE_MAX_PORTS 8
#define VIRTIO_CONSOLE_NAME_MAX 127
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1

/* Control events (5.3.6.2). */
#define VIRTIO_CONSOLE_DEVICE_READY 0
#define VIRTIO_CONSOLE_DEVICE_ADD 1
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY 3
#define VIRTIO_CONSOLE_CONSOLE_PORT 4
#define VIRTIO_CONSOLE_RESIZE 5
#define VIRTIO_CONSOLE_PORT_OPEN 6
#define VIRTIO_CONSOLE_PORT_NAME 7

/* Host data held per port while the guest has no buffer or has not opened
 * it; beyond this the chardev stops being read. */
#define VIRTIO_CONSOLE_PORT_BUF 4096

struct virtio_console_port_config {
	struct chardev *cd;
	const char *name;  /* NULL: none */
	bool console;
	unsigned nr;       /* port id, < VIRTIO_CONSOLE_MAX_PORTS, unique */
};

struct virtio_console_stats {
	uint64_t bad_control; /* short, unknown event, port id out of range */
	uint64_t ctrl_dropped; /* control messages the pending ring had no room for */
	uint64_t tx_cut_bytes; /* transmit bytes past a chain's cap, not passed on */
};

struct virtio_console;

/* Attaches to every port's chardev. NULL if a chardev is already in use
 * or the PCI function cannot be registered. */
struct virtio_console *virtio_console_create(struct pci_bus *bus, uint8_t devfn,
					     const struct guest_mem *mem,
					     const struct virtio_host *host,
					     const struct virtio_console_port_config *ports,
					     unsigned nports);
struct virtio_pci *virtio_console_transport(struct virtio_console *v);
struct virtio_console_stats virtio_console_stats(struct virtio_console *v);
void virtio_console_destroy(struct virtio_console *v);

/* Saved state: the transport (section "virtio-serial") and the ports
 * (section "virtio-serial-ports": the driver's PORT_READY/PORT_OPEN, held
 * host input, undelivered control messages). The same ports (console,
 * names) must exist on the loading side; if a port's host side is
 * connected differently there, the guest is told with PORT_OPEN. Pending
 * input and messages go to the guest at virtio_pci_resume(). */
struct ss_writer;
struct ss_reader;
void virtio_console_save(struct virtio_console *v, struct ss_writer *w, uint32_t instance);
bool virtio_console_load(struct virtio_console *v, struct ss_reader *r, uint32_t instance);

#endif
