// SPDX-License-Identifier: GPL-2.0-or-later
/* The command launcher (include/launcher.h): forked before the sandbox,
 * it runs vmm's commands without vmm's seccomp filters. It is started only
 * with `-sandbox on,spawn=allow`: whoever can write to its socket can run
 * a command, so it exists only where the user allowed vmm to spawn. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "util.h"

extern char **environ;

#define LAUNCH_CMD_MAX 4096
#define LAUNCH_FORGOTTEN_MAX 64
/* the launcher's socket, moved here so the rest can be closed */
#define LAUNCH_SOCK_FD 3

enum launch_op { LAUNCH_SPAWN = 1, LAUNCH_WAIT, LAUNCH_FORGET, LAUNCH_KILL };

struct launch_req {
	uint32_t op;
	int32_t pid;
	int32_t arg; /* SPAWN: 1 if vmm writes to the command; KILL: the signal */
	char cmd[LAUNCH_CMD_MAX];
};

struct launch_reply {
	int32_t pid;
	int32_t err;    /* an errno, 0: done */
	int32_t status; /* WAIT: the wait status */
};

static int launcher_fd = -1;
static pid_t launcher_pid;

/* ---- the launcher's side --------------------------------------------------- */

static void send_reply(int sock, const struct launch_reply *r, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)r, sizeof(*r) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* The command on one end of a new pipe; the other end goes back. */
static void spawn(int sock, const struct launch_req *q)
{
	struct launch_reply r = { 0 };
	char *argv[] = { "sh", "-c", (char *)q->cmd, NULL };
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		r.err = errno;
		send_reply(sock, &r, -1);
		return;
	}
	bool to_command = q->arg != 0;
	int theirs = to_command ? p[0] : p[1], ours = to_command ? p[1] : p[0];
	int target = to_command ? 0 : 1;
	pid_t pid = fork();
	if (pid == 0) {
		if (dup2(theirs, target) == target)
			execve("/bin/sh", argv, environ);
		_exit(127);
	}
	r.err = pid < 0 ? errno : 0;
	r.pid = pid;
	close(theirs);
	send_reply(sock, &r, pid < 0 ? -1 : ours);
	close(ours);
}

static void forget(pid_t *forgotten, pid_t pid)
{
	if (waitpid(pid, NULL, WNOHANG) != 0)
		return; /* ended (reaped now) or not ours */
	for (unsigned i = 0; i < LAUNCH_FORGOTTEN_MAX; i++)
		if (!forgotten[i]) {
			forgotten[i] = pid;
			return;
		}
}

static void reap(pid_t *forgotten)
{
	for (unsigned i = 0; i < LAUNCH_FORGOTTEN_MAX; i++)
		if (forgotten[i] && waitpid(forgotten[i], NULL, WNOHANG) != 0)
			forgotten[i] = 0;
}

/* Serves vmm until its end of the socket closes. Only what is safe after
 * a fork of a process with threads: no allocation, no stdio. */
static _Noreturn void serve(int sock)
{
	pid_t forgotten[LAUNCH_FORGOTTEN_MAX] = { 0 };
	struct launch_req q;
	sigset_t none;

	/* a terminal's Ctrl-C reaches vmm, which ends cleanly; the launcher
	 * follows the socket, not signals; the commands get the default
	 * signal handling (vmm blocks the signals its signalfd reads) */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sandbox_drop_privileges();
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (dup2(sock, LAUNCH_SOCK_FD) < 0)
		_exit(1);
	/* nothing of vmm's (KVM, images, sockets) reaches the commands */
	close_range(LAUNCH_SOCK_FD + 1, ~0u, 0);
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != 0) {
		dup2(null, 0);
		close(null);
	}
	for (;;) {
		struct pollfd p = { .fd = LAUNCH_SOCK_FD, .events = POLLIN };
		int n = poll(&p, 1, 1000);
		reap(forgotten);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		ssize_t got = recv(LAUNCH_SOCK_FD, &q, sizeof(q), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break; /* vmm is gone */
		if ((size_t)got < offsetof(struct launch_req, cmd))
			continue;
		q.cmd[MIN((size_t)got - offsetof(struct launch_req, cmd), sizeof(q.cmd) - 1)] = 0;
		struct launch_reply r = { .pid = q.pid };
		switch (q.op) {
		case LAUNCH_SPAWN:
			spawn(LAUNCH_SOCK_FD, &q);
			break;
		case LAUNCH_WAIT: {
			int status = 0;
			pid_t w;
			while ((w = waitpid(q.pid, &status, 0)) < 0 && errno == EINTR)
				;
			r.err = w < 0 ? errno : 0;
			r.status = status;
			send_reply(LAUNCH_SOCK_FD, &r, -1);
			break;
		}
		case LAUNCH_FORGET:
			forget(forgotten, q.pid);
			break;
		case LAUNCH_KILL:
			if (q.pid > 0)
				kill(q.pid, q.arg);
			break;
		}
	}
	_exit(0);
}

