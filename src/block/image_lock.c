// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image locking with QEMU's byte-range scheme, so that vmm, vmm-img,
 * qemu-img and QEMU see each other's use of an image. Facts from QEMU's
 * block/file-posix.c documentation and behaviour (observed in
 * /proc/locks): every lock is a shared (read) open-file-description lock
 * on one byte; byte 100 + P says "this user holds permission P", byte
 * 200 + P says "this user lets nobody else hold P". Permissions: 0
 * consistent read, 1 write, 2 write unchanged, 3 resize.
 *
 * A user takes its bytes, then checks for conflicts: a permission it
 * wants that another holder refuses to share (200 + P locked elsewhere),
 * or a permission it refuses to share that another holds (100 + P locked
 * elsewhere). Read locks never block each other, so the check is an
 * F_OFD_GETLK for a write lock on the byte, which reports any read lock
 * another open file description holds (also one of this process: a
 * second open of the same image conflicts, as in QEMU).
 */
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PERM_BASE 100
#define SHARED_BASE 200

enum perm { PERM_CONSISTENT_READ, PERM_WRITE, PERM_WRITE_UNCHANGED, PERM_RESIZE, PERM_COUNT };

static const char *const perm_names[PERM_COUNT] = {
	"consistent read", "write", "write unchanged", "resize",
};

static int lock_byte(int fd, off_t at, short type, int cmd, struct flock *out)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };
	if (fcntl(fd, cmd, &fl) < 0)
		return -errno;
	if (out)
		*out = fl;
	return 0;
}

/* Does another open file description hold byte 'at'? */
static int held_elsewhere(int fd, off_t at, bool *held)
{
	struct flock fl = { .l_type = F_UNLCK };
	int ret = lock_byte(fd, at, F_WRLCK, F_OFD_GETLK, &fl);
	*held = !ret && fl.l_type != F_UNLCK;
	return ret;
}

int image_lock(int fd, const char *path, bool write, bool metadata, bool force_share,
	       char *err, size_t errlen)
{
	/* what QEMU takes: a writer holds read+write (+ resize for an image
	 * with metadata) and shares neither write nor resize; a reader holds
	 * consistent read and shares no write (nor resize for a format);
	 * -U / --force-share shares everything */
	unsigned perms = 1u << PERM_CONSISTENT_READ, unshared = 0;
	if (write)
		perms |= 1u << PERM_WRITE | (metadata ? 1u << PERM_RESIZE : 0);
	if (!force_share)
		unshared = 1u << PERM_WRITE | (metadata ? 1u << PERM_RESIZE : 0);

	for (unsigned p = 0; p < PERM_COUNT; p++) {
		int ret = 0;
		if (perms & (1u << p))
			ret = lock_byte(fd, PERM_BASE + p, F_RDLCK, F_OFD_SETLK, NULL);
		if (!ret && (unshared & (1u << p)))
			ret = lock_byte(fd, SHARED_BASE + p, F_RDLCK, F_OFD_SETLK, NULL);
		if (ret == -EINVAL || ret == -ENOLCK || ret == -EOPNOTSUPP)
			return 0; /* no locks on this file system: QEMU goes on too */
		if (ret < 0) {
			snprintf(err, errlen, "Failed to lock byte %u: %s",
				 (perms & (1u << p) ? PERM_BASE : SHARED_BASE) + p, strerror(-ret));
			return ret;
		}
	}
	for (unsigned p = 0; p < PERM_COUNT; p++) {
		bool held;
		if ((perms & (1u << p)) && !held_elsewhere(fd, SHARED_BASE + p, &held) && held) {
			snprintf(err, errlen, "Failed to get \"%s\" lock\nIs another process using "
				 "the image [%s]?", perm_names[p], path);
			return -EAGAIN;
		}
	}
	for (unsigned p = 0; p < PERM_COUNT; p++) {
		bool held;
		if ((unshared & (1u << p)) && !held_elsewhere(fd, PERM_BASE + p, &held) && held) {
			snprintf(err, errlen, "Failed to get shared \"%s\" lock\nIs another process "
				 "using the image [%s]?", perm_names[p], path);
			return -EAGAIN;
		}
	}
	return 0;
}

void image_unlock(int fd)
{
	/* one range over both groups of bytes (100-103, 200-203) */
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = PERM_BASE,
			    .l_len = SHARED_BASE + PERM_COUNT - PERM_BASE };
	(void)fcntl(fd, F_OFD_SETLK, &fl);
}
