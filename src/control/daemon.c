// SPDX-License-Identifier: GPL-2.0-or-later
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static int ready_fd = -1;
static int null_fd = -1; /* opened before the sandbox forbids open */
static const char *pidfile_path;
static int pidfile_fd = -1;

/* The waiting parent: the intermediate child exits at once; then one byte
 * from the daemon means ready, EOF means it died. */
static void __attribute__((noreturn)) wait_for_daemon(int fd, pid_t child)
{
	char c;
	ssize_t n;

	waitpid(child, NULL, 0);
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	_exit(n == 1 ? 0 : 1);
}

void daemon_start(void)
{
	int p[2];

	fflush(NULL);
	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno("-daemonize: pipe");
	pid_t pid = fork();
	if (pid < 0)
		die_errno("-daemonize: fork");
	if (pid > 0) {
		close(p[1]);
		wait_for_daemon(p[0], pid);
	}
	close(p[0]);
	if (setsid() < 0)
		die_errno("-daemonize: setsid");
	/* Fork again so the daemon is no session leader and can never get a
	 * controlling terminal back. */
	pid = fork();
	if (pid < 0)
		die_errno("-daemonize: fork");
	if (pid > 0)
		_exit(0);
	umask(027);
	ready_fd = p[1];
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		die_errno("-daemonize: /dev/null");
}

void daemon_ready(void)
{
	char c = 0;

	if (ready_fd < 0)
		return;
	fflush(NULL);
	dup2(null_fd, STDIN_FILENO);
	dup2(null_fd, STDOUT_FILENO);
	dup2(null_fd, STDERR_FILENO);
	close(null_fd);
	null_fd = -1;
	if (write(ready_fd, &c, 1) != 1) {
		/* the parent is gone: nobody to tell */
	}
	close(ready_fd);
	ready_fd = -1;
}

static void remove_at_exit(void)
{
	pidfile_remove();
}

/* The pidfile must be a plain file of its own: not a symbolic link (in a
 * shared directory such as /tmp, someone else could point it at a file of
 * ours, which we would overwrite), nor another name of a file (a hard link),
 * nor a device or FIFO. */
static int open_pidfile(const char *path, struct stat *st)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);

	if (fd < 0) {
		if (errno == ELOOP)
			die("-pidfile %s: is a symbolic link; refusing to follow it", path);
		die_errno("-pidfile %s: cannot open", path);
	}
	if (fstat(fd, st) < 0)
		die_errno("-pidfile %s: cannot stat", path);
	if (!S_ISREG(st->st_mode))
		die("-pidfile %s: not a regular file", path);
	if (st->st_nlink > 1)
		die("-pidfile %s: has other hard links; refusing to overwrite it", path);
	return fd;
}

/* Whether 'path' still names the file open as 'st' (a vmm that held the
 * pidfile before us may have unlinked it between our open and our lock). */
static bool path_names(const char *path, const struct stat *st)
{
	struct stat now;
	return lstat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

static struct stat pidfile_stat;

void pidfile_create(const char *path)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char buf[32];
	int fd;

	/* Nothing is written until the lock is ours and the name still leads
	 * to the locked file. */
	for (int tries = 0;; tries++) {
		fd = open_pidfile(path, &pidfile_stat);
		if (fcntl(fd, F_SETLK, &lk) < 0) {
			if (errno == EAGAIN || errno == EACCES) {
				ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
				buf[n > 0 ? n : 0] = 0;
				buf[strcspn(buf, "\n")] = 0;
				die("-pidfile %s: locked by a running vmm (pid %s)", path,
				    buf[0] ? buf : "?");
			}
			die_errno("-pidfile %s: cannot lock", path);
		}
		if (path_names(path, &pidfile_stat))
			break;
		close(fd);
		if (tries == 10)
			die("-pidfile %s: keeps being replaced", path);
	}
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		die_errno("-pidfile %s: cannot write", path);
	pidfile_path = path;
	pidfile_fd = fd;
	atexit(remove_at_exit);
}

void pidfile_remove(void)
{
	if (!pidfile_path)
		return;
	/* Only our own file: the name may lead elsewhere by now. */
	if (path_names(pidfile_path, &pidfile_stat))
		unlink(pidfile_path);
	close(pidfile_fd);
	pidfile_path = NULL;
	pidfile_fd = -1;
}