/* ---- vmm's side ------------------------------------------------------------ */

int launcher_start(char *err, size_t errlen)
{
	int sv[2];

	if (launcher_fd >= 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return set_err(err, errlen, "the command launcher: socketpair: %s",
			       strerror(errno));
	/* the child must not write vmm's buffers again */
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return set_err(err, errlen, "the command launcher: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		serve(sv[1]);
	}
	close(sv[1]);
	launcher_fd = sv[0];
	launcher_pid = pid;
	return 0;
}

bool launcher_running(void)
{
	return launcher_fd >= 0;
}

static int request(uint32_t op, pid_t pid, int32_t arg, const char *cmd)
{
	struct launch_req q = { .op = op, .pid = pid, .arg = arg };
	size_t len = offsetof(struct launch_req, cmd);

	if (cmd) {
		size_t n = strlen(cmd);
		if (n >= sizeof(q.cmd))
			return -E2BIG;
		memcpy(q.cmd, cmd, n + 1);
		len += n + 1;
	}
	ssize_t w;
	while ((w = send(launcher_fd, &q, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return w == (ssize_t)len ? 0 : -EPIPE;
}

/* The reply, with the descriptor it carries in *fd (or -1). */
static int reply(struct launch_reply *r, int *fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { r, sizeof(*r) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	ssize_t n;

	if (fd)
		*fd = -1;
	while ((n = recvmsg(launcher_fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(*r))
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fd)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

int launcher_spawn(const char *cmd, bool to_command, pid_t *pid, char *err, size_t errlen)
{
	struct launch_reply r;
	int fd, e;

	if (launcher_fd < 0)
		return set_err(err, errlen, "the command launcher is not running");
	if ((e = request(LAUNCH_SPAWN, 0, to_command, cmd)) < 0 || (e = reply(&r, &fd)) < 0)
		return set_err(err, errlen, "cannot run /bin/sh: %s",
			       e == -E2BIG ? "the command is too long" : "the launcher is gone");
	if (r.err || fd < 0) {
		if (fd >= 0)
			close(fd);
		return set_err(err, errlen, "cannot run /bin/sh: %s", strerror(r.err ? r.err : EIO));
	}
	*pid = r.pid;
	return fd;
}

int launcher_wait(pid_t pid, int *status)
{
	struct launch_reply r;

	if (launcher_fd < 0 || request(LAUNCH_WAIT, pid, 0, NULL) < 0 || reply(&r, NULL) < 0 ||
	    r.err)
		return -1;
	*status = r.status;
	return 0;
}

void launcher_forget(pid_t pid)
{
	if (launcher_fd >= 0)
		request(LAUNCH_FORGET, pid, 0, NULL);
}

void launcher_kill(pid_t pid, int sig)
{
	if (launcher_fd >= 0)
		request(LAUNCH_KILL, pid, sig, NULL);
}

void launcher_stop(void)
{
	if (launcher_fd < 0)
		return;
	close(launcher_fd);
	launcher_fd = -1;
	/* it sees the end at once; reaped if the sandbox lets this thread */
	waitpid(launcher_pid, NULL, 0);
}
