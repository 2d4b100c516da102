/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net (virtio 1.x, 5.1): one receive and one transmit queue, MAC and
 * link status in the config, no offloads (the guest checksums and segments
 * itself), frames to and from a net backend (include/net.h).
 */
#ifndef VMM_HW_VIRTIO_NET_H
#define VMM_HW_VIRTIO_NET_H

#include <stdint.h>

#include "hw/virtio_pci.h"
#include "net.h"

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_HDR_SIZE 12
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RX_PENDING 128 /* frames held while the guest has no buffers */
#define VIRTIO_NET_MAX_FRAME 65536

struct virtio_net;

/* Sends guest frames with 'send' (opaque 'backend'); frames for the guest
 * arrive through virtio_net_receive(). */
struct virtio_net *virtio_net_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host,
				     const uint8_t mac[6],
				     void (*send)(void *backend, const uint8_t *frame, size_t len),
				     void *backend);
/* From any thread: a frame for the guest (dropped when too many wait). */
void virtio_net_receive(void *net, const uint8_t *frame, size_t len);
struct virtio_pci *virtio_net_transport(struct virtio_net *n);
void virtio_net_destroy(struct virtio_net *n);

#endif
