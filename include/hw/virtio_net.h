/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net (virtio 1.x, 5.1): one receive and one transmit queue, MAC and
 * link status in the config, merged receive buffers, checksum offload
 * (completed in vmm when the backend cannot take partial checksums) and,
 * over a backend with NET_CAP_OFFLOAD (tap), receive checksum and TSO both
 * ways. Frames to and from a net backend (include/net.h).
 */
#ifndef VMM_HW_VIRTIO_NET_H
#define VMM_HW_VIRTIO_NET_H

#include <stdint.h>

#include "hw/virtio_pci.h"
#include "net.h"

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_S_LINK_UP 1 /* the config's status field */
#define VIRTIO_NET_HDR_SIZE 12        /* VERSION_1 or MRG_RXBUF: with num_buffers */
#define VIRTIO_NET_HDR_SIZE_LEGACY 10 /* a legacy driver without MRG_RXBUF */
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RX_PENDING 128 /* frames held while the guest has no buffers */
#define VIRTIO_NET_MAX_FRAME NET_MAX_FRAME
#define VIRTIO_NET_MAX_PAIRS NET_MAX_QUEUES

struct virtio_net;

/* A NIC on 'backend'; the features offered follow net_caps(backend).
 * mq: VIRTIO_NET_F_MQ with a queue pair per queue of the backend
 * (net_queues) and a control queue; else one pair on the backend's first
 * queue. */
struct virtio_net *virtio_net_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host,
				     const uint8_t mac[6], struct net_backend *backend, bool mq);
/* The queues such a NIC has: two per pair, and the control queue with
 * mq (its MSI-X vectors are one more: configuration changes). */
unsigned virtio_net_queue_count(const struct net_backend *backend, bool mq);
/* Connects every queue pair to its backend queue (net_attach): 0 or <0. */
int virtio_net_attach(struct virtio_net *n);
/* The first queue's receive callback (net_receive_fn): a frame for the
 * guest; false when too many wait (the backend may retry after
 * net_rx_ready()). */
bool virtio_net_receive(void *net, const struct net_hdr *hdr, const uint8_t *frame, size_t len);
struct virtio_pci *virtio_net_transport(struct virtio_net *n);
/* Frames dropped so far (bad headers, too big for the buffers). */
void virtio_net_stats(struct virtio_net *n, uint64_t *rx_dropped, uint64_t *tx_dropped);
/* Does not destroy the backend (the caller's: net_destroy). */
void virtio_net_destroy(struct virtio_net *n);
struct net_backend *virtio_net_backend(struct virtio_net *n);
/* The cable (QMP set_link): status LINK_UP and a configuration-change
 * interrupt; while down no frame goes either way. Kept across resets. */
void virtio_net_set_link(struct virtio_net *n, bool up);
bool virtio_net_link(struct virtio_net *n);
/* Migration's dirty log on or off: the kernel's data path (vhost=on) does
 * not run meanwhile, as KVM's log does not see its writes. */
void virtio_net_set_logging(struct virtio_net *n, bool on);

/* Saved state (section "virtio-net", and with mq=on "virtio-net-mq": the
 * pairs in use): the transport and queues; frames
 * received from the backend but not yet in guest buffers are dropped
 * (lost on the wire, to the guest); a load gives the backend the
 * negotiated receive offloads again. */
struct ss_writer;
struct ss_reader;
void virtio_net_save(struct virtio_net *n, struct ss_writer *w, uint32_t instance);
bool virtio_net_load(struct virtio_net *n, struct ss_reader *r, uint32_t instance);

#endif
