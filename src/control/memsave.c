// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memsave and pmemsave, for QMP and the monitor alike: guest memory into
 * a file, read through vmctl's read_memory a chunk at a time so that a
 * large save never holds the vCPUs for long nor needs a buffer of its size.
 */
#include "vmctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define CHUNK (64u * 1024)
#define PAGE 4096u

/* One chunk: read at once when it is all RAM or ROM; otherwise page by
 * page, where a guest-physical page that is neither reads as zeros and a
 * linear one that is not mapped fails. */
static int read_chunk(const struct vmctl *ctl, int cpu, uint64_t addr, uint8_t *buf, size_t n)
{
	if (ctl->ops->read_memory(ctl->opaque, cpu, addr, buf, n) == 0)
		return 0;
	for (size_t done = 0; done < n;) {
		size_t len = MIN(n - done, (size_t)(PAGE - ((addr + done) & (PAGE - 1))));
		if (ctl->ops->read_memory(ctl->opaque, cpu, addr + done, buf + done, len) < 0) {
			if (cpu >= 0)
				return -1;
			memset(buf + done, 0, len);
		}
		done += len;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int vmctl_memsave(const struct vmctl *ctl, int cpu, uint64_t addr, uint64_t size,
		  const char *path, char *err, size_t errlen)
{
	int ret = 0;

	if (!ctl->ops->read_memory) {
		snprintf(err, errlen, "no guest memory to read");
		return -1;
	}
	uint8_t probe;
	if (cpu >= 0 && ctl->ops->read_memory(ctl->opaque, cpu, 0, &probe, 0) == -EINVAL) {
		snprintf(err, errlen, "Parameter 'cpu-index' expects a CPU number");
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "Could not open '%s': %s", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = xzalloc(CHUNK);
	for (uint64_t done = 0; done < size && ret == 0;) {
		size_t n = (size_t)MIN(size - done, (uint64_t)CHUNK);
		uint64_t at = addr + done;
		if (at < addr || at + n < at || read_chunk(ctl, cpu, at, buf, n) < 0) {
			snprintf(err, errlen, "Invalid addr 0x%016llx/size %llu specified",
				 (unsigned long long)addr, (unsigned long long)size);
			ret = -1;
		} else if (write_all(fd, buf, n) < 0) {
			snprintf(err, errlen, "writing memory to '%s' failed: %s", path,
				 strerror(errno ? errno : EIO));
			ret = -1;
		}
		done += n;
	}
	free(buf);
	if (close(fd) < 0 && ret == 0) {
		snprintf(err, errlen, "writing memory to '%s' failed: %s", path, strerror(errno));
		ret = -1;
	}
	return ret;
}
