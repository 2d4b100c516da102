// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /dev/vhost-net: the ioctls of linux/vhost.h, in the order the kernel
 * wants them (features, memory table, then each ring's size, base,
 * addresses and eventfds, then the tap as the rings' backend).
 */
#include "vhost_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "guest_mem.h"
#include "util.h"

#define VHOST_MAX_RANGES 8 /* guest RAM's blocks (GUEST_MEM_MAX_BLOCKS) fit */

struct vhost_net {
	int fd;
	uint64_t features;
};

struct vhost_net *vhost_net_open(int fd, char *err, size_t errlen)
{
	struct vhost_net *v;
	uint64_t features = 0;

	if (fd >= 0) {
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			/* harmless: only a child could inherit it */
		}
	} else {
		fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open /dev/vhost-net: %s%s", strerror(errno),
			 errno == ENOENT ? " (modprobe vhost_net)" : "");
		return NULL;
	}
	const char *step = ioctl(fd, VHOST_SET_OWNER) < 0 ? "VHOST_SET_OWNER"
			   : ioctl(fd, VHOST_GET_FEATURES, &features) < 0 ? "VHOST_GET_FEATURES"
			   : NULL;
	if (step) {
		snprintf(err, errlen, "vhost-net: %s: %s", step, strerror(errno));
		close(fd);
		return NULL;
	}
	v = xzalloc(sizeof(*v));
	v->fd = fd;
	v->features = features & ~(1ULL << VHOST_NET_F_VIRTIO_NET_HDR) &
		      ~(1ULL << VHOST_F_LOG_ALL);
	return v;
}

uint64_t vhost_net_features(const struct vhost_net *v)
{
	return v->features;
}

static int set_mem_table(struct vhost_net *v, const struct mem_block *mem, unsigned nmem)
{
	struct vhost_memory *table;
	int ret;

	if (nmem > VHOST_MAX_RANGES)
		return -E2BIG;
	table = xzalloc(sizeof(*table) + nmem * sizeof(table->regions[0]));
	table->nregions = nmem;
	for (unsigned i = 0; i < nmem; i++) {
		table->regions[i].guest_phys_addr = mem[i].gpa;
		table->regions[i].memory_size = mem[i].size;
		table->regions[i].userspace_addr = (uintptr_t)mem[i].hva;
	}
	ret = ioctl(v->fd, VHOST_SET_MEM_TABLE, table) < 0 ? -errno : 0;
	free(table);
	return ret;
}

/* Ring q's layout, start and eventfds; the name of the step that failed. */
static const char *set_ring(struct vhost_net *v, unsigned q, const struct vhost_ring *r)
{
	struct vhost_vring_state num = { .index = q, .num = r->size };
	struct vhost_vring_state base = { .index = q, .num = r->last_avail };
	struct vhost_vring_addr addr = {
		.index = q,
		.desc_user_addr = (uintptr_t)r->desc,
		.avail_user_addr = (uintptr_t)r->avail,
		.used_user_addr = (uintptr_t)r->used,
		.log_guest_addr = r->used_gpa,
	};
	struct vhost_vring_file kick = { .index = q, .fd = r->kick_fd };
	struct vhost_vring_file call = { .index = q, .fd = r->call_fd };

	if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0)
		return "VHOST_SET_VRING_NUM";
	if (ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0)
		return "VHOST_SET_VRING_BASE";
	if (ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0)
		return "VHOST_SET_VRING_ADDR";
	if (ioctl(v->fd, VHOST_SET_VRING_KICK, &kick) < 0)
		return "VHOST_SET_VRING_KICK";
	if (ioctl(v->fd, VHOST_SET_VRING_CALL, &call) < 0)
		return "VHOST_SET_VRING_CALL";
	return NULL;
}

static void unbind_backend(struct vhost_net *v)
{
	for (unsigned q = 0; q < 2; q++) {
		struct vhost_vring_file none = { .index = q, .fd = -1 };
		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &none) < 0)
			debug("vhost-net: unbinding ring %u: %s", q, strerror(errno));
	}
}

int vhost_net_start(struct vhost_net *v, uint64_t features, const struct mem_block *mem,
		    unsigned nmem, const struct vhost_ring ring[2], int tap_fd, char *err,
		    size_t errlen)
{
	const char *step = NULL;
	int e = 0;

	features &= v->features;
	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0)
		step = "VHOST_SET_FEATURES", e = errno;
	else if ((e = -set_mem_table(v, mem, nmem)) != 0)
		step = "VHOST_SET_MEM_TABLE";
	for (unsigned q = 0; q < 2 && !step; q++)
		if ((step = set_ring(v, q, &ring[q])) != NULL)
			e = errno;
	for (unsigned q = 0; q < 2 && !step; q++) {
		struct vhost_vring_file be = { .index = q, .fd = tap_fd };
		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &be) < 0) {
			step = "VHOST_NET_SET_BACKEND", e = errno;
			unbind_backend(v);
		}
	}
	if (step) {
		snprintf(err, errlen, "vhost-net: %s: %s", step, strerror(e));
		return -1;
	}
	return 0;
}

int vhost_net_stop(struct vhost_net *v, uint16_t last_avail[2])
{
	int ret = 0;

	unbind_backend(v);
	for (unsigned q = 0; q < 2; q++) {
		struct vhost_vring_state base = { .index = q };
		if (ioctl(v->fd, VHOST_GET_VRING_BASE, &base) < 0)
			ret = -errno;
		else
			last_avail[q] = (uint16_t)base.num;
	}
	return ret;
}
