/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host kernel's virtio-net data path (/dev/vhost-net, -netdev
 * tap,vhost=on). The kernel's vhost worker reads the guest's transmit ring
 * and writes frames to the tap, and fills the receive ring from the tap,
 * without vmm on the way: a guest's notify wakes it through the queue's
 * ioeventfd, and it interrupts the guest through the vector's irqfd.
 *
 * vmm keeps the rings' state whenever the kernel does not run them
 * (vhost_net_stop hands the avail index back), so the device can switch
 * between the two paths at any time: pause, saved state, migration's dirty
 * logging (the kernel's writes to guest RAM are not in KVM's dirty log),
 * a masked vector, a cable pulled.
 */
#ifndef VMM_VHOST_NET_H
#define VMM_VHOST_NET_H

#include <stddef.h>
#include <stdint.h>

struct mem_block; /* include/guest_mem.h */

struct vhost_net;

/* One ring as the driver laid it out (host addresses of its three parts,
 * already checked to lie in guest RAM), where the kernel starts in it, and
 * the two eventfds: the guest's notify (kick) and the vector's irqfd (call). */
struct vhost_ring {
	unsigned size;
	const void *desc, *avail, *used;
	uint64_t used_gpa;
	uint16_t last_avail;
	int kick_fd, call_fd;
};

/* Opens /dev/vhost-net (or takes 'fd' >= 0, vhostfd=) and makes this
 * process its owner. NULL with the reason in err. */
struct vhost_net *vhost_net_open(int fd, char *err, size_t errlen);
/* The ring and device feature bits the kernel takes (VHOST_GET_FEATURES,
 * less VHOST_NET_F_VIRTIO_NET_HDR: the tap carries the header). */
uint64_t vhost_net_features(const struct vhost_net *v);
/* Starts the kernel on rings [0] receive and [1] transmit, moving frames to
 * and from the tap 'tap_fd' (whose header size is the driver's), with guest
 * RAM's blocks as the memory it may reach. 0, or -1 with the reason in err
 * (nothing left running). */
int vhost_net_start(struct vhost_net *v, uint64_t features, const struct mem_block *mem,
		    unsigned nmem, const struct vhost_ring ring[2], int tap_fd, char *err,
		    size_t errlen);
/* Stops what vhost_net_start started: the kernel lets go of the tap and the
 * rings, and last_avail[q] gets the next avail entry each ring would have
 * taken. 0 or -errno. The handle lives until exit, as its tap does. */
int vhost_net_stop(struct vhost_net *v, uint16_t last_avail[2]);

#endif
