// SPDX-License-Identifier: GPL-2.0-or-later
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
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

void pidfile_create(const char *path)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		die_errno("-pidfile %s: cannot open", path);
	if (fcntl(fd, F_SETLK, &lk) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = 0;
			buf[strcspn(buf, "\n")] = 0;
			die("-pidfile %s: locked by a running vmm (pid %s)", path, buf[0] ? buf : "?");
		}
		die_errno("-pidfile %s: cannot lock", path);
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
	unlink(pidfile_path);
	close(pidfile_fd);
	pidfile_path = NULL;
	pidfile_fd = -1;
}
